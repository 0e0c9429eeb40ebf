#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# ngx_http_drover_module, bodies: a 1 MiB POST echoed back whole with the
# request body buffered (the default) and streamed (drover_request_buffering
# off), with Content-Length and chunked; what the backend gets for a chunked
# body (every byte, a CONTENT_LENGTH that is right or absent);
# client_max_body_size gives 413 and the backend never sees the request;
# an app that answers without reading a 20 MiB body is not held up;
# a 100 MB response with drover_buffering on and off passes exact while the
# nginx worker's peak RSS stays flat.

use strict;
use warnings;

use Digest::MD5;
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FakeFCGI;

my $t = Drover::Test->new->has(qw(droverd kit nginx module https));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

my $fake = Drover::FakeFCGI->new($t)->start;
my $fake_pass = $fake->pass;

$t->write_module_conf(<<'EOF', servers => {
        client_max_body_size 32m;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF
    'stream.test' => <<'EOF',
        client_max_body_size 32m;

        location / {
            drover_request_buffering off;
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF
    'fake.test' => <<"EOF",
        client_max_body_size 4m;

        location / {
            drover_pass $fake_pass;
        }
EOF
    'fakestream.test' => <<"EOF",
        client_max_body_size 4m;

        location / {
            drover_request_buffering off;
            drover_pass $fake_pass;
        }
EOF
    'small.test' => <<"EOF",
        client_max_body_size 1m;

        location / {
            drover_pass $fake_pass;
        }
EOF
    'buffered.test' => <<'EOF',
        location / {
            drover_buffering on;
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF
    'unbuffered.test' => <<'EOF',
        location / {
            drover_buffering off;
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF
})->run_nginx;

$t->nginx_started('with the module');

# 1 MiB in which every byte value occurs, and no run repeats early
my $mib = join '', map { chr(($_ * 131 + ($_ >> 8)) & 0xff) } 0 .. 1024 * 1024 - 1;

sub echo_ok {
    my ($what, $r, $body) = @_;

    is($r->{status}, 200, "$what: 200") or diag($r->{error} || $r->{write_error} || '');
    ok($r->{complete} && $r->{body} eq $body, "$what: the same bytes back")
        or diag('got ' . length($r->{body} // '') . ' of ' . length($body) . ' bytes; '
                . ($r->{error} || 'no error'));
}

# ---- 1 MiB echo ----

for my $host (qw(localhost stream.test)) {
    my $mode = $host eq 'localhost' ? 'buffered' : 'streamed';

    my $r = $t->https(POST => '/echo', body => $mib, timeout => 30,
                      headers => { Host => $host, 'Content-Type' => 'application/octet-stream' });
    echo_ok("1 MiB POST, $mode, Content-Length", $r, $mib);
    is($r->{headers}{'content-type'}, 'application/octet-stream', "$mode: Content-Type back");

    $r = $t->https(POST => '/echo', body => $mib, chunked => [1, 7, 4096, 65536, 300000, 13],
                   timeout => 30, headers => { Host => $host });
    echo_ok("1 MiB POST, $mode, chunked", $r, $mib);

    $r = $t->https(POST => '/echo', body => '', chunked => 1, headers => { Host => $host });
    echo_ok("empty chunked POST, $mode", $r, '');

    # several echoes on one keepalive connection
    my $c = $t->https_connect;
    my $good = 0;
    for my $i (1 .. 10) {
        my $body = substr($mib, $i * 1000, $i * 7000);
        my $x = $c->request(POST => '/echo', body => $body, headers => { Host => $host },
                            $i % 2 ? (chunked => 999) : ());
        last if $x->{error};
        $good++ if $x->{status} == 200 && $x->{body} eq $body;
    }
    $c->close;
    is($good, 10, "$mode: 10 POSTs on one connection, alternately chunked, all echoed");
}

# ---- an app that answers without reading the body ----

# kit's "/" never reads the body: droverd reads some of it for the app,
# and the module must neither wait for the rest to be taken nor reuse a
# connection that still has body bytes in flight
my $big_body = 'z' x (20 << 20);

for my $host (qw(localhost stream.test)) {
    my $mode = $host eq 'localhost' ? 'buffered' : 'streamed';

    my $start = time;
    my $r = $t->https(POST => '/', body => $big_body, timeout => 30, headers => { Host => $host });
    my $took = time - $start;
    is($r->{status}, 200, "20 MiB to an app that never reads it, $mode: 200")
        or diag($r->{error} || $r->{write_error} || '');
    is($r->{body}, "hello\n", "20 MiB unread, $mode: the app's answer");
    cmp_ok($took, '<', 10, sprintf("20 MiB unread, $mode: answered in %.2f s, no timeout", $took));

    my $c = $t->https_connect;
    my $good = 0;
    for my $i (1 .. 5) {
        my $x = $c->request(GET => '/', headers => { Host => $host });
        $good++ if ($x->{status} || 0) == 200 && $x->{body} eq "hello\n";
    }
    $c->close;
    is($good, 5, "20 MiB unread, $mode: the next requests are served");
}

# ---- what the backend gets for a chunked body ----

my $piece = substr($mib, 0, 100 * 1024 + 17);

for my $host (qw(fake.test fakestream.test)) {
    my $mode = $host eq 'fake.test' ? 'buffered' : 'streamed';
    my $uri = "/chunked-$mode";

    my $r = $t->https(POST => $uri, body => $piece, chunked => [1000, 3, 65536],
                      headers => { Host => $host });
    is($r->{status}, 200, "chunked to the fake, $mode: 200") or diag($r->{error} || '');

    my ($req) = grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq $uri }
                $fake->requests;
    ok($req, "chunked, $mode: the fake got it");
    next unless $req;

    is($req->{stdin_length}, length $piece, "chunked, $mode: every byte in STDIN");
    is($req->{stdin_md5}, Digest::MD5::md5_hex($piece), "chunked, $mode: the same bytes");
    ok($req->{stdin_done}, "chunked, $mode: the STDIN stream ends with the empty record");

    my $cl = Drover::FakeFCGI->params_of($req)->{CONTENT_LENGTH};
    if ($mode eq 'buffered') {
        is($cl, length $piece, 'chunked, buffered: CONTENT_LENGTH is the body\'s length');
    } else {
        ok(!defined $cl || $cl eq '' || $cl eq length $piece,
           'chunked, streamed: CONTENT_LENGTH absent, empty or right, never wrong')
            or diag("CONTENT_LENGTH: $cl");
    }
}

# ---- client_max_body_size ----

my $before = scalar $fake->requests;
my $two_mib = $mib x 2;

my $r = $t->https(POST => '/too-big', body => $two_mib, headers => { Host => 'small.test' });
is($r->{status}, 413, '2 MiB over client_max_body_size 1m: 413')
    or diag($r->{error} || $r->{write_error} || '');

$r = $t->https(POST => '/too-big-chunked', body => $two_mib, chunked => 65536,
               headers => { Host => 'small.test' });
is($r->{status}, 413, '2 MiB chunked over client_max_body_size 1m: 413')
    or diag($r->{error} || $r->{write_error} || '');

$r = $t->https(POST => '/just-fits', body => substr($mib, 0, 1000 * 1024),
               headers => { Host => 'small.test' });
is($r->{status}, 200, '1000 KiB under client_max_body_size 1m: 200');
is(scalar($fake->requests) - $before, 1, 'the backend saw only the request that fit');

# ---- 100 MB response, flat memory ----

my $kb = 102400;
my $expect_md5 = big_md5($kb);

my @workers = $t->nginx_workers;
is(scalar @workers, 1, 'one nginx worker') or diag("workers: @workers");
my $worker = $workers[0];

for my $host (qw(buffered.test unbuffered.test)) {
    my $mode = $host eq 'buffered.test' ? 'drover_buffering on' : 'drover_buffering off';

    # warm up: TLS, pools, the first buffers
    $t->https(GET => '/big?kb=1024', headers => { Host => $host });

    my $hwm_before = $t->proc_status($worker, 'VmHWM');
    my $rss_before = $t->proc_status($worker, 'VmRSS');

    my $md5 = Digest::MD5->new;
    my $start = time;
    my $c = $t->https_connect(record => 0, timeout => 120);
    $r = $c->request(GET => "/big?kb=$kb", headers => { Host => $host }, timeout => 120,
                     sink => sub { $md5->add($_[0]) });
    $c->close;
    my $took = time - $start;

    is($r->{status}, 200, "100 MB, $mode: 200") or diag($r->{error} || '');
    is($r->{body_length}, $kb * 1024, "100 MB, $mode: every byte")
        or diag($r->{error} || '');
    ok($r->{complete}, "100 MB, $mode: a complete response");
    is($md5->hexdigest, $expect_md5, "100 MB, $mode: the exact bytes");
    note(sprintf '%s: %.1f s, %.0f MB/s', $mode, $took, $kb / 1024 / ($took || 1));

    my $hwm_after = $t->proc_status($worker, 'VmHWM');
    my $rss_after = $t->proc_status($worker, 'VmRSS');
    note(sprintf '%s: worker VmHWM %.1f -> %.1f MB, VmRSS %.1f -> %.1f MB', $mode,
         map { ($_ // 0) / 1048576 } $hwm_before, $hwm_after, $rss_before, $rss_after);

    SKIP: {
        skip 'sanitizer builds keep freed memory in quarantine', 2 if $t->sanitized;
        skip 'no VmHWM for the nginx worker', 2 unless defined $hwm_before && defined $hwm_after;

        my $mb = 1024 * 1024;
        cmp_ok(($hwm_after - $hwm_before) / $mb, '<', 20,
               "100 MB, $mode: the worker's peak RSS grew by less than 20 MB")
            or diag(sprintf 'VmHWM %.1f -> %.1f MB', $hwm_before / $mb, $hwm_after / $mb);
        cmp_ok(($rss_after - $rss_before) / $mb, '<', 20,
               "100 MB, $mode: the worker's RSS after it grew by less than 20 MB")
            or diag(sprintf 'VmRSS %.1f -> %.1f MB', $rss_before / $mb, $rss_after / $mb);
    }
}

ok($t->alive, 'droverd still running');

$fake->stop;
$t->done;


# the MD5 of kit's /big?kb=N body: N * 64 lines, line L is L as 15
# lowercase hex digits and "\n"
sub big_md5 {
    my ($kb) = @_;

    my $md5 = Digest::MD5->new;
    my $lines = $kb * 64;

    for (my $l = 0; $l < $lines; $l += 4096) {
        my $last = $l + 4095 < $lines ? $l + 4095 : $lines - 1;
        $md5->add(join '', map { sprintf "%015x\n", $_ } $l .. $last);
    }

    return $md5->hexdigest;
}
