#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# The shape of CVE-2019-11043 (php-fpm: with "fastcgi_split_path_info
# ^(.+?\.php)(/.*)$", a "%0a" in the path makes the regex fail, since "."
# does not match a newline, so PATH_INFO arrives empty; php-fpm's
# arithmetic on it then wrote before a buffer, and the exploit tuned the
# query length and a long header to aim the write).
#
# droverd gets the same requests -- "/index.php/PHP%0Ainfo.php?" with a
# query of 1500 .. 1900 bytes (step 7) and a 2000-byte header, then the
# header 1990 .. 2030 bytes (step 1) with a fixed query -- through
# stock nginx (fastcgi_split_path_info, fastcgi_param PATH_INFO
# $fastcgi_path_info, fastcgi_pass to the shared socket) and through the
# module (the same split by a map, drover_param SCRIPT_NAME and PATH_INFO,
# drover_pass).  Each must be answered without harm:
# - with REQUEST_URI as nginx sends it, kit answers a normal 404 ("no
#   route");
# - with REQUEST_URI and DOCUMENT_URI set to /params (so kit shows what it
#   got), 200 and the parameters intact: PATH_INFO empty, SCRIPT_NAME the
#   whole decoded path with its newline, QUERY_STRING every byte of the
#   query, the long header whole, every name well-formed, nothing else
#   carrying the query's or the header's bytes;
# - the same two kit workers answer before and after, and no worker exits.
# The same path without %0a is split as usual (the control).

use strict;
use warnings;

use JSON::PP;
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

# the php-fpm configuration of the advisory, without "include
# fastcgi_params" so that no parameter is sent twice
my $stock_params = <<'EOF';
            fastcgi_split_path_info ^(.+?\.php)(/.*)$;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param SERVER_PROTOCOL   $server_protocol;
            fastcgi_param REQUEST_METHOD    $request_method;
            fastcgi_param QUERY_STRING      $query_string;
            fastcgi_param CONTENT_TYPE      $content_type;
            fastcgi_param CONTENT_LENGTH    $content_length;
            fastcgi_param SCRIPT_FILENAME   $document_root$fastcgi_script_name;
            fastcgi_param SCRIPT_NAME       $fastcgi_script_name;
            fastcgi_param PATH_INFO         $fastcgi_path_info;
            fastcgi_param REMOTE_ADDR       $remote_addr;
            fastcgi_param SERVER_NAME       $server_name;
            fastcgi_param SERVER_PORT       $server_port;
EOF

$t->write_nginx_conf(<<"EOF", module => 1)->run_nginx;
    # fastcgi_split_path_info for the module: the same regex, the same
    # fallback (script = the whole \$uri, PATH_INFO empty) when it fails
    map \$uri \$split_script {
        "~^(.+?\\.php)(/.*)\$"  \$1;
        default                \$uri;
    }

    map \$uri \$split_path_info {
        "~^(.+?\\.php)(/.*)\$"  \$2;
        default                "";
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name stock.test;

        location ~ [^/]\\.php(/|\$) {
$stock_params
            fastcgi_param REQUEST_URI       \$request_uri;
            fastcgi_param DOCUMENT_URI      \$document_uri;
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name stock-params.test;

        location ~ [^/]\\.php(/|\$) {
$stock_params
            fastcgi_param REQUEST_URI       /params?\$args;
            fastcgi_param DOCUMENT_URI      /params;
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name module.test;

        location ~ [^/]\\.php(/|\$) {
            drover_param SCRIPT_NAME \$split_script;
            drover_param PATH_INFO \$split_path_info;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name module-params.test;

        location ~ [^/]\\.php(/|\$) {
            drover_param SCRIPT_NAME \$split_script;
            drover_param PATH_INFO \$split_path_info;
            drover_param REQUEST_URI /params?\$args;
            drover_param DOCUMENT_URI /params;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with the module');

my @pids = sort map { $t->slot_pid($_) // 'none' } 0, 1;
like("@pids", qr/^\d+ \d+$/, "kit's workers: @pids");

my $json = JSON::PP->new;
my $long = '8=' . 'D' x 1998;     # the exploit's header: D-Pisos: 8=DDD...

# the params kit got, or undef (with a diag)
sub params {
    my ($host, $uri) = @_;

    my $r = $t->http(GET => $uri, headers => [[Host => $host], ['D-Pisos' => $long]]);
    unless (($r->{status} || 0) == 200) {
        diag("$host $uri: " . ($r->{status} || $r->{error} || 'no answer'));
        return undef;
    }

    my $p = eval { $json->decode($r->{body}) };
    diag("$host: not JSON: $@") unless $p;
    return $p;
}

# ---- the control: no %0a, the split works ----

for my $host (qw(stock-params.test module-params.test)) {
    my $p = params($host, '/index.php/PHPinfo.php?a=1') || {};
    is($p->{SCRIPT_NAME}, '/index.php', "$host, no %0a: SCRIPT_NAME /index.php");
    is($p->{PATH_INFO}, '/PHPinfo.php', "$host, no %0a: PATH_INFO /PHPinfo.php");
}

# ---- the CVE's shape, query lengths 1500 .. 1900 ----

my %bad;
my $tried = 0;

for (my $len = 1500; $len <= 1900; $len += 7) {
    my $query = 'Q' x $len;
    my $uri = "/index.php/PHP%0Ainfo.php?$query";
    $tried++;

    for my $host (qw(stock.test module.test)) {
        my $r = $t->http(GET => $uri, headers => [[Host => $host], ['D-Pisos' => $long]]);
        push @{ $bad{"$host: 404 from kit"} }, "$len: " . ($r->{status} || $r->{error} || '?')
            unless ($r->{status} || 0) == 404 && ($r->{body} // '') =~ /^kit: no route /;
    }

    for my $host (qw(stock-params.test module-params.test)) {
        my $p = params($host, $uri);
        unless ($p) {
            push @{ $bad{"$host: 200 and JSON"} }, $len;
            next;
        }

        my %want = (
            PATH_INFO      => '',
            SCRIPT_NAME    => "/index.php/PHP\ninfo.php",
            QUERY_STRING   => $query,
            HTTP_D_PISOS    => $long,
            REQUEST_METHOD => 'GET',
        );

        for my $name (sort keys %want) {
            push @{ $bad{"$host: $name as sent"} }, "$len: " . substr($p->{$name} // '(none)', 0, 40)
                unless defined $p->{$name} && $p->{$name} eq $want{$name};
        }

        my @odd = grep { !/^[A-Z][A-Z0-9_]*$/ } keys %$p;
        push @{ $bad{"$host: well-formed names"} }, "$len: @odd" if @odd;

        # the query's and the header's bytes only where they belong
        my @spilled = grep {
            !/^(QUERY_STRING|REQUEST_URI|HTTP_D_PISOS)$/ && $p->{$_} =~ /QQQQ|DDDD/
        } keys %$p;
        push @{ $bad{"$host: nothing else carries the query or header"} }, "$len: @spilled"
            if @spilled;
    }
}

cmp_ok($tried, '>=', 50, "$tried query lengths tried");

# the header's length moved a byte at a time instead, the query fixed
for my $hlen (1990 .. 2030) {
    my $head = '8=' . 'D' x ($hlen - 2);

    for my $host (qw(stock-params.test module-params.test)) {
        my $r = $t->http(GET => '/index.php/PHP%0Ainfo.php?' . 'Q' x 1700,
                         headers => [[Host => $host], ['D-Pisos' => $head]]);
        my $p = ($r->{status} || 0) == 200 ? eval { $json->decode($r->{body}) } : undef;
        push @{ $bad{"$host: header lengths 1990 .. 2030"} }, $hlen
            unless $p && ($p->{HTTP_D_PISOS} // '') eq $head && ($p->{PATH_INFO} // 'x') eq ''
                   && ($p->{QUERY_STRING} // '') eq 'Q' x 1700;
    }
}

for my $check ('stock.test: 404 from kit', 'module.test: 404 from kit',
               map { my $h = $_; map { "$h: $_" } 'header lengths 1990 .. 2030', '200 and JSON', 'PATH_INFO as sent',
                     'SCRIPT_NAME as sent', 'QUERY_STRING as sent', 'HTTP_D_PISOS as sent',
                     'REQUEST_METHOD as sent', 'well-formed names',
                     'nothing else carries the query or header' }
               qw(stock-params.test module-params.test))
{
    ok(!$bad{$check}, "every query length, $check")
        or diag(join ', ', @{ $bad{$check} }[0 .. ($#{ $bad{$check} } < 5 ? $#{ $bad{$check} } : 5)]);
}

# ---- no harm done ----

my @now = sort map { $t->slot_pid($_) // 'none' } 0, 1;
is("@now", "@pids", 'the same two kit workers answer');
is(scalar $t->log_grep(qr/pool kit: worker \d+ \(pid \d+\)/), 0, 'no kit worker exited')
    or diag($t->log);
ok($t->alive, 'droverd still running');

$t->done;
