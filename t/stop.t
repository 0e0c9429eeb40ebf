#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# SIGTERM stops gracefully: a request in the app finishes with 200, droverd
# exits 0, its socket files are removed and its workers are gone.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI qw(fcgi_request_bytes);

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

my @workers = $t->worker_pids;
my @family = $t->family;
ok(@family >= 2, 'droverd has its worker processes: ' . join(' ', map { $_->[0] } @family));

# /sleep?ms=500 on slot 0; wait until that worker sleeps in the app
my $worker = $workers[0];
my $c = Drover::FCGI->connect("$dir/kit.sock.0", timeout => 15);
ok($c->send_raw(fcgi_request_bytes(uri => '/sleep?ms=500')), 'request sent');

my $sleeping = $t->wait_for(sub {
    my $wchan = $t->read_file("/proc/$worker/wchan");
    return $wchan =~ /nanosleep/;
}, 5);
ok($sleeping, 'the worker is inside /sleep') or diag('wchan: ' . $t->read_file("/proc/$worker/wchan"));

my $term_at = time;
ok($t->signal('TERM'), 'SIGTERM sent to droverd');

my $r = $c->read_response(timeout => 15);
ok($r->{complete}, 'the request in flight completes') or diag($r->{error});
is($r->{status}, 200, 'with status 200');
is($r->{body}, "slept 500 ms\n", 'and its whole body');

ok($t->wait_exit(15), 'droverd exits') or diag($t->log);
is($t->exit_code, 0, 'with exit code 0') or diag($t->exit_text);
note(sprintf 'stopped %.0f ms after SIGTERM', (time - $term_at) * 1000);

ok(!grep({ -e "$dir/$_" } qw(kit.sock kit.sock.0 kit.sock.1)), 'socket files removed');
ok(!grep({ -e "/proc/$_->[0]" && $t->read_file("/proc/$_->[0]/stat") =~ /^\d+ \(.*\) [^Z]/s } @family),
   'every process droverd started is gone');

$t->done;
