#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# workers ondemand through the shared socket alone (stock fastcgi_pass, any
# FastCGI client): while every worker that runs is busy and a connection
# waits in the shared socket's backlog, droverd starts one more worker (up
# to MAX), so a fast request does not wait behind a slow one.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

$t->write_conf(<<'EOF2')->run(ready => 0);
log_level info;

pool shared {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/shared.sock;
    workers   ondemand 2 idle=30s;
    preload   off;
}
EOF2

my $dir = $t->dir;

sub wchan {
    open my $fh, '<', "/proc/$_[0]/wchan" or return '';
    return scalar(<$fh>) // '';
}
ok($t->wait_for(sub { -S "$dir/shared.sock" }, 20), 'the shared socket is there')
    or diag($t->log);

# a slow request starts the first worker and keeps it busy
my $mark = $t->log_mark;
my $slow = Drover::FCGI->connect("$dir/shared.sock", timeout => 10);
ok($slow, 'a connection for a slow request');
$slow->send_raw(Drover::FCGI::fcgi_request_bytes(uri => '/sleep?ms=4000'))
    if $slow;
ok($t->wait_log(qr/pool shared: a connection waits on the shared socket: starting worker 0$/, 5, 1, $mark),
   'the first connection started worker 0');
my $w0;
ok($t->wait_for(sub { ($w0) = ($t->read_file('shared.sock.slots') // '') =~ /^0 up (\d+)$/m; $w0 }, 5),
   'worker 0 is up');
# in the app's sleep: a connection that came before it accepted the slow one
# would have been accepted with it, and wait in worker 0 whatever droverd does
ok($t->wait_for(sub { wchan($w0) =~ /nanosleep/ }, 5),
   'worker 0 serves the slow request');

# a fast request on the shared socket while worker 0 sleeps
my $start = time;
my $r = $t->get('/pid', pool => 'shared', timeout => 10);
my $took = time - $start;

is($r->{status}, 200, 'the fast request is served');
cmp_ok($took, '<', 3, sprintf('without waiting for the slow one (%.2f s, the slow one takes 4 s)', $took))
    or diag($t->log);
ok($t->wait_log(qr/pool shared: every worker is busy and a connection waits on the shared socket: starting worker 1$/, 1, 1, $mark),
   'logged: a second worker started for it');

my $resp = $slow ? $slow->read_response(timeout => 10) : {};
is($resp->{status}, 200, 'the slow request was served too');
$slow->close if $slow;

$t->stop;
is($t->exit_code, 0, 'droverd exits 0');

$t->done;
