#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover: a request pipelined behind one that takes its worker down is
# replayed without using up a try (docs/dispatch.md#replays), as in nginx
# (t/dispatch_pipeline_lost.t): droverd reads a
# withdrawable request whole before it runs it, and a worker that dies with
# bytes of a request unread in its socket leaves the connection reset, so
# the app never saw it. kit with one worker, one Apache child (its kept
# connections are the child's), "DroverPipeline 3 timeout=30s" (nothing is
# taken back), "DroverRetries 0":
#
#   - three requests (two GETs and a POST) wait on kept connections behind
#     /crash?ms=1500, whose worker then dies of SIGSEGV: the crashing
#     request gets 502 ("DroverRetries reached"), the three are answered
#     by the next worker, the POST exactly once, each with a log line
#     "went before it read the request, replaying (no try used)";
#   - the same when the worker, running /sleep, is killed with SIGKILL.
#
# The old rule spent the one try on each of the three: 502, and for the
# POST "not idempotent".

use strict;
use warnings;

use IO::Socket::UNIX ();
use JSON::PP ();
use Test::More;

use Drover::Test;
use Drover::Test::PipelineLost;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;
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

$t->write_apache_conf(<<'EOF', servers => 1)->run_apache;
LogLevel notice drover:info

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName localhost
    DroverPipeline 3 timeout=30s
    DroverRetries 0
    DroverQueue size=20 timeout=20s
    DroverPass unix:%%DIR%%/kit.sock

    <Location /drover-status>
        SetHandler drover-status
    </Location>
</VirtualHost>
EOF

$t->apache_started('with DroverPipeline 3 and DroverRetries 0');

my $json = JSON::PP->new;

# mod_drover's counters for the pool
sub counter {
    my $r = $t->http(GET => '/drover-status?format=json');
    my $st = eval { $json->decode($r->{body} || '') } || {};
    my ($p) = @{ $st->{pools} || [] };
    return ($p || {})->{$_[0]} // 0;
}

# the one worker, from droverd's status socket
sub worker {
    my $s = IO::Socket::UNIX->new(Peer => "$dir/status.sock") or return {};
    print $s "{\"cmd\":\"status\"}\n";
    my $line = <$s>;
    close $s;
    my $st = eval { $json->decode($line // '') } || {};
    my ($p) = @{ ($st->{result} || {})->{pools} || [] };
    my ($w) = @{ ($p || {})->{workers_detail} || [] };
    return $w || {};
}

Drover::Test::PipelineLost::run($t,
    worker    => \&worker,
    counter   => \&counter,
    log_mark  => sub { $t->apache_log_mark },
    log_since => sub { $t->apache_log_since($_[0]) },
    retries   => 'DroverRetries reached');

$t->apache_done;
