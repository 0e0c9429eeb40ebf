#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# The status page through nginx carries what nginx's dispatch counted: with
# both workers busy a third request waits in the queue, and the page then
# shows it -- queue_depth and queue_wait_ms in the JSON, the dispatch
# counters in Prometheus text (which promtool accepts) and in the HTML.

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));

$t->write_conf(<<'EOF2')->run(timeout => 30);
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock mode=0666;
    workers 2;
}
EOF2

$t->write_nginx_conf(<<'EOF2', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location / {
            drover_queue size=10 timeout=10s;
            drover_pipeline off;
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location = /status {
            drover_status unix:%%DIR%%/status.sock;
        }
    }
EOF2

$t->nginx_started('with drover_pass and drover_status');

my $json = JSON::PP->new;

sub status {
    my ($format) = @_;
    return $t->http(GET => "/status?format=$format");
}

# both workers busy for 1.5 s, from two children
my @kids;
for (1 .. 2) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $r = $t->http(GET => '/sleep?ms=1500', timeout => 10);
        POSIX::_exit(($r->{status} || 0) == 200 ? 0 : 1);
    }
    push @kids, $pid;
}

# wait until droverd's scoreboard shows both busy, then queue a third
ok($t->wait_for(sub {
    my $r = status('json');
    my $st = eval { $json->decode($r->{body} || '') } || {};
    my ($p) = @{ $st->{pools} || [] };
    2 == grep { ($_->{state} || '') eq 'busy' } @{ ($p || {})->{workers_detail} || [] };
}, 10, 0.02), 'both workers are busy in the app');

my $t0 = time;
my $r = $t->http(GET => '/pid', timeout => 10);
my $waited = time - $t0;
is($r->{status}, 200, 'a third request waits for a worker and is served');
cmp_ok($waited, '>', 0.3, sprintf('it waited in the queue (%.2f s)', $waited));

for my $kid (@kids) {
    waitpid($kid, 0);
    is($? >> 8, 0, 'a slow request completed');
}

# the page now shows what nginx's dispatch counted
$r = status('json');
my $st = eval { $json->decode($r->{body}) } || {};
my ($p) = @{ $st->{pools} || [] };
$p ||= {};
is(ref $p->{dispatch}, 'HASH', 'the pool carries nginx\'s dispatch numbers');
cmp_ok($p->{dispatch}{waited} // 0, '>=', 1, 'one request waited in the queue');
cmp_ok($p->{dispatch}{requests} // 0, '>=', 3, 'three requests were dispatched');
is($p->{queue_depth}, 0, 'queue_depth: none waits now');
cmp_ok($p->{queue_wait_ms} // 0, '>', 100, "queue_wait_ms: the average wait ($p->{queue_wait_ms} ms)");

$r = status('prometheus');
like($r->{body}, qr/^drover_pool_queued_requests_total\{pool="kit"\} [1-9]/m,
     'Prometheus: drover_pool_queued_requests_total');
like($r->{body}, qr/^drover_pool_queue_wait_seconds_total\{pool="kit"\} 0\.[1-9]|^drover_pool_queue_wait_seconds_total\{pool="kit"\} [1-9]/m,
     'Prometheus: drover_pool_queue_wait_seconds_total');

SKIP: {
    skip 'promtool is not installed (Debian package prometheus)', 1
        unless $t->can_do('promtool');
    my ($code, $out, $err) = $t->promtool_check($r->{body});
    is($code, 0, 'promtool check metrics accepts it') or diag("$out$err");
}

$r = status('html');
like($r->{body}, qr/queue \(nginx\)<\/dt><dd>0 waiting, [\d.]+ ms average wait/,
     'HTML: the queue line');

$t->done;
