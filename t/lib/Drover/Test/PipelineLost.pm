# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
#
# The scenario of t/dispatch_pipeline_lost.t (nginx) and
# t/apache_pipeline_lost.t (Apache), one front end each: a pool of one kit
# worker behind pipeline 3 and retries 0. Three requests (two GETs and a
# POST) wait unread on kept connections behind /crash?ms=1500, and again
# behind a /sleep whose worker gets SIGKILL; the front request gets 502,
# the three are replayed without using up a try and served by the next
# worker.
#
# run($t, %front):
#   worker    => sub: droverd's status entry of the one worker
#   counter   => sub(NAME): the front end's dispatch counter NAME
#   log_mark  => sub: a mark in the front end's error log
#   log_since => sub(MARK): the log after it
#   retries   => the "retries reached" text of the front end

package Drover::Test::PipelineLost;

use strict;
use warnings;

use POSIX ();
use Test::More;

sub run {
    my ($t, %f) = @_;

    my $dir = $t->dir;
    my @kids;

    # connections of process $pid with bytes waiting to be read, from ss
    my $waiting_in = sub {
        my ($pid) = @_;
        my ($code, $out) = $t->run_cmd(['ss', '-xpnH'], 10);
        return scalar grep { /^u_str\s+\S+\s+([1-9]\d*)\s/ && /pid=$pid,/ }
            split /\n/, $out // '';
    };

    # a request in a child of its own; its answer goes to a file
    my $spawn = sub {
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
    };

    my $result = sub {
        my ($name) = @_;
        $t->wait_for(sub { -e "$dir/$name" }, 30);
        my ($status, $body) = split / /, $t->read_file($name) // '', 2;
        return ($status || 0, $body // '');
    };

    my $worker = $f{worker};

    ok($t->wait_for(sub { ($worker->()->{state} || '') eq 'idle' }, 10),
       'the worker is up');

    # the front end keeps connections to the slot: made by 4 requests at
    # once, then kept, and accepted by the worker, so that later requests'
    # bytes wait in connections the worker holds, not in the socket's
    # backlog (where the next worker would find them: no replay at all)
    my $warm_up = sub {
        my ($name) = @_;

        $spawn->(GET => '/sleep?ms=300', "${name}warm0");
        ok($t->wait_for(sub { ($worker->()->{current_uri} || '') =~ m{^/sleep} }, 5, 0.005),
           "$name: warm-up sleep runs");
        $spawn->(GET => '/pid', "${name}warm$_") for 1 .. 3;
        for my $n (0 .. 3) {
            my ($status) = $result->("${name}warm$n");
            is($status, 200, "$name: warm-up request $n served");
        }
    };

    for my $case (['crash', '/crash?ms=1500'], ['kill', '/sleep?ms=20000']) {
        my ($name, $uri) = @$case;

        $warm_up->($name);
        my $old = $worker->()->{pid} || 0;
        ok($old, "$name: the worker's pid ($old)");
        my $mark = $f{log_mark}->();
        my $pipelined0 = $f{counter}->('pipelined');

        $spawn->(GET => $uri, "${name}A");
        ok($t->wait_for(sub { ($worker->()->{current_uri} || '') =~ m{^/(crash|sleep)} }, 5, 0.005),
           "$name: $uri runs");

        $spawn->(GET => '/pid', "${name}B1");
        $spawn->(GET => '/pid', "${name}B2");
        $spawn->(POST => '/echo', "${name}B3", body => "posted once $name");

        ok($t->wait_for(sub { $f{counter}->('pipelined') - $pipelined0 >= 3 }, 5, 0.01),
           "$name: three requests sent behind it");
        ok($t->wait_for(sub { $waiting_in->($old) >= 3 }, 5, 0.01),
           "$name: their bytes wait unread in the worker's connections");

        kill 'KILL', $old if $name eq 'kill';

        my ($status) = $result->("${name}A");
        is($status, 502, "$name: the request that took the worker down: 502");

        for my $b (qw(B1 B2)) {
            my ($st, $body) = $result->("$name$b");
            is($st, 200, "$name: $b, behind it, replayed and served");
            my ($new) = $body =~ /^(\d+)$/;
            isnt($new // $old, $old, "$name: $b answered by the next worker");
        }
        my ($st, $body) = $result->("${name}B3");
        is($st, 200, "$name: the POST behind it replayed and served");
        is($body, "posted once $name", "$name: the POST's body reached the app");

        my $log = $f{log_since}->($mark);
        my $free = () = $log =~ /went before it read the request, replaying \(no try used\)/g;
        is($free, 3, "$name: three replays that used no try, logged");
        like($log, qr/not replayed: \Q$f{retries}\E/,
             "$name: the request the worker ran is not replayed");
        unlike($log, qr/not idempotent/, "$name: the POST was not given up");

        ok($t->wait_for(sub { ($worker->()->{state} || '') eq 'idle' }, 10),
           "$name: the next worker is idle");
    }

    waitpid($_, 0) for @kids;
}

1;
