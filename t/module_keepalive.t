#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# ngx_http_drover_module, connections to the backend: kept alive by default
# (no upstream block): kit's /pid shows one worker serving 50 requests, and
# a fake backend accepts one connection for many requests, each with
# FCGI_KEEP_CONN; a backend that closes after each reply costs no request.
# Timeouts: drover_read_timeout (kit /sleep) gives 504, drover_connect_timeout
# (a listener that never accepts) and drover_send_timeout (a backend that
# never reads) give 502 or 504, each with a "timed out" line in the error
# log; no socket at all gives 502; a read timeout once the body has begun
# cuts the response short.  While one request waits on a silent backend
# and another on a connect() that hangs, the (single) nginx worker serves
# other requests meanwhile.  A client that goes away while the
# backend works, or in the middle of a streamed body, makes the module send
# FCGI_ABORT_REQUEST.

use strict;
use warnings;

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI qw(:all);
use Drover::FakeFCGI qw(fcgi_response);

my $t = Drover::Test->new->has(qw(droverd kit nginx module https));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

my $keep = Drover::FakeFCGI->new($t, name => 'keep')->start;
my $closer = Drover::FakeFCGI->new($t, name => 'closer', close => 1)->start;
my $silent = Drover::FakeFCGI->new($t, name => 'silent', silent => 1)->start;
my $deaf = Drover::FakeFCGI->new($t, name => 'deaf', tcp => 1, no_accept => 1, backlog => 1)->start;
my $slow = Drover::FakeFCGI->new($t, name => 'slow',
    reply => sub { [{ sleep => 20 }, fcgi_response($_[0]{id}, "Content-Type: text/plain\r\n\r\nlate\n")] })
    ->start;

# headers and a first piece of body, then nothing for 5 s
my $stall = Drover::FakeFCGI->new($t, name => 'stall',
    reply => sub { [fcgi_record(FCGI_STDOUT, $_[0]{id}, "Content-Type: text/plain\r\n\r\nfirst piece\n"),
                    { sleep => 5 }, fcgi_response($_[0]{id}, "late\n")] })
    ->start;

my %pass = map { ($_->{name} => $_->pass) } $keep, $closer, $silent, $deaf, $slow, $stall;

$t->write_module_conf(<<"EOF", servers => {
        client_max_body_size 64m;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location /keep/ {
            drover_pass $pass{keep};
        }

        location /closer/ {
            drover_pass $pass{closer};
        }

        location /connect-timeout/ {
            drover_connect_timeout 1s;
            drover_pass $pass{deaf};
        }

        location /connect-hang/ {
            drover_connect_timeout 60s;
            drover_pass $pass{deaf};
        }

        location /send-timeout/ {
            drover_send_timeout 1s;
            drover_pass $pass{silent};
        }

        location /refused/ {
            drover_pass unix:%%DIR%%/nothing-listens-here.sock;
        }

        location /stall/ {
            drover_read_timeout 1s;
            drover_buffering off;
            drover_pass $pass{stall};
        }

        location /slow/ {
            drover_pass $pass{slow};
        }

        location /slow-stream/ {
            drover_request_buffering off;
            drover_pass $pass{slow};
        }
EOF
    'timeout.test' => <<'EOF',
        location / {
            drover_read_timeout 1s;
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF
})->run_nginx;

$t->nginx_started('with the module');

# ---- kept alive: the same kit worker serves ----

my $c = $t->https_connect;
my (%pids, $good);
for my $i (1 .. 50) {
    my $r = $c->request(GET => '/pid');
    last if $r->{error};
    next unless $r->{status} == 200 && $r->{body} =~ /^(\d+)\n$/;
    $pids{$1}++;
    $good++;
}
$c->close;
is($good, 50, '50 requests on one client connection: all answered');
is(scalar keys %pids, 1, 'one kit worker served all 50: the backend connection was reused')
    or diag(join ', ', map { "pid $_: $pids{$_}" } sort keys %pids);

%pids = ();
$good = 0;
for my $i (1 .. 20) {
    my $r = $t->https(GET => '/pid');
    next unless ($r->{status} || 0) == 200 && $r->{body} =~ /^(\d+)\n$/;
    $pids{$1}++;
    $good++;
}
is($good, 20, '20 requests on 20 client connections: all answered');
is(scalar keys %pids, 1, 'one kit worker served them: backend connections outlive client ones')
    or diag(join ', ', map { "pid $_: $pids{$_}" } sort keys %pids);

# ---- counted at a fake backend ----

$good = 0;
$c = $t->https_connect;
for my $i (1 .. 30) {
    my $r = $i % 3 ? $c->request(GET => "/keep/$i") : $t->https(GET => "/keep/$i");
    $good++ if ($r->{status} || 0) == 200 && $r->{body} eq "fake\n";
}
$c->close;
is($good, 30, '30 requests to the fake: all answered');
is(scalar $keep->requests, 30, 'the fake got 30 requests');
is($keep->connections, 1, 'over one connection');
is(scalar(grep { $_->{flags} & 1 } $keep->requests), 30, 'each with FCGI_KEEP_CONN');
my %ids = map { ($_->{id} => 1) } $keep->requests;
ok(!grep({ $_ == 0 } keys %ids), 'no request uses id 0 (spec 3.3: management records)');

# a backend that closes after every reply: the module notices, reconnects
$good = 0;
for my $i (1 .. 10) {
    my $r = $t->https(GET => "/closer/$i");
    $good++ if ($r->{status} || 0) == 200 && $r->{body} eq "fake\n";
}
is($good, 10, 'a backend that closes after each reply: 10 of 10 answered');
is(scalar $closer->requests, 10, 'it got each request once');

# ---- timeouts ----

sub timed {
    my ($what, $uri, %opt) = @_;

    my $mark = $t->nginx_log_mark;
    my $start = time;
    my $r = $t->https($opt{method} || 'GET', $uri, timeout => 20, %opt);
    my $took = time - $start;
    my @lines = $t->wait_nginx_errors($mark);

    return ($r, $took, @lines);
}

my ($r, $took, @lines) = timed('read', '/sleep?ms=3000', headers => { Host => 'timeout.test' });
is($r->{status}, 504, 'drover_read_timeout 1s, app sleeps 3 s: 504') or diag($r->{error} || '');
cmp_ok($took, '>=', 0.9, sprintf('504 not before the timeout (%.2f s)', $took));
cmp_ok($took, '<', 2.8, '504 before the app answered');
ok(grep({ /timed out/ } @lines), 'read timeout: "timed out" in the error log') or diag(join "\n", @lines);

$r = $t->https(GET => '/pid', headers => { Host => 'timeout.test' });
is($r->{status}, 200, 'the same location serves the next request');

# the body under way, then silence
$c = $t->https_connect(timeout => 10);
my $mark = $t->nginx_log_mark;
my $start = time;
$r = $c->request(GET => '/stall/x');
$took = time - $start;
$c->wait_closed(3) unless $r->{error};
$c->close;
is($r->{status}, 200, 'read timeout in the body: the header had gone out (200)');
ok(!$r->{complete}, 'read timeout in the body: the response is cut short, not completed');
cmp_ok($took, '<', 4, sprintf('read timeout in the body: within %.2f s', $took));
@lines = $t->wait_nginx_errors($mark);
ok(grep({ /timed out/ } @lines), 'read timeout in the body: "timed out" in the error log')
    or diag(join "\n", @lines);

# the deaf listener's backlog (1) is full: a SYN to it is dropped, so
# connect() neither succeeds nor fails
my @fillers;
for (1 .. 4) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $deaf->port,
                                  Proto => 'tcp', Blocking => 0);
    push @fillers, $s if $s;
}

($r, $took, @lines) = timed('connect', '/connect-timeout/x');
ok(($r->{status} || 0) == 504 || ($r->{status} || 0) == 502,
   'drover_connect_timeout 1s, backlog full: 504 or 502') or diag($r->{status} || $r->{error});
cmp_ok($took, '<', 5, sprintf('connect timeout: answered in %.2f s', $took));
ok(grep({ /timed out/ } @lines), 'connect timeout: "timed out" in the error log')
    or diag(join "\n", @lines);
close $_ for @fillers;

# the body (8 MiB) cannot fit in the socket buffers of a backend that never reads
($r, $took, @lines) = timed('send', '/send-timeout/x', method => 'POST', body => 'b' x (8 << 20));
ok(($r->{status} || 0) == 504 || ($r->{status} || 0) == 502,
   'drover_send_timeout 1s, backend never reads: 504 or 502') or diag($r->{status} || $r->{error});
cmp_ok($took, '<', 8, sprintf('send timeout: answered in %.2f s', $took));
ok(grep({ /timed out/ } @lines), 'send timeout: "timed out" in the error log')
    or diag(join "\n", @lines);

($r, $took, @lines) = timed('refused', '/refused/x');
is($r->{status}, 502, 'no socket at the path: 502') or diag($r->{error} || '');
is(scalar @lines, 1, 'no socket: one error log line') or diag(join "\n", @lines);
like($lines[0] // '', qr/nothing-listens-here\.sock/, 'which names the socket');

# ---- nothing blocks the worker ----

# one nginx worker: while it waits on a backend that does not answer and on
# a connect() that does not finish, it serves other requests
my $waiting = $t->https_connect;
$waiting->send_raw($waiting->request_bytes(GET => '/slow/blocker'));
ok($t->wait_for(sub { grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq '/slow/blocker' }
                      $slow->requests }, 5),
   'a request waits on the slow backend');

@fillers = ();
for (1 .. 4) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $deaf->port,
                                  Proto => 'tcp', Blocking => 0);
    push @fillers, $s if $s;
}
my $connecting = $t->https_connect;
$connecting->send_raw($connecting->request_bytes(GET => '/connect-hang/blocker'));

$start = time;
$good = 0;
for my $i (1 .. 10) {
    my $x = $t->https(GET => "/keep/meanwhile-$i", timeout => 5);
    $good++ if ($x->{status} || 0) == 200;
}
$took = time - $start;
is($good, 10, 'meanwhile 10 other requests are served');
# the blockers hold for 20 s (the slow fake) and 60 s (connect_timeout):
# a worker stuck on either would take that long, a loaded machine not
cmp_ok($took, '<', 10, sprintf('all within %.2f s, long before either blocker ends', $took));

$waiting->close;
$connecting->close;
close $_ for @fillers;

# ---- a client that goes away ----

# while the backend works on the response
my $aborts = scalar $slow->aborts;
$c = $t->https_connect;
$c->send_raw($c->request_bytes(GET => '/slow/wait'));
ok($t->wait_for(sub { grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq '/slow/wait' }
                      $slow->requests }, 5),
   'the slow fake got the request');
$c->close;
ok($t->wait_for(sub { $slow->aborts > $aborts }, 5),
   'client gone while waiting: FCGI_ABORT_REQUEST reached the backend');

# in the middle of a streamed request body
my %before = map { ($_ => scalar $slow->events_of($_)) } qw(begin abort eof);
$c = $t->https_connect;
my $bytes = $c->request_bytes(POST => '/slow-stream/upload', body => 'u' x 200_000);
$c->send_raw(substr($bytes, 0, 100_000));
ok($t->wait_for(sub { $slow->events_of('begin') > $before{begin} }, 5),
   'streamed body: the request began at the backend before the body ended');
$c->close;
ok($t->wait_for(sub { $slow->events_of('abort') > $before{abort}
                      || $slow->events_of('eof') > $before{eof} }, 5),
   'client gone mid-body: the backend hears of it');
ok($slow->events_of('abort') > $before{abort}, 'client gone mid-body: by FCGI_ABORT_REQUEST');

# and nginx still serves
$r = $t->https(GET => '/keep/after');
is($r->{status}, 200, 'after the aborts, requests are served');

ok($t->alive, 'droverd still running');

$_->stop for $keep, $closer, $silent, $deaf, $slow, $stall;
$t->done;
