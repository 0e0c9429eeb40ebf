#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# ngx_http_drover_module, dangerous inputs neutralised: a client's Proxy
# header never reaches the app as HTTP_PROXY (httpoxy); a header with an
# underscore never shadows its dashed twin (X_Foo: evil next to X-Foo: good
# gives HTTP_X_FOO=good, in either order, also with underscores_in_headers
# on); a NUL in the path (%00) is refused with 400 and never reaches the
# backend.

use strict;
use warnings;

use JSON::PP ();
use Test::More;

use Drover::Test;
use Drover::FakeFCGI;

my $t = Drover::Test->new->has(qw(droverd kit nginx module https));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 1;
}
EOF

my $fake = Drover::FakeFCGI->new($t)->start;
my $fake_pass = $fake->pass;

$t->write_module_conf(<<"EOF", servers => {
        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location /fake/ {
            drover_pass $fake_pass;
        }
EOF
    'underscores.test' => <<"EOF",
        underscores_in_headers on;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location /fake/ {
            drover_pass $fake_pass;
        }
EOF
})->run_nginx;

$t->nginx_started('with the module');

my $json = JSON::PP->new;

sub params {
    my (%opt) = @_;

    my $r = $t->https(GET => '/params', %opt);
    is($r->{status}, 200, "$opt{what}: 200") or diag($r->{error} || '');
    return eval { $json->decode($r->{body}) } || {};
}

# the params of the fake's request for $uri, in the order sent
sub sent_params {
    my ($uri) = @_;

    my ($req) = grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq $uri }
                $fake->requests;
    return $req ? $req->{params} : [];
}

# ---- Proxy (httpoxy, CVE-2016-5385 and friends) ----

for my $host (qw(localhost underscores.test)) {
    for my $name ('Proxy', 'proxy', 'PROXY') {
        my $p = params(what => "$name header ($host)",
                       headers => [Host => $host, $name => 'http://evil.example:8080/',
                                   'X-Other' => 'kept']);
        ok(!exists $p->{HTTP_PROXY}, "$name header ($host): no HTTP_PROXY")
            or diag("HTTP_PROXY: $p->{HTTP_PROXY}");
        is($p->{HTTP_X_OTHER}, 'kept', "$name header ($host): the other headers pass");
    }
}

my $uri = '/fake/proxy';
$t->https(GET => $uri, headers => [Proxy => 'http://evil.example/']);
ok(!grep({ $_->[0] eq 'HTTP_PROXY' } @{ sent_params($uri) }), 'Proxy: no HTTP_PROXY on the wire');
ok(scalar @{ sent_params($uri) }, 'the fake got that request');

# ---- underscores ----

for my $host (qw(localhost underscores.test)) {
    for my $order ('evil first', 'good first') {
        my @h = $order eq 'evil first' ? ('X_Foo' => 'evil', 'X-Foo' => 'good')
                                       : ('X-Foo' => 'good', 'X_Foo' => 'evil');

        my $p = params(what => "X_Foo and X-Foo, $order ($host)", headers => [Host => $host, @h]);
        is($p->{HTTP_X_FOO}, 'good', "X_Foo and X-Foo, $order ($host): HTTP_X_FOO is X-Foo's");

        (my $tag = "$host-$order") =~ s/\W+/-/g;
        my $u = "/fake/underscore-$tag";
        $t->https(GET => $u, headers => [Host => $host, @h]);
        my @foo = map { $_->[1] } grep { $_->[0] eq 'HTTP_X_FOO' } @{ sent_params($u) };
        is_deeply(\@foo, ['good'], "X_Foo and X-Foo, $order ($host): one HTTP_X_FOO on the wire");
    }
}

my $p = params(what => 'X_Only alone', headers => [Host => 'localhost', 'X_Only' => 'evil']);
ok(!grep({ ($p->{$_} // '') eq 'evil' } keys %$p), 'an underscore header alone does not pass (default)');

# ---- NUL in the path ----

my $before = scalar $fake->requests;

for my $path ('/params%00.php', '/fake/a%00b', '/fake/%00', '/fake/x%00/y?q=1') {
    my $r = $t->https(GET => $path);
    is($r->{status}, 400, "GET $path: 400") or diag($r->{error} || "status $r->{status}");
}

my $c = $t->https_connect;
my $r = $c->request(GET => '', raw => "GET /fake/raw\0nul HTTP/1.1\r\nHost: localhost\r\n\r\n");
is($r->{status}, 400, 'a raw NUL byte in the request line: 400');
$c->close;

is(scalar($fake->requests) - $before, 0, 'no request with a NUL in its path reached the backend');

ok($t->alive, 'droverd still running');

$fake->stop;
$t->done;
