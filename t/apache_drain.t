#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover: a request given up while its worker still runs it (a read
# timeout, a client that left) keeps its slot taken until the worker is
# done with it, as in the nginx module, and without holding the Apache
# thread that served it. kit with 2 workers; mpm_prefork with one child
# (one request at a time), "DroverPipeline off":
#
#   - /sleep?ms=1700 under "DroverReadTimeout 1s": 504 after about 1 s; the
#     status page shows the slot still busy right after, and free once the
#     worker ended the sleep, not before (at the latest one more read
#     timeout after the 504);
#   - a client that leaves while /sleep?ms=2500 runs (no read timeout near):
#     the worker gets FCGI_ABORT_REQUEST, the one child serves the next
#     request at once (the old module waited in that child until the worker
#     answered), from the other worker, and the slot stays busy until the
#     sleep ends;
#   - the same two under mpm_event.

use strict;
use warnings;

use IO::Socket::UNIX ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run(timeout => 30);
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock mode=0666;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

my $json = JSON::PP->new;

my $conf = <<'EOF';
LogLevel notice drover:info

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName localhost
    DroverPipeline off
    DroverReadTimeout 30s
    DroverPass unix:%%DIR%%/kit.sock

    <Location /drover-status>
        SetHandler drover-status
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName short.test
    DroverPipeline off
    DroverReadTimeout 1s
    DroverPass unix:%%DIR%%/kit.sock
</VirtualHost>
EOF

# mod_drover's slots busy now
sub busy {
    my $r = $t->http(GET => '/drover-status?format=json', timeout => 5);
    my $st = eval { $json->decode($r->{body} || '') } || {};
    my ($p) = @{ $st->{pools} || [] };
    return ($p || {})->{busy} // -1;
}

# the worker running a /sleep, from droverd
sub sleeper {
    my $s = IO::Socket::UNIX->new(Peer => "$dir/status.sock") or return undef;
    print $s "{\"cmd\":\"status\"}\n";
    my $line = <$s>;
    close $s;
    my $st = eval { $json->decode($line // '') } || {};
    my ($p) = @{ ($st->{result} || {})->{pools} || [] };
    my ($w) = grep { ($_->{current_uri} || '') =~ m{sleep} }
        @{ ($p || {})->{workers_detail} || [] };
    return $w;
}

for my $mpm (qw(prefork event)) {
    $t->write_apache_conf($conf, mpm => $mpm, servers => 1, threads => 4)
      ->run_apache;
    $t->apache_started("mpm_$mpm");
    ok($t->wait_for(sub { busy() == 0 }, 5), "$mpm: no slot busy at the start");

    # ---- a read timeout ----

    my $t0 = time;
    my $r = $t->http(GET => '/sleep?ms=1700', timeout => 10,
                     headers => { Host => 'short.test' });
    my $took = time - $t0;
    is($r->{status}, 504, "$mpm: DroverReadTimeout 1s, the app sleeps 1.7 s: 504");
    cmp_ok($took, '<', 1.6, sprintf("$mpm: the 504 came before the app answered (%.2f s)", $took));
    is(busy(), 1, "$mpm: right after the 504 its slot is still busy");
    ok($t->wait_for(sub { busy() == 0 }, 5, 0.02), "$mpm: free once the worker is done")
        or diag($t->http(GET => '/drover-status?format=json')->{body});
    cmp_ok(time - $t0, '>=', 1.65, sprintf("$mpm: not before the sleep ended (%.2f s)", time - $t0));
    ok($t->wait_for(sub { !sleeper() }, 5, 0.02), "$mpm: no worker sleeps any more");

    # ---- a client that leaves ----

    my $c = $t->http_connect;
    $c->send_raw($c->request_bytes(GET => '/sleep?ms=2500'));
    my $w;
    ok($t->wait_for(sub { $w = sleeper() }, 5, 0.01), "$mpm: the sleep runs");
    $t0 = time;
    $c->close;

    $r = $t->http(GET => '/pid', timeout => 10);
    $took = time - $t0;
    is($r->{status}, 200, "$mpm: the next request is served");
    cmp_ok($took, '<', 1, sprintf("$mpm: at once, the child is not held (%.2f s)", $took));
    isnt($r->{body}, ($w ? $w->{pid} : 0) . "\n", "$mpm: by the other worker");
    is(busy(), 1, "$mpm: the left request's slot is still busy");
    ok($t->wait_for(sub { busy() == 0 }, 5, 0.02), "$mpm: free once the worker is done");
    cmp_ok(time - $t0, '>=', 1.5, sprintf("$mpm: not before the sleep ended (%.2f s)", time - $t0));

    my $log = $t->apache_log;
    like($log, qr/timed out, 504/, "$mpm: the timeout is logged");

    $t->stop_apache;
}

$t->apache_done;
