#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# No descriptor droverd was started with reaches app code: droverd runs
# with a root-only 0600 file open as fd 9 without close-on-exec (what a
# careless init script or a parent leaves behind); its preloaders and
# workers, with preload on and off, have no such fd, stdin is /dev/null,
# stdout and stderr are not droverd's own, and every fd past 2 is one of
# their own (sockets, pipes, epoll and the like).
#
# Also the manager's app check, a fork of droverd without exec that loads
# the app as the pool's user, at start and on every reload: the constructor
# of apps/fdprobe.c records what it finds open there, and that is fd 0-2 on
# /dev/null and its result pipe as fd 3, nothing else (before: every pool's
# listening sockets, the control socket, the preloader channels, the
# scoreboards, the inherited fd 9 and droverd's own log as fd 2).
# And a constructor that turns on the check: one that hangs (after closing
# its result pipe) is killed after 10 s and the reload refused; one that
# forges a log line in its message gets it on the manager's line, escaped;
# one that leaves a child holding the pipe does not stall the reload.

use strict;
use warnings;

use Fcntl qw(O_WRONLY O_APPEND);
use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new;
plan(skip_all => 'apps/fdprobe.so is not built (run make)')
    unless -r $t->app('fdprobe');
$t->has(qw(droverd kit));
my $dir = $t->dir;

# where fdprobe's constructor writes fds.PID; `env DROVER_FDPROBE_DIR;`
# passes it from droverd's environment to the check process, which runs as
# the pool's user
my $probe_dir = "$dir/fdprobe";
mkdir $probe_dir or die "mkdir $probe_dir: $!";
chmod 0777, $probe_dir or die "chmod $probe_dir: $!";
$ENV{DROVER_FDPROBE_DIR} = $probe_dir;

my $secret = $t->write_file("$dir/secret", "root only\n", 0600);

# fd 9, inherited across exec: above $^F Perl sets close-on-exec, and
# dup2() clears it anyway
{
    local $^F = 100;
    sysopen(my $fh, $secret, O_WRONLY | O_APPEND) or die "open $secret: $!";
    POSIX::dup2(fileno $fh, 9) == 9 or die "dup2: $!";
    close $fh;
}
is(readlink("/proc/$$/fd/9"), $secret, 'the test holds the file as fd 9');
my ($flags) = $t->read_file("/proc/$$/fdinfo/9") =~ /^flags:\s*(\d+)/m;
is(oct($flags // 0) & 02000000, 0, 'without close-on-exec');

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}

pool off {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/off.sock;
    workers 1;
    preload off;
}

pool probe {
    app     %%APPS%%/fdprobe.so;
    listen  unix:%%DIR%%/probe.sock;
    workers 1;
    env     DROVER_FDPROBE_DIR;
}
EOF

POSIX::close(9);

is(readlink("/proc/" . $t->pid . "/fd/9"), $secret, 'droverd itself was started with it as fd 9');

# fd => target, from a worker's own /fds
sub worker_fds {
    my ($pool, $k) = @_;
    my $r = $t->get('/fds', socket => $t->slot_path($k, $pool));
    return undef unless $r->{complete} && $r->{status} == 200;
    return { map { split / /, $_, 2 } split /\n/, $r->{body} };
}

# its own fds: never a file, and not droverd's log on 1 and 2
sub check_fds {
    my ($who, $fds) = @_;

    ok($fds && %$fds, "$who: lists its fds") or return;
    ok(!grep({ $_ eq $secret } values %$fds), "$who: the root-only file is not among them")
        or diag(explain $fds);
    is($fds->{0}, '/dev/null', "$who: stdin is /dev/null");
    ok(!grep({ ($fds->{$_} // '') eq $t->log_path } 1, 2),
       "$who: stdout and stderr are not droverd's log (the pool's output socket)");

    my @files = grep { $_ > 2 && $fds->{$_} !~ /^(socket|pipe|anon_inode):/ } keys %$fds;
    ok(!@files, "$who: every fd past 2 is a socket, pipe or anon inode")
        or diag(join "\n", map { "$_ -> $fds->{$_}" } sort { $a <=> $b } @files);
}

check_fds("pool kit worker $_ (preload on)", worker_fds('kit', $_)) for 0, 1;
check_fds('pool off worker 0 (preload off)', worker_fds('off', 0));

# the preloaders and workers as /proc shows them, from outside
my @family = map { $_->[0] } $t->family;
cmp_ok(scalar @family, '>=', 4, 'a preloader and three workers to look at');

for my $pid (@family) {
    my %fds;
    opendir(my $d, "/proc/$pid/fd") or next;
    for my $fd (grep { /^\d+$/ } readdir $d) {
        my $to = readlink "/proc/$pid/fd/$fd";
        $fds{$fd} = $to if defined $to;
    }
    check_fds("process $pid", \%fds);
}

# ---- the app check: what fdprobe's constructor found open ----

# pid => { cmdline, uid, fds => { fd => target } } of the processes that
# ran the manager's app check (not a preloader, not a worker)
sub check_records {
    my %rec;

    opendir(my $d, $probe_dir) or return {};
    for my $name (grep { /^fds\.\d+$/ } readdir $d) {
        my ($pid) = $name =~ /(\d+)/;
        my %r = (fds => {});
        for (split /\n/, $t->read_file("$probe_dir/$name")) {
            if (/^fd (\d+) (.*)$/) { $r{fds}{$1} = $2 }
            elsif (/^(cmdline|uid) (.*)$/) { $r{$1} = $2 }
        }
        next if ($r{cmdline} // '') =~ /--(preloader|worker)\b/;
        $rec{$pid} = \%r;
    }

    return \%rec;
}

sub check_check_fds {
    my ($who, $r) = @_;
    my $fds = $r->{fds};

    is(join(' ', sort { $a <=> $b } keys %$fds), '0 1 2 3', "$who: fds 0-3 only")
        or diag(join "\n", map { "$_ -> $fds->{$_}" } sort { $a <=> $b } keys %$fds);
    is(join(' ', map { $fds->{$_} // 'closed' } 0, 1, 2), '/dev/null /dev/null /dev/null',
       "$who: 0, 1 and 2 are /dev/null");
    like($fds->{3} // 'closed', qr/^pipe:/, "$who: 3 is its result pipe");
    ok(!grep({ /^socket:/ } values %$fds), "$who: no socket (listening, control, channel)");
    ok(!grep({ $_ eq $t->log_path } values %$fds), "$who: not droverd's log");
    ok(!grep({ $_ eq $secret } values %$fds), "$who: not the root-only file of fd 9");
    ok(!grep({ m{/memfd:|\(deleted\)|/dev/shm/} } values %$fds), "$who: no scoreboard");

    SKIP: {
        skip 'not root: the check runs as droverd\'s own user', 1 unless $> == 0;
        is($r->{uid}, scalar getpwnam('nobody'), "$who: the constructor ran as the pool's user");
    }
}

my $at_start = check_records();
is(scalar keys %$at_start, 1, 'the app check at start ran fdprobe\'s constructor once')
    or diag(explain $at_start);
check_check_fds("app check at start (pid $_)", $at_start->{$_}) for keys %$at_start;

is($t->reload(serves => 3), 'serves', 'reload: the three pools serve a new generation');

my $during_reload;
$t->wait_for(sub {
    my $all = check_records();
    my @new = grep { !$at_start->{$_} } keys %$all;
    $during_reload = { map { ($_ => $all->{$_}) } @new };
    return @new > 0;
}, 10);
is(scalar keys %$during_reload, 1, 'the reload\'s app check ran fdprobe\'s constructor once')
    or diag(explain $during_reload);
check_check_fds("app check during the reload (pid $_)", $during_reload->{$_})
    for keys %$during_reload;

# ---- a hostile constructor in the app check ----

# the forged line is text in the manager's line, which says [alert] in it
$t->allow_alert(qr/reload refused.*forged by the app check/);

$t->write_file("$probe_dir/check_mode", "forge\n", 0644);
my $mark = $t->log_mark;
is($t->reload, 'refused', 'forge: the reload is refused');
ok($t->wait_log(qr/reload refused.*check failed\?2026\/01\/01 00:00:00 \[alert\] 1#0: forged/,
                5, 1, $mark), 'forge: its message on the manager\'s line, the newline shown as "?"');
ok(!$t->log_grep(qr/^2026\/01\/01 /), 'forge: no line of the log is the forged one');

$t->write_file("$probe_dir/check_mode", "hang\n", 0644);
my $before = check_records();
my $start = time;
is($t->reload(timeout => 30), 'refused', 'hang: the reload is refused');
my $took = time - $start;
cmp_ok($took, '>=', 9, sprintf('hang: after the 10 s the check may take (%.1f s)', $took));
cmp_ok($took, '<', 15, 'hang: not much longer');
ok($t->log_grep(qr/reload refused.*pool "probe": loading app \S+ took over 10 s in the check process, which was killed/),
   'hang: "took over 10 s in the check process, which was killed"');
my @hung = grep { !$before->{$_} } keys %{ check_records() };
is(scalar @hung, 1, 'hang: one check process ran');
ok(@hung && !kill(0, $hung[0]), "hang: the check process ($hung[0]) is gone");
my $r = $t->get('/', socket => $t->slot_path(0, 'kit'));
is($r->{status}, 200, 'hang: pool kit still serves');

$t->write_file("$probe_dir/check_mode", "daemon\n", 0644);
$start = time;
is($t->reload(serves => 3, timeout => 30), 'serves',
   'daemon: the reload goes on though a child of the check holds its pipe');
$took = time - $start;
cmp_ok($took, '<', 8, sprintf('daemon: in %.1f s, not after the child\'s 30 s', $took));
my ($daemon) = $t->read_file("$probe_dir/daemon.pid") =~ /^(\d+)/;
ok($daemon, 'daemon: the child was there' . ($daemon ? " ($daemon)" : ''));
kill 'KILL', $daemon if $daemon;

unlink "$probe_dir/check_mode";
is($t->reload(serves => 3), 'serves', 'a well-behaved check again: the reload serves');

is($t->read_file($secret), "root only\n", 'the root-only file is unchanged');

$t->done;
