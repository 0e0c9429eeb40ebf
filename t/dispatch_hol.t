#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Dispatch to a free worker: kit with 2 workers, one /sleep?ms=1000 always in
# flight (a background loop), and /pid requests meanwhile.  Through
# drover_pass each /pid goes to the worker that is free: none waits for the
# sleeping one (all under 250 ms; one that did would wait up to 1000 ms,
# 500 on average; 250, not less, so a loaded machine's scheduling delays
# are not taken for a wait: CI once saw one /pid take 134 ms),
# and all come from the one free worker.
# The same through stock fastcgi_pass with upstream keepalive is measured
# and reported (head-of-line blocking: a kept-alive connection is pinned
# to a worker that may be busy), not asserted.  The queue time of the
# module is in the error log at debug level only, so nothing of it here.

use strict;
use warnings;

use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->wait_for(sub { -e $t->dir . '/kit.sock.slots' }, 5);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    upstream stock {
        server unix:%%DIR%%/kit.sock;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }

    }

    server {
        listen 127.0.0.1:%%PORT_STOCK%%;

        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass stock;
        }
    }
EOF

$t->nginx_started("with the module");

is($t->http(GET => '/pid')->{status}, 200, '/pid through drover_pass');
is($t->http(GET => '/pid', port => $t->port('stock'))->{status}, 200, '/pid through stock fastcgi_pass');

# ---- one slow request always in flight ----

sub slow_loop {
    my ($port) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $end = time + 30;
        while (time < $end) {
            $t->http(GET => '/sleep?ms=1000', timeout => 5, port => $port);
        }
        POSIX::_exit(0);
    }

    return $pid;
}

sub stop_loop {
    my ($pid) = @_;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# n sequential /pid requests, 15 ms apart: their latencies and pids
sub fast_requests {
    my ($port, $n) = @_;

    my (@lat, %pids, $bad);
    my $c = $t->http_connect(port => $port);

    for (1 .. $n) {
        my $start = time;
        my $r = $c->request(GET => '/pid', timeout => 5);
        push @lat, (time - $start) * 1000;

        if ($r->{error} || $r->{status} != 200) {
            $bad++;
            $c->close;
            $c = $t->http_connect(port => $port);
            next;
        }

        $pids{$1}++ if $r->{body} =~ /^(\d+)/;
        sleep 0.015;
    }

    $c->close;

    return (\@lat, \%pids, $bad || 0);
}

sub summary {
    my ($lat) = @_;
    my @s = sort { $a <=> $b } @$lat;
    return sprintf('p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d of %d over 250 ms',
                   $s[int(@s / 2)], $s[int(@s * 0.99)], $s[-1],
                   scalar(grep { $_ > 250 } @s), scalar @s);
}

my $slow = slow_loop($t->port);

# the slow request is in a worker before the first /pid
$t->wait_for(sub { $t->read_file('nginx-access.log') =~ m{/sleep} }, 5);

my ($lat, $pids, $bad) = fast_requests($t->port, 100);
stop_loop($slow);

is($bad, 0, 'drover_pass: 100 /pid with a slow request in flight, all 200');
my $over = grep { $_ > 250 } @$lat;
is($over, 0, 'drover_pass: no /pid waited for the busy worker (all < 250 ms)')
    or diag(summary($lat));
diag('drover_pass: ' . summary($lat) . '; pids ' . join(' ', map { "$_ x$pids->{$_}" } sort keys %$pids));

my $sleeps = () = $t->read_file('nginx-access.log') =~ m{GET /sleep}g;
cmp_ok($sleeps, '>=', 2, "the slow loop ran meanwhile ($sleeps /sleep requests)");

# ---- the same through stock fastcgi_pass: reported only ----

my $before = $sleeps;
$slow = slow_loop($t->port('stock'));
$t->wait_for(sub { (() = $t->read_file('nginx-access.log') =~ m{GET /sleep}g) > $before }, 5);

my ($slat, $spids, $sbad) = fast_requests($t->port('stock'), 100);
stop_loop($slow);

diag('stock fastcgi_pass + keepalive: ' . summary($slat)
     . "; $sbad errors; pids " . join(' ', map { "$_ x$spids->{$_}" } sort keys %$spids));

$t->stop_nginx;
$t->done;
