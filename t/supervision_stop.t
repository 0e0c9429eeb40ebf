#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Stopping with a request that outlives the patience: stop_timeout 1s and
# SIGTERM while /sleep?ms=5000 is in the app: the worker is killed after
# about a second and droverd exits 0 within about three.  SIGQUIT stops at
# once, without waiting for the request.  (A request that fits in the stop
# timeout finishing with 200 is t/stop.t.)

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI qw(fcgi_request_bytes);

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

$t->write_conf(<<'EOF');
log_level info;

pool kit {
    app          %%APPS%%/kit.so;
    listen       unix:%%DIR%%/kit.sock;
    workers      2;
    stop_timeout 1s;
}
EOF

# start droverd, put /sleep?ms=5000 in slot 0's app; returns the
# connection, the sleeping worker's pid and droverd's processes
sub sleeping_request {
    $t->run;

    my $worker = $t->slot_pid(0);
    my @family = $t->family;
    my $c = Drover::FCGI->connect("$dir/kit.sock.0", timeout => 10);
    $c->send_raw(fcgi_request_bytes(uri => '/sleep?ms=5000'));

    ok($t->wait_for(sub { $t->read_file("/proc/$worker/wchan") =~ /nanosleep/ }, 5),
       "worker $worker sleeps in /sleep?ms=5000");

    return ($c, $worker, @family);
}

sub all_gone {
    my (@family) = @_;
    return !grep { -e "/proc/$_->[0]" && $t->read_file("/proc/$_->[0]/stat") =~ /^\d+ \(.*\) [^Z]/s }
        @family;
}

# ---- SIGTERM and stop_timeout 1s ----

my ($c, $worker, @family) = sleeping_request();

my $mark = $t->log_mark;
my $start = time;
ok($t->signal('TERM'), 'SIGTERM');

my $r = $c->read_response(timeout => 10);
my $cut = time - $start;
ok(!$r->{complete}, 'the request that outlived stop_timeout is cut off');
cmp_ok($cut, '>=', 0.9, sprintf('not before stop_timeout (%.2f s)', $cut));
cmp_ok($cut, '<', 2, 'but soon after it');

ok($t->wait_exit(5), 'droverd exits') or diag($t->log_since($mark));
my $took = time - $start;
cmp_ok($took, '<', 3, sprintf('within 3 s of SIGTERM (%.2f s)', $took));
is($t->exit_code, 0, 'with exit code 0') or diag($t->exit_text);

ok($t->log_grep(qr/workers still running after stop_timeout: killing them/),
   'the log says stop_timeout ran out');
ok($t->log_grep(qr/pool kit: worker 0 \(pid $worker\) killed by signal 9 .*\(stop\)$/),
   'the sleeping worker: "killed by signal 9 ... (stop)"')
    or diag($t->log_since($mark));
ok($t->log_grep(qr/pool kit: worker 1 \(pid \d+\) exited with code 0 .*\(stop\)$/),
   'the idle worker stopped by itself, "(stop)"');
ok(!grep({ -e "$dir/$_" } qw(kit.sock kit.sock.0 kit.sock.1)), 'socket files removed');
ok($t->wait_for(sub { all_gone(@family) }, 2), 'every process droverd started is gone');
$c->close;

# ---- SIGQUIT: at once ----

($c, $worker, @family) = sleeping_request();

$mark = $t->log_mark;
$start = time;
ok($t->signal('QUIT'), 'SIGQUIT');

ok($t->wait_exit(5), 'droverd exits') or diag($t->log_since($mark));
$took = time - $start;
cmp_ok($took, '<', 0.9, sprintf('at once (%.0f ms), not after the 1 s stop_timeout', $took * 1000));
ok(defined $t->exit_code, 'by itself, not by the signal (' . $t->exit_text . ')');

$r = $c->read_response(timeout => 5);
ok(!$r->{complete}, 'the request in flight is cut off');
$c->close;

ok($t->wait_for(sub { all_gone(@family) }, 1), 'every process droverd started is gone within 1 s');
ok($t->log_grep(qr/pool kit: worker 0 \(pid $worker\) killed by signal 9 .*\(stop\)$/),
   'the worker\'s exit is logged "(stop)"');

# a new droverd starts on the same sockets afterwards
$t->run;
ok($t->alive, 'droverd starts again on the same config');
like($t->get('/pid')->{body} // '', qr/^\d+\n$/, 'and serves');

$t->done;
