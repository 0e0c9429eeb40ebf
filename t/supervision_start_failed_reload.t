#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A reload is how a broken app gets its fix: pool "broken" (preload on,
# kit with "app_param fail_init yes") never starts, its preloader dies and
# is retried with backoff; beside it pool "good" serves.  Its pending
# generation used to hold back every SIGHUP of every pool ("one more when
# it is done", never done), so neither the fix nor any other change could
# be loaded without a restart of droverd.
#
# Now: SIGHUP with the fix in the file -> "broken" serves within seconds,
# its old generation's preloader is gone, and "good" was reloaded too (new
# worker pid).  A second SIGHUP still works (nothing left pending).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

sub conf {
    my ($fail) = @_;

    return <<"EOF";
log_level info;

pool good {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/good.sock;
    workers 1;
}

pool broken {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/broken.sock;
    workers   2;
    preload   on;
    app_param fail_init $fail;
}
EOF
}

$t->write_conf(conf('yes'))->run;

ok(scalar $t->wait_log(qr/pool broken: preloader .*the app's init failed/, 10, 1),
   'broken: its preloader failed (it is retried with backoff)');

my ($good0) = $t->worker_pids(pool => 'good');
ok($good0, "good: serves (pid $good0)");

my $r = $t->get('/pid', pool => 'broken');
ok(!$r->{complete}, 'broken: no answer on its socket');

# the fix, then SIGHUP
$t->write_conf(conf('no'));
my $mark = $t->log_mark;
my $t0 = time;
$t->signal('HUP') or BAIL_OUT('SIGHUP failed');

my $served;
$t->wait_for(sub {
    my $x = $t->get('/pid', pool => 'broken', timeout => 2);
    return $served = ($x->{complete} && $x->{body} =~ /^\d+\n$/) ? 1 : 0;
}, 20, 0.1);
ok($served, 'broken: serves after the SIGHUP with the fix')
    or diag($t->log_since($mark));
note(sprintf 'broken served %.2f s after the SIGHUP', time - $t0);

like($t->log_since($mark), qr/pool broken: generation \d+ never started; generation \d+ replaces it/,
     'the log says the new generation replaces the one that never started');

my $good1;
$t->wait_for(sub {
    ($good1) = $t->worker_pids(pool => 'good');
    return $good1 && $good1 != $good0;
}, 20, 0.1);
ok($good1 && $good1 != $good0, "good: reloaded too (pid $good0 -> " . ($good1 // '-') . ')');

my @bad = grep { /pool broken: preloader .*the app's init failed/ } split /\n/, $t->log_since($mark);
$mark = $t->log_mark;
$t->wait_for(sub { 0 }, 1.5, 0.5);    # a backoff retry of the old one would log within this
@bad = grep { /pool broken: preloader .*the app's init failed/ } split /\n/, $t->log_since($mark);
is(scalar @bad, 0, 'no retry of the old generation after the reload');

# nothing is left pending: one more reload works for both pools
is($t->reload(serves => 2), 'serves', 'a second SIGHUP reloads both pools');
ok($t->get('/pid', pool => 'broken')->{complete}, 'broken: still serves');

$t->done;
