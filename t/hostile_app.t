#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A hostile app in the preloader (apps/hostile.c) forges messages on its
# channel to the root manager: FORKED naming an unrelated process, droverd
# itself, pid 1, another pool's process, a slot that did not ask; garbage,
# an oversized datagram, a READY flood, fds, an unknown type.  For each:
# the manager signals nothing outside the pool (the victim process records
# every catchable signal and stays alive, the well-behaved kit pool keeps
# its workers and serves), the hostile preloader is killed with one log
# line naming the pool, the pid and what was wrong, and it is restarted
# with a growing backoff.

use strict;
use warnings;

use POSIX ();
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

plan skip_all => 'build/apps/hostile.so is missing: run make'
    unless -r $t->app('hostile');

# the victim: not droverd's, records each catchable signal it gets
my $rec = $t->dir . '/victim.signals';
my $victim = fork;
die "fork: $!" unless defined $victim;

if ($victim == 0) {
    for my $sig (qw(HUP INT QUIT USR1 USR2 TERM ALRM CONT PIPE WINCH)) {
        $SIG{$sig} = sub {
            open my $fh, '>>', $rec or return;
            print $fh "$sig\n";
            close $fh;
        };
    }
    for (1 .. 120) {
        sleep 1;
    }
    POSIX::_exit(0);
}

# a test that dies early must not leave prove waiting on the victim
END {
    my $status = $?;
    kill 'KILL', $victim if $victim;
    $? = $status;
}

# attack => what the manager's log line must say was wrong
my %attacks = (
    forged   => [ 'forged_pid',
                  qr/reported pid $victim as the worker of slot 0, which fails the check: pid $victim is not droverd's child/ ],
    self     => [ 'self_pid', qr/reported pid \d+, droverd itself, as the worker of slot 0/ ],
    pidone   => [ 'pid1', qr/reported pid 1 as the worker of slot 0, which fails the check: pid 1 can never be a worker/ ],
    sibling  => [ 'sibling', qr/reported pid \d+, (a worker droverd already runs|a preloader), as the worker of slot 0/ ],
    slot     => [ 'slot200', qr/reported a worker for slot 200, which did not ask \(pid $victim\)/ ],
    garbage  => [ 'garbage', qr/sent a malformed message \(wrong size\)/ ],
    oversize => [ 'oversized', qr/sent a malformed message \(wrong size\)/ ],
    flood    => [ 'ready_flood', qr/sent READY twice/ ],
    fds      => [ 'fds', qr/sent file descriptors with message 1/ ],
    unknown  => [ 'unknown', qr/sent unknown message type 99/ ],
);

my $conf = <<'EOF';
pool kit {
    app        %%APPS%%/kit.so;
    listen     unix:%%DIR%%/kit.sock;
    workers    2;
    preload    on;
}
EOF

for my $name (sort keys %attacks) {
    $conf .= <<"EOF";
pool h$name {
    app        %%APPS%%/hostile.so;
    app_param  attack $attacks{$name}[0];
    app_param  victim_pid $victim;
    listen     unix:%%DIR%%/h$name.sock;
    workers    1;
    preload    on;
}
EOF
}

$t->write_conf($conf)->run(ready => 0, timeout => 30);

ok($t->wait_for(sub {
    !grep { !$t->get('/', pool => 'kit', slot => $_, timeout => 2)->{complete} } 0, 1
}, 20), 'the kit pool serves next to the hostile pools')
    or diag($t->log);

my @kit = map { $t->slot_pid($_, pool => 'kit') } 0, 1;
is(scalar(grep { defined } @kit), 2, "kit's workers: @kit");

for my $name (sort keys %attacks) {
    my ($attack, $why) = @{ $attacks{$name} };
    my $pool = "h$name";

    # killed, restarted, killed again: at least two lines
    my @killed = $t->wait_log(qr/pool \Q$pool\E: preloader \(pid \d+, generation \d+\) .*; killing it/,
                              30, 2);
    cmp_ok(scalar @killed, '>=', 2, "$attack: the preloader was killed, restarted and killed again")
        or diag($t->log);
    like($killed[0] || '', $why, "$attack: the log line says what was wrong");
    like($killed[0] || '', qr/\[error\]/, "$attack: at level error");

    my @pids = map { /\(pid (\d+),/ ? $1 : () } @killed;
    ok(@pids >= 2 && $pids[0] != $pids[1], "$attack: a new preloader each time (@pids[0, 1])");
    ok($t->wait_for(sub { !grep { kill 0, $_ } @pids[0, 1] }, 5),
       "$attack: the killed preloaders are gone (reaped)");

    my @delay = map { /restarting it in (\d+) ms/ ? $1 : () }
                $t->wait_log(qr/pool \Q$pool\E: preloader \(generation \d+\) killed by signal 9.*restarting it in \d+ ms/,
                             10, 2);
    ok(@delay >= 2 && $delay[1] > $delay[0],
       "$attack: restarted with a growing backoff (" . join(', ', map { "$_ ms" } @delay) . ")");

    ok(!$t->log_grep(qr/pool \Q$pool\E: worker \d+ started/),
       "$attack: no worker was adopted");
}

ok(kill(0, $victim), "the victim $victim is alive");
is($t->read_file('victim.signals'), '', 'the victim got no signal');
ok(kill(0, 1), 'pid 1 is alive');
ok($t->alive, 'droverd is alive');

is(join(' ', map { $t->slot_pid($_, pool => 'kit') // 'none' } 0, 1), join(' ', @kit),
   'the kit pool serves with the same workers');
ok(!$t->log_grep(qr/pool kit: (worker|preloader) .*(exited|killed|signal)/),
   'nothing happened to the kit pool');

kill 'KILL', $victim;
waitpid $victim, 0;

$t->done;
