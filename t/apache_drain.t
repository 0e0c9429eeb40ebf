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
#   - an exec pool whose program (flood.pl, raw FastCGI in Perl) ignores
#     the abort and writes STDERR records as fast as it can: its slot is
#     freed one read timeout after the abort all the same, and the Apache
#     child serves meanwhile (the drain thread reads a bounded amount per
#     connection and turn);
#   - the same under mpm_event.

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

# a FastCGI responder on fd 0 (exec mode) that reads a request, sleeps past
# the front end's read timeout, then writes STDERR records until the
# connection is gone (from before the drain deadline on)
$t->write_file('flood.pl', <<'EOF');
use strict;
use warnings;

$SIG{PIPE} = 'IGNORE';
open(my $l, '+<&=', 0) or die "fd 0: $!";

sub need {
    my ($c, $n) = @_;
    my $buf = '';
    while (length $buf < $n) {
        my $got = sysread($c, $buf, $n - length $buf, length $buf);
        return undef unless $got;
    }
    return $buf;
}

while (accept(my $c, $l)) {
    my $id = 1;
    for (;;) {
        my $h = need($c, 8) // last;
        my (undef, $type, $rid, $len, $pad) = unpack('CCnnC', $h);
        need($c, $len + $pad) // last if $len + $pad;
        $id = $rid;
        last if $type == 5 && $len == 0;
    }
    select(undef, undef, undef, 1.3);   # past the 1 s read timeout
    my $rec = pack('CCnnCC', 1, 7, $id, 8000, 0, 0) . ('x' x 8000);
    my $burst = $rec x 8;
    while (defined syswrite($c, $burst)) { }
    close $c;
}
EOF
chmod 0644, "$dir/flood.pl";

# run() would wait for every pool's own socket, and an exec pool's is never
# bound: the slots files below say when the pools are up
$t->write_conf(<<'EOF')->run(wait => 0);
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock mode=0666;
    workers 2;
}

pool flood {
    exec    /usr/bin/perl %%DIR%%/flood.pl;
    listen  unix:%%DIR%%/flood.sock mode=0666;
    workers 1;
}
EOF

ok($t->wait_for(sub { $t->up_pids('kit') == 2 && $t->up_pids('flood') == 1 }, 30),
   'droverd up: kit 2 workers, flood 1');

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
    ServerName flood.test
    DroverReadTimeout 1s
    DroverPass unix:%%DIR%%/flood.sock
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName short.test
    DroverPipeline off
    DroverReadTimeout 1s
    DroverPass unix:%%DIR%%/kit.sock
</VirtualHost>
EOF

# mod_drover's slots of a pool (kit by default) busy now
sub busy {
    my ($sock) = @_;
    $sock = "$dir/" . ($sock || 'kit') . '.sock';
    my $r = $t->http(GET => '/drover-status?format=json', timeout => 5);
    my $st = eval { $json->decode($r->{body} || '') } || {};
    my ($p) = grep { ($_->{socket} || '') eq $sock } @{ $st->{pools} || [] };
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

    # ---- a program that floods after the abort ----

    $t0 = time;
    $r = $t->http(GET => '/', timeout => 10, headers => { Host => 'flood.test' });
    is($r->{status}, 504, "$mpm: flood: 504 after the read timeout");
    is(busy('flood'), 1, "$mpm: flood: its slot is busy while the program writes");
    my $kit = $t->http(GET => '/pid', timeout => 5);
    is($kit->{status}, 200, "$mpm: flood: the child serves meanwhile");
    ok($t->wait_for(sub { busy('flood') == 0 }, 5, 0.02),
       sprintf("$mpm: flood: freed one read timeout after the abort (%.2f s)", time - $t0));
    cmp_ok(time - $t0, '<', 3.5, "$mpm: flood: not later");

    my $log = $t->apache_log;
    like($log, qr/timed out, 504/, "$mpm: the timeout is logged");

    $t->stop_apache;
}

$t->apache_done;
