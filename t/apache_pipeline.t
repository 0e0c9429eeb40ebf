#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover's DroverPipeline (docs/dispatch.md#pipelining) and its kept-alive
# slot connections, kit with 2 workers, "DroverPipeline 1 timeout=250ms":
#
#   - a GET sent while both workers run young sleeps waits behind the
#     youngest (the long one), is taken back once the short one ends, and is
#     answered by the other worker long before the long sleep ends; the
#     worker it was taken from never runs it;
#   - so is a small POST, which the app runs exactly once;
#   - a POST over 64 KiB is never sent behind a request: it waits in the
#     queue for the first free worker;
#   - a GET that comes when both running requests are older than the
#     timeout waits in the queue too; "DroverPipeline off" pipelines nothing;
#   - kept-alive connections: 50 requests in a row use one connection to
#     the worker (droverd's status counts its accepted connections), and a
#     reload of droverd (the old worker closes it) costs no request.
#
# The counters come from drover-status (JSON): "pipelined" counts requests
# sent to a busy worker, "moved" those taken back; the workers' figures from
# droverd's own status socket.

use strict;
use warnings;

use IO::Socket::UNIX ();
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time clock_gettime CLOCK_MONOTONIC);

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

$t->write_apache_conf(<<'EOF')->run_apache;
LogLevel notice drover:info

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName localhost
    DroverPipeline 1 timeout=250ms
    DroverPass unix:%%DIR%%/kit.sock

    <Location /drover-status>
        SetHandler drover-status
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName off.test
    DroverPipeline off
    DroverPass unix:%%DIR%%/kit.sock
</VirtualHost>
EOF

$t->apache_started('with DroverPipeline');

my $json = JSON::PP->new;

# mod_drover's counters for the pool
sub counter {
    my $r = $t->http(GET => '/drover-status?format=json');
    my $st = eval { $json->decode($r->{body} || '') } || {};
    my ($p) = @{ $st->{pools} || [] };
    return ($p || {})->{$_[0]} // 0;
}

# droverd's status object, from its status socket
sub droverd_status {
    my $s = IO::Socket::UNIX->new(Peer => "$dir/status.sock") or return {};
    print $s "{\"cmd\":\"status\"}\n";
    my $line = <$s>;
    close $s;
    my $st = eval { $json->decode($line // '') } || {};
    return $st->{result} || {};
}

# slot => worker, from droverd
sub workers {
    my ($p) = @{ droverd_status()->{pools} || [] };
    return map { $_->{slot} => $_ } @{ ($p || {})->{workers_detail} || [] };
}

# the slots running /sleep now
sub sleeping {
    my %w = workers();
    return grep { ($w{$_}{current_uri} || '') =~ m{^/sleep} } keys %w;
}

# a request in a child of its own; its answer goes to a file
my @kids;
sub spawn {
    my ($method, $uri, $name, %opt) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $start = time;
        my $r = $t->http($method => $uri, timeout => 15, %opt);
        $t->write_file("$name.tmp", sprintf("%s %.3f %s", $r->{status} || 0,
                                            time - $start, $r->{body} // ''));
        rename "$dir/$name.tmp", "$dir/$name";
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

sub result {
    my ($name, $timeout) = @_;
    $t->wait_for(sub { -e "$dir/$name" }, $timeout);
    my $s = $t->read_file($name) // '';
    my ($status, $took, $body) = split / /, $s, 3;
    return ($status || 0, $took // 99, $body // '');
}

# both workers busy: a short sleep first, then a long one, both young
sub two_sleeps {
    my ($round, $short_ms, $long_ms, @host) = @_;

    spawn(GET => "/sleep?ms=$short_ms", "short$round", @host);
    ok($t->wait_for(sub { sleeping() == 1 }, 5, 0.005), "$round: the short sleep runs");
    my @short = sleeping();

    spawn(GET => "/sleep?ms=$long_ms", "long$round", @host);
    ok($t->wait_for(sub { sleeping() == 2 }, 5, 0.005), "$round: the long sleep runs");

    my %w = workers();
    my ($long) = grep { $_ != $short[0] } keys %w;
    return ($w{$short[0]}, $w{$long});
}

ok($t->wait_for(sub {
    my %w = workers();
    2 == grep { ($_->{state} || '') eq 'idle' } values %w;
}, 10, 0.02), 'both workers are idle');

# ---- kept-alive connections ----

# the socket inodes a process holds
sub sockets {
    my ($pid) = @_;
    opendir(my $d, "/proc/$pid/fd") or return ();
    my %s = map { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:\[(\d+)\]/ ? ($1 => 1) : () } readdir $d;
    return %s;
}

{
    my %before = workers();
    my %base = map { sockets($_->{pid} // 0) } values %before;
    is($t->http(GET => '/pid')->{status}, 200, 'kept-alive: a first request');
    my %w1 = workers();
    my ($served) = grep { $w1{$_}{requests} > ($before{$_}{requests} // 0) } keys %w1;
    my %s = sockets($w1{$served}{pid});
    my @first = grep { !$base{$_} } keys %s;
    is(scalar @first, 1, 'kept-alive: the worker holds its connection after the answer');

    my $ok = 0;
    for (1 .. 50) {
        $ok++ if ($t->http(GET => '/pid')->{status} // 0) == 200;
    }
    is($ok, 50, 'kept-alive: 50 more requests in a row, all 200');
    my %w2 = workers();
    is($w2{$served}{requests} - $w1{$served}{requests}, 50, 'kept-alive: the same worker served them (the one freed last)');
    %s = sockets($w2{$served}{pid});
    ok(@first && $s{$first[0]}, 'kept-alive: the first connection is still there');
    my $new = grep { !$base{$_} } keys %s;
    cmp_ok($new, '<=', 4, "kept-alive: 51 requests over $new connection(s)");
}

# ---- the parameters of a request that may be pipelined ----

# DROVER_WITHDRAWABLE=1 and DROVER_WITHDRAW_AFTER, the monotonic instant
# (us) before which it is never taken back: the timeout after the request
# was made, so droverd can run it without a look at the connection
{
    my $before = int(clock_gettime(CLOCK_MONOTONIC) * 1e6);
    my $p = eval { $json->decode($t->http(GET => '/params')->{body}) } || {};
    my $after = int(clock_gettime(CLOCK_MONOTONIC) * 1e6);
    is($p->{DROVER_WITHDRAWABLE}, '1', 'params: DROVER_WITHDRAWABLE=1');
    my $at = $p->{DROVER_WITHDRAW_AFTER} // '';
    like($at, qr/^\d+$/, "params: DROVER_WITHDRAW_AFTER is a number ($at)");
    ok($at =~ /^\d+$/ && $at >= $before + 250_000 && $at <= $after + 250_000,
       'params: DROVER_WITHDRAW_AFTER is the 250 ms timeout after the request, on CLOCK_MONOTONIC');
    my $off = eval { $json->decode($t->http(GET => '/params', headers => ['Host' => 'off.test'])->{body}) } || {};
    ok(exists $off->{SERVER_NAME} && !exists $off->{DROVER_WITHDRAWABLE} && !exists $off->{DROVER_WITHDRAW_AFTER},
       'params: neither with DroverPipeline off');
}

# ---- a GET behind the long sleep is taken back ----

my ($pipelined0, $moved0) = (counter('pipelined'), counter('moved'));
my ($short, $long) = two_sleeps('get', 700, 3000);
my $long_requests = $long->{requests};
my $mark = $t->apache_log_mark;

my $t0 = time;
my $r = $t->http(GET => '/pid', timeout => 10);
my $took = time - $t0;

is($r->{status}, 200, 'GET: served');
cmp_ok($took, '<', 2, sprintf('GET: long before the long sleep ends (%.2f s)', $took));
is($r->{body}, "$short->{pid}\n", "GET: by the worker of the short sleep ($short->{pid})");
is(counter('pipelined') - $pipelined0, 1, 'GET: it was sent to a busy worker');
is(counter('moved') - $moved0, 1, 'GET: and taken back');
ok($t->wait_apache_log(qr/drover: request taken back from slot $long->{slot} of ".*kit\.sock", whose worker did not read it within 250 ms, for slot $short->{slot}/, $mark, 5),
   'GET: one info line says so');

my @res = result('longget', 10);
is($res[0], 200, 'the long sleep completed');
my %w;
ok($t->wait_for(sub { %w = workers(); ($w{$long->{slot}}{requests} // 0) >= $long_requests + 1 }, 3),
   'the long sleep is counted');
is($w{$long->{slot}}{requests}, $long_requests + 1,
   'the worker it was taken from never ran it: one request more, the sleep');
result('shortget', 10);

# ---- a small POST is taken back too, and runs once ----

($pipelined0, $moved0) = (counter('pipelined'), counter('moved'));
($short, $long) = two_sleeps('post', 700, 3000);
$long_requests = $long->{requests};
my $short_requests = $short->{requests};

$t0 = time;
$r = $t->http(POST => '/echo', body => 'once', timeout => 10);
$took = time - $t0;
is($r->{status}, 200, 'POST: served');
is($r->{body}, 'once', 'POST: echoed');
cmp_ok($took, '<', 2, sprintf('POST: long before the long sleep ends (%.2f s)', $took));
is(counter('pipelined') - $pipelined0, 1, 'POST: it was sent to a busy worker');
is(counter('moved') - $moved0, 1, 'POST: and taken back');
result($_, 10) for qw(shortpost longpost);
ok($t->wait_for(sub { %w = workers(); ($w{$long->{slot}}{requests} // 0) >= $long_requests + 1 }, 3),
   'POST: the long sleep is counted');
is($w{$long->{slot}}{requests}, $long_requests + 1, 'POST: the worker it was taken from ran only the sleep');
is($w{$short->{slot}}{requests}, $short_requests + 2, 'POST: the other ran the short sleep and the POST, once');

# ---- a POST over 64 KiB waits in the queue ----

($pipelined0) = counter('pipelined');
($short, $long) = two_sleeps('bigpost', 700, 3000);

my $big = 'b' x 70_000;
$t0 = time;
$r = $t->http(POST => '/echo', body => $big, timeout => 10);
$took = time - $t0;
is($r->{status}, 200, 'POST of 70000 bytes: served');
ok(($r->{body} // '') eq $big, 'POST of 70000 bytes: echoed');
cmp_ok($took, '<', 2, sprintf('POST of 70000 bytes: by the first free worker (%.2f s)', $took));
is(counter('pipelined') - $pipelined0, 0, 'POST of 70000 bytes: never sent to a busy worker');
result($_, 10) for qw(shortbigpost longbigpost);

# ---- a GET when both running requests are old ----

($pipelined0) = counter('pipelined');
($short, $long) = two_sleeps('old', 1200, 3000);
ok($t->wait_for(sub {
    my %w = workers();
    2 == grep { ($_->{current_ms} // 0) > 400 } values %w;
}, 5, 0.01), 'old: both sleeps are older than the timeout');

$r = $t->http(GET => '/pid', timeout => 10);
is($r->{status}, 200, 'old: GET served');
is($r->{body}, "$short->{pid}\n", 'old: by the first free worker');
is(counter('pipelined') - $pipelined0, 0, 'old: never sent behind a request');
result($_, 10) for qw(shortold longold);

# ---- DroverPipeline off ----

my @off = (headers => ['Host' => 'off.test']);
($pipelined0) = counter('pipelined');
($short, $long) = two_sleeps('off', 700, 3000, @off);
$r = $t->http(GET => '/pid', @off, timeout => 10);
is($r->{status}, 200, 'off: GET served');
is($r->{body}, "$short->{pid}\n", 'off: by the first free worker');
is(counter('pipelined') - $pipelined0, 0, 'off: never sent to a busy worker');
result($_, 10) for qw(shortoff longoff);

waitpid($_, 0) for @kids;

# ---- a droverd reload: the kept connections of the old workers close ----

{
    my $ok = 0;
    $ok++ if ($t->http(GET => '/pid')->{status} // 0) == 200;
    $t->write_conf(<<'EOF');
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app       %%APPS%%/kit.so;
    app_param generation 2;
    listen    unix:%%DIR%%/kit.sock mode=0666;
    workers   2;
}
EOF
    is($t->reload(serves => 1, timeout => 10), 'serves', 'reload: a new generation serves');
    for (1 .. 20) {
        $ok++ if ($t->http(GET => '/pid')->{status} // 0) == 200;
    }
    is($ok, 21, 'reload: every request before and after it 200 (a closed kept connection is not used)');
}

# ---- the counters on the status page and in Prometheus ----

my $prom = $t->http(GET => '/drover-status?format=prometheus')->{body} // '';
like($prom, qr/^drover_pool_pipelined_requests_total\{socket="[^"]*kit\.sock"\} [2-9]/m,
     'Prometheus: drover_pool_pipelined_requests_total');
like($prom, qr/^drover_pool_pipeline_moves_total\{socket="[^"]*kit\.sock"\} [2-9]/m,
     'Prometheus: drover_pool_pipeline_moves_total');

$t->apache_done;
