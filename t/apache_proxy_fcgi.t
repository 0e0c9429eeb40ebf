#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# The stock recipe of docs/apache.md: Apache's own mod_proxy_fcgi to
# droverd's shared socket, SetHandler "proxy:unix:PATH|fcgi://localhost/".
# It serves (GET with a query, a POST body echoed, the app's 404), and
# what docs/apache.md says it lacks is so: SERVER_PORT is not the port
# the client used, and Apache's own environment (PATH) reaches the app.

use strict;
use warnings;

use JSON::PP ();
use Test::More;

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;
my $mods = $Drover::Test::APACHE_MODULES;

plan(skip_all => 'mod_proxy_fcgi is not installed')
    unless -r "$mods/mod_proxy_fcgi.so" && -r "$mods/mod_proxy.so";

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->write_apache_conf(<<"EOF")->run_apache;
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so

<Location />
    SetHandler "proxy:unix:%%DIR%%/kit.sock|fcgi://localhost/"
</Location>
EOF

$t->apache_started('with mod_proxy_fcgi');

my $r = $t->http(GET => '/params?a=1', headers => ['Proxy' => 'http://evil.example', 'X-Probe' => 'p']);
is($r->{status}, 200, 'GET /params through mod_proxy_fcgi: 200');
my $p = eval { JSON::PP::decode_json($r->{body}) } || {};
is($p->{QUERY_STRING}, 'a=1', 'QUERY_STRING');
is($p->{REQUEST_URI}, '/params?a=1', 'REQUEST_URI');
is($p->{HTTP_X_PROBE}, 'p', 'request headers as HTTP_*');
ok(!exists $p->{HTTP_PROXY}, 'no HTTP_PROXY (httpd drops the Proxy header too)');

# what the recipe lacks, as docs/apache.md lists it
isnt($p->{SERVER_PORT}, $t->port, "SERVER_PORT is not the client's port ($p->{SERVER_PORT})");
ok(exists $p->{PATH}, "Apache's environment reaches the app (PATH)");

$r = $t->http(POST => '/echo', body => 'z' x 100000);
is(length($r->{body} // ''), 100000, 'a POST body echoed back');

is($t->http(GET => '/no/such')->{status}, 404, 'the app\'s 404');

$t->apache_done;
