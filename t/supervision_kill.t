#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# SIGKILL of droverd (the OOM killer, kill -9 by an admin): no preloader or
# worker outlives it by more than a second, also not a worker busy in the
# app, with preload on and off; a new droverd started at once on the same
# config takes over the same socket paths and serves.

use strict;
use warnings;

use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI qw(fcgi_request_bytes);

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

# a control socket of its own: the default one may be held by another
# droverd on the machine, and the check below is about the pool sockets
$t->write_conf(<<'EOF')->run;
log_level info;
control   unix:%%DIR%%/droverd.ctl;

pool pre {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/pre.sock;
    workers 2;
    preload on;
}

pool nopre {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/nopre.sock;
    workers 2;
    preload off;
}
EOF

# one worker of each pool busy in the app
my @busy;
for my $pool (qw(pre nopre)) {
    my $pid = $t->slot_pid(0, pool => $pool);
    my $c = Drover::FCGI->connect($t->slot_path(0, $pool), timeout => 10);
    $c->send_raw(fcgi_request_bytes(uri => '/sleep?ms=5000'));
    push @busy, [$c, $pid];
}
ok($t->wait_for(sub { !grep { $t->read_file("/proc/$_->[1]/wchan") !~ /nanosleep/ } @busy }, 5),
   'a worker of each pool sleeps in the app: ' . join(' ', map { $_->[1] } @busy));

# everything droverd started, from /proc and from its log
my %family = map { ($_->[0] => $_) } $t->family;
my @logged = map { /started, pid (\d+)/ ? $1 : () }
    $t->log_grep(qr/pool \S+: (worker \d+|preloader) started, pid \d+/);
my @missing = grep { !$family{$_} && -e "/proc/$_" } @logged;
is(scalar @missing, 0, 'every process the log names is below droverd in /proc');
my @family = values %family;
cmp_ok(scalar @family, '>=', 5, scalar(@family) . ' processes: 1 preloader and 4 workers at least');

my $old = $t->pid;
ok(kill('KILL', $old), "SIGKILL to droverd $old");
my $killed_at = time;
ok($t->wait_exit(1), 'droverd is gone');

# start the new one right away, while the old processes go
$t->run(wait => 0);

# Drover::Test's [pid, start time] pairs: a pid reused since is not ours
my $gone = $t->wait_for(sub {
    !grep { -e "/proc/$_->[0]" && Drover::Test::_same_process($_) } @family;
}, 1);
my $took = time - $killed_at;
ok($gone, sprintf('every preloader and worker is gone %.0f ms after the kill', $took * 1000))
    or diag('still there: ' . join ' ', map { $_->[0] . ' ' . $t->read_file("/proc/$_->[0]/cmdline") }
                grep { Drover::Test::_same_process($_) } @family);

# closed by the kill, not still running: no answer and no timeout
my @cut = map { $_->[0]->read_response(timeout => 2) } @busy;
is(join(' ', map { $_->{complete} ? 'answered' : $_->{error} || '?' } @cut), 'eof eof',
   'the connections of the requests in flight were closed');

ok($t->wait_sockets(10) && $t->wait_ready(10), 'the new droverd serves on the same socket paths')
    or diag($t->log);
isnt($t->pid, $old, 'it is a new droverd');
ok(!$t->log_grep(qr/refus|in use|already/i), 'it found no live socket in its way')
    or diag(join "\n", $t->log_grep(qr/refus|in use|already/i));
like($t->get('/pid', pool => 'pre')->{body} // '', qr/^\d+\n$/, 'pool pre serves');
like($t->get('/pid', pool => 'nopre')->{body} // '', qr/^\d+\n$/, 'pool nopre serves');

$t->done;
