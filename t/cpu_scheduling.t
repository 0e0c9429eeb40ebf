#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# cpu_scheduling: a pool's processes run under SCHED_BATCH unless the pool
# says `normal` or `idle`; droverd itself stays SCHED_OTHER. Checked in
# /proc/PID/stat (field 41, the policy) for the preloader and workers of an
# app pool, for an exec pool's program, and after a reload that changes the
# policy; the workers serve meanwhile. A bad value is refused by
# `droverd -t` with the file and line. The app as an attacker (kit's
# /sched): a batch worker may go to normal (nothing gained) but not to a
# real-time policy; an idle worker cannot leave idle, even though droverd
# was started with RLIMIT_NICE 20 (which sched(7) would let it use): an
# idle pool's processes get RLIMIT_NICE 0.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

my %POLICY = (0 => 'normal', 3 => 'batch', 5 => 'idle');

# the scheduling policy of a process, by name
sub policy {
    my ($pid) = @_;

    my $stat = $t->read_file("/proc/$pid/stat");
    return 'gone' unless defined $stat && $stat =~ /\)\s+(.*)$/s;
    my @f = split ' ', $1;         # from field 3 on
    return $POLICY{ $f[38] } // "policy $f[38]";
}

sub children {
    my ($pid) = @_;
    my $text = $t->read_file("/proc/$pid/task/$pid/children") // '';
    return split ' ', $text;
}

sub conf {
    my ($kit2) = @_;
    return <<"EOF";
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}

pool kit2 {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit2.sock;
    workers 1;
    cpu_scheduling $kit2;
}

pool idle {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/idle.sock;
    workers 1;
    preload off;
    cpu_scheduling idle;
}

pool prog {
    exec    /bin/sleep 600;
    listen  unix:%%DIR%%/prog.sock;
    workers 1;
    cpu_scheduling normal;
}
EOF
}

sub served {
    my ($pool) = @_;
    my $r = $t->get('/pid', pool => $pool, timeout => 5);
    return $r->{complete} && $r->{body} =~ /^\d+\n$/;
}

# what an idle worker could use to leave idle, were it inherited (raising
# it takes CAP_SYS_RESOURCE, which a container may not grant)
my ($pr_code, $pr_out) = $t->run_cmd(['prlimit', "--pid=$$", '--nice=20:20'], 10);
my $nice_raised = $pr_code == 0;
chomp $pr_out;
diag("cannot raise RLIMIT_NICE here ($pr_out): the idle checks below run with the "
     . "inherited 0, so they do not tell droverd's RLIMIT_NICE 0 from it") unless $nice_raised;

# the exec pool's own socket is not bound, so run() is not left to wait for it
$t->write_conf(conf('normal'))->run(wait => 0);

ok($t->wait_for(sub { $t->up_pids('kit') == 2 && $t->up_pids('kit2') == 1
                      && $t->up_pids('idle') == 1 && $t->up_pids('prog') == 1 }, 10),
   'every pool up');

is(policy($t->pid), 'normal', 'droverd itself: normal');

my @kit = $t->up_pids('kit');
is_deeply([map { policy($_) } @kit], [qw(batch batch)], 'default: both workers batch');

# the preloader: a child of droverd that is no worker
my %worker = map { $_ => 1 } (@kit, $t->up_pids('kit2'), $t->up_pids('idle'), $t->up_pids('prog'));
my @preloaders = grep { !$worker{$_} } children($t->pid);
my %pre_policy;
$pre_policy{ policy($_) }++ for @preloaders;
is_deeply(\%pre_policy, { batch => 1, normal => 1 },
          'the preloaders of kit (batch) and kit2 (normal); idle has none (preload off)')
    or diag(join ' ', map { "$_=" . policy($_) } @preloaders);

my @kit2_before = $t->up_pids('kit2');
is(policy($kit2_before[0]), 'normal', 'cpu_scheduling normal: the worker');
is(policy(($t->up_pids('idle'))[0]), 'idle', 'cpu_scheduling idle, preload off: the worker');
is(policy(($t->up_pids('prog'))[0]), 'normal', 'cpu_scheduling normal: an exec pool\'s program');

ok(served('kit'), 'a batch worker serves');
ok(served('idle'), 'an idle worker serves');

# ---- the app tries to change its own policy ----

sub sched {
    my ($pool, $to) = @_;
    my $r = $t->get("/sched?to=$to", pool => $pool, timeout => 5);
    return $r->{complete} ? $r->{body} : "no answer: " . ($r->{error} // '');
}

like(sched('idle', 'normal'), qr/^to normal: Operation not permitted, now idle$/,
     'an idle worker cannot move itself to normal');
like(sched('idle', 'batch'), qr/^to batch: Operation not permitted, now idle$/,
     'nor to batch');
SKIP: {
    skip 'RLIMIT_NICE could not be raised for droverd (no CAP_SYS_RESOURCE)', 2
        unless $nice_raised;
    like($t->read_file('/proc/' . $t->pid . '/limits') // '',
         qr/^Max nice priority\s+20\s+20\s*$/m, 'droverd runs with RLIMIT_NICE 20');
    like($t->read_file('/proc/' . ($t->up_pids('idle'))[0] . '/limits') // '',
         qr/^Max nice priority\s+0\s+0\s*$/m, 'the idle worker\'s RLIMIT_NICE is 0');
}
like(sched('kit', 'fifo'), qr/^to fifo: Operation not permitted, now batch$/,
     'a batch worker cannot make itself real-time');
like(sched('kit2', 'batch'), qr/^to batch: ok, now batch$/,
     'a normal worker may move itself to batch (no privilege, nothing gained)');

# ---- a reload that changes the policy: new workers get it ----

$t->write_conf(conf('batch'));
is($t->reload(serves => 1), 'serves', 'reload with kit2 at batch');
# (kit2's worker moved itself to batch above: the new worker proves the reload)
my ($kit2_old) = @kit2_before;
ok($t->wait_for(sub { my @p = $t->up_pids('kit2'); @p == 1 && $p[0] != $kit2_old
                                             && policy($p[0]) eq 'batch' }, 10),
   'kit2\'s new worker: batch');
ok(served('kit2'), 'it serves');
# kit rolls over one worker at a time after the reload: its .slots file may
# still name a worker that is stopping
my @kit_after;
ok($t->wait_for(sub { @kit_after = map { policy($_) } $t->up_pids('kit');
                      "@kit_after" eq 'batch batch' }, 10), 'kit: still batch')
    or diag("kit's workers: @kit_after");

# ---- a bad value ----

my $bad = $t->write_file('bad.conf', <<"EOF");
pool p {
    app     @{[ $t->build ]}/apps/kit.so;
    listen  unix:$dir/p.sock;
    cpu_scheduling fifo;
}
EOF
my ($code, $out) = $t->droverd_cmd('-t', '-c', $bad);
isnt($code, 0, 'droverd -t refuses cpu_scheduling fifo');
like($out, qr/bad\.conf:4: .*"cpu_scheduling" needs "batch", "normal" or "idle", got "fifo"/,
     'with the file, the line and the values it takes') or diag($out);

$t->done;
