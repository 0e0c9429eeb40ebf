#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# conf.d/droverd.service and conf.d/droverd@.service pass
# `systemd-analyze verify` without a single complaint about them, and say
# what droverd relies on (Type=notify, KillMode=mixed, stop timeout, ...);
# the tenant's unit has cgroup limits (MemoryMax, CPUQuota, TasksMax).
#
# verify wants the ExecStart binaries to exist, so it checks copies with
# /usr/sbin/droverd replaced by the built droverd.  It may also talk about
# the host's own units: only lines naming our units or files count.
# Warnings come on stderr with exit code 0, so the output is what is
# judged; a unit with a seeded mistake proves that this host's verify
# reports them.

use strict;
use warnings;

use Cwd qw(abs_path getcwd);
use File::Temp qw(tempdir);
use Test::More;

my $analyze = (grep { -x } map { "$_/systemd-analyze" }
               split(/:/, $ENV{PATH} || ''), '/usr/bin', '/bin')[0];
plan(skip_all => 'systemd-analyze is not installed (package systemd)')
    unless defined $analyze;

my $build = $ENV{DROVER_BUILD} || 'build';
my $droverd = abs_path("$build/droverd") || getcwd() . "/$build/droverd";
my $src = 'conf.d';

ok(-x $droverd, "the built droverd is there ($droverd)")
    or BAIL_OUT("$droverd is missing: run make first");

my $dir = tempdir('drover-units-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{DROVER_TEST_KEEP});

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# a copy of conf.d/$name in $to, running the built droverd
sub install_unit {
    my ($name, $to, $edit) = @_;

    my $text = slurp("$src/$name");
    $text =~ s{/usr/sbin/droverd\b}{$droverd}g;
    $text = $edit->($text) if $edit;

    open(my $fh, '>', "$to/$name") or die "$to/$name: $!";
    print {$fh} $text;
    close($fh) or die "$to/$name: $!";
}

# (exit code, output lines that concern our units)
sub verify {
    my ($path) = @_;

    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT) or die "dup: $!";
        open(STDIN, '<', '/dev/null') or die "/dev/null: $!";
        exec($analyze, 'verify', '--man=no', $path)
            or exec($analyze, 'verify', $path);
        die "exec $analyze: $!";
    }

    my @lines = <$fh>;
    close($fh);
    my $code = $? >> 8;

    my @ours = grep { /droverd|\Q$dir\E/ } @lines;
    chomp(@ours);

    return ($code, @ours);
}

# "30s", "6min", "1min 30s", "30" (seconds)
sub seconds {
    my ($v) = @_;
    my $s = 0;

    return undef unless defined $v;

    while ($v =~ /(\d+)\s*(ms|s|sec|min|m|h)?/g) {
        my ($n, $u) = ($1, $2 || 's');
        $s += $u eq 'ms' ? $n / 1000
            : $u =~ /^(s|sec)$/ ? $n
            : $u =~ /^(min|m)$/ ? $n * 60
            : $n * 3600;
    }

    return $s;
}

# key => [values] of a unit file (comments and sections ignored)
sub settings {
    my ($path) = @_;
    my %set;

    for (split /\n/, slurp($path)) {
        next if /^\s*([#;]|$|\[)/;
        my ($k, $v) = /^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$/ or next;
        push @{ $set{$k} }, $v;
    }

    return \%set;
}

sub one {
    my ($set, $key) = @_;
    return $set->{$key} ? $set->{$key}[-1] : undef;
}


# ---- systemd-analyze verify ----

install_unit('droverd.service', $dir);
install_unit('droverd@.service', $dir);

my ($code, @out) = verify("$dir/droverd.service");
is($code, 0, 'droverd.service: verify exits 0');
is(join("\n", @out), '', 'droverd.service: verify says nothing about it');

($code, @out) = verify("$dir/droverd\@alice.service");
is($code, 0, 'droverd@alice.service: verify exits 0');
is(join("\n", @out), '', 'droverd@alice.service: verify says nothing about it');

($code, @out) = verify("$dir/droverd\@.service");
is(join("\n", @out), '', 'droverd@.service (the template): nothing either');

# the check itself: a mistake in a copy is reported on this host
{
    my $bad = "$dir/bad";
    mkdir($bad) or die "$bad: $!";
    install_unit('droverd.service', $bad, sub {
        my ($t) = @_;
        $t =~ s/^KillMode=mixed$/KillMode=mixd/m or die 'no KillMode';
        return $t;
    });

    ($code, @out) = verify("$bad/droverd.service");
    ok((grep { /mixd/ } @out),
       'a seeded mistake (KillMode=mixd) is reported: the check can fail')
        or diag(join("\n", @out));

    # through an instance name, verify reads the template, limits included
    install_unit('droverd@.service', $bad, sub {
        my ($t) = @_;
        $t =~ s/^MemoryMax=.*$/MemoryMax=lots/m or die 'no MemoryMax';
        return $t;
    });

    ($code, @out) = verify("$bad/droverd\@alice.service");
    ok((grep { /MemoryMax|lots/ } @out),
       'droverd@alice.service: a seeded MemoryMax=lots is reported')
        or diag(join("\n", @out));
}


# ---- what droverd relies on ----

for my $unit ('droverd.service', 'droverd@.service') {
    my $s = settings("$src/$unit");
    my $tenant = $unit =~ /@/;
    my $conf = $tenant ? '/etc/drover/tenants/%i.conf'
                       : '/etc/drover/droverd.conf';

    is(one($s, 'Type'), 'notify', "$unit: Type=notify");
    is(one($s, 'NotifyAccess'), 'main', "$unit: NotifyAccess=main");
    is(one($s, 'ExecStart'), "/usr/sbin/droverd -c $conf",
       "$unit: ExecStart runs droverd -c $conf in the foreground");
    is(($s->{ExecStartPre} || [])->[0], "/usr/sbin/droverd -t -c $conf",
       "$unit: ExecStartPre checks the config");
    ok((grep { $_ eq '/bin/kill -HUP $MAINPID' } @{ $s->{ExecReload} || [] }),
       "$unit: reload is SIGHUP to droverd");
    is(one($s, 'Restart'), 'on-failure', "$unit: Restart=on-failure");
    is(one($s, 'KillMode'), 'mixed',
       "$unit: KillMode=mixed (SIGTERM to droverd alone, which stops its "
       . 'workers gracefully)');
    cmp_ok(seconds(one($s, 'TimeoutStopSec')) // 0, '>', 10,
           "$unit: TimeoutStopSec beyond the default stop_timeout (10s)");
    cmp_ok(seconds(one($s, 'WatchdogSec')) // 0, '>=', 10,
           "$unit: WatchdogSec (droverd pings every half of it)");
    is(one($s, 'RuntimeDirectory'), $tenant ? 'drover/%i' : 'drover',
       "$unit: RuntimeDirectory");
    is(one($s, 'NoNewPrivileges'), 'yes', "$unit: NoNewPrivileges=yes");

    if ($tenant) {
        is(one($s, 'User'), '%i', "$unit: runs as the tenant's user");
        is(one($s, 'Group'), '%i', "$unit: and group");
        is(one($s, 'CapabilityBoundingSet'), '',
           "$unit: no capabilities at all");

        # one tenant's share of the machine, overridden by drop-ins
        like(one($s, 'MemoryMax') // '', qr/^\d+[KMGT]$/,
             "$unit: MemoryMax (a size)");
        like(one($s, 'MemoryHigh') // '', qr/^\d+[KMGT]$/,
             "$unit: MemoryHigh (a size)");
        like(one($s, 'CPUQuota') // '', qr/^\d+%$/,
             "$unit: CPUQuota (a percentage of one CPU)");
        like(one($s, 'TasksMax') // '', qr/^\d+$/, "$unit: TasksMax");
        cmp_ok(one($s, 'TasksMax') // 0, '>=', 64,
               "$unit: TasksMax leaves room for a few pools' workers");
        like(slurp("$src/$unit"), qr/droverd\@\.service\.d\//,
             "$unit: its comments say how a drop-in overrides the limits");
    } else {
        ok(!defined one($s, 'User'), "$unit: starts as root");

        my %caps = map { $_ => 1 }
                   split(/\s+/, one($s, 'CapabilityBoundingSet') // '');
        my @need = qw(CAP_SETUID CAP_SETGID CAP_CHOWN CAP_KILL);
        is(join(' ', grep { !$caps{$_} } @need), '',
           "$unit: keeps what it needs to switch users, chown sockets and "
           . 'signal workers');
        ok(!$caps{CAP_SYS_ADMIN} && !$caps{CAP_NET_ADMIN},
           "$unit: and nothing like CAP_SYS_ADMIN");
        isnt(one($s, 'ProtectSystem'), 'strict',
             "$unit: apps' data in /var/lib, /srv stays writable");
        ok(!defined one($s, 'ProtectHome') || one($s, 'ProtectHome') eq 'no',
           "$unit: /home (shared hosting) stays reachable");
    }
}

done_testing();
