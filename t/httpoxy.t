#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# httpoxy (CVE-2016-5385): a client's "Proxy:" header must never reach the
# app as HTTP_PROXY, the name HTTP client libraries take their proxy from.
# Stock nginx (Debian's fastcgi_params, fastcgi_pass to droverd's shared
# socket) passes it: a fake backend behind the same locations shows what
# nginx sends, with and without docs/fastcgi.md's `fastcgi_param HTTP_PROXY "";`
# (the client's value, then none: nginx sends no HTTP_* parameter set
# empty, and the line keeps the header's own out).  droverd drops HTTP_PROXY from every request
# itself, so kit's /params has none either way, nor through the module,
# which never sends it.  Other headers still arrive.

use strict;
use warnings;

use JSON::PP;
use Test::More;

use Drover::Test;
use Drover::FakeFCGI;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

my $params = '/etc/nginx/fastcgi_params';
plan(skip_all => "$params is missing: the stock config includes Debian's file")
    unless -r $params;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 1;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

my $fake = Drover::FakeFCGI->new($t)->start;
my $fake_pass = $fake->pass;

$t->write_nginx_conf(<<"EOF", module => 1)->run_nginx;
    # stock, without the documented line
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name plain.test;

        location / {
            include $params;
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }

        location /fake/ {
            include $params;
            fastcgi_pass $fake_pass;
        }
    }

    # stock, as docs/fastcgi.md documents it
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name documented.test;

        location / {
            include $params;
            fastcgi_param HTTP_PROXY "";
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }

        location /fake/ {
            include $params;
            fastcgi_param HTTP_PROXY "";
            fastcgi_pass $fake_pass;
        }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name module.test;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location /fake/ {
            drover_pass $fake_pass;
        }
    }
EOF

$t->nginx_started('with the module');

my $json = JSON::PP->new;
my $evil = 'http://evil:1/';

sub get {
    my ($host, $uri, @headers) = @_;
    return $t->http(GET => $uri, headers => [[Host => $host], @headers]);
}

# every HTTP_PROXY pair the fake got for $uri: a list of values
sub fake_proxies {
    my ($uri) = @_;

    my @pairs;
    for my $req ($fake->requests) {
        my @p = @{ $req->{params} || [] };
        next unless grep { $_->[0] eq 'REQUEST_URI' && $_->[1] eq $uri } @p;
        push @pairs, map { $_->[1] } grep { $_->[0] eq 'HTTP_PROXY' } @p;
    }

    return @pairs;
}

# ---- the control: what nginx sends ----

my $r = get('plain.test', '/fake/plain', [Proxy => $evil]);
is($r->{status}, 200, 'fake behind plain stock nginx answers');
is_deeply([fake_proxies('/fake/plain')], [$evil],
          'stock nginx without the line passes the client\'s Proxy as HTTP_PROXY');

$r = get('plain.test', '/fake/plain2', [Proxy => $evil], [Proxy => 'http://evil:2/']);
is_deeply([fake_proxies('/fake/plain2')], [$evil, 'http://evil:2/'],
          'a repeated Proxy header: nginx 1.22 sends HTTP_PROXY twice');

$r = get('documented.test', '/fake/documented', [Proxy => $evil]);
is($r->{status}, 200, 'fake behind the documented config answers');
is_deeply([fake_proxies('/fake/documented')], [],
          'the documented fastcgi_param: nginx 1.22 sends no HTTP_PROXY at all');

$r = get('module.test', '/fake/module', [Proxy => $evil]);
is($r->{status}, 200, 'fake behind the module answers');
is_deeply([fake_proxies('/fake/module')], [], 'the module sends no HTTP_PROXY');

# ---- what the app sees: never HTTP_PROXY ----

for my $case (
    ['plain.test',      [[Proxy => $evil]],                            'stock, without the line'],
    ['plain.test',      [[Proxy => $evil], [proxy => 'http://evil:2/']], 'stock, Proxy twice'],
    ['plain.test',      [[PROXY => $evil]],                            'stock, PROXY upper case'],
    ['documented.test', [[Proxy => $evil]],                            'stock, documented config'],
    ['module.test',     [[Proxy => $evil]],                            'module'],
)
{
    my ($host, $headers, $name) = @$case;

    $r = get($host, '/params', @$headers, ['X-Other' => 'kept']);
    is($r->{status}, 200, "$name: /params answers");
    my $p = eval { $json->decode($r->{body}) } || {};
    ok(!exists $p->{HTTP_PROXY}, "$name: the app sees no HTTP_PROXY")
        or diag("HTTP_PROXY: " . ($p->{HTTP_PROXY} // 'undef'));
    is($p->{HTTP_X_OTHER}, 'kept', "$name: other headers still arrive");
    is($p->{REQUEST_URI}, '/params', "$name: the request is intact");
}

$fake->stop;
$t->done;
