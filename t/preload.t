#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Preloading: the model app generates 64 MiB in init, in the preloader,
# before the fork; 4 workers then share it copy-on-write, so the sum of
# their Pss stays well under 4 copies.  Lookups agree across workers and
# with an independent computation of the documented pattern.

use strict;
use warnings;

use Math::BigInt;
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd model smaps));

my $MB = 1024 * 1024;
my $SIZE = 64 * $MB;

$t->write_conf(<<'EOF')->run(timeout => 60);
pool model {
    app        %%APPS%%/model.so;
    app_param  size 64M;
    listen     unix:%%DIR%%/model.sock;
    workers    4;
    preload    on;
}
EOF

my @pids = $t->worker_pids;
is(scalar(grep { defined } @pids), 4, 'four workers answer /pid');

# each worker reads the whole model once more, so untouched pages cannot
# hide a private copy
my %answers;
for my $k (0 .. 3) {
    my $r = $t->get('/lookup?key=drover', slot => $k);
    $answers{ $r->{body} }++ if $r->{status} == 200;
}
is(scalar keys %answers, 1, 'the four workers give the same answer');

# word (FNV-1a64("drover") mod words) is SplitMix64 of its index
my $mask = Math::BigInt->new('0xffffffffffffffff');
my $h = Math::BigInt->new('0xcbf29ce484222325');
for my $c (unpack 'C*', 'drover') {
    $h = (($h ^ $c) * Math::BigInt->new('0x100000001b3')) & $mask;
}
my $word = $h % ($SIZE / 8);

my $z = (($word + 1) * Math::BigInt->new('0x9e3779b97f4a7c15')) & $mask;
$z = (($z ^ ($z >> 30)) * Math::BigInt->new('0xbf58476d1ce4e5b9')) & $mask;
$z = (($z ^ ($z >> 27)) * Math::BigInt->new('0x94d049bb133111eb')) & $mask;
$z = $z ^ ($z >> 31);
my $hex = substr($z->as_hex, 2);
$hex = ('0' x (16 - length $hex)) . $hex;

my ($body) = keys %answers;
like($body || '', qr/^word $word = $hex /, "lookup: word $word = $hex, as documented");

# ---- memory ----

my @pss = map { $t->pss($_) } grep { defined } @pids;
my $sum = 0;
$sum += $_ || 0 for @pss;

ok(@pss == 4 && !grep({ !defined } @pss), 'Pss of the four workers is readable');
cmp_ok($sum, '<', 2 * $SIZE,
       sprintf('sum of the workers\' Pss %.1f MiB < 2 x 64 MiB (4 private copies would be 256)',
               $sum / $MB));
note(sprintf 'worker Pss: %s MiB', join ', ', map { sprintf '%.1f', ($_ || 0) / $MB } @pss);

# and the model is really there: each worker maps at least 64 MiB
my $rss_ok = grep {
    my $s = $t->read_file("/proc/$_/smaps_rollup");
    $s =~ /^Rss:\s+(\d+) kB/m && $1 * 1024 >= $SIZE;
} grep { defined } @pids;
is($rss_ok, 4, 'each worker has the 64 MiB resident (Rss), shared');

$t->done;
