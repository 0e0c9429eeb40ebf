#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# drover_pass to on-demand pools ("ondemand N" in PATH.slots): a pool with
# no slot up that may start gets the request on a down slot, where it waits
# in the backlog while droverd starts the preloader and the worker, and is
# served well within the queue's timeout; an on-demand pool that is
# failing (workers crashing past restart_limit, or an init that fails)
# still answers 503 at once.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

$t->allow_alert(qr/pool crash: worker \d+ .*(signal|core)/);

$t->write_conf(<<'EOF')->run(ready => 0);
log_level info;

pool cold {
    app       %%APPS%%/kit.so;
    app_param init_sleep_ms 300;
    listen    unix:%%DIR%%/cold.sock;
    workers   ondemand 2 idle=30s;
}

pool crash {
    app       %%APPS%%/kit.so;
    app_param crash_on_start yes;
    listen    unix:%%DIR%%/crash.sock;
    workers   ondemand 1 idle=30s;
    restart_limit 2 per 60s;
}

pool initfail {
    app       %%APPS%%/kit.so;
    app_param fail_init yes;
    listen    unix:%%DIR%%/initfail.sock;
    workers   ondemand 1 idle=30s;
}
EOF

for my $pool (qw(cold crash initfail)) {
    ok($t->wait_for(sub { ($t->read_file("$pool.sock.slots") // '') =~ /^ondemand \d+$/m }, 20),
       "$pool: PATH.slots says on demand");
}
is(scalar $t->family, 0, 'no process runs before the first request');

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        drover_queue size=8 timeout=5s;

        location / {
            drover_pass unix:%%DIR%%/cold.sock;
        }

        location /crash/ {
            drover_pass unix:%%DIR%%/crash.sock;
        }

        location /initfail/ {
            drover_pass unix:%%DIR%%/initfail.sock;
        }
    }
EOF

$t->nginx_started('with the module');

# ---- a cold pool: the request waits for the start, not for the timeout ----

my $start = time;
my $r = $t->http(GET => '/pid', timeout => 20);
my $took = time - $start;

is($r->{status}, 200, 'cold: the first request is served');
cmp_ok($took, '>=', 0.3, sprintf('cold: it waited for the app\'s init (%.2f s)', $took));
cmp_ok($took, '<', 5, 'cold: within the queue\'s 5 s timeout');
ok($t->log =~ /pool cold: a connection waits on its slot socket: starting worker 0$/m,
   'cold: the module\'s connection to slot 0 started worker 0');

$start = time;
$r = $t->http(GET => '/pid', timeout => 10);
is($r->{status}, 200, 'cold: the next request is served');
diag(sprintf 'warm request: %.1f ms', (time - $start) * 1000);

# ---- failing on-demand pools: 503 at once ----

# a connection starts each one; its workers crash, or its init fails
my @held;
for my $pool (qw(crash initfail)) {
    push @held, Drover::FCGI->connect("$dir/$pool.sock.0", timeout => 1);
    ok($t->wait_for(sub { ($t->read_file("$pool.sock.slots") // '') =~ /^state failing$/m }, 20),
       "$pool: PATH.slots says the pool is failing")
        or diag($t->read_file("$pool.sock.slots") // 'no .slots file');
}
$_->close for grep { defined } @held;

for my $pool (qw(crash initfail)) {
    $start = time;
    $r = $t->http(GET => "/$pool/pid", timeout => 20);
    $took = time - $start;

    is($r->{status}, 503, "$pool: 503");
    cmp_ok($took, '<', 2.5, sprintf("$pool: at once (%.2f s), not after the 5 s queue timeout", $took));
}

$t->done;
