#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# The queue: with "drover_queue size=2 timeout=1s" and both kit workers busy
# (two /sleep?ms=3000), six more requests: two wait in the queue and get 503
# at the deadline, four find it full and get 503 at once; every 503 carries
# "Retry-After" and comes within the deadline (plus slack), and each has one
# error log line.  Once the workers are free again, requests are served.

use strict;
use warnings;

use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_queue size=2 timeout=1s;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with the module');

is($t->http(GET => '/pid')->{status}, 200, 'served while workers are free');

# a request in a child of its own: "status retry-after seconds" in a file
my @kids;
sub spawn_get {
    my ($uri, $name) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $start = time;
        my $r = $t->http(GET => $uri, timeout => 10);
        my $took = time - $start;
        $t->write_file("$name.tmp", sprintf("%s %s %.3f\n", $r->{status} || 0,
                                            $r->{headers}{'retry-after'} || '-', $took));
        rename "$dir/$name.tmp", "$dir/$name";
        POSIX::_exit(0);
    }

    push @kids, $pid;
    return $pid;
}

my $mark = $t->nginx_log_mark;

spawn_get('/sleep?ms=3000', "busy$_") for 1 .. 2;

# both slots are taken before the others come
sleep 0.3;

spawn_get('/pid', "q$_") for 1 .. 6;

$t->wait_for(sub { 6 == grep { -s "$dir/q$_" } 1 .. 6 }, 5);

my @res = map { [split ' ', $t->read_file("q$_")] } 1 .. 6;
is(scalar(grep { $_->[0] == 503 } @res), 6, 'all 6 got 503')
    or diag(join "\n", map { "@$_" } @res);
is(scalar(grep { $_->[1] eq '1' } @res), 6, 'each with "Retry-After: 1"');

my @took = sort { $a <=> $b } map { $_->[2] } @res;
cmp_ok($took[-1], '<', 1.8, sprintf('all answered within the 1 s deadline plus slack (%.2f s)', $took[-1]));
cmp_ok($took[3], '<', 0.85, sprintf('4 rejected before the 1 s deadline: the queue holds 2 (4th fastest %.2f s)', $took[3]));
cmp_ok($took[4], '>=', 0.9, sprintf('2 waited for the deadline (%.2f s)', $took[4]));

my @errors = $t->wait_nginx_errors($mark, 6);
is(scalar(grep { /queue is full/ } @errors), 4, 'one log line for each request that found the queue full');
is(scalar(grep { /was free within/ } @errors), 2, 'one log line for each request past its deadline');

$t->wait_for(sub { 2 == grep { -s "$dir/busy$_" } 1 .. 2 }, 10);
waitpid($_, 0) for @kids;

my @busy = map { [split ' ', $t->read_file("busy$_")] } 1 .. 2;
is(scalar(grep { $_->[0] == 200 } @busy), 2, 'the two slow requests were served (200)');

is($t->http(GET => '/pid')->{status}, 200, 'served again once the workers are free');

$t->stop_nginx;
$t->done;
