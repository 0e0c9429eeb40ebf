#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# ngx_http_drover_module under load: wrk, 16 connections for 10 s over
# HTTPS through the module to droverd's kit with 2 workers.  Every response
# is 2xx, no socket errors, no timeouts; afterwards the pool and nginx
# still serve, and the logs are clean.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module https wrk));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->write_module_conf(<<'EOF')->run_nginx;
        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF

$t->nginx_started('with the module');

my $r = $t->https(GET => '/');
is($r->{status}, 200, 'GET / before the load: 200') or diag($r->{error} || '');

my $url = 'https://127.0.0.1:' . $t->port . '/';
my ($code, $out) = $t->run_cmd(['wrk', '-t1', '-c16', '-d10s', '--timeout', '5s', $url], 60);
is($code, 0, 'wrk ran') or diag($out);
note($out);

$t->wrk_clean('wrk', $out);

# a correct body under load too, and after it
my $c = $t->https_connect;
my $good = 0;
for my $i (1 .. 20) {
    my $x = $c->request(GET => ($i % 2 ? '/' : '/big?kb=64'));
    last if $x->{error};
    $good++ if $x->{status} == 200
        && $x->{body} eq ($i % 2 ? "hello\n" : join '', map { sprintf "%015x\n", $_ } 0 .. 64 * 64 - 1);
}
$c->close;
is($good, 20, 'after the load: 20 exact responses on one connection');

ok($t->alive, 'droverd still running');

$t->done;

