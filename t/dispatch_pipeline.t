#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Pipelining: "drover_pipeline 1 timeout=250ms", kit with 2 workers, both
# busy with /sleep requests (a short one and a long one).
#
#   - a GET sent while both sleeps are young waits behind the youngest
#     (the long one), is taken back once the short one ends, and is
#     answered by the other worker long before the long sleep ends; the
#     worker it was taken from never runs it;
#   - so is a POST with a small body, exactly once;
#   - a POST with a body over 64 KiB is never sent behind a request: it
#     waits in nginx's queue and gets the first free worker;
#   - a GET that comes when both running requests are older than the
#     timeout waits in nginx's queue too;
#   - "drover_pipeline off" pipelines nothing.
#
# The counters come from nginx's drover_status (JSON): "pipelined" counts
# requests sent to a busy worker, "moved" those taken back.

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
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

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location / {
            drover_pipeline 1 timeout=250ms;
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location = /status {
            drover_status unix:%%DIR%%/status.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_OFF%%;
        server_name localhost;

        location / {
            drover_pipeline off;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with drover_pipeline');

my $json = JSON::PP->new;

sub status {
    my $r = $t->http(GET => '/status?format=json');
    my $st = eval { $json->decode($r->{body} || '') } || {};
    my ($p) = @{ $st->{pools} || [] };
    return $p || {};
}

sub counter { status()->{dispatch}{$_[0]} // 0 }

# slot => pid, from the status
sub workers { map { $_->{slot} => $_ } @{ status()->{workers_detail} || [] } }

# the workers running /sleep now, by slot
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
    my ($round, $short_ms, $long_ms, @port) = @_;

    spawn(GET => "/sleep?ms=$short_ms", "short$round", @port);
    ok($t->wait_for(sub { sleeping() == 1 }, 5, 0.005), "$round: the short sleep runs");
    my @short = sleeping();

    spawn(GET => "/sleep?ms=$long_ms", "long$round", @port);
    ok($t->wait_for(sub { sleeping() == 2 }, 5, 0.005), "$round: the long sleep runs");

    my %w = workers();
    my ($long) = grep { $_ != $short[0] } keys %w;
    return ($w{$short[0]}, $w{$long});
}

is($t->http(GET => '/pid')->{status}, 200, 'served while workers are free');
ok($t->wait_for(sub {
    my %w = workers();
    2 == grep { ($_->{state} || '') eq 'idle' } values %w;
}, 10, 0.02), 'both workers are idle') or diag(JSON::PP->new->canonical->encode(status()));

# ---- a GET behind the long sleep is taken back ----

my ($pipelined0, $moved0) = (counter('pipelined'), counter('moved'));
my ($short, $long) = two_sleeps('get', 700, 3000);
my $long_requests = $long->{requests};

my $t0 = time;
my $r = $t->http(GET => '/pid', timeout => 10);
my $took = time - $t0;

is($r->{status}, 200, 'GET: served');
cmp_ok($took, '<', 2, sprintf('GET: long before the long sleep ends (%.2f s)', $took));
is($r->{body}, "$short->{pid}\n", "GET: by the worker of the short sleep ($short->{pid})");
is(counter('pipelined') - $pipelined0, 1, 'GET: it was sent to a busy worker');
is(counter('moved') - $moved0, 1, 'GET: and taken back');

my @res = result('longget', 10);
is($res[0], 200, 'the long sleep completed');
my %w = workers();
ok($t->wait_for(sub { %w = workers(); ($w{$long->{slot}}{requests} // 0) >= $long_requests + 1 }, 3),
   'the long sleep is counted');
is($w{$long->{slot}}{requests}, $long_requests + 1,
   'the worker it was taken from never ran it: one request more, the sleep');
result('shortget', 10);

# ---- a request to take back gets a freed worker before the queue ----
#
# The GET behind the long sleep finds no place when its timeout comes (the
# short sleep is older than that too); a sleep that comes next waits in
# nginx's queue.  When the short sleep ends, its worker goes to the GET
# first: the GET was dispatched earlier, and given to the queued sleep the
# worker would keep the GET waiting until that sleep ended as well.

($pipelined0, $moved0) = (counter('pipelined'), counter('moved'));
($short, $long) = two_sleeps('first', 1200, 4000);
spawn(GET => '/pid', 'pidfirst');
ok($t->wait_for(sub { counter('pipelined') - $pipelined0 >= 1 }, 5, 0.005),
   'first: the GET went behind a sleep');
ok($t->wait_for(sub { %w = workers(); ($w{$short->{slot}}{current_ms} // 0) >= 400 }, 5, 0.01),
   'first: the short sleep is older than the timeout');
spawn(GET => '/sleep?ms=2500', 'queuedfirst');
ok($t->wait_for(sub { (status()->{dispatch}{queued} // 0) >= 1 }, 5, 0.005),
   'first: a sleep sent next waits in the queue')
    or diag(JSON::PP->new->canonical->encode(status()));
my @first = result('pidfirst', 10);
is($first[0], 200, 'first: the GET is served');
is($first[2], "$short->{pid}\n", "first: by the worker of the short sleep ($short->{pid})");
cmp_ok($first[1], '<', 2.2,
       sprintf('first: when the short sleep ended, not after the queued one (%.2f s)', $first[1]));
is(counter('moved') - $moved0, 1, 'first: taken back once');
@res = result('queuedfirst', 10);
is($res[0], 200, 'first: the queued sleep is served after it');
is((result('longfirst', 10))[0], 200, 'first: the long sleep completed');
result('shortfirst', 10);

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

# ---- a POST over 64 KiB waits in nginx's queue ----

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

# ---- drover_pipeline off ----

($pipelined0) = counter('pipelined');
($short, $long) = two_sleeps('off', 700, 3000, port => $t->port('off'));
$r = $t->http(GET => '/pid', port => $t->port('off'), timeout => 10);
is($r->{status}, 200, 'off: GET served');
is($r->{body}, "$short->{pid}\n", 'off: by the first free worker');
is(counter('pipelined') - $pipelined0, 0, 'off: never sent to a busy worker');
result($_, 10) for qw(shortoff longoff);

waitpid($_, 0) for @kids;

# ---- the counters on the status page and in Prometheus ----

my $html = $t->http(GET => '/status?format=html')->{body} // '';
like($html, qr/\b[2-9]\d* pipelined \([2-9]\d* taken back\)/,
     'HTML: the pipelined and taken back counts');
my $prom = $t->http(GET => '/status?format=prometheus')->{body} // '';
like($prom, qr/^drover_pool_pipelined_requests_total\{pool="kit"\} [2-9]/m,
     'Prometheus: drover_pool_pipelined_requests_total');
like($prom, qr/^drover_pool_pipeline_moves_total\{pool="kit"\} [2-9]/m,
     'Prometheus: drover_pool_pipeline_moves_total');

# ---- the depth: 1 to 7 ("drover_pipeline 8" and 0 are refused) ----

for my $case ([7, 1], [8, 0], [0, 0]) {
    my ($n, $ok) = @$case;
    $t->write_file("depth$n.conf", 'load_module ' . $t->module . ";\n"
        . "error_log /dev/null;\npid $dir/depth$n.pid;\n"
        . "events { }\nhttp { server { listen 127.0.0.1:1;\n"
        . "location / { drover_pipeline $n; drover_pass unix:$dir/kit.sock; } } }\n");
    my %env = $t->sanitized ? $t->sanitizer_env : ();
    local @ENV{keys %env} = values %env;
    my ($code, $out) = $t->run_cmd(['/usr/sbin/nginx', '-t', '-p', $dir,
                                    '-c', "$dir/depth$n.conf"], 10);
    if ($ok) {
        is($code, 0, "drover_pipeline $n: nginx -t accepts it") or diag($out);
    } else {
        isnt($code, 0, "drover_pipeline $n: nginx -t refuses it");
        like($out, qr/invalid value "$n", expected "off" or a number from 1 to 7/,
             "drover_pipeline $n: the message names the range");
    }
}

$t->done;
