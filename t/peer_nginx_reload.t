#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# nginx reloads with the module loaded (nginx-tests reload the server in
# their own tests; most production reloads are of nginx, not droverd):
# two nginx workers behind drover_pass to kit (two workers), a bounded
# wrk run of GET /pid and one of 4 KiB POST /echo, and five SIGHUPs to
# nginx's master while they run.  Each reload must end with new nginx
# workers serving and the old ones drained and gone; wrk sees no non-2xx
# answer and no socket error; nginx logs no [alert] or [emerg].  The
# dispatch zone outlives the reloads (nginx keeps a shared zone of the
# same name and size): its request count covers the requests of every
# generation, and after the last reload /pid is answered by both kit
# workers, as before.
#
# The GET and POST runs close each connection after its request (so a
# socket error would be a request lost); two smaller kept-alive runs, one
# through the module and one to a location nginx answers itself, show
# that the only errors with keepalive are nginx closing idle connections
# as their old worker shuts down, which stock nginx does the same way.

use strict;
use warnings;

use JSON::PP;
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module wrk));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock mode=0666;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_nginx_conf(<<'EOF', module => 1);
    server {
        listen 127.0.0.1:%%PORT%%;
        client_body_buffer_size 64k;

        location / {
            drover_queue size=100 timeout=10s;
            drover_pass unix:%%DIR%%/kit.sock;
        }

        location = /status {
            drover_status unix:%%DIR%%/status.sock;
        }

        location = /static {
            return 200 "static\n";
        }
    }
EOF

# two nginx workers, so that the zone is shared by more than one process
my $conf = $t->read_file('nginx.conf');
ok($conf =~ s/^worker_processes 1;$/worker_processes 2;/m, 'nginx.conf: 2 workers');
$t->write_file('nginx.conf', $conf);
$t->run_nginx;

$t->nginx_started('with the module');

my @kit = sort map { $t->slot_pid($_) // 'none' } 0, 1;
like("@kit", qr/^\d+ \d+$/, "kit's workers: @kit");

my @first = sort $t->nginx_workers;
is(scalar @first, 2, "two nginx workers: @first");
is($t->http(GET => '/pid')->{status}, 200, 'GET /pid through drover_pass: 200');

# wrk counts the bodies of /pid per thread; done() prints "pid P N" lines
$t->write_file('pids.lua', <<'EOF');
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) seen = {} end
function response(status, headers, body)
    seen[body] = (seen[body] or 0) + 1
end
function done(summary, latency, requests)
    for _, thread in ipairs(threads) do
        for body, n in pairs(thread:get("seen")) do
            io.write("pid ", (body:gsub("%s+$", "")), " ", n, "\n")
        end
    end
end
EOF
$t->write_file('post.lua', 'wrk.method = "POST"; wrk.body = string.rep("x", 4096); '
                           . 'wrk.headers["Content-Type"] = "application/octet-stream"');

my $url = 'http://127.0.0.1:' . $t->port;
my @wrk = ('-t1', '-c8', '-d8s', '--timeout', '5s', '-H', 'Connection: close');
my @keep = ('-t1', '-c4', '-d8s', '--timeout', '5s');
my %wrk = (get => $t->wrk_start('get', @wrk, '-s', "$dir/pids.lua", "$url/pid"),
           post => $t->wrk_start('post', @wrk, '-s', "$dir/post.lua", "$url/echo"),
           'keepalive-module' => $t->wrk_start('keepalive-module', @keep, "$url/pid"),
           'keepalive-static' => $t->wrk_start('keepalive-static', @keep, "$url/static"));

ok($t->wait_for(sub { (-s "$dir/nginx-access.log" || 0) > 100_000 }, 5), 'wrk is under way');

# ---- five reloads under load ----

my $master = $t->nginx_pid;
my %seen_workers = map { ($_ => 1) } @first;
my $reloaded = 0;

for my $n (1 .. 5) {
    my @old = $t->nginx_workers;
    kill 'HUP', $master;

    # the new generation: two workers nginx never had before
    my @new;
    my $up = $t->wait_for(sub {
        @new = grep { !$seen_workers{$_} } $t->nginx_workers;
        return @new == 2;
    }, 10, 0.05);

    # the old generation drains: its workers finish their requests and exit
    my $drained = $t->wait_for(sub { !grep { kill 0, $_ } @old }, 15, 0.05);

    $reloaded++ if $up && $drained;
    diag("reload $n: new workers @new, old @old " . ($drained ? 'gone' : 'still there'))
        unless $up && $drained;

    $seen_workers{$_} = 1 for @new;
}

is($reloaded, 5, '5 reloads: each started 2 new nginx workers, and the old ones drained and exited');

my @reconf = grep { /SIGHUP\) received from \d+, reconfiguring/ } split /\n/, $t->nginx_log;
is(scalar @reconf, 5, 'nginx logged 5 "reconfiguring"');

my %count;
for my $name (sort keys %wrk) {
    my ($done, $code, $report) = $t->wrk_wait($name, $wrk{$name}, 20);
    ok($done, "$name: wrk finished");
    is($code, 0, "$name: wrk exited 0");
    note($report);

    if ($name =~ /^keepalive-(\w+)/) {
        keepalive_checks($1, $report);
        next;
    }

    $t->wrk_clean($name, $report);

    ($count{$name}) = $report =~ /(\d+) requests in/;
    if ($name eq 'get') {
        my %pids;
        $pids{$1} += $2 while $report =~ /^pid (\S+) (\d+)$/mg;
        is(join(' ', sort keys %pids), "@kit", 'under reloads, /pid was answered by both kit workers')
            or diag(join ', ', map { "$_: $pids{$_}" } sort keys %pids);
    }
}

# ---- after the last reload ----

my @last = sort $t->nginx_workers;
is(scalar @last, 2, "two nginx workers of the last generation: @last");

my ($done, $code, $report) = $t->wrk_wait('after',
    $t->wrk_start('after', '-t2', '-c8', '-d2s', '--timeout', '5s', '-s', "$dir/pids.lua", "$url/pid"),
    20);
ok($done && $code == 0, 'after the reloads: wrk ran');
$t->wrk_clean('after the reloads', $report, 200);
my %pids;
$pids{$1} += $2 while $report =~ /^pid (\S+) (\d+)$/mg;
is(join(' ', sort keys %pids), "@kit", 'after the reloads, /pid is answered by both kit workers')
    or diag(join ', ', map { "$_: $pids{$_}" } sort keys %pids);
($count{after}) = $report =~ /(\d+) requests in/;

# the zone kept counting across generations: every request that went
# through dispatch, before and after the reloads
my $r = $t->http(GET => '/status?format=json');
is($r->{status}, 200, 'the status page answers after the reloads');
my ($p) = @{ (eval { JSON::PP->new->decode($r->{body} || '') } || {})->{pools} || [] };
my $dispatched = $p ? $p->{dispatch}{requests} // 0 : 0;
my $sent = ($count{get} || 0) + ($count{post} || 0) + ($count{after} || 0);
cmp_ok($dispatched, '>=', $sent,
       "the zone counted $dispatched dispatched requests, at least the $sent of all 3 wrk runs");

is(scalar(grep { /\[(alert|emerg|crit)\]/ } split /\n/, $t->nginx_log), 0,
   'no [crit], [alert] or [emerg] in nginx\'s error log');
my @lost = grep { /not replayed/ } $t->nginx_errors_since(0);
is(scalar @lost, 0, 'nginx: no request lost ("not replayed")') or diag(join "\n", @lost);

my @now = sort map { $t->slot_pid($_) // 'none' } 0, 1;
is("@now", "@kit", 'the same kit workers: nginx reloads do not touch droverd');
ok($t->alive, 'droverd still running');

$t->done;


# A kept-alive connection that is idle when its old worker shuts down is
# closed by nginx (RFC 9112 9.6 lets it: the client retries), and wrk
# counts a request it had just sent on it as a read error.  This is
# nginx's own behaviour: a location nginx answers itself ("static") shows
# it the same way.  Bounded by two per connection (4) per reload (5): the
# connection wrk opens again may reach an old worker that is still closing
# its own (21 of the 20 once allowed were seen for "static" under ASan);
# no non-2xx answer.
sub keepalive_checks {
    my ($what, $report) = @_;

    my ($requests) = $report =~ /(\d+) requests in/;
    cmp_ok($requests || 0, '>', 1000, "kept alive, $what: more than 1000 requests");
    unlike($report, qr/Non-2xx or 3xx responses/, "kept alive, $what: no non-2xx responses");

    my ($connect, $read, $write, $timeout) =
        $report =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
    is(($connect || 0) + ($write || 0) + ($timeout || 0), 0,
       "kept alive, $what: no connect, write or timeout errors");
    cmp_ok($read || 0, '<=', 2 * 4 * 5,
           "kept alive, $what: at most two closed idle connections per connection per reload");
    note("kept alive, $what: " . ($read || 0) . ' read errors (idle connections closed by reloads)');
}
