#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Request smuggling shapes (RFC 9112 6.1, 6.3; the cases nginx-tests and
# proxy fuzzers send), raw over TCP to nginx's plain listener in front of
# the module.  Each hides a second request, "GET /params?SMUGGLED-<case>",
# where one reading of the framing would see it.  The same bytes go to two
# ports: one passes to kit (its /echo and /params answer what the app
# saw), one to a fake FastCGI backend that logs every request it gets.
#
# For each shape: nginx's status is the one nginx 1.22 gives (below); a
# rejected request reaches neither backend; no backend ever sees a
# request with the marker as its own request line; every request a
# backend sees has a body exactly as long as its CONTENT_LENGTH; and the
# connection never yields a response to the hidden request.
#
# What nginx 1.22.1 does, per shape (seen in this test's runs):
#   TE chunked + Content-Length (either order)    400, closes
#   Content-Length twice, same value              400 (duplicate header)
#   Content-Length twice, different values        400 (duplicate header)
#   Host twice                                    400 (duplicate header)
#   Transfer-Encoding twice                       400 (duplicate header)
#   Transfer-Encoding: chunked, identity          501 (unknown coding)
#   Transfer-Encoding: identity, chunked          501
#   Transfer-Encoding on HTTP/1.0                 400
#   "Content-Length : N" (space before colon)     400 (invalid header line)
#   obs-fold (" Transfer-Encoding: chunked")      400 (invalid header line)
#   Content-Length: +N, a negative one, "5, 60"   400
#   a chunk size that overflows                   400 (invalid chunked body)
#   a valid chunked body, then a second request   both served, each its own
#                                                 request, the first's body
#                                                 exactly its chunks
#   the same with trailers "Content-Length: 999"  the same: nginx drops request
#   and "X-Trailer"                               trailers; the app sees neither
#   the same with a bare LF ending a chunk-size   the same: nginx takes a bare
#   line ("5\nhello\r\n0\r\n\r\n")                 LF as a line end (RFC 9112
#                                                 2.2 allows it), so there is
#                                                 one reading only
# The expectations are the table; when an nginx changes one, this test
# says which.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FakeFCGI;

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

my $fake = Drover::FakeFCGI->new($t)->start;
my $fake_pass = $fake->pass;

$t->write_nginx_conf(<<"EOF", module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_FAKE%%;

        location / {
            drover_pass $fake_pass;
        }
    }
EOF

$t->nginx_started('with the module');

my %port = (kit => $t->port, fake => $t->port('fake'));

# ---- the shapes ----

sub hidden { "GET /params?SMUGGLED-$_[0] HTTP/1.1\r\nHost: localhost\r\n\r\n" }

sub chunked_hidden { "0\r\n\r\n" . hidden($_[0]) }

my @cases = (
    ['te-cl', 400, sub {
        my $body = chunked_hidden('te-cl');
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    }],
    ['cl-te', 400, sub {
        my $body = chunked_hidden('cl-te');
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: " . length($body)
        . "\r\nTransfer-Encoding: chunked\r\n\r\n$body";
    }],
    ['cl-te-short', 400, sub {
        # CL says 3 ("0\r\n"), chunked says 5: the classic CL.TE split
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n" . chunked_hidden('cl-te-short');
    }],
    ['cl-twice-same', 400, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
        . 'hello' . hidden('cl-twice-same');
    }],
    ['cl-twice-different', 400, sub {
        my $second = 'hello' . hidden('cl-twice-different');
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: "
        . length($second) . "\r\n\r\n$second";
    }],
    ['cl-list', 400, sub {
        my $body = 'hello' . hidden('cl-list');
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, " . length($body)
        . "\r\n\r\n$body";
    }],
    ['host-twice', 400, sub {
        "GET /params HTTP/1.1\r\nHost: localhost\r\nHost: SMUGGLED-host-twice.example\r\n\r\n";
    }],
    ['te-twice', 400, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n" . chunked_hidden('te-twice');
    }],
    ['te-chunked-identity', 501, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
        . chunked_hidden('te-chunked-identity');
    }],
    ['te-identity-chunked', 501, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity, chunked\r\n\r\n"
        . chunked_hidden('te-identity-chunked');
    }],
    ['te-http10', 400, sub {
        "POST /echo HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        . chunked_hidden('te-http10');
    }],
    ['space-before-colon', 400, sub {
        my $body = 'hello' . hidden('space-before-colon');
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        . 'Content-Length : ' . length($body) . "\r\n\r\n$body";
    }],
    ['obs-fold-te', 400, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nX-Folded: a\r\n"
        . " Transfer-Encoding: chunked\r\n\r\n" . 'hello' . hidden('obs-fold-te');
    }],
    ['cl-plus', 400, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n\r\nhello"
        . hidden('cl-plus');
    }],
    ['cl-negative', 400, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n"
        . hidden('cl-negative');
    }],
    ['chunk-size-overflow', 400, sub {
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "10000000000000005\r\nhello\r\n" . chunked_hidden('chunk-size-overflow');
    }],
);

# everything the server sends on one connection until it closes or 5 s
# pass: the parsed responses, in order
sub exchange {
    my ($port, $bytes) = @_;

    my $c = $t->http_connect(port => $port, timeout => 5) or return ({ error => "connect: $@" });
    $c->send_raw($bytes);

    my @responses;
    my $deadline = time + 5;
    while (time < $deadline && @responses < 4) {
        my $r = $c->read_response($deadline, 0);
        last unless $r->{status};
        push @responses, $r;
        last if ($r->{headers}{connection} // '') =~ /close/i;
    }

    $c->close;
    return @responses;
}

# a request to the fake that it must log before we look at its log: the
# requests of a case, sent before it, are logged by then
my $sentinel = 0;
sub fake_settled {
    my $uri = '/sentinel-' . ++$sentinel;
    my $r = $t->http(GET => $uri, port => $port{fake});
    return $t->wait_for(sub {
        grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} // '') eq $uri } $fake->requests;
    }, 5);
}

# the fake's requests that are not sentinels
sub fake_requests {
    grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} // '') !~ m{^/sentinel-} }
         $fake->requests;
}

sub body_agrees {
    my ($req) = @_;

    my $cl = Drover::FakeFCGI->params_of($req)->{CONTENT_LENGTH};
    $cl = 0 if !defined $cl || $cl eq '';
    return $cl eq ($req->{stdin_length} // 0);
}

for my $case (@cases) {
    my ($name, $want, $make) = @$case;
    my $bytes = $make->();

    # kit: what nginx answers, and what the app answered, if anything
    my @kit = exchange($port{kit}, $bytes);
    is(join(' ', map { $_->{status} } @kit), $want, "$name: nginx answers $want, one response")
        or diag(join "\n---\n", map { $_->{head} . ($_->{body} // '') } @kit);
    ok(!grep({ ($_->{body} // '') =~ /"QUERY_STRING":"SMUGGLED/ } @kit),
       "$name: kit never answered the hidden request");

    # the fake: nothing reaches it
    my $before = () = fake_requests();
    my @fake = exchange($port{fake}, $bytes);
    is(join(' ', map { $_->{status} } @fake), $want, "$name, fake backend: $want");
    ok(fake_settled(), "$name: the fake's log is up to date");
    my @new = (fake_requests())[$before .. scalar(fake_requests()) - 1];
    is(scalar @new, 0, "$name: the request never reached the backend")
        or diag(join "\n", map { join ' ', map { "$_->[0]=$_->[1]" } @{ $_->{params} } } @new);
}

# ---- a valid chunked body, then a second request: two requests ----

sub pipelined {
    my ($name, $chunks, $echo) = @_;

    my $bytes = "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
              . "Content-Type: text/plain\r\n\r\n$chunks"
              . "GET /params?second-$name HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

    my @kit = exchange($port{kit}, $bytes);
    is(join(' ', map { $_->{status} } @kit), '200 200', "$name: two responses");
    is($kit[0]{body}, $echo, "$name: the first is the echo of exactly its chunks");
    like($kit[1]{body} // '', qr/"QUERY_STRING":"second-$name"/, "$name: the second is its own request");
    like($kit[1]{body} // '', qr/"REQUEST_METHOD":"GET"/, "$name: a GET");
    unlike($kit[1]{body} // '', qr/"CONTENT_LENGTH":"[1-9]/, "$name: with no body");

    my $before = () = fake_requests();
    my @fake = exchange($port{fake}, $bytes);
    is(join(' ', map { $_->{status} } @fake), '200 200', "$name, fake: two responses");
    ok(fake_settled(), "$name: the fake's log is up to date");
    my @new = (fake_requests())[$before .. scalar(fake_requests()) - 1];
    is(scalar @new, 2, "$name: the fake got two requests");
    is(Drover::FakeFCGI->params_of($new[0])->{REQUEST_URI}, '/echo', "$name: first: POST /echo");
    is($new[0]{stdin} // '', $echo, "$name: first: exactly the chunks' bytes as its body");
    is(Drover::FakeFCGI->params_of($new[1])->{QUERY_STRING}, "second-$name",
       "$name: second: its own request");
    is($new[1]{stdin_length} // 0, 0, "$name: second: no body");
    is(Drover::FakeFCGI->params_of($new[0])->{CONTENT_LENGTH}, length $echo,
       "$name: first: CONTENT_LENGTH is its body's length");
}

pipelined('chunked', "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 'hello world');
pipelined('trailers', "5\r\nhello\r\n0\r\nContent-Length: 999\r\nX-Trailer: SMUGGLED\r\n\r\n",
          'hello');
pipelined('bare-lf', "5\nhello\r\n0\r\n\r\n", 'hello');

# ---- over the whole run ----

my @all = $fake->requests;
ok(!grep({ join(' ', map { $_->[1] } @{ $_->{params} }) =~ /SMUGGLED/ } @all),
   'no request the fake ever saw carries the hidden request\'s marker');
is(scalar(grep { !body_agrees($_) } @all), 0,
   'every request the fake saw has a body exactly CONTENT_LENGTH long');

my @pids = map { $t->slot_pid($_) } 0, 1;
ok(!grep({ !defined } @pids), "kit's workers still answer: @pids");
ok($t->alive, 'droverd still running');

$fake->stop;
$t->done;
