#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Python pools when things go wrong, through nginx and the module: an import
# error and a missing attribute fail the start (traceback in droverd's log,
# the pool failing, the preloader restarted with a backoff, not in a loop);
# a lifespan startup failure (raised, or lifespan.startup.failed) fails the
# workers' start the same way; an exception before the response is a 500
# whose body holds no traceback (the log does); after the response started
# the request is cut (the client sees an incomplete body).  droverd's own
# limits hold for Python workers: request_timeout, max_requests,
# memory_limit (USS), and a reload imports the app's new code.

use strict;
use warnings;

use JSON::PP qw(decode_json);
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $PYTHON = '/usr/bin/python3';

my $t = Drover::Test->new->has(qw(droverd nginx module smaps));
plan(skip_all => "$PYTHON is not installed") unless -x $PYTHON;
plan(skip_all => 'no Python runtime (build/drover_python.so: run make)')
    unless -r $t->build . '/drover_python.so';

my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';
mkdir "$dir/app", 0755;

$t->write_file('app/errs_app.py', <<'EOF', 0644);
import asyncio, os

leak = []

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                fail = os.environ.get("FAIL_STARTUP")
                if fail == "raise":
                    raise RuntimeError("startup says no")
                if fail == "message":
                    await send({"type": "lifespan.startup.failed",
                                "message": "the database is unreachable"})
                    return
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    path = scope["path"]
    arg = scope["query_string"].decode().partition("=")[2]
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain")]}

    if path == "/raise":
        raise ZeroDivisionError("secret detail %d" % (1 / 1))
    if path == "/raise_after":
        await send(start)
        await send({"type": "http.response.body", "body": b"partial " * 100,
                    "more_body": True})
        raise ValueError("failed mid-response")
    if path == "/sleep":
        await asyncio.sleep(float(arg))
    if path == "/leak":
        leak.append(b"x" * (int(arg) << 20))

    await send(start)
    await send({"type": "http.response.body", "body": b"%d\n" % os.getpid()})
EOF

sub version_app {
    my ($v) = @_;
    $t->write_file('app/ver_app.py', <<"EOF", 0644);
VERSION = "$v"

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
EOF
}
version_app('v1');

# workers that fail their lifespan startup exit with 1: that is the test
$t->allow_alert(qr/pool ls\w+: worker \d+/);

$t->write_conf(<<'EOF')->run(ready => 0);
control unix:%%DIR%%/ctl.sock;
log_level info;

pool noimport {
    python      nosuch_module:app;
    python_path %%DIR%%/app;
    listen      unix:%%DIR%%/noimport.sock;
    workers     1;
}
pool noattr {
    python      errs_app:nosuch_attr;
    python_path %%DIR%%/app;
    listen      unix:%%DIR%%/noattr.sock;
    workers     1;
}
pool lsraise {
    python        errs_app:app;
    python_path   %%DIR%%/app;
    env           FAIL_STARTUP raise;
    lifespan      on;
    listen        unix:%%DIR%%/lsraise.sock;
    workers       1;
    restart_limit 2 per 60s;
}
pool lsmsg {
    python        errs_app:app;
    python_path   %%DIR%%/app;
    env           FAIL_STARTUP message;
    listen        unix:%%DIR%%/lsmsg.sock;
    workers       1;
    restart_limit 2 per 60s;
}
pool errs {
    python          errs_app:app;
    python_path     %%DIR%%/app;
    listen          unix:%%DIR%%/errs.sock;
    workers         2;
    request_timeout 2s;
    max_requests    4;
    memory_limit    96M;
}
pool ver {
    python      ver_app:app;
    python_path %%DIR%%/app;
    listen      unix:%%DIR%%/ver.sock;
    workers     1;
}
EOF

# ---- the start fails: import error, missing attribute, lifespan ----

for my $pool (qw(noimport noattr lsraise lsmsg)) {
    ok($t->wait_for(sub { ($t->read_file("$pool.sock.slots") // '') =~ /^state failing$/m }, 30),
       "$pool: the pool is failing")
        or diag($t->read_file("$pool.sock.slots") // 'no .slots file');
}

like($t->log, qr/pool noimport: preloader: app: ModuleNotFoundError: No module named 'nosuch_module'/,
     'import error: the traceback in the log');
like($t->log, qr/pool noimport: preloader: app: Traceback \(most recent call last\):/,
     '... from its first line');
like($t->log, qr/pool noattr: preloader: app: AttributeError: python "errs_app:nosuch_attr": module "errs_app" has no attribute "nosuch_attr"/,
     'missing attribute: says which');
like($t->log, qr/pool lsraise: worker 0: app: RuntimeError: startup says no/,
     'lifespan startup raised: the traceback in the log');
like($t->log, qr/pool lsmsg: worker 0: app: lifespan startup failed: the database is unreachable/,
     'lifespan.startup.failed: its message in the log');

# no restart loop: the preloader of a failing import is retried with a
# backoff that doubles
$t->wait_log(qr/pool noimport: preloader .* restarting it in 1600 ms/, 20);
my @delays = $t->log =~ /pool noimport: preloader \(generation \d+\) exited .* restarting it in (\d+) ms/g;
ok(@delays >= 3 && !grep({ $delays[$_] < 2 * $delays[$_ - 1] } 1 .. $#delays),
   "noimport: the preloader is restarted after growing delays (@delays ms), not in a loop");

# ---- requests: 500, cut, timeout ----

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        location /noimport/ {
            drover_pass unix:%%DIR%%/noimport.sock;
        }

        location /ver {
            drover_pass unix:%%DIR%%/ver.sock;
        }

        location / {
            drover_pass unix:%%DIR%%/errs.sock;
        }
    }
EOF

$t->nginx_started('with the module');

my $r = $t->http(GET => '/noimport/x', timeout => 15);
is($r->{status}, 503, 'a request to the failing pool: 503 at once');

my $mark = $t->log_mark;
$r = $t->http(GET => '/raise');
is($r->{status}, 500, 'an exception before the response: 500');
unlike($r->{body} // '', qr/Traceback|ZeroDivision|secret|errs_app/, '... no traceback in the body');
ok($t->wait_log(qr/pool errs: worker \d: app: ZeroDivisionError: secret detail 1/, 5, 1, $mark),
   '... the traceback in the log');

$mark = $t->log_mark;
$r = $t->http(GET => '/raise_after');
is($r->{status}, 200, 'an exception after the response started: the status went out');
ok(!$r->{complete}, '... and the response is cut, not complete')
    or diag('got ' . length($r->{body} // '') . ' bytes, complete');
ok($t->wait_log(qr/pool errs: worker \d: app: ValueError: failed mid-response/, 5, 1, $mark),
   '... the traceback in the log');
like($t->log_since($mark), qr/aborted by the app after its response started/, '... the request aborted');

$mark = $t->log_mark;
my $start = time;
$r = $t->http(GET => '/sleep?s=10', timeout => 15);
my $took = time - $start;
cmp_ok($r->{status}, '>=', 500, "request_timeout 2s: $r->{status}");
cmp_ok($took, '<', 8, sprintf('... after %.1f s, not 10', $took));
ok($t->wait_log(qr/pool errs: .*request_timeout|timed out|timeout/i, 5, 1, $mark),
   '... logged');

# ---- max_requests, memory_limit ----

sub errs_pid {
    my $r = $t->get('/pid', slot => 0, pool => 'errs');
    return $r->{complete} && $r->{body} =~ /^(\d+)\n$/ ? $1 : undef;
}

ok($t->wait_for(sub { defined errs_pid() }, 10), 'slot 0 serves again');
my $first = errs_pid();
my @seen = ($first);
for (1 .. 6) {
    my $p = errs_pid();
    push @seen, $p if defined $p && $p ne $seen[-1];
}
cmp_ok(scalar @seen, '>', 1, "max_requests 4: a new worker after 4 requests (@seen)");

$mark = $t->log_mark;
my $before = errs_pid();
$r = $t->get('/leak?mb=160', slot => 0, pool => 'errs', timeout => 20);
ok($r->{complete}, 'leak 160 MiB in worker 0');
ok($t->wait_log(qr/pool errs: worker 0 \(pid \Q$before\E\) uses \d+ MiB of private memory, over memory_limit 96 MiB/,
                15, 1, $mark), 'memory_limit: the Python worker is over it (USS)');
ok($t->wait_for(sub { my $p = errs_pid(); defined $p && $p ne $before }, 15),
   '... and is replaced');

# ---- the status page knows Python pools ----

my ($code, $out) = $t->run_cmd([$ctl, '-s', "$dir/ctl.sock", '--json', 'status'], 20);
my $status = $code == 0 ? eval { decode_json($out) } : undef;
my %pools = map { ($_->{name} => $_) } @{ $status->{pools} || [] };
is($pools{errs}{state}, 'serving', 'status: errs serves');
is($pools{noimport}{state}, 'failing', 'status: noimport is failing');

# ---- reload: the new code is imported ----
# (in a droverd of its own: a pool that never started holds every reload
# back while its first generation is pending; reported)

$t->stop;
$t->write_conf(<<'EOF')->run;
log_level info;

pool errs {
    python      errs_app:app;
    python_path %%DIR%%/app;
    listen      unix:%%DIR%%/errs.sock;
    workers     1;
}
pool ver {
    python      ver_app:app;
    python_path %%DIR%%/app;
    listen      unix:%%DIR%%/ver.sock;
    workers     1;
}
EOF


is($t->http(GET => '/ver')->{body}, 'v1', 'ver: v1');
version_app('v2');
is($t->reload(serves => 1), 'serves', 'reload');
ok($t->wait_for(sub { ($t->http(GET => '/ver')->{body} // '') eq 'v2' }, 10),
   'after the reload the app\'s new code serves');

$t->done;
