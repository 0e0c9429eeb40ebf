#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# An app that crashes on start does not become a fork storm: early deaths
# are restarted after a growing delay, past restart_limit (default 10 per
# 60 s) the pool is "failing" and retried every 30 s, and the manager
# stays idle while it happens.  Each exit is logged with its cause.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

# every worker dies of SIGSEGV: that is the test
$t->allow_alert(qr/pool (kit|steady): worker \d+ .*(signal|core)/);

# pool steady, next to it, must not notice
$t->write_conf(<<'EOF')->run(ready => 0);
log_level info;

pool kit {
    app       %%APPS%%/kit.so;
    app_param crash_on_start yes;
    listen    unix:%%DIR%%/kit.sock;
    workers   2;
}

pool steady {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/steady.sock;
    workers   1;
}
EOF

ok($t->alive, 'droverd runs with an app that crashes on start');
my $steady = $t->wait_for(sub { $t->slot_pid(0, pool => 'steady', timeout => 2) }, 5);
ok($steady, "pool steady serves ($steady)");

my $pid = $t->pid;
my $cpu_before = $t->cpu_seconds($pid);
my $start = time;

my $started = qr/pool kit: worker \d+ started, pid (\d+)/;
my $failing = qr/pool kit: .*the pool is failing/;

# the restart limit trips within a few seconds (11 crashes: 0, 0, 100,
# 200, 400 ms ... after each other on two slots)
ok($t->wait_log($failing, 10), 'the log says the pool is failing')
    or diag($t->log);
my $forks_when_failing = () = $t->log_grep($started);

# watch the rest of the 10 s: only the 30 s retries may fork now
$t->wait_for(sub { !$t->alive }, 10 - (time - $start));
ok($t->alive, 'droverd is still running after 10 s');

my $cpu = $t->cpu_seconds($pid) - $cpu_before;
my @forks = map { /$started/ ? $1 : () } $t->log_grep($started);
my %distinct = map { ($_ => 1) } @forks;

note(sprintf '%d workers started in %.1f s, %d when the pool became failing; '
     . 'droverd used %.3f s of CPU', scalar @forks, time - $start,
     $forks_when_failing, $cpu);

cmp_ok(scalar @forks, '>=', 11, 'at least restart_limit + 1 starts were tried');
cmp_ok(scalar @forks, '<', 40, 'fewer than 40 workers started in 10 s');
is(scalar keys %distinct, scalar @forks, 'each start logged once, with its own pid');
cmp_ok(scalar @forks - $forks_when_failing, '<=', 2,
       'once failing, at most one retry per slot within the window');
cmp_ok($cpu, '<', 0.5, 'the manager stayed idle (under 0.5 s of CPU in 10 s)');

# each crash is classified: "worker K (pid N) killed by signal 11
# (Segmentation fault) after T ms (signal)"
my @exits = $t->log_grep(qr/pool kit: worker \d+ \(pid \d+\) /);
cmp_ok(scalar @exits, '>=', 11, 'the exits are logged');
is(scalar(grep { !/killed by signal 11 \(.*\) after \d+ ms \((signal|core dumped)\)$/ } @exits),
   0, 'each as "killed by signal 11 (...) after T ms (signal)"')
    or diag(join "\n", @exits);

my %exited = map { /\(pid (\d+)\)/ ? ($1 => 1) : () } @exits;
is(scalar(grep { !$exited{$_} } @forks), 0, 'every started worker is reaped and logged')
    or diag($t->log);

# a worker that dies before its FORKED message is read (reaped first, kept
# on the manager's early-exit list) ran all the same: its start is logged
my %forked = map { ($_ => 1) } @forks;
is(scalar(grep { !$forked{$_} } keys %exited), 0,
   'every logged exit is of a worker logged as started, whichever came first')
    or diag(join "\n", $t->log_grep(qr/pool kit: worker /));
ok(!$t->log_grep(qr/pool kit: .*(no longer exists|preloader \(pid \d+)/),
   'each early exit was matched to its slot (same uid and gid): none "no longer exists"')
    or diag(join "\n", $t->log_grep(qr/no longer exists|preloader \(pid/));

# the third early death in a row waits 200 ms (0, 100, 200, 400 ms ...)
ok($t->log_grep(qr/pool kit: worker \d+ keeps exiting early \(3 times in a row\); next start in 200 ms/),
   'the backoff is logged: "3 times in a row; next start in 200 ms"');

# ---- the pool next to it ----

is($t->slot_pid(0, pool => 'steady'), $steady, 'pool steady kept its worker all along');
ok(!$t->log_grep(qr/pool steady: .*failing/), 'and is not failing');

# a worker that lived over a second is replaced at once
my $mark = $t->log_mark;
my $crash_at = time;
$t->get('/crash', pool => 'steady', slot => 0, timeout => 5);
my $new;
$t->wait_for(sub {
    my $p = $t->slot_pid(0, pool => 'steady', timeout => 2);
    return defined $p && $p != $steady && ($new = $p);
}, 5, 0.005);
my $took = time - $crash_at;
ok($new, "steady: /crash after 10 s of life, a new worker ($new) serves");
cmp_ok($took, '<', 0.5, sprintf('steady: at once (%.0f ms), no backoff', $took * 1000));
ok($t->wait_log(qr/pool steady: worker 0 \(pid $steady\) killed by signal 11 \([^)]*\)(, core dumped)? after \d{5,} ms \((signal|core dumped)\)$/,
                10, 1, $mark), 'steady: logged "killed by signal 11 ... after T ms (signal)"')
    or diag(join "\n", $t->log_grep(qr/pool steady: /));

# a failing pool is not a reason to exit, and stops like any other
$t->stop;
is($t->exit_code, 0, 'SIGTERM: droverd exits 0');

$t->done;
