#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# memory_budget: "workers auto" starts only the workers that fit, counting
# the preloaded state once (it is shared copy-on-write) and each worker's
# private memory (measured, or memory_limit when larger), and says so.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd model smaps));

plan skip_all => 'needs at least 2 cores for "workers auto" to mean 2+'
    unless $t->_cores >= 2;

my $cores = $t->_cores > 256 ? 256 : $t->_cores;

# the preloaded state as droverd measures it: 128 MiB and the allocator's
# own; under ASan also up to an eighth more, its shadow of those pages
# (154 MiB seen in CI)
my $state = $t->sanitized ? qr/1[2-5]\d/ : qr/1[23]\d/;

# 128 MiB preloaded; 150 MiB of budget leaves room for one 16 MiB worker
# only if the state is counted once -- and not for two
$t->write_conf(<<'EOF2')->run(wait => 0);
log_level info;
pool model {
    app           %%APPS%%/model.so;
    app_param     size 128M;
    listen        unix:%%DIR%%/model.sock;
    workers       auto;
    memory_budget 150M;
    memory_limit  16M;
}
EOF2

$t->wait_for(sub { scalar $t->log_grep(qr/"workers auto" would start/) }, 20);
my ($line) = $t->log_grep(qr/"workers auto" would start/);
ok($line, 'the cap is logged') or diag($t->log);
like($line || '', qr/would start $cores workers \(one per core\), but the pool's memory_budget \(150 MiB\) fits only 1: the preloaded state \($state MiB\) is counted once, shared by all workers, plus 16 MiB private memory for each worker; starting 1/,
     'in plain words: cores, budget, shared state counted once, per worker, result');

my $sock = $t->dir . '/model.sock';
ok($t->wait_for(sub { !-e "$sock.1" }, 5), 'the slot socket of the worker that does not fit is gone');
ok(-S "$sock.0", 'slot 0 stays');

my $r = Drover::FCGI::get($sock, uri => '/lookup?key=a', timeout => 5);
is($r->{status}, 200, 'the pool serves with the workers that fit');
is(scalar($t->log_grep(qr/pool model: worker \d+ started/)), 1, 'one worker started');

$t->stop;

# the same state with a budget that fits every core's worker
$t = Drover::Test->new->has(qw(droverd model smaps));
$t->write_conf(<<'EOF2')->run(wait => 0);
log_level info;
pool model {
    app           %%APPS%%/model.so;
    app_param     size 128M;
    listen        unix:%%DIR%%/model.sock;
    workers       auto;
    memory_budget 2G;
}
EOF2

$t->wait_for(sub { scalar $t->log_grep(qr/workers fit in/) }, 20);
($line) = $t->log_grep(qr/workers fit in/);
like($line || '', qr/pool model: $cores workers fit in the pool's memory_budget \(2048 MiB: $state MiB preloaded once \+ \d+ MiB each\)/,
     'a budget that fits: every core gets its worker, logged');
ok($t->wait_for(sub { $t->log_grep(qr/pool model: worker @{[$cores - 1]} started/) }, 10),
   'all workers started');

$t->done;
