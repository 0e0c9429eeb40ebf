#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# drover_status: nginx relays droverd's status as JSON, Prometheus text or
# an HTML page.  The numbers are true (a 64 MiB model preloaded for 4
# workers costs about one copy in the sum of their PSS; a busy loop shows
# near 100% CPU on its worker); the Prometheus text passes `promtool check
# metrics`; ?format and Accept choose the format, ?pool filters, a bad
# pool name is 400; HEAD, POST; allow/deny; a garbled, split or silent
# control socket; droverd stopped gives 502 and says so in the log; the
# HTML page rendered by headless Chromium shows every worker.

use strict;
use warnings;

use IO::Socket::UNIX;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit model nginx module smaps));

my $MB = 1024 * 1024;
my $SIZE = 64 * $MB;

$t->write_conf(<<'EOF')->run(timeout => 60);
control unix:%%DIR%%/ctl.sock;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}

pool model {
    app        %%APPS%%/model.so;
    app_param  size 64M;
    listen     unix:%%DIR%%/model.sock;
    workers    4;
    preload    on;
}
EOF

my $ctl = $t->dir . '/ctl.sock';
ok($t->wait_for(sub { -S $ctl }, 10), 'droverd\'s control socket is there')
    or diag($t->log);

# stand-ins for what droverd never does
my $garbled = $t->fake_control('garbled', reply => "HTTP/1.1 200 OK\r\n\r\nhello\n");
my $jsonline = $t->fake_control('jsonline',
    reply => qq({"ok":false,"error":"too many connections"}\n));
my $long = $t->fake_control('long', reply => '200 ' . ('x' x 400));
my $silent = $t->fake_control('silent', hold => 30);
my $split = $t->fake_control('split', reply => "200 text/plain; charset=utf-8\r\nsplit body\n",
                             split => 1, delay => 0.002);
my $recorder = $t->fake_control('recorder', reply => "200 text/plain\nok\n");

# a socket file nobody listens on, as a droverd killed with SIGKILL leaves
my $stale = $t->dir . '/stale.sock';
IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $stale, Listen => 1)
    or die "listen on $stale: $!";
ok(-S $stale, 'a stale socket file');

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location = /status {
            drover_status unix:%%DIR%%/ctl.sock;
        }

        location = /private {
            allow 192.0.2.1;
            deny  all;
            drover_status unix:%%DIR%%/ctl.sock;
        }

        location = /fake/garbled {
            drover_status unix:%%DIR%%/garbled.sock;
        }

        location = /fake/jsonline {
            drover_status unix:%%DIR%%/jsonline.sock;
        }

        location = /fake/long {
            drover_status unix:%%DIR%%/long.sock;
        }

        location = /fake/silent {
            drover_status_timeout 1s;
            drover_status unix:%%DIR%%/silent.sock;
        }

        location = /fake/split {
            drover_status unix:%%DIR%%/split.sock;
        }

        location = /fake/recorder {
            drover_status unix:%%DIR%%/recorder.sock;
        }

        location = /fake/stale {
            drover_status unix:%%DIR%%/stale.sock;
        }
    }
EOF

$t->nginx_started('with drover_status');

my $json = JSON::PP->new;

sub get {
    my ($uri, %opt) = @_;
    return $t->http(GET => $uri, %opt);
}

sub status_json {
    my ($query) = @_;

    my $r = get('/status?format=json' . (defined $query ? "&$query" : ''));
    return undef unless ($r->{status} || 0) == 200;
    return eval { $json->decode($r->{body}) };
}

sub pool_of {
    my ($st, $name) = @_;
    my ($p) = grep { ($_->{name} || '') eq $name } @{ ($st || {})->{pools} || [] };
    return $p || {};
}


# ---- JSON: the numbers are true ----

my @kit_pids = $t->worker_pids(pool => 'kit');
my @model_pids = $t->worker_pids(pool => 'model');
is(scalar(grep { defined } @kit_pids, @model_pids), 6, 'the six workers answer /pid');

# each model worker reads the whole model once, so no page hides
for my $k (0 .. 3) {
    $t->get('/lookup?key=drover', slot => $k, pool => 'model', timeout => 20);
}

# droverd samples memory every second: wait for a sample of every worker
# that has the model resident
my $st;
my $sampled = $t->wait_for(sub {
    $st = status_json();
    my @w = @{ pool_of($st, 'model')->{workers_detail} || [] };
    return @w == 4 && !grep { !$_->{pss_bytes} || ($_->{rss_bytes} || 0) < $SIZE } @w;
}, 15, 0.2);
ok($sampled, 'the JSON has a memory sample of each model worker with 64 MiB resident');

my $model = pool_of($st, 'model');
my @mw = @{ $model->{workers_detail} || [] };
is_deeply([sort { $a <=> $b } map { $_->{pid} } @mw], [sort { $a <=> $b } grep { defined } @model_pids],
          'the JSON\'s model workers are the ones answering');

my $pss_sum = 0;
$pss_sum += $_->{pss_bytes} || 0 for @mw;
cmp_ok($pss_sum, '<', 2 * $SIZE,
       sprintf('sum of the model workers\' PSS in the JSON: %.1f MiB < 2 copies of 64 MiB '
               . '(4 private copies would be 256)', $pss_sum / $MB));
cmp_ok($pss_sum, '>', $SIZE / 2, 'and more than half a copy: the model is counted');

# the JSON's PSS is /proc's, give or take what changed between the samples
for my $w (@mw) {
    my $proc = $t->pss($w->{pid});
    ok(defined $proc && abs($proc - $w->{pss_bytes}) < 8 * $MB,
       sprintf('worker %d: PSS %.1f MiB in the JSON, %.1f MiB in /proc', $w->{pid},
               $w->{pss_bytes} / $MB, ($proc || 0) / $MB));
}

ok(!grep({ !defined $_->{uss_bytes} || $_->{uss_bytes} >= $SIZE / 2 } @mw),
   'each model worker\'s USS is well under the model: the model is shared')
    or diag(join ', ', map { sprintf '%.1f MiB', ($_->{uss_bytes} || 0) / $MB } @mw);

# /cpu?ms=3000 on kit's slot 0, through droverd, from a child process
my $busy_pid = $kit_pids[0];
my $started = time;
my $cpu_child = fork;
die "fork: $!" unless defined $cpu_child;

if ($cpu_child == 0) {
    my $r = $t->get('/cpu?ms=3000', slot => 0, pool => 'kit', timeout => 20);
    POSIX::_exit($r->{complete} ? 0 : 1);
}

# /proc says how much CPU the worker really got meanwhile: on a machine
# that is busy with other work the loop gets less than a core, and then
# the JSON must tell that truth instead
my ($busy, $idle, @proc);
my $seen = $t->wait_for(sub {
    push @proc, [time, $t->cpu_seconds($busy_pid)];
    my $kit = pool_of(status_json('pool=kit'), 'kit');
    ($busy) = grep { ($_->{pid} || 0) == $busy_pid } @{ $kit->{workers_detail} || [] };
    ($idle) = grep { ($_->{pid} || 0) != $busy_pid } @{ $kit->{workers_detail} || [] };
    return $busy && defined $busy->{cpu_percent_1s} && $busy->{cpu_percent_1s} > 70;
}, 2.5, 0.1);
my $after = time - $started;

my ($old) = grep { $_->[0] <= $proc[-1][0] - 0.9 && defined $_->[1] } @proc;
my $real = $old && defined $proc[-1][1]
    ? 100 * ($proc[-1][1] - $old->[1]) / ($proc[-1][0] - $old->[0]) : undef;
my $json_cpu = $busy ? $busy->{cpu_percent_1s} : undef;

my $shown = defined $json_cpu ? sprintf('%.0f', $json_cpu) : 'null';
my $proc_shown = defined $real ? sprintf('%.0f%%', $real) : 'unknown';

if ($seen) {
    pass(sprintf('/cpu?ms=3000: worker %d shows cpu_percent_1s %s > 70 within %.1f s',
                 $busy_pid, $shown, $after));
} else {
    ok(defined $real && defined $json_cpu && $real < 70 && abs($json_cpu - $real) < 25,
       "/cpu?ms=3000: worker $busy_pid shows cpu_percent_1s $shown, /proc $proc_shown: "
       . 'the machine is busy and the loop got less than a core, and the JSON says so');
}
cmp_ok(($idle || {})->{cpu_percent_1s} // 100, '<', 30, 'the other kit worker stays idle');
is($busy && $busy->{state}, 'busy', 'the busy worker\'s state is busy');
like($busy && $busy->{current_uri} || '', qr{^/cpu\?ms=3000}, 'its current request is /cpu?ms=3000');

my $cpu_done = $t->wait_for(sub { waitpid($cpu_child, WNOHANG) == $cpu_child }, 15);
kill 'KILL', $cpu_child unless $cpu_done;
waitpid($cpu_child, 0) unless $cpu_done;
ok($cpu_done && $? == 0, '/cpu?ms=3000 completed');


# ---- Prometheus ----

my $r = get('/status?format=prometheus');
is($r->{status}, 200, 'prometheus: 200') or diag($r->{error} || $r->{body});
like($r->{headers}{'content-type'} || '', qr{^text/plain; version=0\.0\.4; charset=utf-8$},
     'prometheus: the text exposition format\'s content type');
my $prom = $r->{body};

like($prom, qr/^drover_pool_workers\{pool="kit"\} 2$/m, 'drover_pool_workers{pool="kit"} 2');
like($prom, qr/^drover_pool_workers\{pool="model"\} 4$/m, 'drover_pool_workers{pool="model"} 4');

for my $pool (['kit', 2], ['model', 4]) {
    my ($name, $n) = @$pool;
    for my $k (0 .. $n - 1) {
        like($prom, qr/^drover_worker_uss_bytes\{pool="$name",worker="$k"\} \d/m,
             "drover_worker_uss_bytes for $name worker $k");
    }
}

like($prom, qr/^drover_pool_requests_total\{pool="kit"\} \d+$/m, 'drover_pool_requests_total');
like($prom, qr/^drover_worker_requests_total\{pool="kit",worker="0"\} \d+$/m,
     'drover_worker_requests_total');
like($prom, qr/^drover_worker_cpu_seconds_total\{pool="kit",worker="0"\} [\d.e+-]+$/m,
     'drover_worker_cpu_seconds_total');
my @counters = $prom =~ /^# TYPE (\S+) counter$/mg;
ok(@counters >= 4, scalar(@counters) . ' counters');
ok(!grep({ !/_total$/ } @counters), 'every counter\'s name ends in _total')
    or diag(join ' ', grep { !/_total$/ } @counters);

SKIP: {
    skip 'promtool is not installed (Debian package prometheus)', 2 unless $t->can_do('promtool');

    my ($code, $out) = $t->promtool_check($prom);
    is($code, 0, 'promtool check metrics: exit 0') or diag($out);
    is($out, '', 'promtool check metrics: no lint problems') or diag($out);
}


# ---- formats: ?format, then Accept ----

my %type = (
    json       => qr{^application/json},
    prometheus => qr{^text/plain; version=0\.0\.4},
    html       => qr{^text/html; charset=utf-8$},
);

for my $case (
    ['no Accept', {}, 'html'],
    ['Accept: */*', { Accept => '*/*' }, 'html'],
    ['a browser\'s Accept',
     { Accept => 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8' },
     'html'],
    ['Accept: application/json', { Accept => 'application/json' }, 'json'],
    ['Accept: text/plain', { Accept => 'text/plain' }, 'prometheus'],
    ['Prometheus\'s Accept',
     { Accept => 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;'
                 . 'version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' },
     'prometheus'],
    ['Accept: text/html;q=0.5, application/json', { Accept => 'text/html;q=0.5, application/json' },
     'json'],
    ['Accept: application/json;q=0', { Accept => 'application/json;q=0' }, 'html'],
    ['Accept: APPLICATION/JSON', { Accept => 'APPLICATION/JSON' }, 'json'],
)
{
    my ($what, $headers, $want) = @$case;
    $r = get('/status', headers => $headers);
    is($r->{status}, 200, "$what: 200");
    like($r->{headers}{'content-type'} || '', $type{$want}, "$what: $want");
}

for my $format (qw(json prometheus html)) {
    $r = get("/status?format=$format", headers => { Accept => 'application/json' });
    like($r->{headers}{'content-type'} || '', $type{$format},
         "?format=$format wins over Accept: application/json");
    is($r->{headers}{'cache-control'}, 'no-store', "?format=$format: Cache-Control: no-store");
    like($r->{headers}{vary} || '', qr/\bAccept\b/, "?format=$format: Vary: Accept");
}

$r = get('/status?format=json');
ok(eval { $json->decode($r->{body}); 1 }, '?format=json: the body is JSON');
$r = get('/status?format=html');
like($r->{body}, qr{^<!DOCTYPE html>.*</html>\s*$}s, '?format=html: a whole HTML page');

$r = get('/status?format=xml');
is($r->{status}, 400, '?format=xml: 400');


# ---- ?pool ----

$st = status_json('pool=kit');
is_deeply([map { $_->{name} } @{ ($st || {})->{pools} || [] }], ['kit'], '?pool=kit: JSON of kit alone');
$r = get('/status?format=prometheus&pool=kit');
like($r->{body}, qr/^drover_pool_workers\{pool="kit"\} 2$/m, '?pool=kit: prometheus has kit');
unlike($r->{body}, qr/pool="model"/, '?pool=kit: and not model');

$r = get('/status?pool=nope');
is($r->{status}, 404, '?pool=nope: droverd\'s 404 passes');
like($r->{body}, qr/no pool/, '?pool=nope: with droverd\'s message');

for my $bad ('bad!name', 'a%22b', 'kit%00', 'x' x 65, '', 'k%69t', 'a"b', 'a\\b') {
    my $mark = $t->nginx_log_mark;
    $r = get("/status?pool=$bad");
    is($r->{status}, 400, "?pool=$bad: 400");
    ok(!grep({ /\[(error|crit|alert|emerg)\]/ } split /\n/, $t->nginx_log_since($mark)),
       "?pool=$bad: no error logged");
}

$r = get('/status?pool=' . ('x' x 64));
is($r->{status}, 404, 'a 64-byte pool name is a name: droverd answers (404)');

# what reaches the control socket: one line, built from known parts only
get('/fake/recorder?format=json&pool=kit');
get('/fake/recorder?pool=a.b-c_D9', headers => { Accept => 'text/plain' });
get('/fake/recorder');
is_deeply([$t->fake_control_requests($recorder)],
          [qq({"cmd":"status","format":"json","pool":"kit","queues":[],"raw":true}\n),
           qq({"cmd":"status","format":"prometheus","pool":"a.b-c_D9","queues":[],"raw":true}\n),
           qq({"cmd":"status","format":"html","queues":[],"raw":true}\n)],
          'the request lines sent to the control socket');


# ---- methods ----

my $c = $t->http_connect;
$r = $c->request(HEAD => '/status?format=json');
is($r->{status}, 200, 'HEAD: 200');
like($r->{headers}{'content-type'} || '', qr{^application/json}, 'HEAD: the content type');
is($r->{headers}{'cache-control'}, 'no-store', 'HEAD: Cache-Control');
my $next = $c->request(GET => '/status?format=prometheus');
is($next->{status}, 200, 'after HEAD, the next response on the connection parses')
    or diag($next->{error} || '');
like($next->{body}, qr/^# HELP drover_up /, 'and no body of the HEAD came before it');
$c->close;

for my $method (qw(POST PUT DELETE)) {
    $r = $t->http($method => '/status', body => 'x=1');
    is($r->{status}, 405, "$method: 405");
}
is($r->{headers}{allow}, 'GET, HEAD', '405: Allow: GET, HEAD');

$r = get('/private');
is($r->{status}, 403, 'allow/deny: 403 for a client that is not allowed');


# ---- a control socket that does not speak the protocol ----

for my $case (['garbled', qr{droverd sent an invalid status line: "HTTP/1\.1 200 OK"}],
              ['jsonline', qr/droverd sent an invalid status line: "\{"ok":false,/],
              ['long', qr/droverd sent a status line longer than 256 bytes/])
{
    my ($name, $re) = @$case;
    my $mark = $t->nginx_log_mark;
    $r = get("/fake/$name");
    is($r->{status}, 502, "$name control socket: 502");
    my @errors = $t->wait_nginx_errors($mark, 1);
    is(scalar @errors, 1, "$name: one error log line") or diag(join "\n", @errors);
    like($errors[0] || '', $re, "$name: it says what was wrong");
    unlike($r->{body}, qr/hello|xxxx/, "$name: none of it reaches the client");
}

$r = get('/fake/split', timeout => 10);
is($r->{status}, 200, 'a status line sent one byte at a time: 200') or diag($r->{error} || '');
like($r->{headers}{'content-type'} || '', qr{^text/plain; charset=utf-8$}, 'its content type');
is($r->{body}, "split body\n", 'its body');

my $mark = $t->nginx_log_mark;
my $t0 = time;
$r = get('/fake/silent', timeout => 10);
my $took = time - $t0;
is($r->{status}, 504, 'a control socket that never answers: 504');
ok($took >= 0.9 && $took < 4, sprintf('after drover_status_timeout 1s (%.1f s)', $took));
ok(grep({ /timed out/ } $t->wait_nginx_errors($mark, 1)), 'the log says it timed out');

$t->stop_fake_control($_) for $garbled, $jsonline, $long, $silent, $split, $recorder;


# ---- the HTML page in headless Chromium ----

SKIP: {
    skip 'chromium is not installed (Debian package chromium)', 12 unless $t->can_do('chromium');

    my $url = 'http://127.0.0.1:' . $t->port . '/status';
    my $png = $t->dir . '/status.png';

    my ($code, $out, $err) = $t->chromium($url, ["--screenshot=$png"], 60);
    is($code, 0, 'chromium --screenshot: exit 0') or diag($err);
    ok(-s $png, 'the screenshot is saved');
    is(substr($t->read_file($png), 0, 8), "\x89PNG\r\n\x1a\n", 'it is a PNG');
    cmp_ok(-s $png || 0, '>', 10_000, 'of a non-trivial size (' . (-s $png || 0) . ' bytes)');

    ($code, my $dom, $err) = $t->chromium($url, ['--dump-dom'], 60);
    is($code, 0, 'chromium --dump-dom: exit 0') or diag($err);

    my @pids = grep { defined } @kit_pids, @model_pids;
    my @missing = grep { $dom !~ /<td>\Q$_\E<\/td>/ } @pids;
    ok(@pids == 6 && !@missing, 'the page shows every worker\'s pid') or diag("missing: @missing");
    like($dom, qr{<h2>kit\s*<span}, 'the page shows the pool kit');
    like($dom, qr{<h2>model\s*<span}, 'the page shows the pool model');
    my @advice = $dom =~ m{<p class="advice">([^<]*)</p>}g;
    is(scalar @advice, 2, 'an advice line per pool');
    ok(!grep({ !/^(busy \d+%: .+|not enough data yet)$/ } @advice), 'in plain words')
        or diag(join "\n", @advice);
    like($dom, qr{<title>Drover status</title>}, 'the page\'s title');
    like($dom, qr{http-equiv="refresh"}, 'the page refreshes itself');
}


# ---- the directive ----

$t->write_file('tcp.conf', $t->expand(<<'EOF'));
load_module %%MODULE%%;
pid %%DIR%%/nginx-t.pid;
error_log %%DIR%%/nginx-t.log;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_T%%;
        location = /status {
            drover_status 127.0.0.1:9;
        }
    }
}
EOF
my ($code, $out) = $t->run_cmd([$Drover::Test::NGINX, '-t', '-p', $t->dir . '/',
                                '-c', $t->dir . '/tcp.conf', '-e', $t->dir . '/nginx-t.log'], 20,
                               env => { $t->sanitized ? $t->sanitizer_env : () });
isnt($code, 0, 'drover_status with a TCP address: nginx -t fails');
like($out, qr/"drover_status" needs droverd's control socket as unix:PATH, got "127\.0\.0\.1:9"/,
     'and says it wants unix:PATH');


# ---- droverd not there ----

$mark = $t->nginx_log_mark;
$r = get('/fake/stale');
is($r->{status}, 502, 'a stale socket file (connection refused): 502');
my @errors = $t->wait_nginx_errors($mark, 2);
ok(grep({ /droverd is not running at unix:\Q$stale\E/ } @errors),
   'the error log says droverd is not running at the socket\'s path')
    or diag(join "\n", @errors);

# droverd stopped: its socket file is gone
$t->stop;
ok(!$t->alive, 'droverd stopped');

$mark = $t->nginx_log_mark;
$r = get('/status');
is($r->{status}, 502, 'droverd not running: 502');
@errors = $t->wait_nginx_errors($mark, 2);
ok(grep({ /droverd is not running at unix:\Q$ctl\E/ } @errors),
   'the error log says droverd is not running at the socket\'s path')
    or diag(join "\n", @errors);
ok(!grep({ /\[(alert|emerg)\]/ } split /\n/, $t->nginx_log_since($mark)), 'and no [alert]');

$t->done;
