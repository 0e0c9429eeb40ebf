#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Reloads under load through mod_drover, both sides of it.  DroverPass to
# kit with 2 workers; a kept-alive wrk -t1 -c12 of GET / and a wrk -t1 -c4
# of 4 KiB POST /echo run while droverd reloads 10 times (each a real
# change: a new app_param, then SIGHUP, waited for until the new
# generation serves): no non-2xx answer, no socket error, nothing given
# up ("not replayed").  Then an Apache graceful restart (SIGUSR1 to its
# master) under wrk -t1 -c16 of GET / with Connection: close: the same.
# (A graceful restart closes idle kept-alive connections, as stock Apache
# does for any handler, so that run closes each connection itself, as the
# nginx reload test does.)  wrk stops at SIGINT once the reloads are done.

use strict;
use warnings;

use POSIX qw(WNOHANG);
use Test::More;

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit wrk))->has_apache;
my $dir = $t->dir;

sub droverd_conf {
    my ($generation) = @_;

    return <<"EOF";
log_level info;

pool kit {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/kit.sock;
    workers   2;
    app_param generation $generation;
}
EOF
}

$t->write_conf(droverd_conf(0))->run;
$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_apache_conf(<<'EOF')->run_apache;
DroverQueue size=100 timeout=10s
DroverPass unix:%%DIR%%/kit.sock
EOF

$t->apache_started;
is($t->http(GET => '/')->{status}, 200, 'GET through DroverPass: 200');
my $r = $t->http(POST => '/echo', body => 'x' x 4096);
is(length($r->{body} // ''), 4096, 'POST through DroverPass: echoed');

$t->write_file('post.lua', 'wrk.method = "POST"; wrk.body = string.rep("x", 4096); '
                           . 'wrk.headers["Content-Type"] = "application/octet-stream"');

my $url = 'http://127.0.0.1:' . $t->port;

# wrk runs of at most 30 s, stopped by SIGINT (wrk then reports as usual)
sub wrk_stop {
    my (%wrk) = @_;

    kill 'INT', values %wrk;
    for my $name (sort keys %wrk) {
        my ($done, $code, $report) = $t->wrk_wait($name, $wrk{$name}, 10);
        ok($done, "$name: wrk finished");
        is($code, 0, "$name: wrk exited 0");
        note($report);
        wrk_clean($name, $report);
    }
}

sub wrk_clean {
    my ($name, $report) = @_;

    my ($requests) = $report =~ /(\d+) requests in/;
    cmp_ok($requests || 0, '>', 200, "$name: more than 200 requests (" . ($requests || 0) . ')');
    unlike($report, qr/Non-2xx or 3xx responses/, "$name: no non-2xx responses")
        or diag($report, join "\n", grep { !/" 200 / } split /\n/,
                                    $t->read_file('apache-access.log') // '');
    unlike($report, qr/Socket errors/, "$name: no socket errors") or diag($report);
}

sub requests_logged { scalar(() = ($t->read_file('apache-access.log') // '') =~ /\n/g) }

# ---- 10 droverd reloads ----

my $mark = $t->apache_log_mark;
my $logged = requests_logged();
my %wrk = (get => $t->wrk_start('get', '-t1', '-c12', '-d30s', '--timeout', '5s', "$url/"),
           post => $t->wrk_start('post', '-t1', '-c4', '-d30s', '--timeout', '5s',
                                 '-s', "$dir/post.lua", "$url/echo"));
ok($t->wait_for(sub { requests_logged() > $logged + 200 }, 5), 'wrk is under way');

my (@outcomes, %pids);
$pids{$_} = 1 for grep { defined } map { $t->slot_pid($_) } 0, 1;
for my $generation (1 .. 10) {
    $t->write_conf(droverd_conf($generation));
    push @outcomes, $t->reload(serves => 1, timeout => 10);
    $pids{$_} = 1 for grep { defined } map { $t->slot_pid($_) } 0, 1;
}
is(join(' ', @outcomes), join(' ', ('serves') x 10),
   '10 reloads under load, each ended in "serves"');
cmp_ok(scalar keys %pids, '>=', 2 * 10, 'each reload brought new workers (' . (keys %pids) . ' pids)');

wrk_stop(%wrk);

my @lost = grep { /not replayed/ } split /\n/, $t->apache_log_since($mark);
is(scalar @lost, 0, 'Apache: no request given up ("not replayed")') or diag(join "\n", @lost);

# ---- an Apache graceful restart ----

$mark = $t->apache_log_mark;
$logged = requests_logged();
my @old = sort { $a <=> $b } $t->apache_children;
%wrk = (close => $t->wrk_start('close', '-t1', '-c16', '-d30s', '--timeout', '5s',
                               '-H', 'Connection: close', "$url/"));
ok($t->wait_for(sub { requests_logged() > $logged + 200 }, 5), 'wrk is under way');

kill 'USR1', $t->apache_pid;
ok($t->wait_apache_log(qr/resuming normal operations/, $mark, 10), 'Apache restarted gracefully');

# the new children serve: requests logged after the old ones are gone
my %old = map { ($_ => 1) } @old;
ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, 15), 'the old children exited');
my @new;
ok($t->wait_for(sub { @new = grep { !$old{$_} } $t->apache_children; @new >= 1 }, 10),
   'new children run') or diag("old children @old; now: " . join(' ', $t->apache_children));
note("children: old @old, new @new");
$logged = requests_logged();
ok($t->wait_for(sub { requests_logged() > $logged + 200 }, 5), 'the new children serve under load');

wrk_stop(%wrk);

ok($t->alive, 'droverd still running');
$t->apache_done;
