#!/usr/bin/perl
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

my $wrk = parse_wrk($out);

cmp_ok($wrk->{requests} // 0, '>', 1000, 'wrk: more than 1000 requests in 10 s')
    or diag($out);
is($wrk->{non2xx} // 0, 0, 'wrk: no non-2xx responses') or diag($out);
is($wrk->{socket_errors}, undef, 'wrk: no socket errors') or diag($out);
note(sprintf '%d requests, %.0f requests/s', $wrk->{requests} // 0, $wrk->{rps} // 0);

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


# wrk's summary: requests, rps, non2xx, socket_errors (the text after
# "Socket errors:", undef when there were none)
sub parse_wrk {
    my ($text) = @_;

    my %w;
    ($w{requests}) = $text =~ /^\s*(\d+) requests in /m;
    ($w{rps}) = $text =~ /^Requests\/sec:\s*([\d.]+)/m;
    ($w{non2xx}) = $text =~ /Non-2xx or 3xx responses:\s*(\d+)/;
    ($w{socket_errors}) = $text =~ /Socket errors:\s*(.*)/;

    return \%w;
}
