#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A worker scribbles over the pool's scoreboard (shared memory it can write,
# found in /proc/self/maps): its own entry and its sibling's, with counters
# near 2^64, an unknown state, a request "running" since before it started,
# a URI of control bytes and non-UTF-8.  The status droverd serves shows
# only clamped, plausible numbers for that pool and says it corrected them;
# the other pool's numbers do not move; no worker is restarted; droverd
# stays up.

use strict;
use warnings;

use JSON::PP;
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $ctl = $t->build . '/droverctl';

plan skip_all => 'droverctl or build/apps/hostile.so is missing: run make'
    unless -x $ctl && -r $t->app('hostile');

$t->write_conf(<<'EOF')->run(timeout => 30);
control unix:%%DIR%%/ctl.sock;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}

pool hostile {
    app     %%APPS%%/hostile.so;
    listen  unix:%%DIR%%/hostile.sock;
    workers 2;
    preload on;
}
EOF

my $sock = $t->dir . '/ctl.sock';
my $cores = do {
    open my $fh, '<', '/proc/cpuinfo' or die;
    scalar(grep { /^processor\s*:/ } <$fh>) || 1;
};

sub status {
    my ($code, $out) = $t->run_cmd([$ctl, '-s', $sock, '--json', 'status'], 20);
    return $code == 0 ? eval { decode_json($out) } : undef;
}

sub pool_of {
    my ($st, $name) = @_;
    return undef unless $st && ref $st->{pools} eq 'ARRAY';
    my ($p) = grep { $_->{name} eq $name } @{ $st->{pools} };
    return $p;
}

ok($t->wait_for(sub { -S $sock }, 10), 'the control socket is there');

my @kit = map { $t->slot_pid($_, pool => 'kit') } 0, 1;
my @hostile;
for my $k (0, 1) {
    my $r = $t->get('/', pool => 'hostile', slot => $k);
    is($r->{body}, "hostile\n", "hostile slot $k answers");
}
my $st0 = status();
@hostile = map { $_->{pid} } @{ pool_of($st0, 'hostile')->{workers_detail} || [] };
is(scalar(grep { defined } @hostile), 2, "hostile's workers: @hostile");

# the kit pool's numbers, once two samples give it rates
ok($t->wait_for(sub { defined((pool_of(status(), 'kit') || {})->{requests_per_s}) }, 10),
   'the kit pool has rates');
my $kit_before = pool_of(status(), 'kit');

my $r = $t->get('/scribble?mode=own', pool => 'hostile', slot => 1);
like($r->{body}, qr/^scribbled own of \d+ entries/, 'slot 1 scribbled its own entry');
$r = $t->get('/scribble?mode=all', pool => 'hostile', slot => 0);
like($r->{body}, qr/^scribbled all of \d+ entries/, 'slot 0 scribbled every entry');

# two samples later every hostile worker shows corrected numbers
my $hp;
ok($t->wait_for(sub {
    $hp = pool_of(status(), 'hostile');
    return 0 unless $hp && defined $hp->{requests_per_s};
    return !grep { !$_->{scoreboard_clamped} } @{ $hp->{workers_detail} };
}, 10), 'droverd says it corrected both hostile entries')
    or diag(explain($hp));

# and once the samples hold the scribbled counters, the rates show them,
# clamped (an honest pool of two idle workers would show about 0)
ok($t->wait_for(sub {
    $hp = pool_of(status(), 'hostile');
    return $hp && ($hp->{requests_per_s} || 0) > 1000 && ($hp->{busy_fraction_1m} || 0) > 0;
}, 10), 'the scribbled counters reach the rates') or diag(explain($hp));
note("hostile pool: $hp->{requests_per_s} req/s, busy $hp->{busy_fraction_1m}, "
     . "$hp->{requests_total} requests");

my $life_us = 1e6 * (1 + $t->process_age($t->pid));

for my $w (@{ $hp->{workers_detail} || [] }) {
    my $k = $w->{slot};
    ok($w->{requests} >= 0 && $w->{requests} <= $life_us,
       "slot $k: requests $w->{requests} within [0, one per microsecond of life]");
    ok(!defined $w->{current_ms} || $w->{current_ms} <= $w->{uptime_ms},
       "slot $k: current_ms " . ($w->{current_ms} // 'null') . " within its uptime $w->{uptime_ms}");
    ok(!defined $w->{current_uri} || $w->{current_uri} =~ /^[\x20-\x7e]*\z/,
       "slot $k: current_uri printable (" . ($w->{current_uri} // 'null') . ")");
    like($w->{state}, qr/^(idle|busy|starting|stopping)$/, "slot $k: state $w->{state}");
    ok(!defined $w->{cpu_percent_1s} || $w->{cpu_percent_1s} <= 100 * $cores,
       "slot $k: cpu_percent_1s within $cores cores");
}

ok(grep({ defined $_->{current_uri} } @{ $hp->{workers_detail} || [] }),
   'the sibling slot shows as busy, with its scribbled URI made printable');
ok($hp->{requests_per_s} >= 0 && $hp->{requests_per_s} <= 2e6,
   "requests_per_s $hp->{requests_per_s}: at most one request per microsecond per worker (not 3e17)");
ok(defined $hp->{busy_fraction_1m} && $hp->{busy_fraction_1m} >= 0
   && $hp->{busy_fraction_1m} <= 1,
   "busy_fraction_1m $hp->{busy_fraction_1m} within [0, 1]");
like($hp->{advice}, qr/^(busy (\d+)%|not enough data)/, "advice: $hp->{advice}");
ok(($hp->{advice} =~ /^busy (\d+)%/ ? $1 : 0) <= 100, 'the advice never says more than 100% busy');

is(join(' ', map { $_->{pid} } @{ $hp->{workers_detail} }), join(' ', @hostile),
   'no hostile worker was restarted');

# the kit pool: the same counts as before, nothing corrected
my $kp = pool_of(status(), 'kit');
is($kp->{requests_total}, $kit_before->{requests_total}, "kit's requests_total unchanged");
is(join(' ', map { $_->{requests} } @{ $kp->{workers_detail} }),
   join(' ', map { $_->{requests} } @{ $kit_before->{workers_detail} }),
   "kit's per-worker requests unchanged");
is(join(' ', map { $_->{scoreboard_clamped} } @{ $kp->{workers_detail} }), '0 0',
   'nothing corrected in the kit pool');
ok($kp->{busy_fraction_1m} <= 1, "kit's busy_fraction_1m $kp->{busy_fraction_1m}");
is(join(' ', map { $t->slot_pid($_, pool => 'kit') // 'none' } 0, 1), join(' ', @kit),
   'the kit pool serves with the same workers');

# the table view prints no control bytes either
my ($code, $out) = $t->run_cmd([$ctl, '-s', $sock, 'status'], 20);
is($code, 0, 'droverctl status: exit 0');
unlike($out, qr/[\x00-\x08\x0b-\x1f\x7f-\xff]/, 'droverctl status: no control or non-ASCII bytes');

ok($t->alive, 'droverd is alive');

$t->done;
