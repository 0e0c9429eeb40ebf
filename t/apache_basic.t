#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover, the basics: Debian's apache2 (mpm_event) with DroverPass to
# droverd's kit. The CGI params set by default; request headers as HTTP_*
# (repeated ones joined), no HTTP_PROXY, underscore names dropped;
# DroverParam replacing and adding; in a <Location> and at the server
# level; POST bodies small, chunked and 10 MB (echoed back whole), a 32 MB
# response streamed with flat memory; the app's 404 and Status/headers;
# HEAD; a malformed answer from a fake backend -> 502 with one log line;
# served again after a graceful restart (SIGUSR1).

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use JSON::PP ();
use Test::More;

use Drover::Test;
use Drover::Test::Apache;
use Drover::FCGI qw(:all);
use Drover::FakeFCGI qw(fcgi_response);

my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

# a fake backend for the answers kit never gives (plain mode: no .slots)
my %fake_replies = (
    '/fake/created'  => "Status: 201 Created\r\nX-App: yes\r\nSet-Cookie: a=1\r\n"
        . "Set-Cookie: b=2\r\nContent-Type: text/plain\r\n\r\nmade\n",
    '/fake/redirect' => "Location: https://example.test/next\r\n\r\n",
    '/fake/nocolon'  => "Content-Type: text/plain\r\nthis is no header\r\n\r\nSECRET-BODY\n",
    '/fake/status'   => "Status: 2000 Odd\r\n\r\nSECRET-BODY\n",
);

my $fake = Drover::FakeFCGI->new($t, reply => sub {
    my ($req) = @_;
    my $p = Drover::FakeFCGI->params_of($req);
    my ($path) = ($p->{REQUEST_URI} || '') =~ /^([^?]*)/;
    return fcgi_response($req->{id}, "Content-Type: application/json\r\n\r\n"
                                     . JSON::PP->new->canonical->encode($p))
        if $path =~ m{^/fake/set/};
    return fcgi_response($req->{id}, $fake_replies{$path} || "Content-Type: text/plain\r\n\r\nfake\n");
})->start;
my $fake_pass = $fake->pass;

$t->write_apache_conf(<<"EOF")->run_apache;
DroverPass unix:%%DIR%%/kit.sock

<Location /fake/>
    DroverPass $fake_pass
</Location>

<Location /fake/set/>
    DroverParam SERVER_NAME overridden.example
    DroverParam HTTP_HOST forced.example
    DroverParam APP_EXTRA "two words"
    DroverParam APP_UA "ua=%{HTTP:User-Agent}"
    DroverParam APP_PATH "%{REQUEST_URI}"
    DroverParam APP_PERCENT "100%"
</Location>
EOF

$t->apache_started('with mod_drover');

my $json = JSON::PP->new;
sub params_of { my ($r) = @_; return eval { $json->decode($r->{body}) } || {} }

# ---- params ----

my $c = $t->http_connect;
my $r = $c->request(GET => '/params?a=1&b=two',
                    headers => [
                        'User-Agent'    => 'drover-tests/1',
                        'X-Test-Header' => 'some value',
                        'X-Rep'         => 'one',
                        'X-Rep'         => 'two',
                        'Cookie'        => 'k=v',
                        'Cookie'        => 'l=w',
                        'Proxy'         => 'http://evil.example:8080',
                        'X_Under'       => 'posing',
                    ]);
is($r->{status}, 200, 'GET /params: 200') or diag($r->{error} || $r->{head} || '');
like($r->{headers}{'content-type'} || '', qr{^application/json}, 'the app\'s Content-Type');

my $p = params_of($r);
is($p->{REQUEST_METHOD}, 'GET', 'REQUEST_METHOD');
is($p->{REQUEST_URI}, '/params?a=1&b=two', 'REQUEST_URI, raw');
is($p->{QUERY_STRING}, 'a=1&b=two', 'QUERY_STRING');
is($p->{SCRIPT_NAME}, '/params', 'SCRIPT_NAME is the path');
is($p->{PATH_INFO}, '', 'PATH_INFO empty');
is($p->{DOCUMENT_URI}, '/params', 'DOCUMENT_URI');
is($p->{SERVER_NAME}, 'localhost', 'SERVER_NAME');
is($p->{SERVER_PORT}, $t->port, 'SERVER_PORT');
is($p->{SERVER_ADDR}, '127.0.0.1', 'SERVER_ADDR');
is($p->{SERVER_PROTOCOL}, 'HTTP/1.1', 'SERVER_PROTOCOL');
is($p->{REMOTE_ADDR}, '127.0.0.1', 'REMOTE_ADDR');
is($p->{REMOTE_PORT}, $c->local_port, 'REMOTE_PORT is the client\'s');
is($p->{GATEWAY_INTERFACE}, 'CGI/1.1', 'GATEWAY_INTERFACE');
is($p->{REQUEST_SCHEME}, 'http', 'REQUEST_SCHEME');
is($p->{REDIRECT_STATUS}, '200', 'REDIRECT_STATUS');
ok(!exists $p->{HTTPS}, 'no HTTPS on plain HTTP');
is($p->{HTTP_HOST}, 'localhost', 'HTTP_HOST');
is($p->{HTTP_USER_AGENT}, 'drover-tests/1', 'HTTP_USER_AGENT');
is($p->{HTTP_X_TEST_HEADER}, 'some value', 'HTTP_X_TEST_HEADER');
is($p->{HTTP_X_REP}, 'one, two', 'a repeated header joined with ", "');
is($p->{HTTP_COOKIE}, 'k=v; l=w', 'repeated Cookie joined with "; "');
ok(!exists $p->{HTTP_PROXY}, 'no HTTP_PROXY (httpoxy)');
ok(!exists $p->{HTTP_X_UNDER}, 'a header name with "_" is dropped');
ok(!exists $p->{CONTENT_LENGTH}, 'no CONTENT_LENGTH without a body');
$c->close;

$r = $t->http(GET => '/params', headers => ['X-Probe' => '1']);
is(params_of($r)->{HTTP_X_PROBE}, '1', 'server-level DroverPass');

# DroverParam, inherited by a nested <Location> with the DroverPass above
$r = $t->http(GET => '/fake/set/x?y=1', headers => ['User-Agent' => 'probe/2']);
$p = params_of($r);
is($p->{SERVER_NAME}, 'overridden.example', 'DroverParam replaces SERVER_NAME');
is($p->{HTTP_HOST}, 'forced.example', 'DroverParam replaces HTTP_HOST');
is($p->{APP_EXTRA}, 'two words', 'DroverParam adds APP_EXTRA');
is($p->{APP_UA}, 'ua=probe/2', 'DroverParam with %{HTTP:User-Agent}: evaluated per request');
is($p->{APP_PATH}, '/fake/set/x', 'DroverParam with %{REQUEST_URI}');
is($p->{APP_PERCENT}, '100%', 'a value without %{ is a literal');
is($p->{QUERY_STRING}, 'y=1', 'the defaults stay');
$r = $t->http(GET => '/fake/set/other');
is(params_of($r)->{APP_UA}, 'ua=', '... a header the request lacks: empty');

# a DroverParam expression that does not parse stops the configuration
{
    my $dir = $t->dir;
    my $conf = $t->read_file('apache.conf');
    my $bad = '    DroverParam APP_BAD "%' . '{HTTP:Unclosed"';
    $conf =~ s|(<Location /fake/set/>\n)|$1$bad\n|;
    $t->write_file('bad.conf', $conf);
    my %san = $t->{apache_san} ? $t->sanitizer_env : ();   # as run_apache
    local @ENV{keys %san} = values %san;
    my $out = `$Drover::Test::APACHE -t -d $dir -f $dir/bad.conf 2>&1`;
    isnt($? >> 8, 0, 'apache2 -t refuses a DroverParam expression that does not parse');
    like($out, qr/DroverParam APP_BAD: cannot parse "%\x7bHTTP:Unclosed"/, '... and says which: ' . (split /\n/, $out)[0]);
}

# ---- the app's answers ----

$r = $t->http(GET => '/no/such/route');
is($r->{status}, 404, 'the app\'s 404 passes');
like($r->{body}, qr/kit: no route/, 'with the app\'s body');

$r = $t->http(GET => '/fake/created');
is($r->{status}, 201, 'Status: 201 from the app');
is($r->{headers}{'x-app'}, 'yes', 'the app\'s header');
is(scalar(grep { lc $_->[0] eq 'set-cookie' } @{ $r->{header_list} || [] }), 2,
   'two Set-Cookie headers');
is($r->{body}, "made\n", 'its body');

$r = $t->http(GET => '/fake/redirect');
is($r->{status}, 302, 'Location without Status: 302');
is($r->{headers}{location}, 'https://example.test/next', 'Location passed');

$r = $t->http(HEAD => '/');
is($r->{status}, 200, 'HEAD: 200');
is($r->{body} // '', '', 'HEAD: no body');

# ---- malformed answers: 502, one log line, nothing of them sent ----

for my $case (['/fake/nocolon', 'a header'], ['/fake/status', 'an invalid Status']) {
    my ($uri, $why) = @$case;
    my $mark = $t->apache_log_mark;
    $r = $t->http(GET => $uri);
    is($r->{status}, 502, "$uri: 502");
    unlike($r->{body} // '', qr/SECRET-BODY/, "$uri: nothing of the answer reaches the client");
    my @lines = $t->wait_apache_log(qr/drover: .*malformed answer: \Q$why\E/, $mark);
    is(scalar @lines, 1, "$uri: one log line") or diag($t->apache_log_since($mark));
}

# ---- bodies ----

$r = $t->http(POST => '/echo', body => 'hello body', headers => ['Content-Type' => 'text/x-test']);
is($r->{status}, 200, 'POST /echo: 200');
is($r->{body}, 'hello body', 'a small body echoed');
is($r->{headers}{'content-type'}, 'text/x-test', 'CONTENT_TYPE reached the app');

$r = $t->http(POST => '/params', body => 'x' x 1000, chunked => 300);
is(params_of($r)->{CONTENT_LENGTH}, '1000', 'a chunked body read whole: its real CONTENT_LENGTH');

my $upload = join '', map { sprintf "%015d\n", $_ } 1 .. (10 * 1024 * 1024 / 16);
$r = $t->http(POST => '/echo', body => $upload, timeout => 60);
is($r->{status}, 200, 'POST 10 MB: 200') or diag($r->{error} || '');
is(length($r->{body} // ''), length $upload, '10 MB echoed back, every byte');
is(md5_hex($r->{body} // ''), md5_hex($upload), 'the same bytes');

$r = $t->http(POST => '/echo', body => $upload, chunked => 65536, timeout => 60);
is(md5_hex($r->{body} // ''), md5_hex($upload), '10 MB chunked upload echoed back');

# a 32 MB response: streamed, the children's memory stays flat
my @kids = $t->apache_children;
my $hwm_before = 0;
$hwm_before += $t->proc_status($_, 'VmHWM') // 0 for @kids;

my ($got, $first, $last) = (0, '', '');
$r = $t->http(GET => '/big?kb=32768', timeout => 60, sink => sub {
    my ($piece) = @_;
    $first = substr($piece, 0, 16) if $got == 0;
    $got += length $piece;
    $last = substr(substr($last, -16) . $piece, -16);
});
is($r->{status}, 200, 'GET 32 MB: 200');
is($got, 32 * 1024 * 1024, '32 MB received');
is($first, sprintf("%015x\n", 0), 'its first line');
is($last, sprintf("%015x\n", 32 * 1024 * 1024 / 16 - 1), 'its last line');

my $hwm_after = 0;
$hwm_after += $t->proc_status($_, 'VmHWM') // 0 for @kids;
cmp_ok($hwm_after - $hwm_before, '<', 16 * 1024 * 1024,
       'the Apache children grew by less than 16 MB for 32 MB out and 20 MB in');

# ---- a graceful restart: a new slot table, requests go on ----

my $mark = $t->apache_log_mark;
kill 'USR1', $t->apache_pid;
ok($t->wait_apache_log(qr/resuming normal operations/, $mark, 10), 'Apache restarted gracefully');
$r = $t->http(GET => '/params?after=restart');
is($r->{status}, 200, 'served after the restart');
is(params_of($r)->{QUERY_STRING}, 'after=restart', 'by the app');

$t->apache_done;
