#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Header-only answers free their slot at once: HEAD, 204 and 304 through
# drover_pass, kit with 2 workers.  nginx stops reading an upstream after
# the header of such an answer; what droverd sent behind the header
# (FCGI_END_REQUEST, or the body a HEAD would have had) sits in the
# module's buffer or in the socket.  Before the fix the module waited on
# the socket for bytes it had already read, holding the slot until the
# read timeout: the third HEAD in a row got 503 after the queue timeout.
#
# Each kind runs 6 times in a row (3 times the workers), each answered
# within 2 s with the right status and no body, then 6 GETs are answered
# 200: no slot was kept.  A HEAD of a 1 MiB answer (more than nginx reads
# with the header) is drained and frees its slot too.

use strict;
use warnings;

use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock mode=0666;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location / {
            drover_queue size=16 timeout=2s;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('drover_pass');

my @kinds = (
    [HEAD => '/',                  200],
    [GET  => '/status?code=204',   204],
    [GET  => '/status?code=304',   304],
    [HEAD => '/big?kb=1024',       200],
    [HEAD => '/status?code=404',   404],
);

for my $kind (@kinds) {
    my ($method, $uri, $status) = @$kind;

    for my $i (1 .. 6) {
        my $t0 = time;
        my $r = $t->http($method => $uri, timeout => 10);
        my $took = time - $t0;

        is($r->{status}, $status, "$method $uri #$i: $status");
        is($r->{body} // '', '', "$method $uri #$i: no body");
        cmp_ok($took, '<', 2, "$method $uri #$i: answered within 2 s")
            or diag(sprintf "took %.2f s", $took);
    }

    for my $i (1 .. 6) {
        my $r = $t->http(GET => '/', timeout => 10);
        is($r->{status}, 200, "after $method $uri: GET #$i served");
    }
}

# many at once: 40 HEADs on 8 connections, then GETs still served
my @kids;
for my $k (1 .. 8) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $bad = 0;
        for (1 .. 5) {
            my $r = $t->http(HEAD => '/', timeout => 10);
            $bad++ unless ($r->{status} // 0) == 200;
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @kids, $pid;
}

my $failed = 0;
for my $pid (@kids) {
    waitpid($pid, 0);
    $failed++ if $? != 0;
}
is($failed, 0, '40 HEADs on 8 connections at once: all 200');

for my $i (1 .. 4) {
    is($t->http(GET => '/', timeout => 10)->{status}, 200,
       "after the burst: GET #$i served");
}

unlike($t->nginx_log, qr/was free within/, 'no queue timeout in the log');

$t->done;
