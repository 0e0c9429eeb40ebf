#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# systemd notify (sd_notify(3)): with NOTIFY_SOCKET set, droverd sends
# "READY=1" with a STATUS= line once its workers serve, "RELOADING=1" then
# "READY=1" around a SIGHUP, "STOPPING=1" on SIGTERM; with WATCHDOG_USEC
# and WATCHDOG_PID naming it, "WATCHDOG=1" at least twice per interval.
# A watchdog meant for another pid is not ours; no child sees the
# variables.  The test plays systemd: a datagram socket in the temp dir.

use strict;
use warnings;

use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

my $path = "$dir/notify.sock";
my $sd = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
    or die "notify socket $path: $!";
chmod 0777, $path;      # droverd is root here, but keep it reachable

# the datagrams that arrived by $deadline: [time, text] pairs, appended
# to @$got; stops early once $until->(text) is true
sub receive {
    my ($got, $timeout, $until) = @_;

    my $deadline = time + $timeout;

    for (;;) {
        my $left = $deadline - time;
        return 0 if $left <= 0;

        my $rin = '';
        vec($rin, fileno $sd, 1) = 1;
        next unless select(my $rout = $rin, undef, undef, $left) > 0;

        defined $sd->recv(my $text, 4096) or next;
        push @$got, [time, $text];
        return 1 if $until && $until->($text);
    }
}

sub texts { map { $_->[1] } @{ $_[0] } }

# the env file the prestart command writes: what children see
$t->write_file('env.out', '', 0666);
chmod 0666, "$dir/env.out";

$t->write_conf(<<'EOF');
log_level info;
run_dir   %%DIR%%;

pool kit {
    app       %%APPS%%/kit.so;
    app_param init_sleep_ms 300;
    listen    unix:%%DIR%%/kit.sock;
    workers   2;
    prestart  /bin/sh -c "env > %%DIR%%/env.out";
}
EOF

# droverd through sh, so that WATCHDOG_PID can be its own pid ($$ of the
# shell that execs it), its output into the harness's log
sub start {
    my (%env) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $t->log_path or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        @ENV{keys %env} = values %env;
        exec 'sh', '-c', ($env{WATCHDOG_PID} ? '' : 'WATCHDOG_PID=$$; export WATCHDOG_PID; ')
                         . 'exec "$0" -c "$1"',
            $t->droverd, $t->conf_path
            or POSIX::_exit(127);
    }

    return $t->adopt($pid);
}

# ---- READY=1 once workers serve, WATCHDOG=1 ----

my $started = time;
start(NOTIFY_SOCKET => $path, WATCHDOG_USEC => 200000);

my @got;
ok(receive(\@got, 10, sub { $_[0] =~ /^READY=1$/m }), 'READY=1 arrives')
    or diag(join "\n", $t->log, texts(\@got));
my ($ready) = grep { $_->[1] =~ /^READY=1$/m } @got;
my $ready_log = $t->log;

like($ready->[1] // '', qr/^STATUS=.+$/m, 'with a STATUS= line: ' . (($ready->[1] // '') =~ /^STATUS=(.*)$/m)[0]);
cmp_ok(($ready->[0] // 0) - $started, '>=', 0.3, 'not before the app\'s init (300 ms) was done');
like($ready_log, qr/pool kit: worker \d+ started/, 'after the pool\'s first worker started');
is(scalar(grep { /^READY=1$/m } texts(\@got)), 1, 'exactly once');
ok($t->wait_ready(5), 'and they serve');

@got = ();
receive(\@got, 1);
my $dogs = grep { /^WATCHDOG=1$/m } texts(\@got);
cmp_ok($dogs, '>=', 3, "WATCHDOG=1 $dogs times in 1 s (WATCHDOG_USEC=200000)");

my $env = $t->read_file('env.out');
ok(length $env, 'the prestart command wrote its environment');
unlike($env, qr/^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=/m,
       'no child sees NOTIFY_SOCKET, WATCHDOG_USEC or WATCHDOG_PID');

# ---- SIGHUP: RELOADING=1, then READY=1 ----

@got = ();
my $mark = $t->log_mark;
ok($t->signal('HUP'), 'SIGHUP');
receive(\@got, 10, sub { $_[0] =~ /^READY=1$/m });
my @seq = grep { /^(RELOADING|READY)=1$/m } texts(\@got);
is(join(' ', map { /^(RELOADING|READY)=1$/m } @seq), 'RELOADING READY', 'RELOADING=1, then READY=1')
    or diag(explain [texts(\@got)]);
ok($t->wait_log(qr/pool kit: generation 2 serves/, 10, 1, $mark), 'the reload went through');

# ---- SIGTERM: STOPPING=1 ----

@got = ();
ok($t->signal('TERM'), 'SIGTERM');
ok(receive(\@got, 5, sub { $_[0] =~ /^STOPPING=1$/m }), 'STOPPING=1 arrives')
    or diag(explain [texts(\@got)]);
ok($t->wait_exit(10), 'droverd exits');
is($t->exit_code, 0, 'with 0');

# ---- a watchdog for another pid is not droverd's ----

# what the first droverd sent after STOPPING=1 is not the second's
receive(\@got, 0.3);
@got = ();
start(NOTIFY_SOCKET => $path, WATCHDOG_USEC => 200000, WATCHDOG_PID => 1);
ok(receive(\@got, 10, sub { $_[0] =~ /^READY=1$/m }), 'WATCHDOG_PID=1: READY=1 all the same');
receive(\@got, 1);
is(scalar(grep { /^WATCHDOG=1$/m } texts(\@got)), 0, 'but no WATCHDOG=1');

$t->done;
