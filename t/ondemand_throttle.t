#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Cold starts of on-demand pools are throttled (20 a second, a burst of 20:
# ondemand.h): 30 cold pools asked at once all answer, the starts over the
# burst wait their turn (logged), none is lost.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $n = 30;

my $conf = "log_level info;\n";
for my $i (1 .. $n) {
    $conf .= <<"EOF";
pool p$i {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/p$i.sock;
    workers   ondemand 1 idle=30s;
    preload   off;
}
EOF
}

$t->write_conf($conf)->run(ready => 0);
my $dir = $t->dir;

ok($t->wait_for(sub { !grep { !-S "$dir/p$_.sock" } 1 .. $n }, 20), "the $n shared sockets are there")
    or diag($t->log);
ok($t->wait_for(sub { $t->log =~ /manager: starting -> serving/ }, 10), 'droverd is ready');
is(scalar $t->family, 0, 'cold: no process');

# one request to every pool at once: each waits in its socket's backlog
my $mark = $t->log_mark;
my $start = time;
my @c;
for my $i (1 .. $n) {
    my $c = Drover::FCGI->connect("$dir/p$i.sock", timeout => 20);
    $c->send_raw(Drover::FCGI::fcgi_request_bytes(uri => '/pid')) if $c;
    push @c, $c;
}

my $served = 0;
for my $c (grep { defined } @c) {
    my $r = $c->read_response(timeout => 20);
    $served++ if ($r->{status} // 0) == 200;
    $c->close;
}
my $took = time - $start;

is($served, $n, "all $n cold pools answered");
my @waited = grep { /over 20 pool starts a second: starting in \d+ ms/ }
             split /\n/, $t->log_since($mark);
cmp_ok(scalar @waited, '>=', 1, scalar(@waited) . ' starts over the burst waited their turn (logged)');
cmp_ok(scalar @waited, '<=', $n - 20 + 5, 'logged once per waiting pool, not at every retry')
    or diag(join "\n", @waited);
cmp_ok($took, '>=', 0.3, sprintf('the %d over the burst of 20 took their time at 20 a second (%.2f s in all)',
                                 $n - 20, $took));

$t->done;
