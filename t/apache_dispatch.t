#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover's dispatch (docs/dispatch.md) under Debian's apache2, two
# children of 25 threads sharing the slot table: requests go to droverd's
# slot sockets, an idle pool is served by one worker (the one freed last);
# a slow request beside fast ones does not hold them up (they go to the
# other slot); a full queue gives 503 + Retry-After: 1 at once, a queue
# deadline 503 after it, each with one log line; a failing pool 503 +
# Retry-After: 30 at once (not after the queue's 20 s); a healthy pool
# beside the failing one serves. The drover-status handler counts it all,
# as JSON and as Prometheus text that promtool accepts.

use strict;
use warnings;

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;
my $dir = $t->dir;

# every worker of "crash" dies of SIGSEGV on start: that is the test
$t->allow_alert(qr/pool crash: worker \d+ .*(signal|core)/);

$t->write_conf(<<'EOF')->run(ready => 0);
pool kit {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/kit.sock;
    workers   2;
}

pool q {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/q.sock;
    workers   1;
}

pool crash {
    app       %%APPS%%/kit.so;
    app_param crash_on_start yes;
    listen    unix:%%DIR%%/crash.sock;
    workers   2;
}
EOF

ok($t->wait_for(sub { $t->read_file('crash.sock.slots') =~ /^state failing$/m }, 20),
   'crash: PATH.slots says failing') or diag($t->read_file('crash.sock.slots'));
ok($t->wait_for(sub {
    $t->read_file('kit.sock.slots') =~ /^1 up /m && $t->read_file('q.sock.slots') =~ /^0 up /m
}, 20), 'kit and q: their workers are up');

$t->write_apache_conf(<<'EOF')->run_apache;
LogLevel notice drover:debug

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName localhost
    DroverPass unix:%%DIR%%/kit.sock

    <Location /drover-status>
        SetHandler drover-status
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName q.test
    DroverQueue size=1 timeout=10s
    DroverPipeline off
    DroverPass unix:%%DIR%%/q.sock
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName deadline.test
    DroverQueue size=5 timeout=1s
    DroverPipeline off
    DroverPass unix:%%DIR%%/q.sock
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName crash.test
    DroverQueue size=8 timeout=20s
    DroverPass unix:%%DIR%%/crash.sock
</VirtualHost>
EOF

$t->apache_started('with two children');

# true while $pid is in its nanosleep (kit's /sleep): the request runs
sub sleeping {
    my ($pid) = @_;
    my $sc = $t->read_file("/proc/$pid/syscall");
    return $sc =~ /^(35|230) /;     # nanosleep, clock_nanosleep (x86_64)
}

sub send_only {
    my ($uri, $host) = @_;
    my $c = $t->http_connect or die "connect: $@";
    $c->send_raw($c->request_bytes(GET => $uri, headers => ['Host' => $host || 'localhost'],
                                   close => 1)) or die 'send failed';
    return $c;
}

sub read_only {
    my ($c, $timeout) = @_;
    return $c->read_response(time + ($timeout || 10), 0);
}

# ---- slots, the one freed last ----

my %pids;
for (1 .. 10) {
    my $r = $t->http(GET => '/pid');
    $pids{$r->{body} =~ /^(\d+)/ ? $1 : 'none'}++;
}
is(scalar keys %pids, 1, 'idle: ten requests in a row, one worker serves them all');
my @kit = $t->up_pids('kit');
ok((grep { exists $pids{$_} } @kit), 'a worker of the .slots file');

# ---- a slow request beside fast ones ----

my $slow = send_only('/sleep?ms=2000');
my ($busy) = ();
ok($t->wait_for(sub { ($busy) = grep { sleeping($_) } @kit; $busy }, 5),
   'the slow request runs in a worker');

my ($max, $ok, %fast_pids) = (0, 0);
for (1 .. 20) {
    my $t0 = time;
    my $r = $t->http(GET => '/pid');
    my $dt = time - $t0;
    $max = $dt if $dt > $max;
    $ok++ if $r->{status} == 200;
    $fast_pids{$1}++ if ($r->{body} // '') =~ /^(\d+)/;
}
is($ok, 20, 'twenty fast requests beside the slow one: all 200');
cmp_ok($max, '<', 0.5, sprintf('none waited for the slow one (slowest %.0f ms)', $max * 1000));
ok(!exists $fast_pids{$busy // 0}, 'none went to the busy worker');
is(read_only($slow)->{status}, 200, 'the slow one: 200');

# ---- the queue: full, and its deadline ----

my ($qpid) = $t->up_pids('q');
my $mark = $t->apache_log_mark;

my $c1 = send_only('/sleep?ms=1500', 'q.test');
ok($t->wait_for(sub { sleeping($qpid) }, 5), 'q: its only worker is busy');

my $c2 = send_only('/sleep?ms=1', 'q.test');
ok($t->wait_apache_log(qr/waiting in the queue \(1 waiting\)/, $mark, 5), 'a second one waits in the queue');

my $t0 = time;
my $r = $t->http(GET => '/', headers => ['Host' => 'q.test']);
my $dt = time - $t0;
is($r->{status}, 503, 'a third: the queue (size=1) is full, 503');
cmp_ok($dt, '<', 0.5, 'at once');
is($r->{headers}{'retry-after'}, '1', 'Retry-After: 1');
my @lines = $t->wait_apache_log(qr/drover: every worker of ".*q\.sock" is busy and the queue is full \(1\), 503/, $mark);
is(scalar @lines, 1, 'one log line says the queue is full');

is(read_only($c1)->{status}, 200, 'the first: 200');
$r = read_only($c2);
is($r->{status}, 200, 'the one that waited: 200 when the slot freed');
is($r->{body}, "slept 1 ms\n", 'answered by the app');

$mark = $t->apache_log_mark;
my $c3 = send_only('/sleep?ms=2500', 'q.test');
ok($t->wait_for(sub { sleeping($qpid) }, 5), 'q: busy again');
$t0 = time;
$r = $t->http(GET => '/', headers => ['Host' => 'deadline.test']);
$dt = time - $t0;
is($r->{status}, 503, 'nothing free within the timeout (1s): 503');
cmp_ok($dt, '>=', 0.9, sprintf('after the deadline (%.2f s)', $dt));
cmp_ok($dt, '<', 2.2, 'not much after it');
is($r->{headers}{'retry-after'}, '1', 'Retry-After: 1');
ok($t->wait_apache_log(qr/drover: no worker of ".*q\.sock" was free within 1000 ms/, $mark),
   'the log says so');
is(read_only($c3)->{status}, 200, 'the long one: 200');

# ---- a failing pool ----

$mark = $t->apache_log_mark;
$t0 = time;
$r = $t->http(GET => '/', headers => ['Host' => 'crash.test']);
$dt = time - $t0;
is($r->{status}, 503, 'failing pool: 503');
cmp_ok($dt, '<', 2, 'at once, not after the queue\'s 20 s');
is($r->{headers}{'retry-after'}, '30', 'Retry-After: 30');
unlike($r->{body} // '', qr/crash\.sock|drover/, 'nothing of the path or the reason to the client');
@lines = $t->wait_apache_log(qr/drover: the app of ".*crash\.sock" failed to start/, $mark);
is(scalar @lines, 1, 'one log line: the app failed to start');

is($t->http(GET => '/')->{status}, 200, 'the healthy pool beside it serves');

# ---- the drover-status handler: what the dispatch counted ----

$r = $t->http(GET => '/drover-status?format=json');
is($r->{status}, 200, 'drover-status: 200');
like($r->{headers}{'content-type'} // '', qr{^application/json}, '?format=json: JSON');
my $st = eval { JSON::PP::decode_json($r->{body}) } || {};
my %pool = map { ($_->{socket} =~ m{/([^/]+)\.sock$})[0] => $_ } @{ $st->{pools} || [] };
is_deeply([sort keys %pool], [qw(crash kit q)], 'one entry per DroverPass pool');
is($pool{q}{overflows}, 1, 'q: one queue overflow');
is($pool{q}{timeouts}, 1, 'q: one queue timeout');
cmp_ok($pool{kit}{requests}, '>=', 31, 'kit: the requests dispatched');
is($pool{kit}{up}, 2, 'kit: 2 slots up');
is($pool{kit}{busy}, 0, 'kit: none busy now');
is($pool{crash}{state}, 'failing', 'crash: failing');
ok($pool{kit}{dispatch}, 'kit: dispatching (a .slots file)');

$r = $t->http(GET => '/drover-status?format=prometheus');
like($r->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4}, 'Prometheus text');
like($r->{body}, qr/^drover_pool_queue_overflows_total\{socket="[^"]*q\.sock"\} 1$/m,
     'the overflow counted in Prometheus');

SKIP: {
    skip 'promtool is not installed', 1 unless $t->can_do('promtool');
    $t->write_file('metrics.txt', $r->{body});
    my ($code, $out) = $t->run_cmd(['promtool', 'check', 'metrics'], 20, stdin => "$dir/metrics.txt");
    is($code, 0, 'promtool check metrics: clean') or diag($out);
}

$t->apache_done;
