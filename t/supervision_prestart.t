#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# prestart: the commands run once, in order, before any worker starts, as
# the pool's user, their output in the log, under an exclusive flock on
# RUN_DIR/prestart-POOL.lock (two droverd sharing run_dir and pool name
# never run them at the same time).  A failure (exit code, signal,
# prestart_timeout) stops droverd before any worker starts, with the
# command's last output in the message.  A reload runs them again before
# the new generation; a failure then keeps the old generation serving.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

# as root the commands run as nobody: the script must be executable and
# its output files writable for it (the temp dir is 0755)
my $uid = Drover::Test::is_root() ? (getpwnam('nobody'))[2] : $>;

# migrate.sh TAG [SLEEP] [OUT]: appends "TAG begin T uid U" and "TAG end T"
# to OUT (DIR/prestart.out), prints "migrated TAG"; with DIR/fail present
# it prints "migration 7 failed" and exits 3
$t->write_file('migrate.sh', <<"EOF", 0755);
#!/bin/sh
out=\${3:-$dir/prestart.out}
echo "\$1 begin \$(date +%s.%N) uid \$(id -u) pid \$\$" >> "\$out"
if [ -e $dir/fail ]; then
    echo "migration 7 failed"
    exit 3
fi
[ -n "\$2" ] && sleep "\$2"
echo "\$1 end \$(date +%s.%N)" >> "\$out"
echo "migrated \$1"
EOF
$t->write_file('prestart.out', '', 0666);
chmod 0666, "$dir/prestart.out";

sub begins {
    my ($path) = @_;
    return grep { / begin / } split /\n/, $t->read_file($path || 'prestart.out');
}

# ---- once, before any worker, as the pool's user ----

$t->write_conf(<<'EOF')->run;
log_level info;
run_dir   %%DIR%%;

pool kit {
    app      %%APPS%%/kit.so;
    listen   unix:%%DIR%%/kit.sock;
    workers  4;
    prestart %%DIR%%/migrate.sh first;
    prestart %%DIR%%/migrate.sh second;
}
EOF

my @lines = begins();
is(scalar @lines, 2, 'with 4 workers, each prestart command ran exactly once')
    or diag($t->read_file('prestart.out'));
like($lines[0] // '', qr/^first begin /, 'first the first command');
like($lines[1] // '', qr/^second begin /, 'then the second');
like($lines[0] // '', qr/ uid $uid /, "as the pool's user (uid $uid)");

my $log = $t->log;
ok($log =~ /pool kit: prestart \S*migrate\.sh: migrated first/,
   'the command\'s output is in the log, "pool kit: prestart ..."');
my $done_at = index $log, 'migrated second';
my $worker_at = index $log, 'pool kit: worker 0 started';
my $preloader_at = index $log, 'pool kit: preloader started';
ok($done_at >= 0 && $worker_at > $done_at && $preloader_at > $done_at,
   'the prestart commands ended before the preloader and any worker started');
ok(-e "$dir/prestart-kit.lock", 'the lock file is RUN_DIR/prestart-kit.lock');
is(scalar(grep { defined } $t->worker_pids), 4, 'four workers serve');

# ---- again on reload, before the new generation ----

my $mark = $t->log_mark;
is($t->reload, 'serves', 'reload: the new generation serves');
@lines = begins();
is(scalar @lines, 4, 'the prestart commands ran once more on reload');
$log = $t->log_since($mark);
ok(index($log, 'migrated second') >= 0
   && index($log, 'migrated second') < index($log, 'preloader started'),
   'before the new generation\'s preloader started');

# ---- a failure on reload keeps the old generation ----

my @pids = $t->worker_pids;
$t->write_file('fail', '');
$mark = $t->log_mark;
is($t->reload, 'failed', 'a failing prestart on reload: "reload failed"');
ok($t->wait_log(qr/pool kit: reload failed: .*migration 7 failed/, 5, 1, $mark),
   'the message has the command\'s output') or diag($t->log_since($mark));
is_deeply([$t->worker_pids], \@pids, 'the old workers keep serving');
unlink "$dir/fail";

$mark = $t->log_mark;
is($t->reload, 'serves', 'once it succeeds, the reload goes through');

$t->stop;
is($t->exit_code, 0, 'droverd stops with 0');

# ---- two droverd, one run_dir and pool name: never at the same time ----

# two harnesses, each its own dir and sockets, RUN_DIR of both is $dir
my @two = map { Drover::Test->new->has(qw(droverd kit)) } 1, 2;
my $overlap = "$dir/overlap.out";
$t->write_file($overlap, '', 0666);
chmod 0666, $overlap;

for my $i (0, 1) {
    $two[$i]->write_conf(<<"EOF");
run_dir $dir;

pool shared {
    app      %%APPS%%/kit.so;
    listen   unix:%%DIR%%/shared.sock;
    workers  1;
    prestart $dir/migrate.sh run$i 0.3 $overlap;
}
EOF
}

$_->run(wait => 0) for @two;
ok($two[$_]->wait_sockets(10) && $two[$_]->wait_ready(10), "droverd $_ of two serves")
    for 0, 1;

my %at;
for (split /\n/, $t->read_file($overlap)) {
    $at{$1}{$2} = $3 if /^(\S+) (begin|end) (\S+)/;
}
is(scalar(grep { $at{$_}{begin} && $at{$_}{end} } keys %at), 2, 'both ran their prestart')
    or diag($t->read_file($overlap));
my ($x, $y) = sort { $at{$a}{begin} <=> $at{$b}{begin} } keys %at;
ok($x && $y && $at{$x}{end} <= $at{$y}{begin},
   sprintf('the runs did not overlap (%s ended %.3f s before %s began)',
           $x // '-', ($at{$y}{begin} // 0) - ($at{$x}{end} // 0), $y // '-'));

is(scalar(grep { $_->log =~ /pool shared: .*waiting for the lock on \Q$dir\E\/prestart-shared\.lock/ } @two), 1,
   'one of them logged that it waits for the lock on RUN_DIR/prestart-shared.lock')
    or diag(join "\n----\n", map { $_->log } @two);

for my $other (@two) {
    $other->stop;
    $other->check_logs;
}

# ---- a failing prestart: droverd exits, no worker ever starts ----

# start a droverd whose pool has @prestart lines; returns the harness
# after it exited (or 8 s passed) and the seconds that took
sub failing_start {
    my (@prestart) = @_;

    my $f = Drover::Test->new->has(qw(droverd kit));
    $f->allow_alert(qr/\[emerg\] .*pool kit: prestart failed/);

    my $lines = join '', map { "    $_\n" } @prestart;
    $f->write_conf(<<"EOF");
log_level info;
run_dir   %%DIR%%;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
$lines}
EOF

    my $start = time;
    $f->run(wait => 0);

    # the pool must not answer at any point while the prestart runs
    my $answered = 0;
    $f->wait_for(sub {
        $answered++ if $f->get('/', timeout => 0.2)->{complete};
        return !$f->alive;
    }, 8, 0.05);

    return ($f, time - $start, $answered);
}

sub check_failed_start {
    my ($what, $f, $took, $answered, $message) = @_;

    ok(!$f->alive, "$what: droverd exits") or $f->stop;
    ok(defined $f->exit_code && $f->exit_code != 0,
       "$what: with a non-zero exit code (" . $f->exit_text . ')');
    cmp_ok($took, '<', 5, sprintf("$what: within %.1f s", $took));
    like($f->log, $message, "$what: the message has the reason and the command's output")
        or diag($f->log);
    ok(!$f->log_grep(qr/worker \d+ started|preloader started/), "$what: no worker ever started");
    is($answered, 0, "$what: nothing answered on the pool's socket");
    $f->check_logs;
}

check_failed_start('exit 3', failing_start("prestart $dir/migrate.sh ok;",
                                           "prestart /bin/sh -c 'echo migration 7 failed; exit 3';"),
                   qr/\[emerg\] .*pool kit: prestart failed: .*exited with code 3.*migration 7 failed/);

check_failed_start('signal', failing_start("prestart /bin/sh -c 'echo about to die; kill -9 \$\$';"),
                   qr/\[emerg\] .*pool kit: prestart failed: .*signal 9.*about to die/);

# the command that timed out is killed, not left behind
my $pidfile = "$dir/slow.pid";
$t->write_file($pidfile, '', 0666);
chmod 0666, $pidfile;
my @failed = failing_start('prestart_timeout 1s;',
                           "prestart /bin/sh -c 'echo \$\$ > $pidfile; echo waiting for the database; exec sleep 30';");
check_failed_start('prestart_timeout 1s', @failed,
                   qr/\[emerg\] .*pool kit: prestart failed: .*timed out.*waiting for the database/);
my ($slow) = $t->read_file($pidfile) =~ /(\d+)/;
ok($slow && !-e "/proc/$slow", 'prestart_timeout: the command was killed');
cmp_ok($failed[1], '>=', 0.9, 'prestart_timeout: not before the timeout');

$t->done;
