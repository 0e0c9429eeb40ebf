#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Preloading a Python app: t/apps/python/preload_app.py's preload hook
# (python_preload preload_app:load) builds 200 MB (a 100 MB bytes blob and
# 500,000 small lists) once in the preloader; 4 workers share it copy-on-write.
# After 10,000 requests (a full gc.collect() every 1,000th) the sum of the
# pool's PSS stays within 1.3x one copy (the biggest process's RSS).  USS
# and PSS per process are printed before and after, for the pool as it is
# (gc.freeze() before fork) and for one whose workers call gc.unfreeze(),
# and for the peers: uvicorn --workers 4 (every worker loads its own copy,
# which the measurement must see) and gunicorn --preload with uvicorn
# workers (preloaded, no gc.freeze).

use strict;
use warnings;

use JSON::PP ();
use Test::More;

use Drover::Test;
use Drover::Test::Python qw(python_needs python_runtime app_dir start_peer stop_peer proc_kb
                            peer_pids python_pool_conf);

my $t = Drover::Test->new->has(qw(droverd smaps));
python_needs($t, qw(fastapi uvicorn));

# ASan's shadow memory and quarantine are in every process's PSS: the
# figures would measure the sanitizer, not what preload shares
plan skip_all => 'a sanitizer build: PSS counts ASan\'s shadow memory, not the app\'s'
    if $t->sanitized;

my $PY = $Drover::Test::Python::PYTHON;
my $json = JSON::PP->new;
my $REQUESTS = 10_000;
my $WORKERS = 4;

app_dir($t);
my $no_runtime = python_runtime($t);

# {pid => {rss, pss, uss}} of @pids, from smaps_rollup
sub measure {
    my (@pids) = @_;
    my %m;
    for my $pid (@pids) {
        my ($rss, $pss) = (proc_kb($t, $pid, 'Rss'), proc_kb($t, $pid, 'Pss'));
        next unless defined $rss && defined $pss;
        my $uss = (proc_kb($t, $pid, 'Private_Clean') // 0) + (proc_kb($t, $pid, 'Private_Dirty') // 0);
        $m{$pid} = { rss => $rss, pss => $pss, uss => $uss };
    }
    return \%m;
}

sub sum_pss { my $s = 0; $s += $_->{pss} for values %{ $_[0] }; return $s }
sub max_rss { my $s = 0; for (values %{ $_[0] }) { $s = $_->{rss} if $_->{rss} > $s } return $s }

sub report {
    my ($name, $when, $m, $roles) = @_;
    my @lines = map {
        sprintf '  %-9s pid %-7d RSS %7.1f MB  PSS %7.1f MB  USS %7.1f MB', $roles->{$_} // 'process', $_,
            $m->{$_}{rss} / 1024, $m->{$_}{pss} / 1024, $m->{$_}{uss} / 1024
    } sort { ($roles->{$a} // '') cmp ($roles->{$b} // '') || $a <=> $b } keys %$m;
    diag(sprintf "%s, %s: sum of PSS %.1f MB, one copy (the biggest RSS) %.1f MB: %.2fx\n%s",
         $name, $when, sum_pss($m) / 1024, max_rss($m) / 1024,
         max_rss($m) ? sum_pss($m) / max_rss($m) : 0, join "\n", @lines);
}

# $REQUESTS requests through $ask->($k, $uri) (the pool's workers take
# turns by $k): /lookup, a full collection every 1,000th; the number
# answered 200
sub load {
    my ($ask) = @_;
    my $ok = 0;
    for my $i (1 .. $REQUESTS) {
        # the collections go round the workers too (1,000 is a multiple of 4)
        my ($k, $uri) = $i % 1000 == 0 ? ($i / 1000, '/collect') : ($i, "/lookup?i=$i");
        $ok++ if ($ask->($k, $uri)->{status} // 0) == 200;
    }
    return $ok;
}

# ---- the peers ----

my %peer_ratio;
for my $peer (['uvicorn --workers 4', 'uvicorn',
               [$PY, '-m', 'uvicorn', 'preload_app:app', '--host', '127.0.0.1', '--port', '%PORT%',
                '--workers', $WORKERS, '--log-level', 'warning', '--no-access-log']],
              ['gunicorn --preload -k uvicorn.workers.UvicornWorker', 'gunicorn',
               [$PY, '-m', 'gunicorn', '--preload', '-k', 'uvicorn.workers.UvicornWorker',
                '-w', $WORKERS, '-b', '127.0.0.1:%PORT%', '--log-level', 'warning',
                'preload_app:app']]) {
    my ($name, $short, $argv) = @$peer;
    SKIP: {
        my $port = $t->port($short);
        skip "$short is not installed", 2
            if system("$PY -c 'import $short' 2>/dev/null") != 0
            || ($short eq 'gunicorn' && system("$PY -c 'import uvicorn.workers' 2>/dev/null") != 0);
        local $ENV{LOAD_AT_IMPORT} = $short eq 'gunicorn' ? 1 : 0;
        my $pid = start_peer($t, $short, [map { s/%PORT%/$port/r } @$argv], $port, 60);
        ok($pid, "$name started") or skip "$short did not start", 1;

        # every worker up: 4 processes besides the master
        $t->wait_for(sub { peer_pids($t, $pid) >= $WORKERS + 1 }, 30);
        my $ask = sub { $t->http(GET => $_[1], port => $port) };
        $ask->(0, '/') for 1 .. 20;
        my $before = measure(peer_pids($t, $pid));
        report($name, 'before', $before, { $pid => 'master' });
        my $ok = load($ask);
        my $after = measure(peer_pids($t, $pid));
        report($name, "after $REQUESTS requests ($ok answered 200)", $after, { $pid => 'master' });
        $peer_ratio{$short} = max_rss($after) ? sum_pss($after) / max_rss($after) : 0;
        stop_peer($pid);
    }
}

SKIP: {
    skip 'uvicorn was not measured', 1 unless $peer_ratio{uvicorn};
    cmp_ok($peer_ratio{uvicorn}, '>', 2.5,
           'the measurement sees uvicorn --workers 4 load the data in each worker (sum of PSS > 2.5 copies)');
}

# ---- droverd: the pool as it is, and with gc.unfreeze() in each worker ----

SKIP: {
    skip $no_runtime, 10 if $no_runtime;

    my %extra = (frozen => '', unfrozen => "    env          UNFREEZE 1;\n");
    my $conf = '';
    for my $name (qw(frozen unfrozen)) {
        $conf .= python_pool_conf($t, 'preload_app:app', name => $name, workers => $WORKERS,
                                  extra => "    python_preload preload_app:load;\n$extra{$name}");
    }
    $t->write_conf($conf)->run(timeout => 120);

    my %ratio;
    for my $name (qw(frozen unfrozen)) {
        # each worker's pid and where the data was built
        my (@info, %roles);
        for my $k (0 .. $WORKERS - 1) {
            my $r = $t->get('/info', slot => $k, pool => $name);
            push @info, $r->{status} && $r->{status} == 200 ? $json->decode($r->{body}) : {};
        }
        my @pids = grep { defined } map { $_->{pid} } @info;
        my %built = map { ($_->{loaded_in} // 0) => 1 } @info;
        my ($pre) = keys %built;
        $roles{$_} = 'worker' for @pids;
        $roles{$pre} = 'preloader' if $pre;

        if ($name eq 'frozen') {
            is(scalar @pids, $WORKERS, "$name: $WORKERS workers answer");
            ok(keys %built == 1 && $pre && !grep({ $_ == $pre } @pids),
               "$name: the data was built once, in the preloader (pid " . ($pre // '?') . ')');
            ok(!grep({ !$_->{frozen} } @info), "$name: gc.freeze() ran before fork "
               . '(gc.get_freeze_count: ' . join(' ', map { $_->{frozen} // '?' } @info) . ')');
        }

        my @all = ($pre ? ($pre) : (), @pids);
        my $before = measure(@all);
        report("droverd, pool $name", 'before', $before, \%roles);
        my $ok = load(sub { $t->get($_[1], slot => $_[0] % $WORKERS, pool => $name) });
        is($ok, $REQUESTS, "$name: $REQUESTS requests answered");
        my $after = measure(@all);
        report("droverd, pool $name", "after $REQUESTS requests", $after, \%roles);
        $ratio{$name} = max_rss($after) ? sum_pss($after) / max_rss($after) : 0;

        is(scalar keys %$after, scalar @all, "$name: the same processes after the requests");
    }

    cmp_ok($ratio{frozen}, '<=', 1.3, sprintf 'the pool with %d workers: sum of PSS %.2fx one copy (<= 1.3x)',
           $WORKERS, $ratio{frozen});
    cmp_ok($ratio{unfrozen}, '>', $ratio{frozen} + 0.2,
           sprintf 'the measurement sees what gc.freeze saves (%.2fx without it)', $ratio{unfrozen});
    diag(sprintf 'gc.freeze: the pool costs %.2fx one copy; with gc.unfreeze() in each worker %.2fx;'
         . ' gunicorn --preload %s; uvicorn --workers 4 %s', $ratio{frozen}, $ratio{unfrozen},
         map { $peer_ratio{$_} ? sprintf('%.2fx', $peer_ratio{$_}) : 'not measured' } qw(gunicorn uvicorn));
}

$t->done;
