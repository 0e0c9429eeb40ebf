#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# listen tcp:ADDR:PORT beside a pool's unix socket: the shared port PORT
# and slot k's port PORT+1+k, each served by the workers; a TCP peer is
# checked on accept against allow_peers' networks (loopback only when
# none is named) and a refused one is closed with one log line; the
# network slots endpoint (status_listen tcp:) answers "slots POOL" and
# "ready"; stock nginx fastcgi_pass and the module's drover_pass reach
# the TCP ports; droverd -t names the line of a bad address.

use strict;
use warnings;

use IO::Socket::INET;
use Test::More;

use Drover::Test;
use Drover::FCGI;

my $t = Drover::Test->new->has(qw(droverd kit));

# N ports in a row, all free, none of @taken
sub free_run {
    my ($n, @taken) = @_;

    for my $try (1 .. 50) {
        my $base = 20000 + int(rand(30000));
        next if grep { $_ >= $base && $_ < $base + $n } @taken;
        my @s = map {
            IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $base + $_,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        } 0 .. $n - 1;
        return $base unless grep { !defined } @s;
    }
    die "no run of $n free ports";
}

my $port = free_run(3);
my $port2 = free_run(2, $port .. $port + 2);
my $sport = free_run(1, $port .. $port + 2, $port2, $port2 + 1);

my $dir = $t->dir;

# ---- droverd -t ----

for my $case (
    [ 'tcp:localhost:9000', qr/:\d+: "listen tcp:localhost:9000": use tcp:ADDR:PORT with an IP address/ ],
    [ 'tcp:127.0.0.1:0',    qr/:\d+: "listen tcp:127.0.0.1:0": use tcp:ADDR:PORT/ ],
) {
    my $bad = $t->write_file("$dir/bad.conf", $t->add_default_user(<<"EOF"));
pool bad {
    app     @{[ $t->app('kit') ]};
    listen  unix:$dir/bad.sock;
    listen  $case->[0];
}
EOF
    my ($code, $out) = $t->run_cmd([$t->droverd, '-t', '-c', $bad]);
    isnt($code, 0, "droverd -t: listen $case->[0] fails the check");
    like($out, $case->[1], 'FILE:LINE and the fix') or diag($out);
}

$t->write_conf(<<"EOF")->run;
control unix:%%DIR%%/ctl.sock;
status_listen tcp:127.0.0.1:$sport;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    listen  tcp:127.0.0.1:$port;
    workers 2;
}

pool only2 {
    app         %%APPS%%/kit.so;
    listen      unix:%%DIR%%/only2.sock;
    listen      tcp:127.0.0.1:$port2;
    allow_peers 127.0.0.2;
    workers     1;
    preload     off;
}
EOF

ok($t->alive, 'droverd runs with listen tcp:');

sub tcp_get {
    my ($p, $uri, %o) = @_;
    return Drover::FCGI::get("tcp:127.0.0.1:$p", uri => $uri, timeout => 5, %o);
}

# ---- the shared port and the slot ports ----

my $r = tcp_get($port, '/');
is($r->{body}, "hello\n", 'the shared TCP port serves') or diag($r->{error} // '');

my @unix = map { $t->slot_pid($_) } 0, 1;
for my $k (0, 1) {
    $r = tcp_get($port + 1 + $k, '/pid');
    ok($r->{complete}, "slot ${k}'s TCP port serves");
    is($r->{body}, "$unix[$k]\n", "slot ${k}'s TCP port reaches slot ${k}'s worker (as its unix socket)");
}

$r = tcp_get($port, '/echo', method => 'POST', body => 'x' x 100_000);
is(length($r->{body} // ''), 100_000, 'a 100 KB body back over TCP');

# ---- allow_peers: networks ----

my $mark = $t->log_mark;
$r = tcp_get($port2, '/');
ok(!$r->{complete} && $r->{body} eq '', 'a peer outside allow_peers\' networks gets no answer');
ok($t->wait_log(qr/connection closed: TCP peer 127\.0\.0\.1:\d+ is not allowed to connect \(allow_peers: not in its networks\)/, 10, 1, $mark),
   'the refusal is logged with the peer\'s address');

$r = tcp_get($port2, '/', local_addr => '127.0.0.2');
is($r->{body}, "hello\n", 'a peer in allow_peers\' networks is served (preload off: the TCP fds reach an exec\'d worker)');

$r = tcp_get($port2 + 1, '/', local_addr => '127.0.0.2');
is($r->{body}, "hello\n", '... on the slot port too');

for (1 .. 20) { tcp_get($port2, '/') }
my @lines = $t->log_grep(qr/TCP peer 127\.0\.0\.1:\d+ is not allowed/);
cmp_ok(scalar @lines, '<=', 3, '20 more refusals: a line a second at most (' . scalar(@lines) . ' lines)');

# ---- the network slots endpoint ----

sub ask {
    my ($line, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $sport, Proto => 'tcp',
                                  Timeout => 5, %o) or return "connect: $!";
    print $s $line;
    local $/;
    my $a = <$s>;
    return $a // '';
}

my $kit_pids = join '', map { "$_ up $unix[$_] " . ($port + 1 + $_) . "\n" } 0, 1;
is(ask("slots kit\n"),
   "drover-netslots 1\npool kit\ngeneration 1\nstate serving\nslots 2\nport $port\n$kit_pids",
   'status_listen: "slots kit": the .slots contract with the TCP ports');
is(ask("ready\n"), "ready\n", 'status_listen: "ready"');
like(ask("slots nosuch\n"), qr/^drover-netslots 1\nerror no pool "nosuch"\n\z/, 'an unknown pool');
like(ask("what\n"), qr/\nerror unknown request/, 'an unknown request');
is(ask("ready\n", LocalAddr => '127.0.0.2'), "ready\n", 'any loopback peer may ask by default');

# ---- readiness: droverctl ready, and "ready" over the network ----

sub ctl { $t->run_cmd([$t->build . '/droverctl', '-s', "$dir/ctl.sock", @_], 20) }

my ($code, $out) = ctl('ready');
is($code, 0, 'droverctl ready: 0 when every pool serves');
is($out, "ready\n", '... and says so');

($code) = ctl('stop', 'only2');
is($code, 0, 'droverctl stop only2');
($code, $out) = ctl('ready');
is($code, 1, 'droverctl ready: 1 with a pool stopped');
is($out, "not ready: pool only2 is stopped\n", '... naming the pool');
($code) = ctl('ready', 'kit');
is($code, 0, 'droverctl ready kit: 0, kit serves');
like(ask("ready\n"), qr/^not-ready pool only2 is stopped with 0 of 1 workers up\n\z/,
     'status_listen "ready": not-ready, and why');

($code) = ctl('start', 'only2');
ok($t->wait_for(sub { (ctl('ready'))[0] == 0 }, 10, 0.05), 'ready again once only2 started');

# ---- a reload drops listen tcp: and adds it back ----

sub refused {
    my ($p) = @_;
    return !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p, Proto => 'tcp');
}

{
    my $text = $t->read_file($t->conf_path);
    (my $notcp = $text) =~ s/^\s*listen\s+tcp:127\.0\.0\.1:$port2;\n\s*allow_peers 127\.0\.0\.2;\n//m;
    isnt($notcp, $text, 'only2 without listen tcp:');
    $t->write_file($t->conf_path, $notcp);

    # two pools' generations serve: kit's and only2's
    is($t->reload(serves => 2), 'serves', 'reload: serves');
    ok($t->wait_for(sub { refused($port2) && refused($port2 + 1) }, 10, 0.05),
       'its TCP ports close once its old workers are gone');

    $t->write_file($t->conf_path, $text);
    is($t->reload(serves => 2), 'serves', 'reload with listen tcp: back: serves');
    ok($t->wait_for(sub { (tcp_get($port2 + 1, '/', local_addr => '127.0.0.2')->{body} // '') eq "hello\n" }, 10, 0.05),
       'served on its TCP ports again');

    # kit was reloaded too: its workers are new
    @unix = map { $t->slot_pid($_) } 0, 1;
}

# ---- nginx: stock fastcgi_pass, and the module's drover_pass ----

SKIP: {
    skip 'no nginx', 4 unless $t->can_do('nginx');

    my $mod = $t->can_do('module');
    my ($p1, $p0) = ($t->port('slot1'), $t->port('mod'));
    my $modsrv = $mod ? <<"EOF" : '';
    server {
        listen 127.0.0.1:$p0;
        location / {
            drover_pass 127.0.0.1:@{[ $port + 1 ]};
        }
    }
EOF
    $t->write_nginx_conf(<<"EOF", module => $mod)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass 127.0.0.1:$port;
        }
    }

    server {
        listen 127.0.0.1:$p1;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass 127.0.0.1:@{[ $port + 2 ]};
        }
    }
$modsrv
EOF

    $r = $t->http(GET => '/');
    is($r->{body}, "hello\n", 'stock nginx fastcgi_pass to the shared TCP port');
    $r = $t->http(GET => '/pid', port => $p1);
    is($r->{body}, "$unix[1]\n", 'stock nginx fastcgi_pass to slot 1\'s TCP port');

    SKIP: {
        skip 'no module', 2 unless $mod;
        $r = $t->http(GET => '/pid', port => $p0);
        is($r->{status}, 200, 'drover_pass to slot 0\'s TCP port: 200');
        is($r->{body}, "$unix[0]\n", '... answered by slot 0');
    }
}

$t->done;
