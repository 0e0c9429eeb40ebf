#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A request pipelined behind one that takes its worker down is replayed
# without using up a try (docs/dispatch.md#replays): droverd reads a
# withdrawable request whole before it runs it, and a worker that dies with
# bytes of a request unread in its socket leaves the connection reset, so
# the app never saw it. kit with one worker, "drover_pipeline 3
# timeout=30s" (nothing is taken back), "drover_retries 0":
#
#   - three requests (two GETs and a POST) wait on kept connections behind
#     /crash?ms=1500, whose worker then dies of SIGSEGV: the crashing
#     request gets 502 ("drover_retries reached"), the three are answered
#     by the next worker, the POST exactly once, each with a log line
#     "went before it read the request, replaying (no try used)";
#   - the same when the worker, running /sleep, is killed with SIGKILL.
#
# The old rule spent the one try on each of the three: 502, and for the
# POST "not idempotent".

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

plan skip_all => 'needs ss (iproute2) to see bytes waiting in a socket'
    unless -x '/usr/bin/ss' || -x '/bin/ss';

$t->allow_alert(qr/worker \d+ .*(signal|killed|SIGSEGV)/i);

$t->write_conf(<<'EOF')->run(timeout => 30);
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app           %%APPS%%/kit.so;
    listen        unix:%%DIR%%/kit.sock mode=0666;
    workers       1;
    restart_limit 1000 per 60s;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location / {
            drover_pipeline 3 timeout=30s;
            drover_retries 0;
            drover_queue size=20 timeout=20s;
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location = /status {
            drover_status unix:%%DIR%%/status.sock;
        }
    }
EOF

$t->nginx_started('with drover_pipeline 3 and drover_retries 0');

my $json = JSON::PP->new;

sub status {
    my $r = $t->http(GET => '/status?format=json');
    my $st = eval { $json->decode($r->{body} || '') } || {};
    my ($p) = @{ $st->{pools} || [] };
    return $p || {};
}

sub counter { status()->{dispatch}{$_[0]} // 0 }

sub worker {
    my ($w) = @{ status()->{workers_detail} || [] };
    return $w || {};
}

# connections of process $pid with bytes waiting to be read, from ss
sub waiting_in {
    my ($pid) = @_;
    my ($code, $out) = $t->run_cmd(['ss', '-xpnH'], 10);
    return scalar grep { /^u_str\s+\S+\s+([1-9]\d*)\s/ && /pid=$pid,/ }
        split /\n/, $out // '';
}

# a request in a child of its own; its answer goes to a file
my @kids;
sub spawn {
    my ($method, $uri, $name, %opt) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $r = $t->http($method => $uri, timeout => 30, %opt);
        $t->write_file("$name.tmp", sprintf("%s %s", $r->{status} || 0,
                                            $r->{body} // ''));
        rename "$dir/$name.tmp", "$dir/$name";
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

sub result {
    my ($name) = @_;
    $t->wait_for(sub { -e "$dir/$name" }, 30);
    my ($status, $body) = split / /, $t->read_file($name) // '', 2;
    return ($status || 0, $body // '');
}

ok($t->wait_for(sub { (worker()->{state} || '') eq 'idle' }, 10), 'the worker is up');

# nginx keeps up to 4 connections to the slot: made by 4 requests at once,
# then kept, and accepted by the worker, so that later requests' bytes wait
# in connections the worker holds, not in the socket's backlog (where the
# next worker would find them: no replay at all)
sub warm_up {
    my ($name) = @_;

    spawn(GET => '/sleep?ms=300', "${name}warm0");
    ok($t->wait_for(sub { (worker()->{current_uri} || '') =~ m{^/sleep} }, 5, 0.005),
       "$name: warm-up sleep runs");
    spawn(GET => '/pid', "${name}warm$_") for 1 .. 3;
    for my $n (0 .. 3) {
        my ($status) = result("${name}warm$n");
        is($status, 200, "$name: warm-up request $n served");
    }
}

for my $case (['crash', '/crash?ms=1500'], ['kill', '/sleep?ms=20000']) {
    my ($name, $uri) = @$case;

    warm_up($name);
    my $old = worker()->{pid} || 0;
    ok($old, "$name: the worker's pid ($old)");
    my $mark = $t->nginx_log_mark;
    my $pipelined0 = counter('pipelined');

    spawn(GET => $uri, "${name}A");
    ok($t->wait_for(sub { (worker()->{current_uri} || '') =~ m{^/(crash|sleep)} }, 5, 0.005),
       "$name: $uri runs");

    spawn(GET => '/pid', "${name}B1");
    spawn(GET => '/pid', "${name}B2");
    spawn(POST => '/echo', "${name}B3", body => "posted once $name");

    ok($t->wait_for(sub { counter('pipelined') - $pipelined0 >= 3 }, 5, 0.01),
       "$name: three requests sent behind it");
    ok($t->wait_for(sub { waiting_in($old) >= 3 }, 5, 0.01),
       "$name: their bytes wait unread in the worker's connections");

    kill 'KILL', $old if $name eq 'kill';

    my ($status) = result("${name}A");
    is($status, 502, "$name: the request that took the worker down: 502");

    my $new;
    for my $b (qw(B1 B2)) {
        my ($st, $body) = result("$name$b");
        is($st, 200, "$name: $b, behind it, replayed and served");
        ($new) = $body =~ /^(\d+)$/;
        isnt($new // $old, $old, "$name: $b answered by the next worker");
    }
    my ($st, $body) = result("${name}B3");
    is($st, 200, "$name: the POST behind it replayed and served");
    is($body, "posted once $name", "$name: the POST's body reached the app");

    my $log = $t->nginx_log_since($mark);
    my $free = () = $log =~ /went before it read the request, replaying \(no try used\)/g;
    is($free, 3, "$name: three replays that used no try, logged");
    like($log, qr/not replayed: drover_retries reached/,
         "$name: the request the worker ran is not replayed");
    unlike($log, qr/not idempotent/, "$name: the POST was not given up");

    ok($t->wait_for(sub { (worker()->{state} || '') eq 'idle' }, 10),
       "$name: the next worker is idle");
}

waitpid($_, 0) for @kids;

$t->done;
