#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Stock Debian nginx in front of droverd with plain fastcgi_pass, an
# upstream with keepalive and fastcgi_keep_conn: GET, POST, 100 requests on
# one keepalive connection, and a short wrk run with no errors.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->write_nginx_conf(<<'EOF')->run_nginx;
    upstream drover {
        server unix:%%DIR%%/kit.sock;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 8m;

        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass drover;
            fastcgi_keep_conn on;
        }
    }
EOF

ok($t->nginx_pid, 'nginx runs');

my $r = $t->http(GET => '/');
is($r->{status}, 200, 'GET /: 200') or diag($r->{error} || '');
is($r->{body}, "hello\n", 'GET /: hello');
like($r->{headers}{'content-type'} || '', qr{^text/plain}, 'GET /: text/plain');

my $body = join '', map { chr(($_ * 13) & 0xff) } 0 .. 300 * 1024 - 1;
$r = $t->http(POST => '/echo', body => $body,
              headers => { 'Content-Type' => 'application/octet-stream' });
is($r->{status}, 200, 'POST /echo: 200');
ok(defined $r->{body} && $r->{body} eq $body, 'POST /echo: 300 KiB back, same bytes')
    or diag('got ' . length($r->{body} // '') . ' bytes; ' . ($r->{error} // 'no error'));
is($r->{headers}{'content-type'}, 'application/octet-stream', 'POST /echo: Content-Type kept');

$r = $t->http(GET => '/big?kb=2048');
ok($r->{body} eq join('', map { sprintf "%015x\n", $_ } 0 .. 2048 * 64 - 1),
   'GET /big?kb=2048: exact 2 MiB');

$r = $t->http(GET => '/status?code=404');
is($r->{status}, 404, 'status 404 passes through nginx');

$r = $t->http(GET => '/params?x=1');
like($r->{body}, qr/"REQUEST_METHOD":"GET"/, '/params: the params nginx sent');

# 100 requests on one keepalive client connection; nginx keeps its
# FastCGI connections too, so the same few kit connections serve them
my $c = $t->http_connect;
my $good = 0;
for my $i (1 .. 100) {
    my $x = $c->request(GET => ($i % 2 ? '/' : '/pid'));
    last if $x->{error};
    $good++ if $x->{status} == 200 && length $x->{body};
}
$c->close;
is($good, 100, '100 sequential keepalive requests: all 200');

# ---- wrk: 3 seconds, 16 connections ----

SKIP: {
    skip 'wrk is not installed', 4 unless $t->can_do('wrk');

    my ($code, $out) = $t->run_cmd(['wrk', '-t1', '-c16', '-d3s', '--timeout', '5s',
                                    'http://127.0.0.1:' . $t->port . '/'], 30);
    is($code, 0, 'wrk ran') or diag($out);

    $t->wrk_clean('wrk', $out, 100);

    note($out);
}

ok($t->alive, 'droverd still running');

$t->done;
