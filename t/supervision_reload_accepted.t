#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A reload must not lose a request a front end already handed to the old
# worker: (a) on a connection the old worker accepted but that carried no
# request yet when the reload came (a front end connects, then writes), and
# (b) a request that sits unread in the connection's socket buffer while
# the worker is busy with another.  Stock nginx retries only requests on
# cached keepalive connections, so either loss is a 502 for a client
# (t/supervision_reload_load.t sees them under wrk).

use strict;
use warnings;

use Test::More;

use Drover::Test;
use Drover::FCGI qw(fcgi_request_bytes);

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
log_level info;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

# the sockets $pid holds ("socket:[INODE]"): a new one once it accepted a
# connection (by inode: an fd number may be reused at once)
sub sockets {
    my ($pid) = @_;
    opendir my $dh, "/proc/$pid/fd" or return {};
    return { map { my $l = readlink "/proc/$pid/fd/$_"; defined $l && $l =~ /^socket:/ ? ($l => 1) : () }
             grep { /^\d+$/ } readdir $dh };
}

# wait until $pid holds a socket it did not hold in $before
sub accepted {
    my ($pid, $before) = @_;
    return $t->wait_for(sub { grep { !$before->{$_} } keys %{ sockets($pid) } }, 5);
}

# has worker $pid logged that it stops (it got SIGTERM from the rollover)?
sub stopping {
    my ($pid, $mark) = @_;
    # a worker's own log lines reach the log through its pool's output
    # socket, re-logged by droverd as "pool kit pid PID: ..."
    return $t->wait_log(qr/^\S+ \S+ \[notice\] \d+#0: pool kit pid $pid: pool kit: worker 0: signal 15 received, stopping/,
                        5, 1, $mark);
}

# ---- (a) accepted, no request yet ----

my $old = $t->slot_pid(0);
my $before = sockets($old);
my $c = Drover::FCGI->connect("$dir/kit.sock.0", timeout => 5);
ok($c, 'a connection to slot 0');
ok(accepted($old, $before), 'the worker accepted it (it holds a new socket)');

my $mark = $t->log_mark;
ok($t->signal('HUP'), 'SIGHUP');
ok(stopping($old, $mark), "the old worker $old is stopping") or diag($t->log_since($mark));

my $r = $c->request(uri => '/pid', timeout => 5);
ok($r->{complete}, '(a) the request sent after the stop began is answered')
    or diag('lost: ' . ($r->{error} || 'no response'));
like($r->{body} // '', qr/^\d+\n$/, '(a) with a pid');
$c->close;

ok($t->wait_log(qr/pool kit: generation 2 serves/, 10), 'the reload completes');

# ---- (b) a request unread in the socket buffer ----

# slot 0's worker is busy in /sleep on connection A while the request on
# connection B (accepted earlier) arrives and the reload begins
$old = $t->slot_pid(0);
$before = sockets($old);
my $b = Drover::FCGI->connect("$dir/kit.sock.0", timeout => 5);
ok($b && accepted($old, $before), 'connection B accepted by slot 0');

my $a = Drover::FCGI->connect("$dir/kit.sock.0", timeout => 5);
ok($a->send_raw(fcgi_request_bytes(uri => '/sleep?ms=600')), 'A: /sleep?ms=600 sent');
ok($t->wait_for(sub { $t->read_file("/proc/$old/wchan") =~ /nanosleep/ }, 5),
   'the worker sleeps in the app');

ok($b->send_raw(fcgi_request_bytes(uri => '/pid')), 'B: /pid sent while it sleeps');

$mark = $t->log_mark;
ok($t->signal('HUP'), 'SIGHUP while it sleeps');

$r = $a->read_response(timeout => 5);
is($r->{status}, 200, 'A: the request in the app completes');

$r = $b->read_response(timeout => 5);
ok($r->{complete}, '(b) B: the request waiting in the socket buffer is answered')
    or diag('lost: ' . ($r->{error} || 'no response'));
like($r->{body} // '', qr/^\d+\n$/, '(b) with a pid');
$a->close;
$b->close;

ok($t->wait_log(qr/pool kit: generation 3 serves/, 10), 'the second reload completes');
ok($t->alive, 'droverd still running');

$t->done;
