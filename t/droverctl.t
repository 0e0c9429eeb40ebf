#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# droverctl against a real droverd through the control socket: status as a
# table and as JSON, scale, restart, reload, stop (per-pool reload, stop
# and start: t/pool_ops.t); and its exit codes when
# droverd is not there (3), when the socket is not ours (3), on a bad
# answer (4) and on bad usage (2).

use strict;
use warnings;

use IO::Socket::UNIX;
use JSON::PP;
use POSIX ();
use Socket qw(SOCK_STREAM);
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $ctl = $t->build . '/droverctl';

plan(skip_all => 'droverctl is not built (run make)') unless -x $ctl;

$t->write_conf(<<'EOF')->run;
control unix:%%DIR%%/ctl.sock;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

my $sock = $t->dir . '/ctl.sock';
my $listen = $t->socket_path('kit');

# droverctl -s SOCK ARGS...: (exit code, output: stdout and stderr)
sub ctl {
    my (@args) = @_;
    return $t->run_cmd([$ctl, '-s', $sock, @args], 20);
}

# the JSON droverctl --json printed, or undef
sub ctl_json {
    my (@args) = @_;

    my ($code, $out) = ctl('--json', @args);
    return undef unless $code == 0;
    return eval { decode_json($out) };
}

ok($t->wait_for(sub { -S $sock }, 10), 'the control socket is there')
    or diag($t->log);
like($t->log, qr/control socket \Q$sock\E/, 'droverd logged it');
is((stat $sock)[2] & 07777, 0600, 'mode 0600 by default');


# ---- status ----

my @pids = map { $t->slot_pid($_) } 0, 1;
ok($pids[0] && $pids[1], "workers $pids[0] and $pids[1] answer");

my ($code, $out) = ctl('status');
is($code, 0, 'status: exit 0') or diag($out);
like($out, qr/^droverd \d+\.\d+\.\d+, pid ${\ $t->pid}/m, 'status: droverd line');
like($out, qr/^POOL\s+GEN\s+STATE\s+BUSY\/WORKERS/m, 'status: the pools table');
like($out, qr/^kit\s+\d+\s+\S+\s+\d+\/2\s/m, 'status: the pool kit, 2 workers');
like($out, qr/^\s+SLOT\s+PID\s+GEN\s+STATE/m, 'status: the workers table');
like($out, qr/^\s+0\s+$pids[0]\s/m, "status: slot 0 is $pids[0]");
like($out, qr/^\s+1\s+$pids[1]\s/m, "status: slot 1 is $pids[1]");
unlike($out, qr/[\x00-\x08\x0b-\x1f\x7f]/, 'status: no control characters');

($code, $out) = ctl('status', 'kit');
is($code, 0, 'status kit: exit 0');
like($out, qr/^kit\s/m, 'status kit: the pool');

($code, $out) = ctl('status', 'nope');
is($code, 1, 'status of an unknown pool: exit 1');
like($out, qr/^droverctl: .*nope/m, 'status of an unknown pool: droverd\'s message');

my $st = ctl_json('status');
ok($st, 'status --json: parses') or diag(ctl('--json', 'status'));
$st ||= {};

is($st->{droverd}{pid}, $t->pid, 'json: droverd.pid');
like($st->{droverd}{version} || '', qr/^\d+\.\d+\.\d+$/, 'json: droverd.version');
ok(exists $st->{droverd}{$_}, "json: droverd.$_") for qw(uptime_ms config);

my ($kit) = grep { ($_->{name} || '') eq 'kit' } @{ $st->{pools} || [] };
ok($kit, 'json: pool kit');
$kit ||= {};

ok(exists $kit->{$_}, "json: pool.$_") for qw(
    name generation listen workers state requests_total requests_per_s
    busy_fraction_1m busy_target_low busy_target_high advice
    memory_shared_bytes memory_private_bytes memory_budget_bytes
    queue_depth queue_wait_ms prestart workers_detail);

is($kit->{workers}, 2, 'json: 2 workers');
is($kit->{listen}, $listen, 'json: listen');
like($kit->{state} || '', qr/^(serving|starting|reloading|failing)$/, 'json: a known state');

my @detail = @{ $kit->{workers_detail} || [] };
is(scalar @detail, 2, 'json: 2 workers in detail');
is_deeply([sort map { $_->{pid} } @detail], [sort @pids], 'json: their pids');

for my $field (qw(slot pid generation state requests current_uri current_ms
                  cpu_percent_1s cpu_percent_1m rss_bytes pss_bytes uss_bytes
                  uptime_ms restarts exits last_exit))
{
    ok(!grep({ !exists $_->{$field} } @detail), "json: worker.$field");
}

($code, $out) = ctl('version');
is($code, 0, 'version: exit 0');
like($out, qr/^droverd \d+\.\d+\.\d+, pid ${\ $t->pid}/m, 'version: droverd\'s');
like($out, qr/^droverctl \d+\.\d+\.\d+$/m, 'version: droverctl\'s');

# the socket from the environment
($code, $out) = $t->run_cmd([$ctl, 'status'], 20, env => { DROVER_CONTROL => $sock });
is($code, 0, 'DROVER_CONTROL names the socket') or diag($out);

# top without a terminal: one frame
($code, $out) = ctl('top');
is($code, 0, 'top without a tty: exit 0') or diag($out);
like($out, qr/^kit\s/m, 'top without a tty: one frame');
unlike($out, qr/\e/, 'top without a tty: no escape sequences');


# ---- scale, restart ----

($code, $out) = ctl('scale', 'kit', 3);
is($code, 0, 'scale kit 3: exit 0') or diag($out);

my $third;
ok($t->wait_for(sub { $third = $t->slot_pid(2, timeout => 1) }, 2, 0.05),
   'scale kit 3: a third worker answers on kit.sock.2 within 2 s') or diag($t->log);

$st = ctl_json('status', 'kit') || {};
is($st->{pools}[0]{workers}, 3, 'scale kit 3: status says 3 workers');

@pids = ((map { $t->slot_pid($_) } 0, 1), $third);

($code, $out) = ctl('restart', 'kit');
is($code, 0, 'restart kit: exit 0') or diag($out);

my @new;
ok($t->wait_for(sub {
    @new = map { $t->slot_pid($_, timeout => 2) } 0 .. 2;
    return !grep { !defined $new[$_] || $new[$_] == $pids[$_] } 0 .. 2;
}, 30, 0.1), 'restart kit: every worker was replaced')
    or diag("before @pids, after @{[ map { $_ // 'none' } @new ]}\n" . $t->log);

($code, $out) = ctl('restart', 'nope');
is($code, 1, 'restart of an unknown pool: exit 1');
like($out, qr/nope/, 'restart of an unknown pool: said so');


# ---- reload ----

my $mark = $t->log_mark;
($code, $out) = ctl('reload');
is($code, 0, 'reload: exit 0') or diag($out);
ok(scalar $t->wait_log(qr/reloading/, 10, 1, $mark), 'reload: droverd logs "reloading"');
ok(scalar $t->wait_log(qr/generation \d+ serves/, 20, 1, $mark), 'reload: the new generation serves');


# ---- a socket we may not open: exit 3 ----

SKIP: {
    my @as = ();

    if ($> == 0) {
        skip 'no setpriv to run droverctl as nobody', 2 unless -x '/usr/bin/setpriv';
        @as = ('/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups');
    }

    chmod 0000, $sock;
    ($code, $out) = $t->run_cmd([@as, $ctl, '-s', $sock, 'status'], 20);
    chmod 0600, $sock;

    is($code, 3, 'a socket we may not open: exit 3');
    like($out, qr/^droverctl: cannot open \Q$sock\E: permission denied \(run as root or as a member of the control socket's group\)$/m,
         'a socket we may not open: the message') or diag($out);
}


# ---- stop ----

($code, $out) = ctl('stop');
is($code, 0, 'stop: exit 0') or diag($out);
ok($t->wait_exit(20), 'stop: droverd exits');
is($t->exit_code, 0, 'stop: with code 0');
ok(!-e $sock, 'stop: the control socket file is gone');


# ---- droverd not running: exit 3 ----

($code, $out) = ctl('status');
is($code, 3, 'no droverd: exit 3');
like($out, qr/^droverctl: droverd is not running \(no control socket at \Q$sock\E\)$/m,
     'no droverd: the message');

($code, $out) = $t->run_cmd([$ctl, '-s', $t->dir . '/nodir/x.sock', 'version'], 20);
is($code, 3, 'no such directory: exit 3');


# ---- a bad answer: exit 4 ----

{
    my $bad = $t->dir . '/bad.sock';
    my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $bad, Listen => 5)
        or die "listen $bad: $!";

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $c = $srv->accept or POSIX::_exit(1);
        my $line = <$c>;
        print $c "this is not json\n";
        close $c;
        POSIX::_exit(0);
    }

    close $srv;
    ($code, $out) = $t->run_cmd([$ctl, '-s', $bad, 'status'], 20);
    waitpid($pid, 0);

    is($code, 4, 'a bad answer: exit 4');
    like($out, qr/not JSON/, 'a bad answer: said so');
}


# ---- usage: exit 2 ----

for my $args ([], ['frobnicate'], ['scale', 'kit'], ['scale', 'kit', '0'],
              ['scale', 'kit', '257'], ['scale', 'kit', 'many'], ['restart'],
              ['reload', 'a', 'b'], ['stop', 'a', 'b'], ['start'],
              ['start', 'a', 'b'], ['stop', 'a/b'], ['reload', 'x' x 65],
              ['status', 'a', 'b'], ['--bogus', 'status'], ['--json', 'top'])
{
    ($code, $out) = $t->run_cmd([$ctl, '-s', $sock, @$args], 20);
    is($code, 2, "usage: droverctl @$args: exit 2");
    like($out, qr/^usage: droverctl/m, "usage: droverctl @$args: prints the usage");
}

($code, $out) = $t->run_cmd([$ctl, '--help'], 20);
is($code, 0, '--help: exit 0');
like($out, qr/exit codes/, '--help: documents the exit codes');

$t->done;
