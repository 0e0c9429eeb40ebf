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
use Test::More;

use Drover::Test;
use Drover::Test::PipelineLost;

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

Drover::Test::PipelineLost::run($t,
    worker    => \&worker,
    counter   => \&counter,
    log_mark  => sub { $t->nginx_log_mark },
    log_since => sub { $t->nginx_log_since($_[0]) },
    retries   => 'drover_retries reached');

$t->done;
