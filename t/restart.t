#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A worker that dies is replaced on its slot: after kill -9 (with preload
# on the new worker answers within 100 ms), with preload off, and after the
# app crashes (/crash) or exits (/exit).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

# the supervisor may log a worker's death loudly; that is what this tests
$t->allow_alert(qr/worker.*\b(signal|SIG[A-Z]+|exit|code)\b/i);

$t->write_conf(<<'EOF')->run;
pool pre {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/pre.sock;
    workers 2;
    preload on;
}

pool nopre {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/nopre.sock;
    workers 1;
    preload off;
}
EOF

# kill -9 the worker of $slot; returns (old pid, new pid, seconds from the
# kill to the first answer of the new worker).  The worker is killed once
# it is over a second old: droverd delays restarting a worker that dies
# younger than that (crash-loop backoff), and that is not what this measures.
sub kill_and_wait {
    my ($pool, $slot) = @_;

    my $old = $t->slot_pid($slot, pool => $pool) or return;
    $t->wait_for(sub { ($t->process_age($old) || 0) > 1.2 }, 5, 0.05);

    kill 'KILL', $old;
    my $start = time;

    # a connection made during the restart waits in the backlog, so one
    # request normally suffices; retry in case it raced the kill
    my $new;
    $t->wait_for(sub {
        $new = $t->slot_pid($slot, pool => $pool, timeout => 5);
        return defined $new && $new != $old;
    }, 10, 0.001);

    return ($old, $new, time - $start);
}

# ---- preload on ----

my $other = $t->slot_pid(1, pool => 'pre');

my ($old, $new, $took) = kill_and_wait('pre', 0);
ok($old, 'preload on: slot 0 has a worker');
ok($new && $new != $old, "preload on: a new worker ($new) replaced $old")
    or diag($t->log);
ok($t->wait_for(sub { !-e "/proc/$old" }, 5), 'the killed worker is reaped');
cmp_ok($took * 1000, '<', 100, sprintf('preload on: answered %.1f ms after the kill', $took * 1000));

is($t->slot_pid(1, pool => 'pre'), $other, 'the other slot kept its worker');

# the best of three, in case one ran into a scheduling hiccup
my @times = map { (kill_and_wait('pre', 1))[2] } 1 .. 3;
my ($best) = sort { $a <=> $b } grep { defined } @times;
cmp_ok($best * 1000, '<', 100, sprintf('preload on, slot 1: best of three %.1f ms (%s)',
       $best * 1000, join(', ', map { sprintf '%.1f', $_ * 1000 } @times)));

# ---- preload off ----

($old, $new, $took) = kill_and_wait('nopre', 0);
ok($new && $new != $old, "preload off: a new worker ($new) replaced $old");
note(sprintf 'preload off: %.1f ms to the first answer', $took * 1000);

# ---- the app crashes or exits ----

$old = $t->slot_pid(0, pool => 'pre');
my $r = $t->get('/crash', pool => 'pre', slot => 0, timeout => 5);
ok(!$r->{complete}, '/crash: no END_REQUEST, the connection just closes');

$new = $t->wait_for(sub {
    my $p = $t->slot_pid(0, pool => 'pre', timeout => 5);
    return defined $p && $p != $old ? $p : 0;
}, 10);
ok($new, "/crash: slot 0 served by a new worker ($new)");

$old = $t->slot_pid(0, pool => 'nopre');
$r = $t->get('/exit?code=3', pool => 'nopre', slot => 0, timeout => 5);
ok(!$r->{complete}, '/exit: the connection closes');
$new = $t->wait_for(sub {
    my $p = $t->slot_pid(0, pool => 'nopre', timeout => 5);
    return defined $p && $p != $old ? $p : 0;
}, 10);
ok($new, "/exit: slot 0 served by a new worker ($new)");

# the restarts were logged, naming the signal
ok($t->log_grep(qr/\b$old\b/), 'the log names the worker that exited')
    or diag($t->log);

ok($t->alive, 'droverd itself is still running');

$t->done;
