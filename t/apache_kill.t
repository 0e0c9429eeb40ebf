#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover's replays: no GET is lost to a crash. wrk -t1 -c16 -d5s of
# /sleep?ms=5 (so that kills land mid-request) through DroverPass to kit
# with 2 workers, while a killer sends SIGKILL to a random up worker every
# 100 ms: 0 non-2xx, 0 socket errors, and the replays logged. (droverd
# keeps a worker killed again and again down longer each time, which
# bounds the requests served.) Before that, a POST whose worker is killed
# after its body was sent is not replayed: 502, "not idempotent".

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit wrk))->has_apache;
my $dir = $t->dir;

$t->allow_alert(qr/worker \d+ .*(signal|killed)/i);

$t->write_conf(<<'EOF')->run;
pool kit {
    app           %%APPS%%/kit.so;
    listen        unix:%%DIR%%/kit.sock;
    workers       2;
    restart_limit 100000 per 60s;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_apache_conf(<<'EOF')->run_apache;
DroverQueue size=100 timeout=30s
DroverPass unix:%%DIR%%/kit.sock
EOF

$t->apache_started;
is($t->http(GET => '/')->{status}, 200, 'served before the killing starts');

# SIGKILL to a random up worker every 100 ms for at most 30 s, until
# killed itself; the count in a file.  A worker is spared for its first
# 100 ms (its age from /proc): droverd's backoff keeps both
# workers down at times, and a killer that shot each worker the moment it
# came back would kill it while it runs its first request, the replay it
# was given.  Three workers dying in a row while running the same request
# is what a request that crashes workers looks like, and DroverRetries
# gives it up on purpose (the /crash case below); that is not what the
# killer is about.
sub killer {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;

    my ($kills, $end) = (0, time + 30);
    while (time < $end) {
        my @old = grep { ($t->process_age($_) // 0) >= 0.1 } $t->up_pids;
        if (@old) {
            $kills += kill 'KILL', $old[int rand @old];
            $t->write_file('kills', "$kills\n");
        }
        sleep 0.1;
    }
    POSIX::_exit(0);
}

# ---- a POST is replayed only when nothing of it was sent ----

my $mark = $t->apache_log_mark;
my $c = $t->http_connect;
my $body = 'x' x 1000;
$c->send_raw($c->request_bytes(POST => '/sleep?ms=3000', body => $body, close => 1));
my $victim;
ok($t->wait_for(sub {
    ($victim) = grep { $t->read_file("/proc/$_/syscall") =~ /^(35|230) / } $t->up_pids;
    $victim;
}, 5), 'a POST runs in a worker');
kill 'KILL', $victim if $victim;
my $r = $c->read_response(time + 10, 0);
is($r->{status}, 502, 'its worker killed after the body was sent: 502, not replayed');
ok($t->wait_apache_log(qr/not replayed: the method is not idempotent/, $mark),
   'the log says why');

ok($t->wait_for(sub { $t->up_pids == 2 }, 10), 'both workers up again');

# ---- a GET that crashes every worker it runs in: tried 1 + DroverRetries times ----

$mark = $t->apache_log_mark;
my $dmark = $t->log_mark;
$r = $t->http(GET => '/crash');
is($r->{status}, 502, 'a GET that crashes its worker each time: 502 in the end');
ok($t->wait_apache_log(qr/not replayed: DroverRetries reached/, $mark),
   'the log says the tries ran out');
my $crash_replays = () = $t->apache_log_since($mark) =~ /failed before any response byte.*replaying/g;
is($crash_replays, 2, 'it was replayed twice (DroverRetries 2)');
is(scalar $t->wait_log(qr/killed by signal 11/, 10, 3, $dmark), 3, 'three workers died of it');
ok($t->wait_for(sub { $t->up_pids == 2 }, 10), 'both workers up again');

# ---- GETs under kill -9 ----

$mark = $t->apache_log_mark;
my $k = killer();
my ($code, $out) = $t->run_cmd(['wrk', '-t1', '-c16', '-d5s', '--timeout', '30s',
                                'http://127.0.0.1:' . $t->port . '/sleep?ms=5'], 60);
kill 'KILL', $k;
waitpid($k, 0);

my $kills = ($t->read_file('kills') =~ /(\d+)/)[0] || 0;
my $requests = $out =~ /(\d+) requests in/ ? $1 : 0;
my $sockerr = 0;
$sockerr += $_ for $out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;

is($code, 0, 'wrk ran') or diag($out);
cmp_ok($kills, '>=', 8, "workers were killed meanwhile ($kills kills)");
cmp_ok($requests, '>', 50, "requests were served ($requests)");
unlike($out, qr/Non-2xx or 3xx responses/, 'zero non-2xx responses') or diag($out);
is($sockerr, 0, 'zero socket errors') or diag($out);

my $log = $t->apache_log_since($mark);
my $replays = () = $log =~ /(?:failed before any response byte|went before it read the request).*replaying/g;
my $lost = () = $log =~ /not replayed/g;
cmp_ok($replays, '>', 0, "requests lost to a kill were replayed ($replays)");
is($lost, 0, 'none given up');
my $unread = () = $log =~ /went before it read the request/g;
diag("$requests requests, $kills kills, $replays replays ($unread of requests "
     . "lost unread, which use no try)");

$t->apache_done;
