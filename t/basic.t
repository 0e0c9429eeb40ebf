#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# The basic request path: hello on the shared socket, every slot socket,
# and each kit route over FastCGI.

use strict;
use warnings;

use JSON::PP;
use Test::More;

use Drover::Test;
use Drover::FCGI qw(FCGI_REQUEST_COMPLETE FCGI_STDERR);

my $t = Drover::Test->new->has(qw(droverd hello kit));

$t->write_conf(<<'EOF')->run;
pool hello {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/hello.sock;
    workers 1;
}

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

# ---- hello ----

my $r = $t->get('/', pool => 'hello');
ok($r->{complete}, 'hello: END_REQUEST') or diag($r->{error});
is($r->{status}, 200, 'hello: status 200');
is($r->{body}, "hello\n", 'hello: body');
like($r->{headers}{'content-type'} || '', qr{^text/plain}, 'hello: text/plain');
is($r->{app_status}, 0, 'hello: appStatus 0');
is($r->{protocol_status}, FCGI_REQUEST_COMPLETE, 'hello: REQUEST_COMPLETE');

is($t->get('/', pool => 'hello', slot => 0)->{body}, "hello\n", 'hello: slot 0');

# ---- every kit slot answers, each from its own worker ----

my %pids;
for my $k (0, 1) {
    my $pid = $t->slot_pid($k, pool => 'kit');
    ok($pid, "kit slot $k: /pid answers");
    $pids{$pid}++ if $pid;
}
is(scalar keys %pids, 2, 'kit: two slots, two worker pids');

$r = $t->get('/', pool => 'kit');
is($r->{body}, "hello\n", 'kit: / on the shared socket');

# keepalive: two requests on one connection
my $c = Drover::FCGI->connect($t->socket_path('kit'));
my $r1 = $c->request(uri => '/', keep_conn => 1, id => 1);
my $r2 = $c->request(uri => '/pid', keep_conn => 1, id => 2);
$c->close;
is($r1->{body}, "hello\n", 'keep_conn: first request');
like($r2->{body}, qr/^\d+\n$/, 'keep_conn: second request on the same connection');

# ---- /params ----

$r = $t->get('/params?a=1&b=%20', pool => 'kit',
             params => { HTTP_X_DROVER_TEST => 'yes "quoted"' });
like($r->{headers}{'content-type'} || '', qr{^application/json}, '/params: json');
my $p = eval { decode_json($r->{body}) } || {};
is($p->{REQUEST_METHOD}, 'GET', '/params: REQUEST_METHOD');
is($p->{QUERY_STRING}, 'a=1&b=%20', '/params: QUERY_STRING');
is($p->{REQUEST_URI}, '/params?a=1&b=%20', '/params: REQUEST_URI');
is($p->{SCRIPT_NAME}, '/params', '/params: SCRIPT_NAME');
is($p->{HTTP_X_DROVER_TEST}, 'yes "quoted"', '/params: an extra param, quotes escaped');

# ---- /echo: 1 MiB sent in small pieces, streamed back ----

my $body = join '', map { chr(($_ * 7 + ($_ >> 8)) & 0xff) } 0 .. 1024 * 1024 - 1;
$r = $t->fcgi(pool => 'kit', method => 'POST', uri => '/echo', body => $body,
              params => { CONTENT_TYPE => 'application/x-drover-test' },
              record_size => 4000, split => 1500, timeout => 30);
ok($r->{complete}, '/echo: END_REQUEST') or diag($r->{error});
is($r->{status}, 200, '/echo: status 200');
is(length $r->{body}, length $body, '/echo: 1 MiB back');
ok($r->{body} eq $body, '/echo: the same bytes');
is($r->{headers}{'content-type'}, 'application/x-drover-test', '/echo: Content-Type kept');

# a request split at every byte of its records
$r = $t->fcgi(pool => 'kit', method => 'POST', uri => '/echo', body => 'byte by byte',
              split => 1);
is($r->{body}, 'byte by byte', '/echo: request written one byte at a time');

# ---- /big: 1 MiB of the documented pattern ----

$r = $t->get('/big?kb=1024', pool => 'kit', timeout => 30);
my $expect = join '', map { sprintf "%015x\n", $_ } 0 .. 1024 * 64 - 1;
is(length $r->{body}, 1024 * 1024, '/big?kb=1024: 1 MiB');
ok($r->{body} eq $expect, '/big?kb=1024: exact bytes');

# ---- /status, /stderr, errors ----

$r = $t->get('/status?code=404', pool => 'kit');
is($r->{status}, 404, '/status?code=404: status');
is($r->{body}, "status 404\n", '/status?code=404: body');

$r = $t->get('/stderr?lines=3', pool => 'kit');
is($r->{body}, "ok\n", '/stderr: body');
is($r->{stderr}, join('', map { "kit stderr line $_\n" } 1 .. 3),
   '/stderr: the three lines');
ok((grep { $_->{type} == FCGI_STDERR } @{ $r->{records} }),
   '/stderr: in FCGI_STDERR records');

is($t->get('/nowhere', pool => 'kit')->{status}, 404, 'unknown path: 404');
is($t->get('/sleep?ms=-1', pool => 'kit')->{status}, 400, 'bad N: 400');
is($t->get('/big?kb=99999999', pool => 'kit')->{status}, 400, 'N over its bound: 400');

$t->done;
