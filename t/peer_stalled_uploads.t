#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Slow uploads (the slowloris-with-a-body case nginx-tests and php-fpm's
# users test): five clients each send the headers of a POST /echo with
# Content-Length 1 MiB and 100 KB of the body, then stall.  Meanwhile a
# GET through the module must be answered, with droverd's kit pool at
# two workers.  Its latency is printed.
#
# - buffered (the default): nginx holds each body until it is whole, so
#   no stalled upload reaches droverd and the GET is answered at once
#   (200 in well under 2 s);
# - streamed (drover_request_buffering off) a stalled upload holds a
#   worker while its body trickles in: two of them hold both workers, the
#   other three wait in drover_queue ahead of the GET (FIFO).  What frees
#   the workers, and so bounds the GET's wait, is a timeout:
#   * nginx's client_body_timeout (1s here): each stalled upload is
#     dropped (408, connection closed, FCGI_ABORT_REQUEST to droverd) and
#     the GET gets 200 within a few seconds;
#   * drover_queue's timeout (1s here, client_body_timeout left at 60s):
#     the GET gets 503 with Retry-After at the queue deadline, never hangs;
#   * droverd's io_timeout (2s here, on a body that stops arriving): the
#     worker closes the connection and the GET gets 200 once the queue
#     ahead of it has drained.
# In no case does a kit worker die, and droverd stays up.
#
# With every default (client_body_timeout 60s, drover_queue timeout=10s,
# io_timeout 60s) two stalled streamed uploads hold both workers for a
# minute, and a GET meanwhile gets 503 after 10 s: by design (FIFO queue,
# streamed bodies go to a worker before they are read), which is why
# buffering is the default.  Not run here: it takes a minute.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app        %%APPS%%/kit.so;
    listen     unix:%%DIR%%/kit.sock mode=0666;
    workers    2;
    io_timeout 2s;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

my %server = (
    'buffered.test' => '',
    'status.test' => '',
    'stream-body-timeout.test' => "client_body_timeout 1s;\n"
                                  . "drover_request_buffering off;\n",
    'stream-queue-timeout.test' => "drover_queue size=100 timeout=1s;\n"
                                   . "drover_request_buffering off;\n",
    'stream-io-timeout.test' => "drover_queue size=100 timeout=30s;\n"
                                . "drover_request_buffering off;\n",
);

$t->write_nginx_conf(join('', map { <<"EOF" } sort keys %server), module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name $_;
        client_max_body_size 2m;

        location / {
            $server{$_}
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location = /status {
            drover_status unix:%%DIR%%/status.sock;
        }
    }
EOF

$t->nginx_started('with the module');

my @pids = sort map { $t->slot_pid($_) // 'none' } 0, 1;
like("@pids", qr/^\d+ \d+$/, "both kit workers answer: @pids");

# five POSTs that send 100 KB of their 1 MiB and stall; the sockets
sub stall_uploads {
    my ($host) = @_;

    my $mark = $t->nginx_log_mark;
    my @socks;
    for my $i (1 .. 5) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                                      Proto => 'tcp', Timeout => 5);
        ok($s, "$host: stalled upload $i connected") or next;
        print $s "POST /echo HTTP/1.1\r\nHost: $host\r\n"
                 . "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"
                 . ('u' x 100_000);
        push @socks, $s;
    }

    # until nginx has every upload: 5 bodies being buffered to files, or
    # (streamed) 2 in the app on both workers and 3 in the queue
    my $json = JSON::PP->new;
    my $there = $t->wait_for(sub {
        if ($host eq 'buffered.test') {
            return 5 == grep { /buffered to a temporary file/ && /host: "buffered.test"/ }
                        split /\n/, $t->nginx_log_since($mark);
        }

        my $r = $t->http(GET => '/status?format=json', headers => { Host => 'status.test' });
        my ($p) = @{ (eval { $json->decode($r->{body} || '') } || {})->{pools} || [] };
        return 0 unless $p;
        return ($p->{queue_depth} // 0) == 3
            && 2 == grep { ($_->{state} || '') eq 'busy' } @{ $p->{workers_detail} || [] };
    }, 10, 0.02);
    ok($there, $host eq 'buffered.test' ? "$host: nginx is buffering 5 bodies"
                                        : "$host: 2 uploads hold both workers, 3 wait in the queue");
    return @socks;
}

# a GET on its own connection: (response, seconds)
sub timed_get {
    my ($host, $timeout) = @_;

    my $start = time;
    my $r = $t->http(GET => '/pid', headers => { Host => $host }, timeout => $timeout);
    return ($r, time - $start);
}

# after a phase: the stalled clients gone, both workers free again
sub settle {
    my ($host, @socks) = @_;

    $_->close for @socks;
    ok($t->wait_for(sub {
        my ($r, $took) = timed_get('buffered.test', 5);
        return ($r->{status} || 0) == 200 && $took < 0.5;
    }, 15), "$host: the workers are free again once the stalled clients left");
}

# ---- buffered: nginx holds the bodies ----

my @socks = stall_uploads('buffered.test');
my ($r, $took) = timed_get('buffered.test', 10);
is($r->{status}, 200, 'buffered: a GET behind 5 stalled uploads: 200')
    or diag($r->{error} || '');
like($r->{body} // '', qr/^\d+\n$/, 'buffered: kit answered /pid');
cmp_ok($took, '<', 2, sprintf 'buffered: answered in %.3f s', $took);
note(sprintf 'buffered: GET latency %.3f s', $took);

settle('buffered.test', @socks);

# ---- streamed, client_body_timeout 1s ----

@socks = stall_uploads('stream-body-timeout.test');
($r, $took) = timed_get('stream-body-timeout.test', 20);
is($r->{status}, 200, 'streamed, client_body_timeout 1s: the GET: 200')
    or diag($r->{error} || '');
cmp_ok($took, '<', 6, sprintf 'streamed, client_body_timeout 1s: answered in %.3f s', $took);
note(sprintf 'streamed, client_body_timeout 1s: GET latency %.3f s', $took);

# nginx gives up on each stalled body: it closes the client's connection
my $closed = grep { wait_closed($_, 10) } @socks;
is($closed, 5, 'streamed, client_body_timeout 1s: every stalled upload was dropped');
settle('stream-body-timeout.test', @socks);

# ---- streamed, drover_queue timeout=1s, client_body_timeout 60s ----

my $mark = $t->nginx_log_mark;
@socks = stall_uploads('stream-queue-timeout.test');
($r, $took) = timed_get('stream-queue-timeout.test', 20);
is($r->{status}, 503, 'streamed, queue timeout 1s: the GET gets 503 at the queue deadline')
    or diag($r->{error} || '');
is($r->{headers}{'retry-after'}, '1', 'streamed, queue timeout 1s: with Retry-After: 1');
cmp_ok($took, '<', 3, sprintf 'streamed, queue timeout 1s: answered in %.3f s', $took);
note(sprintf 'streamed, queue timeout 1s: GET latency %.3f s (503)', $took);
my @why;
$t->wait_for(sub {
    @why = grep { /GET \/pid/ && /was free within 1\d\d\d ms/ } $t->nginx_errors_since($mark);
}, 5);
is(scalar @why, 1, 'streamed, queue timeout 1s: nginx logged why')
    or diag(join "\n", $t->nginx_errors_since($mark));
settle('stream-queue-timeout.test', @socks);

# ---- streamed, droverd io_timeout 2s ----

$mark = $t->log_mark;
my $nmark = $t->nginx_log_mark;
@socks = stall_uploads('stream-io-timeout.test');
($r, $took) = timed_get('stream-io-timeout.test', 30);
is($r->{status}, 200, 'streamed, io_timeout 2s: the GET: 200') or diag($r->{error} || '');
cmp_ok($took, '<', 12, sprintf 'streamed, io_timeout 2s: answered in %.3f s', $took);
note(sprintf 'streamed, io_timeout 2s: GET latency %.3f s', $took);

# two rounds of two stalled uploads, each dropped by the worker after 2 s;
# nginx answers each 502 (a streamed body is never replayed)
cmp_ok(scalar(() = $t->log_since($mark) =~ /front end stalled mid-request for 2000 ms/g),
       '>=', 4, 'streamed, io_timeout 2s: droverd dropped the stalled uploads after 2 s')
    or diag($t->log_since($mark));
cmp_ok(scalar(grep { /POST \/echo/ && /not replayed: the request body is not buffered/ }
              $t->nginx_errors_since($nmark)),
       '>=', 4, 'streamed, io_timeout 2s: nginx did not replay them (502)');
settle('stream-io-timeout.test', @socks);

# ---- nothing died ----

my @now = sort map { $t->slot_pid($_) // 'none' } 0, 1;
is("@now", "@pids", 'the same two kit workers as at the start');
is(scalar $t->log_grep(qr/pool kit: worker \d+ \(pid \d+\)/), 0, 'no kit worker exited')
    or diag($t->log);
ok($t->alive, 'droverd still running');

$t->done;


# 1 when the server closes $sock within $timeout s (a response may come first)
sub wait_closed {
    my ($sock, $timeout) = @_;

    my $deadline = time + $timeout;
    $sock->blocking(0);

    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;

        my $n = sysread($sock, my $buf, 65536);
        return 1 if defined $n && $n == 0;
        return 1 if !defined $n && !$!{EAGAIN};
    }

    return 0;
}
