#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A request whose FastCGI params are over droverd's 128 KiB limit is
# refused by the worker with an HTTP answer -- 431 Request Header Fields
# Too Large, or 414 URI Too Long when the URI alone is that long -- and not
# with a closed connection, which Drover's module would replay on other
# slots before a 502.  Through drover_pass (drover_param X_BIG $arg_pad
# makes the params huge): the client gets the answer at once, GET and POST,
# nginx logs no replay, the workers are the same processes after it, and
# the next request on the same connection is served.  Stock nginx
# fastcgi_pass cannot get there (it puts all params in one record and
# refuses over 64 KiB itself: "fastcgi request record is too big"), so the
# shared socket is tested with a FastCGI client that streams its params over
# many records, as other front ends may: the same answers, and the kept
# connection serves the next request.  The app never sees such a request.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI;

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

# the request line of a long query must fit one of nginx's header buffers
$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    access_log off;
    large_client_header_buffers 4 256k;

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_param X_BIG $arg_pad;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with the module');

my @before = sort { $a <=> $b } grep { defined } $t->worker_pids;
is(scalar @before, 2, 'two workers answer');

# 50 KB three times over (REQUEST_URI, QUERY_STRING, X_BIG): 431; a 70 KB
# URI, twice over with no X_BIG: 414
my $pad = 'p' x 50_000;
my $long = '/' . ('u' x 70_000);

my $mark = $t->nginx_log_mark;

my $c = $t->http_connect;
ok($c, 'connected to nginx');

my $t0 = time;
my $r = $c->request(GET => "/?pad=$pad");
my $took = time - $t0;
is($r->{status}, 431, 'GET with 150 KB of params: 431');
is($r->{body}, "431 Request Header Fields Too Large\n", 'the short body');
like($r->{headers}{'content-type'} || '', qr{^text/plain}, 'text/plain');
cmp_ok($took, '<', 2, sprintf 'at once (%.3f s)', $took);

$r = $c->request(POST => "/echo?pad=$pad", body => 'b' x 100_000);
is($r->{status}, 431, 'POST of 100 KB with 150 KB of params: 431');

$r = $c->request(GET => $long);
is($r->{status}, 414, 'a 70 KB URI: 414');
is($r->{body}, "414 URI Too Long\n", 'the short body');

$r = $c->request(GET => '/', close => 1);
is($r->{status}, 200, 'the next request on the same client connection: 200');
is($r->{body}, "hello\n", 'hello');
$c->close;

my $log = $t->nginx_log_since($mark);
# the lines hold the whole request line: their first 200 bytes are enough
my $short = join "\n", map { substr($_, 0, 200) } split /\n/, $log;
unlike($log, qr/replay/, 'nginx replayed nothing') or diag($short);
unlike($log, qr/\[error\]/, 'nginx logged no error') or diag($short);

# the shared socket, params in records of 16000 bytes, one connection kept
my $f = Drover::FCGI->connect($t->socket_path);
ok($f, 'connected to the shared socket');

my %big = (X_BIG => $pad, QUERY_STRING => "pad=$pad", REQUEST_URI => "/?pad=$pad");
my @cases = (
    ['GET with 150 KB of params', 431, method => 'GET', uri => '/', params => \%big],
    ['POST of 100 KB with 150 KB of params', 431, method => 'POST', uri => '/echo',
     body => 'b' x 100_000, params => \%big],
    ['a 70 KB URI', 414, method => 'GET', uri => $long],
    ['150 KB of params in full records', 431, method => 'GET', uri => '/', params => \%big,
     record_size => 65535],
);

my $id = 1;
for my $case (@cases) {
    my ($what, $status, %a) = @$case;

    $r = $f->request(id => $id, keep_conn => 1, record_size => 16000, %a);
    ok($r->{complete} && ($r->{protocol_status} // -1) == 0,
       "shared socket, $what: END_REQUEST(REQUEST_COMPLETE)") or diag($r->{error} // '');
    is($r->{status}, $status, "shared socket, $what: $status");
    $id++;
}

$r = $f->request(id => $id, keep_conn => 1, uri => '/');
is($r->{body}, "hello\n", 'shared socket: the same connection serves the next request');
$f->close;

my @after = sort { $a <=> $b } grep { defined } $t->worker_pids;
is_deeply(\@after, \@before, 'the same two workers serve: none restarted');

like($t->log, qr/pool kit: worker \d+: request \d+ refused with 431 Request Header Fields Too Large: its params are \d+ bytes, over the limit of 131072/,
     'droverd logs the refusal with the pool, the size and the limit');
unlike($t->log, qr/closing connection|killed by signal|exited with code/,
       'no connection closed on a protocol error, no worker exit');

$t->done;
