#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# cpu_scheduling: a pool's processes run under SCHED_BATCH unless the pool
# says `normal` or `idle`; droverd itself stays SCHED_OTHER. Checked in
# /proc/PID/stat (field 41, the policy) for the preloader and workers of an
# app pool, for an exec pool's program, and after a reload that changes the
# policy; the workers serve meanwhile. A bad value is refused by
# `droverd -t` with the file and line.

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

sub up_pids {
    my ($pool) = @_;
    return grep { $_ > 0 } map { /^\d+ up (\d+)$/ ? $1 : () }
        split /\n/, $t->read_file("$pool.sock.slots") // '';
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

# the exec pool's own socket is not bound, so run() is not left to wait for it
$t->write_conf(conf('normal'))->run(wait => 0);

ok($t->wait_for(sub { up_pids('kit') == 2 && up_pids('kit2') == 1
                      && up_pids('idle') == 1 && up_pids('prog') == 1 }, 10),
   'every pool up');

is(policy($t->pid), 'normal', 'droverd itself: normal');

my @kit = up_pids('kit');
is_deeply([map { policy($_) } @kit], [qw(batch batch)], 'default: both workers batch');

# the preloader: a child of droverd that is no worker
my %worker = map { $_ => 1 } (@kit, up_pids('kit2'), up_pids('idle'), up_pids('prog'));
my @preloaders = grep { !$worker{$_} } children($t->pid);
my %pre_policy;
$pre_policy{ policy($_) }++ for @preloaders;
is_deeply(\%pre_policy, { batch => 1, normal => 1 },
          'the preloaders of kit (batch) and kit2 (normal); idle has none (preload off)')
    or diag(join ' ', map { "$_=" . policy($_) } @preloaders);

is(policy((up_pids('kit2'))[0]), 'normal', 'cpu_scheduling normal: the worker');
is(policy((up_pids('idle'))[0]), 'idle', 'cpu_scheduling idle, preload off: the worker');
is(policy((up_pids('prog'))[0]), 'normal', 'cpu_scheduling normal: an exec pool\'s program');

ok(served('kit'), 'a batch worker serves');
ok(served('idle'), 'an idle worker serves');

# ---- a reload that changes the policy: new workers get it ----

$t->write_conf(conf('batch'));
is($t->reload(serves => 1), 'serves', 'reload with kit2 at batch');
my @old = @kit;
ok($t->wait_for(sub { my @p = up_pids('kit2'); @p == 1 && policy($p[0]) eq 'batch' }, 10),
   'kit2\'s new worker: batch');
ok(served('kit2'), 'it serves');
is_deeply([map { policy($_) } up_pids('kit')], [qw(batch batch)], 'kit: still batch');

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
