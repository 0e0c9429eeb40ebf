#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Graceful reload under load: stock nginx (fastcgi_pass, upstream keepalive,
# fastcgi_keep_conn) in front of droverd, wrk with 16 connections for 12 s,
# and 10 SIGHUPs about a second apart.  Not one request may fail: no
# non-2xx response, no socket error, and every reload ends in "serves".

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx wrk));

$t->write_conf(<<'EOF')->run;
log_level info;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->write_nginx_conf(<<'EOF')->run_nginx;
    upstream drover {
        server unix:%%DIR%%/kit.sock;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass drover;
            fastcgi_keep_conn on;
        }
    }
EOF

$t->nginx_started;
is($t->http(GET => '/')->{status}, 200, 'nginx -> droverd: 200');

my $wrk = $t->wrk_start('wrk', '-t1', '-c16', '-d12s', '--timeout', '5s',
                        'http://127.0.0.1:' . $t->port . '/');

# once wrk's requests arrive, reload every second or so, each time
# waiting for the rollover to end
ok($t->wait_for(sub { (-s $t->dir . '/nginx-access.log' || 0) > 100_000 }, 5), 'wrk is under way');

my $mark = $t->log_mark;
my @outcomes = $t->reloads(10);

is(join(' ', @outcomes), join(' ', ('serves') x 10), '10 reloads under load, each ended in "serves"')
    or diag($t->log_since($mark));
is(scalar(() = $t->log_since($mark) =~ /pool kit: generation \d+ serves/g), 10,
   'the log shows 10 "generation N serves" lines');

my ($done, $code, $report) = $t->wrk_wait('wrk', $wrk, 20);
ok($done, 'wrk finished');
is($code, 0, 'wrk exited 0');
note($report);
$t->wrk_clean('wrk', $report);

# the reloads replaced every worker each time
is(scalar $t->log_grep(qr/pool kit: worker \d+ \(pid \d+\) .*\(reload\)$/), 20,
   '20 workers were replaced, each logged "(reload)"');
is(scalar $t->log_grep(qr/pool kit: worker \d+ \(pid \d+\) (?!.*\(reload\)$)/), 0,
   'and no worker exited for any other reason');

# nginx logs an [error] for each kept-alive connection a stopping worker
# closed under it, then retries the request on another one: expected
note(scalar($t->nginx_errors_since(0)) . ' upstream errors in nginx\'s log (retried)');

ok($t->alive, 'droverd still running');

$t->done;
