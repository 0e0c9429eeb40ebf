#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover under mod_ssl: HTTPS=on, SSL_PROTOCOL and SSL_CIPHER as the
# client negotiated them, SSL_SERVER_NAME the SNI name, REQUEST_SCHEME
# https; on a plain HTTP server beside it none of them.

use strict;
use warnings;

use JSON::PP ();
use Test::More;

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit https))->has_apache;

plan(skip_all => 'mod_ssl is not installed')
    unless -r "$Drover::Test::APACHE_MODULES/mod_ssl.so";

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 1;
}
EOF

$t->make_cert;
my $mods = $Drover::Test::APACHE_MODULES;

$t->write_apache_conf(<<"EOF")->run_apache;
LoadModule ssl_module $mods/mod_ssl.so
Listen 127.0.0.1:%%PORT_PLAIN%%

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile %%DIR%%/cert.pem
    SSLCertificateKeyFile %%DIR%%/key.pem
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    DroverPass unix:%%DIR%%/kit.sock
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT_PLAIN%%>
    ServerName localhost
    DroverPass unix:%%DIR%%/kit.sock
</VirtualHost>
EOF

$t->apache_started('with mod_ssl');

my $json = JSON::PP->new;

my $c = $t->https_connect;
ok($c, 'a TLS connection') or diag($@);
my ($proto, $cipher) = $c ? $c->tls_info : ();

my $r = $c ? $c->request(GET => '/params') : {};
is($r->{status}, 200, 'GET /params over TLS: 200') or diag($r->{error} || '');
my $p = eval { $json->decode($r->{body}) } || {};

is($p->{HTTPS}, 'on', 'HTTPS=on');
is($p->{REQUEST_SCHEME}, 'https', 'REQUEST_SCHEME https');
is($p->{SSL_PROTOCOL}, $proto, "SSL_PROTOCOL is what the client negotiated ($proto)");
is($p->{SSL_CIPHER}, $cipher, 'SSL_CIPHER is what the client negotiated');
is($p->{SSL_SERVER_NAME}, 'localhost', 'SSL_SERVER_NAME is the SNI name');
$c->close if $c;

$r = $t->http(GET => '/params', port => $t->port('plain'));
is($r->{status}, 200, 'plain HTTP beside it: 200');
$p = eval { $json->decode($r->{body}) } || {};
ok(!exists $p->{HTTPS}, 'plain HTTP: no HTTPS');
ok(!exists $p->{SSL_PROTOCOL}, 'plain HTTP: no SSL_PROTOCOL');
is($p->{REQUEST_SCHEME}, 'http', 'plain HTTP: REQUEST_SCHEME http');

$t->apache_done;
