#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# memory_limit: a worker whose private memory (USS) grows past the limit is
# recycled after its request ("over memory_limit", exit "(memory limit)");
# memory_limit_hard: it is killed at once ("(memory hard limit)").  Either
# way a new worker serves the slot, and the other slot is left alone.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit smaps));

$t->write_conf(<<'EOF')->run;
log_level info;

pool soft {
    app          %%APPS%%/kit.so;
    listen       unix:%%DIR%%/soft.sock;
    workers      2;
    memory_limit 64M;
}

pool hard {
    app               %%APPS%%/kit.so;
    listen            unix:%%DIR%%/hard.sock;
    workers           2;
    memory_limit_hard 64M;
}
EOF

# the workers' baseline is far below the limit: nothing is recycled
# while they idle for two memory samples
my @soft = $t->worker_pids(pool => 'soft');
my @hard = $t->worker_pids(pool => 'hard');
my $changed = $t->wait_for(sub {
    "@{[$t->worker_pids(pool => 'soft'), $t->worker_pids(pool => 'hard')]}" ne "@soft @hard";
}, 2.2, 0.2);
ok(!$changed, 'idle workers under memory_limit and memory_limit_hard stay (two samples)');

# leak 100 MiB in slot 0 of $pool (every page touched), then wait for its
# worker to be replaced; returns (response, new pid, seconds it took)
sub leak_and_wait {
    my ($pool, $old) = @_;

    my $start = time;
    my $r = $t->get('/leak?kb=102400', pool => $pool, slot => 0, timeout => 10);

    my $new;
    $t->wait_for(sub {
        my $p = $t->slot_pid(0, pool => $pool, timeout => 5);
        return defined $p && $p != $old && ($new = $p);
    }, 5, 0.05);

    return ($r, $new, time - $start);
}

# ---- memory_limit: recycled after the request ----

my $mark = $t->log_mark;
my ($r, $new, $took) = leak_and_wait('soft', $soft[0]);

is($r->{status}, 200, 'soft: /leak?kb=102400 completes with 200');
like($r->{body}, qr/^leaked 102400 KiB/, 'soft: it leaked 100 MiB');
ok($new, "soft: a new worker ($new) serves slot 0") or diag($t->log_since($mark));
cmp_ok($took, '<', 4, sprintf('soft: within %.1f s', $took));

ok($t->wait_log(qr/pool soft: worker 0 \(pid $soft[0]\) uses \d+ MiB of private memory, over memory_limit 64 MiB/,
                2, 1, $mark), 'soft: the log says "over memory_limit"')
    or diag($t->log_since($mark));
ok($t->wait_log(qr/pool soft: worker 0 \(pid $soft[0]\) exited with code 0 after \d+ ms \(memory limit\)$/,
                2, 1, $mark), 'soft: the worker exits by itself, "(memory limit)"')
    or diag($t->log_since($mark));
is($t->slot_pid(1, pool => 'soft'), $soft[1], 'soft: slot 1 kept its worker');

# ---- memory_limit_hard: killed ----

$mark = $t->log_mark;
($r, $new, $took) = leak_and_wait('hard', $hard[0]);

# a sample may land while the leak is under way, which cuts it off
note('hard: /leak ' . ($r->{complete} ? "completed with $r->{status}" : 'was cut off by the kill'));
ok($new, "hard: a new worker ($new) serves slot 0") or diag($t->log_since($mark));
cmp_ok($took, '<', 4, sprintf('hard: within %.1f s', $took));

ok($t->wait_log(qr/pool hard: worker 0 \(pid $hard[0]\) uses \d+ MiB .*over memory_limit_hard 64 MiB: killing it/,
                2, 1, $mark), 'hard: the log says "over memory_limit_hard"')
    or diag($t->log_since($mark));
ok($t->wait_log(qr/pool hard: worker 0 \(pid $hard[0]\) killed by signal 9 .*\(memory hard limit\)$/,
                2, 1, $mark), 'hard: killed by SIGKILL, "(memory hard limit)"')
    or diag($t->log_since($mark));
is($t->slot_pid(1, pool => 'hard'), $hard[1], 'hard: slot 1 kept its worker');

# ---- a hard-limited worker in the middle of a request ----

# /leak then /sleep on one connection: the kill lands while it sleeps (or
# while it leaks), and the connection closes without a response
$mark = $t->log_mark;
my $old = $t->slot_pid(0, pool => 'hard');
my $c = Drover::FCGI->connect($t->slot_path(0, 'hard'), timeout => 10);
$r = $c->request(uri => '/leak?kb=102400', keep_conn => 1);
$r = $c->request(uri => '/sleep?ms=3000', keep_conn => 1, timeout => 10)
    if $r->{complete};
ok(!$r->{complete}, 'hard: the request in flight is cut off by the kill');
$c->close;

ok($t->wait_log(qr/pool hard: worker 0 \(pid $old\) killed by signal 9 .*\(memory hard limit\)$/,
                3, 1, $mark), 'hard: the kill is logged');

ok($t->alive, 'droverd still running');

$t->done;
