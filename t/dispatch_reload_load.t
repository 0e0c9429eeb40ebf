#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Rolling reloads under load through the module: drover_pass (dispatch,
# the default drover_pipeline) in front of droverd with 2 workers, two wrk
# runs at once for 10 s, one of GETs and one of 4 KiB POSTs (8 connections
# each), and 8 SIGHUPs about a second apart.  Not one request may fail:
# no non-2xx response, no socket error.  A POST is never replayed once a
# worker may have read it, so this holds only if no stopping worker drops
# a request already sent to it.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module wrk));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
log_level info;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        client_body_buffer_size 64k;

        location / {
            drover_queue size=100 timeout=10s;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with the module');
is($t->http(GET => '/')->{status}, 200, 'GET through drover_pass: 200');
my $r = $t->http(POST => '/echo', body => 'x' x 4096);
is($r->{status}, 200, 'POST through drover_pass: 200');
is(length($r->{body} // ''), 4096, 'POST: echoed');

$t->write_file('post.lua', 'wrk.method = "POST"; wrk.body = string.rep("x", 4096); '
                           . 'wrk.headers["Content-Type"] = "application/octet-stream"');

my $url = 'http://127.0.0.1:' . $t->port;
my @wrk = ('-t1', '-c8', '-d10s', '--timeout', '5s');
my %wrk = (get => $t->wrk_start('get', @wrk, "$url/"),
           post => $t->wrk_start('post', @wrk, '-s', "$dir/post.lua", "$url/echo"));

ok($t->wait_for(sub { (-s "$dir/nginx-access.log" || 0) > 100_000 }, 5), 'wrk is under way');

my $mark = $t->log_mark;
my @outcomes = $t->reloads(8);

is(join(' ', @outcomes), join(' ', ('serves') x 8), '8 reloads under load, each ended in "serves"')
    or diag($t->log_since($mark));

for my $name (sort keys %wrk) {
    my ($done, $code, $report) = $t->wrk_wait($name, $wrk{$name}, 20);
    ok($done, "$name: wrk finished");
    is($code, 0, "$name: wrk exited 0");
    note($report);
    $t->wrk_clean($name, $report);
}

is(scalar $t->log_grep(qr/pool kit: worker \d+ \(pid \d+\) .*\(reload\)$/), 16,
   '16 workers were replaced, each logged "(reload)"');

my @lost = grep { /not replayed/ } $t->nginx_errors_since(0);
is(scalar @lost, 0, 'nginx: no request lost ("not replayed")') or diag(join "\n", @lost);
note(scalar(() = $t->read_file('nginx-error.log') =~ /replaying/g) . ' replays in nginx\'s log');

ok($t->alive, 'droverd still running');

$t->done;
