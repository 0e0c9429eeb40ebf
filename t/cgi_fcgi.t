#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Another FastCGI client: libfcgi's cgi-fcgi, passing a CGI environment.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd hello kit cgi_fcgi));

$t->write_conf(<<'EOF')->run;
pool hello {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/hello.sock;
    workers 1;
}

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 1;
}
EOF

sub cgi_env {
    my ($method, $uri, %extra) = @_;
    my ($path, $query) = $uri =~ /^([^?]*)\??(.*)$/;

    return {
        PATH              => '/usr/bin:/bin',
        GATEWAY_INTERFACE => 'CGI/1.1',
        SERVER_PROTOCOL   => 'HTTP/1.1',
        SERVER_NAME       => 'localhost',
        SERVER_PORT       => '80',
        REMOTE_ADDR       => '127.0.0.1',
        REQUEST_METHOD    => $method,
        REQUEST_URI       => $uri,
        SCRIPT_NAME       => $path,
        QUERY_STRING      => $query,
        %extra,
    };
}

# cgi-fcgi prints the CGI response: headers, an empty line, the body
my ($code, $out) = $t->run_cmd(['cgi-fcgi', '-bind', '-connect', $t->socket_path('hello')],
                               20, clean_env => cgi_env(GET => '/'));
is($code, 0, 'cgi-fcgi: exit 0') or diag($out);
like($out, qr{^Content-Type: text/plain\r?\n}mi, 'cgi-fcgi: Content-Type header');
like($out, qr/\r?\n\r?\nhello\n\z/, 'cgi-fcgi: hello');

# a body on stdin, to kit's /echo
my $body = "line one\nline two\n" x 1000;
my $in = $t->write_file('body.txt', $body);
($code, $out) = $t->run_cmd(['cgi-fcgi', '-bind', '-connect', $t->socket_path('kit')], 20,
                            stdin => $in,
                            clean_env => cgi_env(POST => '/echo', CONTENT_LENGTH => length $body,
                                                 CONTENT_TYPE => 'text/x-lines'));
is($code, 0, 'cgi-fcgi POST: exit 0');
my ($head, $echoed) = split /\r?\n\r?\n/, $out, 2;
like($head, qr{^Content-Type: text/x-lines}mi, 'cgi-fcgi POST: Content-Type kept');
ok(defined $echoed && $echoed eq $body, 'cgi-fcgi POST: the body echoed')
    or diag('got ' . length($echoed // '') . ' bytes');

# the environment arrives as FastCGI params
($code, $out) = $t->run_cmd(['cgi-fcgi', '-bind', '-connect', $t->socket_path('kit')], 20,
                            clean_env => cgi_env(GET => '/params?q=1', HTTP_X_FROM => 'cgi-fcgi'));
like($out, qr/"HTTP_X_FROM":"cgi-fcgi"/, 'cgi-fcgi: its environment as params');
like($out, qr/"QUERY_STRING":"q=1"/, 'cgi-fcgi: QUERY_STRING');

$t->done;
