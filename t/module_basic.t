#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# ngx_http_drover_module, the basics over TLS: drover_pass to droverd's kit
# (unix:) and to a fake backend (unix: and host:port); the CGI/FastCGI
# params set by default (HTTPS and SSL_* under TLS, none of them in plain
# HTTP, REQUEST_ID); drover_param overriding and adding, with variables and
# if_not_empty, each name sent once; repeated request headers joined;
# REQUEST_URI raw and DOCUMENT_URI decoded; HEAD; Status, Location and
# repeated Set-Cookie from the app; pipelined requests; responses split at
# every byte, in 1-byte records, in full 65535-byte records, with 255 bytes
# of padding, and with STDERR between STDOUT records.

use strict;
use warnings;

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI qw(:all);
use Drover::FakeFCGI qw(fcgi_response fcgi_end_request);

my $t = Drover::Test->new->has(qw(droverd kit nginx module https));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

# the fake answers by path
my %replies = (
    '/fake/redirect' => "Status: 302 Found\r\n"
        . "Location: https://example.test/next?a=1&b=2\r\n"
        . "Set-Cookie: a=1; Path=/\r\n"
        . "Set-Cookie: b=2; HttpOnly\r\n"
        . "Set-Cookie: c=3\r\n"
        . "Content-Type: text/plain\r\n\r\nmoved\n",
    '/fake/notfound' => "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such thing\n",
    '/fake/created'  => "Status: 201 Created\r\nX-App: yes\r\nContent-Type: text/plain\r\n\r\nmade\n",
    '/fake/head'     => "Content-Type: text/plain\r\nX-App: head\r\n\r\nthis body must not reach a HEAD client\n",
);

# well-formed but unusual framing (spec 3.3): the body of each is $framed
my $framed = join '', map { sprintf "framed %05d\n", $_ } 1 .. 12000;
my $framed_head = "Content-Type: text/plain\r\n\r\n";

my %framing = (
    # every byte of the response its own record, each padded to 8
    '/fake/tiny-records' => sub {
        my ($id) = @_;
        my $out = $framed_head . substr($framed, 0, 3000);
        return join('', map { fcgi_record(FCGI_STDOUT, $id, $_) } split //, $out)
            . fcgi_record(FCGI_STDOUT, $id, '') . fcgi_end_request($id);
    },

    # records of 65535 bytes, the most a record holds
    '/fake/full-records' => sub {
        my ($id) = @_;
        return fcgi_stream(FCGI_STDOUT, $id, $framed_head . $framed, 65535) . fcgi_end_request($id);
    },

    # 255 bytes of padding after every record
    '/fake/max-padding' => sub {
        my ($id) = @_;
        my $out = $framed_head . $framed;
        my $bytes = '';
        for (my $off = 0; $off < length $out; $off += 1000) {
            $bytes .= fcgi_record(FCGI_STDOUT, $id, substr($out, $off, 1000), padding => 255);
        }
        return $bytes . fcgi_record(FCGI_STDOUT, $id, '', padding => 255)
            . fcgi_record(FCGI_END_REQUEST, $id, pack('NCx3', 0, 0), padding => 255);
    },

    # STDERR records between the STDOUT ones
    '/fake/stderr-between' => sub {
        my ($id) = @_;
        my $out = $framed_head . $framed;
        my $bytes = '';
        for (my $off = 0; $off < length $out; $off += 7000) {
            $bytes .= fcgi_record(FCGI_STDERR, $id, "app warning at $off\n")
                . fcgi_record(FCGI_STDOUT, $id, substr($out, $off, 7000));
        }
        return $bytes . fcgi_record(FCGI_STDOUT, $id, '') . fcgi_end_request($id);
    },
);

sub reply_by_path {
    my ($req) = @_;

    my $p = Drover::FakeFCGI->params_of($req);
    my ($path) = ($p->{REQUEST_URI} || '') =~ /^([^?]*)/;
    return $framing{$path}->($req->{id}) if $framing{$path};

    my $stdout = $replies{$path} || "Content-Type: text/plain\r\n\r\nfake\n";
    return fcgi_response($req->{id}, $stdout);
}

my $fake = Drover::FakeFCGI->new($t, reply => \&reply_by_path)->start;
my $tcp = Drover::FakeFCGI->new($t, name => 'tcp', tcp => 1)->start;

# every byte of the response in its own write
my $big_body = join '', map { sprintf "line %04d\n", $_ } 1 .. 300;
my $bytewise = Drover::FakeFCGI->new($t, name => 'bytewise', split => 1, delay => 0,
    reply => sub { fcgi_response($_[0]{id}, "Content-Type: text/plain\r\nX-Split: 1\r\n\r\n$big_body") })
    ->start;

my $fake_pass = $fake->pass;
my $tcp_pass = $tcp->pass;
my $bytewise_pass = $bytewise->pass;

$t->write_module_conf(<<"EOF", http => <<'PLAIN')->run_nginx;
        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location /fake/ {
            drover_pass $fake_pass;
        }

        location /params-set/ {
            drover_param SERVER_NAME  overridden.example;
            drover_param HTTP_HOST    forced.example;
            drover_param APP_VARS     "\$request_method:\$arg_x";
            drover_param SKIPPED      \$arg_missing if_not_empty;
            drover_param KEPT_EMPTY   \$arg_missing;
            drover_param KEPT_SET     \$arg_x if_not_empty;
            drover_pass $fake_pass;
        }

        location /tcp/ {
            drover_pass $tcp_pass;
        }

        location /bytewise/ {
            drover_pass $bytewise_pass;
        }
EOF
    server {
        listen 127.0.0.1:%%PORT_PLAIN%%;
        server_name localhost;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }

PLAIN

$t->nginx_started('with the module and a TLS server');

my $json = JSON::PP->new;

sub params_json {
    my ($r) = @_;
    return eval { $json->decode($r->{body}) } || {};
}

# ---- through TLS to droverd ----

my $r = $t->https(GET => '/');
is($r->{status}, 200, 'GET / over TLS: 200') or diag($r->{error} || $r->{head} || '');
is($r->{body}, "hello\n", 'GET /: the kit app answers');

my $c = $t->https_connect;
ok($c, 'a TLS connection') or diag($@);
my ($proto, $cipher) = $c ? $c->tls_info : ();

$r = $c ? $c->request(GET => '/params?a=1&b=two',
                      headers => [
                          'User-Agent'    => 'drover-tests/1',
                          'X-Test-Header' => 'some value',
                          'Cookie'        => 'k=v',
                      ]) : {};
is($r->{status}, 200, '/params: 200') or diag($r->{error} || '');
like($r->{headers}{'content-type'} || '', qr{^application/json}, '/params: JSON');

my $p = params_json($r);

is($p->{REQUEST_METHOD}, 'GET', 'REQUEST_METHOD');
is($p->{REQUEST_URI}, '/params?a=1&b=two', 'REQUEST_URI is the request line\'s');
is($p->{QUERY_STRING}, 'a=1&b=two', 'QUERY_STRING');
is($p->{DOCUMENT_URI}, '/params', 'DOCUMENT_URI');
ok(exists $p->{SCRIPT_NAME}, 'SCRIPT_NAME is set');
ok(exists $p->{PATH_INFO}, 'PATH_INFO is set');
is(($p->{SCRIPT_NAME} // '') . ($p->{PATH_INFO} // ''), '/params',
   'SCRIPT_NAME . PATH_INFO is the path');
is($p->{SERVER_NAME}, 'localhost', 'SERVER_NAME');
is($p->{SERVER_PORT}, $t->port, 'SERVER_PORT');
is($p->{SERVER_PROTOCOL}, 'HTTP/1.1', 'SERVER_PROTOCOL');
is($p->{SERVER_ADDR}, '127.0.0.1', 'SERVER_ADDR');
is($p->{REMOTE_ADDR}, '127.0.0.1', 'REMOTE_ADDR');
is($p->{REMOTE_PORT}, $c && $c->local_port, 'REMOTE_PORT is the client\'s port');
is($p->{GATEWAY_INTERFACE}, 'CGI/1.1', 'GATEWAY_INTERFACE (RFC 3875 4.1.4)');
is($p->{HTTP_HOST}, 'localhost', 'HTTP_HOST');
is($p->{HTTP_USER_AGENT}, 'drover-tests/1', 'HTTP_USER_AGENT');
is($p->{HTTP_X_TEST_HEADER}, 'some value', 'HTTP_X_TEST_HEADER from X-Test-Header');
is($p->{HTTP_COOKIE}, 'k=v', 'HTTP_COOKIE');

is($p->{HTTPS}, 'on', 'HTTPS=on under TLS');
ok(defined $p->{SSL_PROTOCOL} && $p->{SSL_PROTOCOL} =~ /^TLSv1\.[0-3]$/, 'SSL_PROTOCOL is a TLS version')
    or diag('SSL_PROTOCOL: ' . ($p->{SSL_PROTOCOL} // 'unset'));
is($p->{SSL_PROTOCOL}, $proto, 'SSL_PROTOCOL is what the client negotiated');
is($p->{SSL_CIPHER}, $cipher, 'SSL_CIPHER is what the client negotiated');
is($p->{SSL_SERVER_NAME}, 'localhost', 'SSL_SERVER_NAME is the SNI name');

like($p->{REQUEST_ID} // '', qr/^[0-9a-f]{32}$/, 'REQUEST_ID: 32 hex digits');
my $p2 = $c ? params_json($c->request(GET => '/params')) : {};
ok(defined $p2->{REQUEST_ID} && defined $p->{REQUEST_ID} && $p2->{REQUEST_ID} ne $p->{REQUEST_ID},
   'REQUEST_ID differs between two requests');
ok(!exists $p->{CONTENT_LENGTH} || $p->{CONTENT_LENGTH} eq '',
   'GET without a body: CONTENT_LENGTH unset or empty (RFC 3875 4.1.2)')
    or diag("CONTENT_LENGTH: $p->{CONTENT_LENGTH}");

# repeated headers become one param (RFC 3875 4.1.18), Cookie with "; "
$r = $c ? $c->request(GET => '/params', headers => [
                          Cookie  => 'a=1', Cookie  => 'b=2',
                          'X-Rep' => 'one', 'X-Rep' => 'two']) : {};
$p = params_json($r);
is($p->{HTTP_COOKIE}, 'a=1; b=2', 'two Cookie headers: one HTTP_COOKIE joined with "; "');
is($p->{HTTP_X_REP}, 'one, two', 'a repeated header: one param joined with ", "');

# a request with a body
$r = $c ? $c->request(POST => '/params', body => 'x=1&y=2',
                      headers => { 'Content-Type' => 'application/x-www-form-urlencoded' }) : {};
$p = params_json($r);
is($p->{REQUEST_METHOD}, 'POST', 'POST: REQUEST_METHOD');
is($p->{CONTENT_LENGTH}, '7', 'POST: CONTENT_LENGTH');
is($p->{CONTENT_TYPE}, 'application/x-www-form-urlencoded', 'POST: CONTENT_TYPE');
$c->close if $c;

# plain HTTP: none of the TLS params
$r = $t->http(GET => '/params', port => $t->port('plain'));
is($r->{status}, 200, 'plain HTTP server: 200') or diag($r->{error} || '');
$p = params_json($r);
ok(!defined $p->{HTTPS} || $p->{HTTPS} eq '', 'plain HTTP: no HTTPS')
    or diag("HTTPS: $p->{HTTPS}");
ok(!grep({ /^SSL_/ && length $p->{$_} } keys %$p), 'plain HTTP: no SSL_* params');
is($p->{SERVER_PORT}, $t->port('plain'), 'plain HTTP: SERVER_PORT');

# ---- params as sent on the wire (the fake records them in order) ----

$r = $t->https(GET => '/params-set/x?x=5', headers => { 'X-Dup' => 'one' });
is($r->{status}, 200, 'drover_param location: 200') or diag($r->{error} || '');

my ($req) = grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') =~ m{^/params-set/} }
            $fake->requests;
ok($req, 'the fake got the request');

my @names = map { $_->[0] } @{ $req->{params} || [] };
my %count;
$count{$_}++ for @names;
my @dups = grep { $count{$_} > 1 } sort keys %count;
ok(!@dups, 'every param name is sent once') or diag("sent more than once: @dups");

$p = Drover::FakeFCGI->params_of($req || {});
is($p->{SERVER_NAME}, 'overridden.example', 'drover_param overrides a default param');
is($p->{HTTP_HOST}, 'forced.example', 'drover_param overrides an HTTP_* param');
is($p->{APP_VARS}, 'GET:5', 'drover_param with variables');
ok(!exists $p->{SKIPPED}, 'if_not_empty: an empty value is not sent');
ok(exists $p->{KEPT_EMPTY} && $p->{KEPT_EMPTY} eq '', 'without if_not_empty: sent empty');
is($p->{KEPT_SET}, '5', 'if_not_empty: a value is sent');
is($p->{HTTP_X_DUP}, 'one', 'the other headers still go');
is($p->{HTTPS}, 'on', 'HTTPS still set next to drover_param');
$r = $t->https(GET => '/fake/p%61th/x%2Fy?q=%41&r');
my ($enc) = grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') =~ m{^/fake/p%61th} }
            $fake->requests;
my $ep = Drover::FakeFCGI->params_of($enc || {});
is($ep->{REQUEST_URI}, '/fake/p%61th/x%2Fy?q=%41&r', 'REQUEST_URI: as the client sent it');
is($ep->{DOCUMENT_URI}, '/fake/path/x/y', 'DOCUMENT_URI: decoded');
is($ep->{QUERY_STRING}, 'q=%41&r', 'QUERY_STRING: as the client sent it');

is($req && $req->{role}, 1, 'BEGIN_REQUEST: role responder');
ok($req && ($req->{flags} & 1), 'BEGIN_REQUEST: FCGI_KEEP_CONN');
ok($req && $req->{stdin_done}, 'an empty STDIN stream ends a request without a body');

# ---- the app's status and headers reach the client ----

$r = $t->https(GET => '/fake/redirect');
is($r->{status}, 302, 'Status: 302 from the app');
is($r->{headers}{location}, 'https://example.test/next?a=1&b=2', 'Location passes as sent');
my @cookies = map { $_->[1] } grep { lc $_->[0] eq 'set-cookie' } @{ $r->{header_list} || [] };
is_deeply(\@cookies, ['a=1; Path=/', 'b=2; HttpOnly', 'c=3'], 'three Set-Cookie headers, in order');
is($r->{body}, "moved\n", '302: the body');

$r = $t->https(GET => '/fake/notfound');
is($r->{status}, 404, 'Status: 404 from the app');
is($r->{body}, "no such thing\n", '404: the body');

$r = $t->https(GET => '/fake/created');
is($r->{status}, 201, 'Status: 201 from the app');
is($r->{headers}{'x-app'}, 'yes', 'an app header passes');
is($r->{body}, "made\n", '201: the body');

$r = $t->https(GET => '/status?code=418');
is($r->{status}, 418, 'kit /status?code=418 through the module');

# ---- HEAD: headers, no body ----

$c = $t->https_connect;
$r = $c->request(HEAD => '/');
is($r->{status}, 200, 'HEAD / on kit: 200');
my $next = $c->request(GET => '/');
is($next->{status}, 200, 'after HEAD, the next response on the connection parses')
    or diag($next->{error} || '');
is($next->{body}, "hello\n", 'and no body bytes of the HEAD came before it');

$r = $c->request(HEAD => '/big?kb=10240');
is($r->{status}, 200, 'HEAD of a 10 MiB kit response: 200');
$next = $c->request(GET => '/');
is($next->{body}, "hello\n", 'after it, the next response on the connection is intact')
    or diag($next->{error} || '');

$r = $c->request(HEAD => '/fake/head');
is($r->{status}, 200, 'HEAD on an app that sends a body anyway: 200');
is($r->{headers}{'x-app'}, 'head', 'HEAD: the app\'s headers');
$next = $c->request(GET => '/fake/created');
is($next->{status}, 201, 'after that HEAD, the next response parses');
ok(index($c->received, 'must not reach a HEAD client') < 0, 'HEAD: the body never reached the client');
$c->close;

my ($head_req) = grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq '/fake/head' }
                 $fake->requests;
is($head_req && Drover::FakeFCGI->params_of($head_req)->{REQUEST_METHOD}, 'HEAD',
   'HEAD: REQUEST_METHOD=HEAD reaches the app');

# ---- pipelined requests, answered in order ----

$c = $t->https_connect;
$c->send_raw(join '', map { $c->request_bytes(GET => $_) } '/', '/status?code=404', '/fake/created', '/');
my @pipelined = map { $c->read_response(time + 10) } 1 .. 4;
$c->close;
is_deeply([map { $_->{status} } @pipelined], [200, 404, 201, 200], 'four pipelined requests: answered in order');
is_deeply([map { $_->{body} } @pipelined[0, 2, 3]], ["hello\n", "made\n", "hello\n"],
          'four pipelined requests: their bodies');

# ---- host:port, and a response split at every byte ----

$r = $t->https(GET => '/tcp/x');
is($r->{status}, 200, 'drover_pass host:port: 200') or diag($r->{error} || '');
is($r->{body}, "fake\n", 'drover_pass host:port: the body');
is(scalar $tcp->requests, 1, 'the TCP fake got one request');

$r = $t->https(GET => '/bytewise/x', timeout => 30);
is($r->{status}, 200, 'a response written one byte at a time: 200') or diag($r->{error} || '');
is($r->{headers}{'x-split'}, '1', 'its header');
ok($r->{body} eq $big_body, 'its body, exact (' . length($big_body) . ' bytes)')
    or diag('got ' . length($r->{body}) . ' bytes');

for my $path (sort keys %framing) {
    my $mark = $t->nginx_log_mark;
    my $c = $t->https_connect(timeout => 30);
    $r = $c->request(GET => $path);
    my $want = $path eq '/fake/tiny-records' ? substr($framed, 0, 3000) : $framed;
    is($r->{status}, 200, "$path: 200") or diag($r->{error} || '');
    ok($r->{complete} && $r->{body} eq $want, "$path: the exact body")
        or diag('got ' . length($r->{body}) . ' of ' . length($want) . ' bytes');
    ok(index($c->received, 'app warning') < 0, "$path: no STDERR text to the client");
    $c->close;

    my @errors = grep { !/app warning/ } $t->nginx_errors_since($mark);
    ok(!@errors, "$path: nothing in the error log but the app's STDERR") or diag(join "\n", @errors);
}

ok($t->alive, 'droverd still running');

$fake->stop;
$tcp->stop;
$bytewise->stop;
$t->done;
