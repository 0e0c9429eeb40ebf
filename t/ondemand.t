#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# workers ondemand MAX idle=T: droverd starts with no process of its own
# but holds every socket; the first connection on a slot socket starts the
# preloader and the slot's worker (preload on), or on the shared socket a
# worker (preload off), and is served; a worker that served nothing for
# `idle` stops, then the preloader.  process_max caps the workers of all
# pools: a start over it waits (logged once) until a worker stops.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

$t->write_conf(<<'EOF')->run(ready => 0);
log_level info;
process_max 1;

pool pre {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/pre.sock;
    workers   ondemand 2 idle=1s;
}

pool nopre {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/nopre.sock;
    workers   ondemand 1 idle=1s;
    preload   off;
}
EOF

my $dir = $t->dir;
my @sockets = map { "$dir/$_" } qw(pre.sock pre.sock.0 pre.sock.1 nopre.sock nopre.sock.0);

ok($t->wait_for(sub { !grep { !-S $_ } @sockets }, 20), 'every socket is there')
    or diag($t->log);
ok($t->wait_for(sub { $t->log =~ /manager: starting -> serving/ }, 10),
   'droverd says it is ready with no worker');
is(scalar $t->family, 0, 'cold: droverd runs no process (no worker, no preloader)')
    or diag(explain([$t->family]));
like($t->read_file('pre.sock.slots') // '', qr/^ondemand 2$/m, 'pre.sock.slots: "ondemand 2"');
like($t->read_file('pre.sock.slots') // '', qr/^0 down 0\n1 down 0$/m, 'pre.sock.slots: both slots down');

# ---- cold start through a slot socket, preload on ----

my $mark = $t->log_mark;
my $start = time;
my $r = $t->get('/pid', slot => 1, pool => 'pre', timeout => 10);
my $took = time - $start;

is($r->{status}, 200, 'pre: the first request to a cold slot is served');
my ($pid) = ($r->{body} // '') =~ /^(\d+)$/m;
ok($pid && kill(0, $pid), "pre: its worker $pid runs");
diag(sprintf 'cold start through slot 1: %.1f ms', $took * 1000);
ok($t->wait_log(qr/pool pre: a connection waits on its slot socket: starting worker 1$/, 5, 1, $mark),
   'pre: logged: a connection started worker 1');
ok($t->wait_log(qr/pool pre: preloader started/, 5, 1, $mark), 'pre: its preloader started first');
ok($t->wait_for(sub { ($t->read_file('pre.sock.slots') // '') =~ /^1 up $pid$/m }, 5),
   'pre.sock.slots: slot 1 up');

# ---- idle stop: the worker, then the preloader ----

ok($t->wait_for(sub { !kill(0, $pid) }, 8), "pre: idle worker $pid stopped");
ok($t->wait_log(qr/pool pre: worker 1 \(pid $pid\) exited .*\(idle\)$/, 5, 1, $mark),
   'pre: logged as "(idle)"');
ok($t->wait_log(qr/pool pre: idle preloader \(generation \d+\) stopped/, 8, 1, $mark),
   'pre: then its preloader stopped');
ok($t->wait_for(sub { !$t->family }, 5), 'pre: no process left')
    or diag(explain([$t->family]));

# ---- cold start through the shared socket, preload off ----

$mark = $t->log_mark;
$r = $t->get('/pid', pool => 'nopre', timeout => 10);
is($r->{status}, 200, 'nopre: the first request on the shared socket is served');
ok($t->wait_log(qr/pool nopre: a connection waits on the shared socket: starting worker 0$/, 5, 1, $mark),
   'nopre: logged: a connection on the shared socket started worker 0');

# ---- process_max 1: pre waits until nopre's worker stops ----

# keep nopre's worker busy for a while, then idle: it stops about 1 s after
my $busy = Drover::FCGI->connect("$dir/nopre.sock.0", timeout => 10);
ok($busy, 'nopre: a connection for a slow request');
$busy->send_raw(Drover::FCGI::fcgi_request_bytes(uri => '/sleep?ms=800'))
    if $busy;

$mark = $t->log_mark;
$start = time;
$r = $t->get('/pid', slot => 0, pool => 'pre', timeout => 15);
$took = time - $start;

is($r->{status}, 200, 'pre: served once nopre\'s worker has stopped');
cmp_ok($took, '>', 0.8, sprintf('pre: it waited (%.2f s) for the slow request and the idle stop', $took));
ok($t->wait_log(qr/process_max 1 reached: pool pre: worker 0 waits until a worker of any pool stops/, 1, 1, $mark),
   'logged: process_max reached');
is(scalar(grep { /process_max 1 reached/ } split /\n/, $t->log_since($mark)), 1, 'logged once');

# (on a slow machine nopre's first worker may idle out before the slow
# request, which then starts another: either way one stops before pre starts)
# The worker may answer before droverd has logged it started (the preloader
# reports the fork on its channel): wait for that line, then compare.
$t->wait_log(qr/pool pre: worker 0 started/, 5, 1, $mark);
my $log = $t->log_since($mark);
my $stopped = $log =~ /pool nopre: worker 0 \(pid \d+\) exited/ ? $-[0] : -1;
my $started = index($log, 'pool pre: worker 0 started');
ok($stopped >= 0 && $started > $stopped, 'pre\'s worker started after nopre\'s stopped')
    or diag($log);

my $slow = $busy ? $busy->read_response(timeout => 5) : {};
is($slow->{status}, 200, 'nopre: the slow request was served');
$busy->close if $busy;

# ---- a reload of idle pools starts nothing ----

ok($t->wait_for(sub { !$t->family }, 10), 'idle again: no process left')
    or diag(explain([$t->family]));

my $conf = $t->read_file('droverd.conf');
$conf =~ s/workers   ondemand 2 idle=1s;/workers   ondemand 2 idle=2s;/;
$t->write_file('droverd.conf', $conf);

$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_log(qr/pool pre: generation 2 serves \(on demand: it starts with the next connection\)/, 10, 1, $mark),
   'reload: pre\'s new generation serves without starting anything');
is(scalar $t->family, 0, 'reload: still no process');
is($t->get('/pid', slot => 0, pool => 'pre', timeout => 10)->{status}, 200,
   'reload: the next connection starts the new generation');
ok($t->wait_log(qr/pool pre: preloader started, pid \d+ \(generation 2\)/, 5, 1, $mark),
   'reload: from generation 2');

$t->stop;
is($t->exit_code, 0, 'droverd exits 0');

$t->done;
