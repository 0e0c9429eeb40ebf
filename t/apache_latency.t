#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# No head-of-line blocking through mod_drover: kit with 2 workers, one
# /sleep?ms=3000 holding a worker (checked in nanosleep) for the whole of
# a `wrk -t1 -c16 -d2s --latency` run of /pid beside it.  Each fast request
# goes to the free worker: all 2xx, no socket error, p99 small (the figure
# is printed; 20 ms is the goal, asserted under 100 ms here, as a shared
# VM's steal time can add tens of ms to a tail) and the max well under the
# second or more a request queued behind the slow one would wait.  The
# slow request is answered afterwards, 200.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit wrk))->has_apache;
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_apache_conf(<<'EOF')->run_apache;
DroverQueue size=100 timeout=10s
DroverPass unix:%%DIR%%/kit.sock
EOF

$t->apache_started;
is($t->http(GET => '/pid')->{status}, 200, 'GET /pid through DroverPass: 200');

# ms from wrk's --latency line "99%  1.23ms" (us, ms or s)
sub ms_of {
    my ($report, $what) = @_;
    my ($n, $unit) = $report =~ /^\s*\Q$what\E\s+([\d.]+)(us|ms|s)\s*$/m or return undef;
    return $n / 1000 if $unit eq 'us';
    return $n * 1000 if $unit eq 's';
    return $n;
}

# ---- the slow request, in a worker ----

my $c = $t->http_connect;
$c->send_raw($c->request_bytes(GET => '/sleep?ms=3000', close => 1));
my $sleeper;
ok($t->wait_for(sub {
    ($sleeper) = grep { ($t->read_file("/proc/$_/syscall") // '') =~ /^(35|230) / } $t->up_pids;
    $sleeper;
}, 5), 'the slow request sleeps in a worker');
my $slow_start = time;

# ---- fast requests beside it ----

my ($code, $out) = $t->run_cmd(['wrk', '-t1', '-c16', '-d2s', '--timeout', '10s', '--latency',
                                'http://127.0.0.1:' . $t->port . '/pid'], 30);
my $wrk_end = time;
note($out);

is($code, 0, 'wrk ran') or diag($out);
my ($requests) = $out =~ /(\d+) requests in/;
cmp_ok($requests || 0, '>', 500, 'fast requests were served (' . ($requests || 0) . ')');
unlike($out, qr/Non-2xx or 3xx responses/, 'zero non-2xx responses') or diag($out);
unlike($out, qr/Socket errors/, 'zero socket errors') or diag($out);

my $p50 = ms_of($out, '50%');
my $p99 = ms_of($out, '99%');
my ($max, $unit) = $out =~ /^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/m;
$max = defined $max ? ($unit eq 'us' ? $max / 1000 : $unit eq 's' ? $max * 1000 : $max) : undef;

diag(sprintf('beside a 3 s request: fast p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d requests',
             $p50 // -1, $p99 // -1, $max // -1, $requests || 0));
ok(defined $p99 && $p99 < 100, 'fast p99 under 100 ms (goal 20 ms)');
ok(defined $max && $max < 1000, 'no fast request waited for the slow one (max under 1 s)');

my $slow = $c->read_response(time + 10, 0);
is($slow->{status}, 200, 'the slow request was answered, 200');
ok($wrk_end < $slow_start + 3, 'it was in flight all through the wrk run');

$t->apache_done;
