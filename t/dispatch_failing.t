#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A pool whose app cannot start, behind drover_pass: droverd marks it
# failing ("state failing" in PATH.slots, "failing" in the status object,
# with the workers' last exit), and the module answers 503 with
# "Retry-After: 30" at once -- not after the queue's timeout -- with one
# error log line that says the app failed to start and points at droverd's
# log.  The client sees nginx's plain 503 page: no path, no reason.  Two
# ways to fail: workers that crash on start (past restart_limit) and an
# init that fails in the preloader.  A healthy pool beside them serves.

use strict;
use warnings;

use JSON::PP qw(decode_json);
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';

plan(skip_all => 'droverctl is not built (run make)') unless -x $ctl;

# every worker of "crash" dies of SIGSEGV on start: that is the test
$t->allow_alert(qr/pool crash: worker \d+ .*(signal|core)/);

$t->write_conf(<<'EOF')->run(ready => 0);
control unix:%%DIR%%/ctl.sock;

pool crash {
    app       %%APPS%%/kit.so;
    app_param crash_on_start yes;
    listen    unix:%%DIR%%/crash.sock;
    workers   2;
}

pool initfail {
    app       %%APPS%%/kit.so;
    app_param fail_init yes;
    listen    unix:%%DIR%%/initfail.sock;
    workers   2;
}

pool kit {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/kit.sock;
    workers   1;
}
EOF

for my $pool (qw(crash initfail)) {
    ok($t->wait_for(sub { ($t->read_file("$pool.sock.slots") // '') =~ /^state failing$/m }, 20),
       "$pool: PATH.slots says the pool is failing")
        or diag($t->read_file("$pool.sock.slots") // 'no .slots file');
}
like($t->read_file('kit.sock.slots'), qr/^state serving$/m, 'kit: PATH.slots says serving');

# the queue's timeout is far away: an answer before it is the feature
$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        drover_queue size=8 timeout=20s;

        location /crash/ {
            drover_pass unix:%%DIR%%/crash.sock;
        }

        location /initfail/ {
            drover_pass unix:%%DIR%%/initfail.sock;
        }

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with the module');

for my $pool (qw(crash initfail)) {
    my $mark = $t->nginx_log_mark;
    my $start = time;
    my $r = $t->http(GET => "/$pool/pid", timeout => 25);
    my $took = time - $start;

    is($r->{status}, 503, "$pool: 503");
    cmp_ok($took, '<', 10, sprintf("$pool: at once (%.2f s), not after the 20 s queue timeout", $took));
    is($r->{headers}{'retry-after'}, '30', "$pool: Retry-After: 30 (droverd retries every 30 s)");
    unlike($r->{body} // '', qr{/tmp|\.so|\.sock|init|crash|segment}i,
           "$pool: the page names no path and no reason");

    my @lines = grep { /\[error\]/ } split /\n/, $t->nginx_log_since($mark);
    is(scalar @lines, 1, "$pool: one error log line") or diag(join "\n", @lines);
    like($lines[0] // '', qr/the app of ".*\Q$pool\E\.sock" failed to start .*droverd's log says why\), 503/,
         "$pool: it says the app failed to start and points at droverd's log");
}

is($t->http(GET => '/pid')->{status}, 200, 'kit, beside them, serves');

# the status object: failing, with the workers' last exit
my ($code, $out) = $t->run_cmd([$ctl, '-s', "$dir/ctl.sock", '--json', 'status'], 20);
my $status = $code == 0 ? eval { decode_json($out) } : undef;
ok($status, 'droverctl --json status') or diag($out);

my %pools = map { ($_->{name} => $_) } @{ $status->{pools} || [] };
is($pools{crash}{state}, 'failing', 'status: crash is failing');
is($pools{initfail}{state}, 'failing', 'status: initfail is failing (its first preloader died)');
is($pools{kit}{state}, 'serving', 'status: kit serves');
ok((grep { ($_->{last_exit} // '') =~ /signal|crash/i } @{ $pools{crash}{workers_detail} || [] }),
   'status: a crash worker\'s last exit says why')
    or diag(explain($pools{crash}{workers_detail}));

$t->done;
