#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# droverctl stop of an on-demand pool: droverd stops watching its sockets,
# so a connection that comes meanwhile starts nothing (and logs no start);
# it waits in the backlog, and droverctl start serves it.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

$t->write_conf(<<'EOF')->run(ready => 0);
log_level info;
control unix:%%DIR%%/ctl.sock;

pool od {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/od.sock;
    workers   ondemand 1 idle=30s;
    preload   off;
}
EOF

my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';
sub ctl { $t->run_cmd([$ctl, '-s', "$dir/ctl.sock", @_], 20) }

ok($t->wait_for(sub { -S "$dir/ctl.sock" && -S "$dir/od.sock.0" }, 20), 'droverd is up')
    or diag($t->log);
is($t->get('/pid', pool => 'od', timeout => 10)->{status}, 200, 'the pool serves on demand');

my ($code, $out) = ctl('stop', 'od');
is($code, 0, 'droverctl stop od') or diag($out);
ok($t->wait_for(sub { !$t->family }, 15), 'its worker is gone');

my $mark = $t->log_mark;
my $c = Drover::FCGI->connect("$dir/od.sock.0", timeout => 10);
ok($c, 'a connection to the stopped pool\'s slot');
$c->send_raw(Drover::FCGI::fcgi_request_bytes(uri => '/pid')) if $c;
ok($t->wait_for(sub { $t->log_since($mark) =~ /pool od/ }, 1.5) ? 0 : 1,
   'nothing logged about it: no watch on a stopped pool')
    or diag($t->log_since($mark));
is(scalar $t->family, 0, 'and nothing started');

($code, $out) = ctl('start', 'od');
is($code, 0, 'droverctl start od') or diag($out);
my $r = $c ? $c->read_response(timeout => 10) : {};
is($r->{status}, 200, 'the waiting request is served once the pool starts');
$c->close if $c;

$t->stop;
is($t->exit_code, 0, 'droverd exits 0');

$t->done;
