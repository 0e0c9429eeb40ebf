#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# drover_req_path is the path nginx routed on, drover_req_uri the raw
# request target.  Through stock nginx (Debian's fastcgi_params,
# fastcgi_pass to the shared socket) and through the module, kit's /whoami
# shows both: "..", "%2e%2e", "%2f", "//", "." and encoded letters reach
# the app as the decoded, normalised path nginx chose the location by,
# while the raw target keeps every byte as sent.  A location that splits
# PATH_INFO (stock fastcgi_split_path_info, with and without DOCUMENT_URI;
# the module with drover_param SCRIPT_NAME/PATH_INFO) gives the whole path;
# after try_files it is the URI nginx fell back to, or the client's one
# with a named location.
# The attack: "location /admin/ { deny all; }" and every other spelling of
# /admin/ is refused by nginx, so the app never runs for it.

use strict;
use warnings;

use JSON::PP;
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

my $params = '/etc/nginx/fastcgi_params';
plan(skip_all => "$params is missing: the stock config includes Debian's file")
    unless -r $params;

$t->write_conf(<<'EOF')->run;
control unix:%%DIR%%/ctl.sock;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 1;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_nginx_conf(<<"EOF", module => 1)->run_nginx;
    # docs/fastcgi.md's stock setup
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name stock.test;

        location / {
            include $params;
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }

        location /admin/ {
            deny all;
        }

        location /whoami/split/ {
            fastcgi_split_path_info ^(/whoami/split)(/.*)\$;
            include $params;
            fastcgi_param PATH_INFO \$fastcgi_path_info;
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }

        # try_files: to a URI (the path becomes it), to a named location
        # (the path stays the client's)
        location /fallback/ {
            try_files /nonexistent /whoami;
        }

        location /whoami/named/ {
            try_files /nonexistent \@kit;
        }

        location \@kit {
            include $params;
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }
    }

    # a hand-written stock config without DOCUMENT_URI: SCRIPT_NAME +
    # PATH_INFO is the path
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name nodoc.test;

        location /whoami/split/ {
            fastcgi_split_path_info ^(/whoami/split)(/.*)\$;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param REQUEST_URI    \$request_uri;
            fastcgi_param SCRIPT_NAME    \$fastcgi_script_name;
            fastcgi_param PATH_INFO      \$fastcgi_path_info;
            fastcgi_pass unix:%%DIR%%/kit.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name module.test;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location /admin/ {
            deny all;
        }

        location ~ ^(/whoami/split)(/.*)\$ {
            drover_param SCRIPT_NAME \$1;
            drover_param PATH_INFO \$2;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with the module');

my $json = JSON::PP->new;

sub get {
    my ($host, $uri) = @_;
    return $t->http(GET => $uri, headers => [[Host => $host]]);
}

# what kit's /whoami saw, or undef (with a diag)
sub whoami {
    my ($host, $uri) = @_;

    my $r = get($host, $uri);
    unless (($r->{status} || 0) == 200) {
        diag("$host $uri: " . ($r->{status} || $r->{error} || 'no answer')
             . ' ' . ($r->{body} // ''));
        return {};
    }

    my $w = eval { $json->decode($r->{body}) };
    diag("$host $uri: not JSON: $@") unless $w;
    return $w || {};
}

# ---- spellings of one path: the app routes on what nginx routed on ----

my @spellings = (
    # raw target                  the path nginx routed on
    ['/whoami',                   '/whoami'],
    ['/x/../whoami',              '/whoami'],
    ['/wh%6Fami',                 '/whoami'],
    ['/x/%2e%2e/whoami',          '/whoami'],
    ['/x/%2E%2E/whoami?a=%2e&b',  '/whoami'],
    ['/x/.%2e/whoami',            '/whoami'],
    ['//whoami//a',               '/whoami/a'],
    ['/whoami/./a/.',             '/whoami/a/'],
    ['/whoami/a/b/..',            '/whoami/a/'],
    # nginx 1.22 decodes %2F in $uri like any other byte ...
    ['/whoami/a%2Fb',             '/whoami/a/b'],
    # ... and then resolves the dot segments it made
    ['/whoami/a%2F..%2Fb',        '/whoami/b'],
    ['/whoami/%2e%2e%2fwhoami/c', '/whoami/c'],
    # one decoding only
    ['/whoami/%252e%252e',        '/whoami/%2e%2e'],
    # allowed by nginx (its $uri is /whoami), yet the raw target starts
    # with /admin: an app routing on the raw path would take it for one
    ['/admin/../whoami',          '/whoami'],
    ['/admin/%2e%2e/whoami',      '/whoami'],
    ['/admin%2F..%2Fwhoami',      '/whoami'],
);

for my $host (qw(stock.test module.test)) {
    for my $s (@spellings) {
        my ($uri, $path) = @$s;
        my $w = whoami($host, $uri);
        is($w->{path}, $path, "$host $uri: drover_req_path is $path");
        is($w->{uri}, $uri, "$host $uri: drover_req_uri is the raw target");
        is($w->{DOCUMENT_URI}, $path, "$host $uri: DOCUMENT_URI agrees");
    }
}

# ---- a location that splits PATH_INFO ----

my $w = whoami('stock.test', '/whoami/split/a/%2e%2e/b%2Fc');
is($w->{path}, '/whoami/split/b/c', 'stock split: path is the whole routed path');
is($w->{SCRIPT_NAME}, '/whoami/split', 'stock split: SCRIPT_NAME');
is($w->{PATH_INFO}, '/b/c', 'stock split: PATH_INFO');
is($w->{uri}, '/whoami/split/a/%2e%2e/b%2Fc', 'stock split: raw target');

$w = whoami('nodoc.test', '/whoami/split/a/%2e%2e/b%2Fc?q');
is($w->{DOCUMENT_URI}, undef, 'stock split without DOCUMENT_URI: none sent');
is($w->{path}, '/whoami/split/b/c', 'stock split without DOCUMENT_URI: SCRIPT_NAME . PATH_INFO');
is($w->{uri}, '/whoami/split/a/%2e%2e/b%2Fc?q', 'stock split without DOCUMENT_URI: raw target');

$w = whoami('module.test', '/whoami/split/a/%2e%2e/b%2Fc');
is($w->{path}, '/whoami/split/b/c', 'module split: path is the whole routed path');
is($w->{SCRIPT_NAME}, '/whoami/split', 'module split: SCRIPT_NAME by drover_param');
is($w->{PATH_INFO}, '/b/c', 'module split: PATH_INFO by drover_param');

# ---- after try_files ----

$w = whoami('stock.test', '/fallback/a%2Fb');
is($w->{path}, '/whoami', 'try_files to a URI: the path is the one nginx routed to');
is($w->{uri}, '/fallback/a%2Fb', 'try_files to a URI: the raw target is the client\'s');

$w = whoami('stock.test', '/whoami/named/a/../b');
is($w->{path}, '/whoami/named/b', 'try_files to a named location: the client\'s path, normalised');
is($w->{uri}, '/whoami/named/a/../b', 'try_files to a named location: raw target');

# ---- the attack: other spellings of a denied location ----

# status nginx 1.22 gives: 403 where it normalised the path into
# /admin/, 400 where ".." climbs above the root
my @denied = (
    ['/admin/',                  403],
    ['/admin/x',                 403],
    ['/x/../admin/',             403],
    ['/%61dmin/',                403],
    ['/%61%64%6d%69%6e/x',       403],
    ['/x/%2e%2e/admin/',         403],
    ['/x/%2E%2E/admin/?a',       403],
    ['//admin/',                 403],
    ['/./admin/',                403],
    ['/admin%2Fx',               403],
    ['/x%2F..%2Fadmin/',         403],
    ['/x/..%2fadmin/',           403],
    ['/%2e%2e/admin/',           400],
    ['/../admin/',               400],
);

# requests kit's workers served, from droverctl status, or undef
my $ctl = $t->build . '/droverctl';

sub served {
    return undef unless -x $ctl;
    my ($code, $out) = $t->run_cmd([$ctl, '-s', "$dir/ctl.sock", '--json', 'status'], 20);
    my $st = $code == 0 ? eval { $json->decode($out) } : undef;
    my ($kit) = grep { ($_->{name} || '') eq 'kit' } @{ ($st || {})->{pools} || [] };
    return $kit ? $kit->{requests_total} : undef;
}

my $mark = $t->log_mark;
my $before = served();

for my $host (qw(stock.test module.test)) {
    for my $d (@denied) {
        my ($uri, $status) = @$d;
        my $r = get($host, $uri);
        is($r->{status}, $status, "$host $uri: $status from nginx");
        unlike($r->{body} // '', qr/kit:|"path"/, "$host $uri: not kit's answer");
    }
}

# the app ran for none of them: one more request (this one) and no other
my $after = get('stock.test', '/whoami');
is($after->{status}, 200, 'kit still answers after the denied ones');
SKIP: {
    skip 'droverctl is not built', 1 unless defined $before;
    is(served(), $before + 1, 'kit served one request since: the app never ran for /admin');
}
unlike($t->log_since($mark), qr/admin/, 'droverd logged nothing about /admin');

$t->done;
