#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# request_timeout: a request still in the app after the timeout is
# answered "504" by the worker itself (the app may be stuck holding locks,
# so the worker then exits), the log names the request, the exit is
# classified "(request timeout)", and a fresh worker serves the slot.
# Through the FastCGI client and through stock nginx's fastcgi_pass.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

$t->write_conf(<<'EOF')->run;
log_level info;

pool kit {
    app             %%APPS%%/kit.so;
    listen          unix:%%DIR%%/kit.sock;
    workers         2;
    request_timeout 1s;
}
EOF

# ---- a request under the timeout is untouched ----

my $old = $t->slot_pid(0);
my $r = $t->get('/sleep?ms=300', slot => 0, timeout => 5);
is($r->{status}, 200, '/sleep?ms=300 under a 1 s request_timeout: 200');
is($t->slot_pid(0), $old, 'and the worker stays');

# ---- FastCGI: the worker answers 504 ----

my $mark = $t->log_mark;
my $start = time;
$r = $t->get('/sleep?ms=5000', slot => 0, timeout => 10);
my $took = time - $start;

ok($r->{complete}, '/sleep?ms=5000: a complete response (END_REQUEST)')
    or diag($r->{error});
is($r->{status}, 504, 'with Status: 504');
like($r->{body}, qr/request_timeout/, 'and a body that says why');
cmp_ok($took, '>=', 0.9, sprintf('not before the timeout (%.2f s)', $took));
cmp_ok($took, '<', 3, 'but soon after it');

ok($t->wait_log(qr{pool kit: worker 0: request /sleep\?ms=5000 still in the app after 1000 ms \(request_timeout\)},
                5, 1, $mark), 'the log names the request and the timeout')
    or diag($t->log_since($mark));

my ($exit) = $t->wait_log(qr/pool kit: worker 0 \(pid $old\) .* \(request timeout\)$/, 5, 1, $mark);
ok($exit, 'the exit is logged as "(request timeout)"') or diag($t->log_since($mark));
like($exit || '', qr/exited with code \d+ after \d+ ms/, 'the worker exited by itself');

# the timeout line comes before the exit line
my $log = $t->log_since($mark);
ok(index($log, 'still in the app') < index($log, '(request timeout)'),
   'in that order');

my $new = $t->slot_pid(0, timeout => 5);
ok($new && $new != $old, "a new worker ($new) serves /pid on slot 0 right after");

ok($t->wait_for(sub { !-e "/proc/$old" }, 5), 'the old worker is gone');

# ---- an app inside glibc's tz lock when the alarm fires ----

# /localtime loops in localtime_r(): the alarm almost always lands while
# the app holds the lock that localtime_r and gmtime_r take, so a handler
# that formats its time with libc would wait on it forever (and with every
# signal blocked, SIGTERM would not help).  Three times, each answered.
for my $round (1 .. 3) {
    my $pid = $t->slot_pid(0, timeout => 5);
    $mark = $t->log_mark;
    $start = time;
    $r = $t->get('/localtime?ms=8000', slot => 0, timeout => 6);
    $took = time - $start;

    is($r->{status}, 504, "localtime_r loop $round: 504 from the worker")
        or diag($r->{error} || '');
    cmp_ok($took, '<', 4, sprintf("localtime_r loop $round: within %.2f s", $took));
    ok($t->wait_log(qr/pool kit: worker 0 \(pid $pid\) .* \(request timeout\)$/, 5, 1, $mark),
       "localtime_r loop $round: the worker exited");

    # the handler's own date is the log's: local time, the log's format
    my ($line) = $t->log_since($mark) =~ m{^(.*still in the app after 1000 ms.*)$}m;
    my @lt = localtime;
    my $today = sprintf('%04d/%02d/%02d', $lt[5] + 1900, $lt[4] + 1, $lt[3]);
    like($line || '', qr{\Q$today\E \d\d:\d\d:\d\d \[error\]},
         "localtime_r loop $round: the line is dated like the log");
}

# /tzlock holds that lock for good (tzset() reading an empty pipe): the
# handler must not need it
{
    my $pid = $t->slot_pid(0, timeout => 5);
    $mark = $t->log_mark;
    $start = time;
    $r = $t->get('/tzlock', slot => 0, timeout => 6);
    $took = time - $start;

    is($r->{status}, 504, 'tz lock held for good: 504 from the worker')
        or diag($r->{error} || '');
    cmp_ok($took, '<', 4, sprintf('tz lock held for good: within %.2f s', $took));
    ok($t->wait_log(qr/pool kit: worker 0 \(pid $pid\) .* \(request timeout\)$/, 5, 1, $mark),
       'tz lock held for good: the worker exited');
}

# ---- the same through stock nginx ----

SKIP: {
    skip 'nginx is not installed', 5 unless $t->can_do('nginx');

    $t->write_nginx_conf(<<'EOF')->run_nginx;
    upstream drover {
        server unix:%%DIR%%/kit.sock.1;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass drover;
            fastcgi_keep_conn on;
            fastcgi_read_timeout 30s;
        }
    }
EOF

    my $old1 = $t->slot_pid(1);
    $mark = $t->log_mark;

    $r = $t->http(GET => '/sleep?ms=5000', timeout => 10);
    is($r->{status}, 504, 'nginx: HTTP 504 from the worker') or diag($r->{error} || $r->{head});
    like($r->{body}, qr/request_timeout/, 'nginx: the worker\'s body');

    ok($t->wait_log(qr/pool kit: worker 1 \(pid $old1\) .* \(request timeout\)$/, 5, 1, $mark),
       'nginx: the exit is logged');

    # nginx's kept-alive connection to the old worker is closed now; the
    # next request must still get through
    $r = $t->http(GET => '/pid');
    is($r->{status}, 200, 'nginx: the next request is served');
    isnt($r->{body}, "$old1\n", 'nginx: by the new worker');
}

ok($t->alive, 'droverd still running');

$t->done;
