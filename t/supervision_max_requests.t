#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# max_requests N: a worker serves N requests, the Nth completes normally,
# then it is replaced; the next request on the slot socket is served by
# the new worker ("(max requests)" in the log).  max_requests N J: each
# worker recycles after N to N+J requests.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

$t->write_conf(<<'EOF')->run;
log_level info;

pool exact {
    app          %%APPS%%/kit.so;
    listen       unix:%%DIR%%/exact.sock;
    workers      2;
    max_requests 5;
}

pool jitter {
    app          %%APPS%%/kit.so;
    listen       unix:%%DIR%%/jitter.sock;
    workers      1;
    max_requests 5 3;
}
EOF

# /pid on slot 0 of $pool, one connection per request: every answer must
# be a complete 200 (nothing is lost while a worker is replaced)
my $lost = 0;

sub pid_of {
    my ($pool) = @_;

    my $r = $t->get('/pid', pool => $pool, slot => 0, timeout => 5);
    unless ($r->{complete} && $r->{status} == 200 && $r->{body} =~ /^(\d+)\n$/) {
        $lost++;
        diag("pool $pool: /pid failed: " . ($r->{error} || "status $r->{status}"));
        return undef;
    }

    return $1;
}

# the run of consecutive requests each worker served on the slot: the
# first worker already served the harness's readiness probe, so start
# counting at the first change of pid
sub runs {
    my ($pool, $workers) = @_;

    my ($pid, @runs) = (pid_of($pool));

    for (1 .. 12 * ($workers + 1)) {
        my $p = pid_of($pool);
        next unless defined $p;

        if ($p == ($pid || 0)) {
            $runs[-1]{n}++ if @runs;
        } else {
            last if @runs == $workers;
            push @runs, { pid => $p, n => 1 };
            $pid = $p;
        }
    }

    return @runs;
}

# ---- max_requests 5 ----

my $mark = $t->log_mark;
my @runs = runs('exact', 3);
is(scalar @runs, 3, 'exact: three fresh workers in turn on slot 0');
is_deeply([map { $_->{n} } @runs], [5, 5, 5], 'exact: each served exactly 5 requests')
    or diag(explain \@runs);
is($lost, 0, 'exact: every request got its 200, also the 6th on the slot socket');

for my $run (@runs[0, 1]) {
    ok($t->wait_log(qr/pool exact: worker 0 \(pid $run->{pid}\) exited with code \d+ after \d+ ms \(max requests\)$/,
                    3, 1, $mark), "exact: worker $run->{pid} logged as \"(max requests)\"")
        or diag($t->log_since($mark));
}

is(scalar $t->log_grep(qr/pool exact: worker 1 \(pid \d+\)/), 0,
   'exact: slot 1, which served only the probe, was not recycled');

# a kept-alive connection: the 5th response is whole, then the worker
# closes the connection.  Request 1 goes to a fresh worker.
my $pid = pid_of('exact');
my $fresh;
$t->wait_for(sub { ($fresh = pid_of('exact') || 0) != $pid }, 5, 0);
$pid = $fresh;
my $c = Drover::FCGI->connect($t->slot_path(0, 'exact'), timeout => 5);
my @bodies = map { $c->request(uri => '/pid', keep_conn => 1)->{body} } 2 .. 5;
is_deeply(\@bodies, [("$pid\n") x 4], 'keepalive: requests 2 to 5 on one connection, same worker');
ok($c->wait_closed(3), 'keepalive: the worker closes the connection after the 5th');
$c->close;
isnt(pid_of('exact'), $pid, 'keepalive: the next request finds a new worker');

# ---- max_requests 5 3 ----

$mark = $t->log_mark;
$lost = 0;
@runs = runs('jitter', 6);
is(scalar @runs, 6, 'jitter: six fresh workers in turn');
is(scalar(grep { $_->{n} < 5 || $_->{n} > 8 } @runs), 0,
   'jitter: each recycled after 5 to 8 requests: ' . join(' ', map { $_->{n} } @runs));
is($lost, 0, 'jitter: every request got its 200');
cmp_ok(scalar $t->log_grep(qr/pool jitter: worker 0 .*\(max requests\)$/), '>=', 5,
       'jitter: "(max requests)" in the log');

ok($t->alive, 'droverd still running');

$t->done;
