#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# ngx_http_drover_module against a backend that breaks the protocol.  Each
# malformed response gives 502, or -- when the response had already begun
# -- a truncated response, never a clean complete one; nginx logs one
# error line for it; and no byte of the malformed part (each carries a
# marker) reaches the client.  After each, the same location serves a good
# request, so no broken backend connection is reused.  Each case runs
# with drover_buffering on (the bytes in one write, and one byte per
# write) and off.  Also: a POST the backend read and dropped is never
# replayed; garbage on an idle kept-alive connection never reaches a
# client; STDERR goes to the log only.  FastCGI 1.0 spec section 3.3
# (records), 5.3 (STDOUT), 5.5 (END_REQUEST).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI qw(:all);
use Drover::FakeFCGI qw(fcgi_response fcgi_end_request);
use Drover::Test::Malformed qw(malformed_answers $OK_HEAD);

my $t = Drover::Test->new->has(qw(nginx module https));

# unique per run, so no chance match in a log or a page
my $MARK = sprintf 'DROVERMARK%08x%04x', int(rand(0xffffffff)), $$ & 0xffff;

my %cases = malformed_answers($MARK);

my %good = (
    # a complete response, and garbage on the idle connection a moment
    # later: the response stands, the connection must not be used again
    'late-garbage' => sub {
        [fcgi_response($_[0], "${OK_HEAD}ok\n"), { sleep => 0.3 },
         fcgi_record(FCGI_STDOUT, $_[0], "$MARK late garbage\n")];
    },

    # STDERR goes to the error log, never to the client
    'stderr' => sub {
        fcgi_record(FCGI_STDERR, $_[0], "$MARK on stderr\n") . fcgi_response($_[0], "${OK_HEAD}ok\n");
    },

    'ok' => sub { fcgi_response($_[0], "${OK_HEAD}ok\n") },
);

sub reply_by_path {
    my ($req) = @_;

    my ($name) = (Drover::FakeFCGI->params_of($req)->{REQUEST_URI} || '') =~ m{^/[^/]+/([^/?]+)};
    my $make = $cases{$name // ''} || $good{$name // ''} || $good{ok};
    return $make->($req->{id});
}

my $fake = Drover::FakeFCGI->new($t, reply => \&reply_by_path)->start;
my $bytewise = Drover::FakeFCGI->new($t, name => 'bytewise', split => 1, delay => 0,
                                     reply => \&reply_by_path)->start;

my ($pass, $bytewise_pass) = ($fake->pass, $bytewise->pass);

$t->write_module_conf(<<"EOF", servers => {
        drover_read_timeout 5s;
        drover_buffering on;

        location /h/ {
            drover_pass $pass;
        }

        location /b/ {
            drover_pass $bytewise_pass;
        }
EOF
    'unbuffered.test' => <<"EOF",
        drover_read_timeout 5s;

        location /h/ {
            drover_buffering off;
            drover_pass $pass;
        }
EOF
})->run_nginx;

$t->nginx_started('with the module');

sub healthy {
    my ($what, $prefix, $host) = @_;

    my $r = $t->https(GET => "/$prefix/ok", headers => { Host => $host });
    ok(($r->{status} || 0) == 200 && $r->{body} eq "ok\n", "$what: the next request is served")
        or diag($r->{error} || "status $r->{status}");
}

for my $host (qw(localhost unbuffered.test)) {
    for my $prefix ($host eq 'localhost' ? qw(h b) : qw(h)) {
        my $how = $prefix eq 'b' ? 'written byte by byte' : "via $host";

        for my $name (sort keys %cases) {
            my $what = "$name ($how)";

            my $mark = $t->nginx_log_mark;
            my $start = time;
            my $c = $t->https_connect(timeout => 15);
            my $uri = "/$prefix/$name?via=$host";
            my $r = $c->request(GET => $uri, headers => { Host => $host });
            $c->wait_closed(2) unless ($r->{status} || 0) == 502 && $r->{complete};
            $c->close;

            my $status = $r->{status} || 0;
            ok(index($c->received, $MARK) < 0, "$what: no marker byte reached the client")
                or diag(substr($c->received, 0, 300));

            # written byte by byte, the bytes after END_REQUEST can come in
            # a read of their own, after the response was rightly complete
            if ($prefix eq 'b' && $name eq 'data-after-end'
                && $status == 200 && $r->{complete} && $r->{body} eq "first\n")
            {
                pass("$what: END_REQUEST came alone, the complete response before it stands");
                healthy($what, $prefix, $host);
                next;
            }

            ok($status == 502 || ($status && !$r->{complete}),
               "$what: 502, or a response cut short")
                or diag("status $status, complete, " . length($r->{body}) . ' body bytes');
            ok(!($status < 500 && $r->{complete}), "$what: never a clean complete response");

            my @lines = $t->wait_nginx_errors($mark);
            is(scalar @lines, 1, "$what: one error log line") or diag(join "\n", @lines);

            healthy($what, $prefix, $host);

            my $sent = grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq $uri }
                       ($prefix eq 'b' ? $bytewise : $fake)->requests;
            note(sprintf '%s: %.2f s, the backend got it %d times', $what, time - $start, $sent);
        }
    }
}

# ---- a POST the backend read is never sent again ----

healthy('before the POST', 'h', 'localhost');     # a kept-alive connection

my $mark = $t->nginx_log_mark;
my $r = $t->https(POST => '/h/close-at-once?post', body => 'only once');
is($r->{status}, 502, 'POST, the backend reads it and closes: 502');
my @posts = grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq '/h/close-at-once?post' }
            $fake->requests;
is(scalar @posts, 1, 'the POST reached the backend once, never replayed');
my @lines = $t->wait_nginx_errors($mark);
is(scalar @lines, 1, 'POST: one error log line') or diag(join "\n", @lines);

# ---- garbage on a kept-alive connection after a complete response ----

my $c = $t->https_connect;
$r = $c->request(GET => '/h/late-garbage');
is($r->{status}, 200, 'late garbage: the complete response before it stands');
my $replied = scalar $fake->events_of('replied');
ok($t->wait_for(sub { $fake->events_of('replied') > $replied }, 3),
   'late garbage: the fake wrote it');
for my $i (1 .. 3) {
    $r = $c->request(GET => "/h/ok?after-garbage=$i");
    ok(($r->{status} || 0) == 200 && $r->{body} eq "ok\n", "late garbage: request $i after it is served")
        or diag($r->{error} || "status $r->{status}");
}
ok(index($c->received, $MARK) < 0, 'late garbage: never reaches the client');
$c->close;

# ---- what a backend may do: stderr is logged, never sent ----

$mark = $t->nginx_log_mark;
$c = $t->https_connect;
$r = $c->request(GET => '/h/stderr');
is($r->{status}, 200, 'STDERR then a good response: 200');
is($r->{body}, "ok\n", 'STDERR then a good response: the body');
ok(index($c->received, $MARK) < 0, 'STDERR never reaches the client');
$c->close;
ok($t->wait_for(sub { index($t->nginx_log_since($mark), "$MARK on stderr") >= 0 }, 2),
   'STDERR text is in the error log');

ok(scalar($fake->requests) >= scalar(keys %cases) * 2, 'the fake saw the requests');

$fake->stop;
$bytewise->stop;
$t->done;
