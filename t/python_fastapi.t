#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A FastAPI app (t/apps/python/fastapi_app.py) unchanged in a droverd python
# pool behind nginx + drover_pass, and under Debian's uvicorn: the same
# requests to both, compared answer by answer (status, the headers the app
# sets, body): path and query parameters, Pydantic 422s, dependencies,
# startup state, 204/304/HEAD, sync and async endpoints, streams, errors.
# Then on each: a 10 MB upload and download with the serving process's
# peak memory flat, a client that leaves mid-stream (the app's generator is
# cancelled), and on droverd a background task done before the worker
# takes its next request.  Without the python runtime in droverd, only the
# uvicorn half runs and the rest is skipped with the reason.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use Test::More;
use Time::HiRes ();

use Drover::Test;
use Drover::Test::Python qw(python_needs python_runtime app_dir start_peer stop_peer compare
                            proc_kb peer_pids python_pool_conf leave_stream);

my $t = Drover::Test->new->has(qw(droverd nginx module https));
python_needs($t, qw(fastapi starlette pydantic uvicorn));

my $PY = $Drover::Test::Python::PYTHON;
my $json = JSON::PP->new->canonical;
my $MB = 1024 * 1024;

app_dir($t);
my $no_runtime = python_runtime($t);

# ---- the two servers ----

my $uport = $t->port('uvicorn');
my $uv = start_peer($t, 'uvicorn', [$PY, '-m', 'uvicorn', 'fastapi_app:app', '--host', '127.0.0.1',
                                    '--port', $uport, '--workers', 1, '--no-access-log',
                                    '--log-level', 'warning'], $uport);
ok($uv, "uvicorn serves the app on 127.0.0.1:$uport") or BAIL_OUT('uvicorn did not start');

my $drover = !$no_runtime;
if ($drover) {
    $t->write_conf(python_pool_conf($t, 'fastapi_app:app'))->run(timeout => 60);
    $t->write_module_conf(<<'EOF', http => "    client_max_body_size 20m;\n")->run_nginx;
        location / {
            drover_pass unix:%%DIR%%/api.sock;
        }
EOF
    $t->nginx_started;
}

sub ask_peer {
    my ($method, $uri, %o) = @_;
    return $t->http($method, $uri, port => $uport, %o);
}

sub ask_drover {
    my ($method, $uri, %o) = @_;
    return $t->https($method, $uri, %o);
}

# ---- the same requests, compared ----

my $item = '{"name":"lamp","price":12.5,"tags":["a","b"]}';
my @cases = (
    # label, method, uri, request options, what uvicorn must answer, compare options
    ['hello', GET => '/', {}, 200],
    ['path and query parameters', GET => '/items/5?q=hello%20world&tag=a&tag=b&limit=7', {}, 200],
    ['an escaped path', GET => '/items/%34%32', {}, 200],
    ['a path parameter that is not an int', GET => '/items/abc', {}, 422],
    ['a query parameter out of range', GET => '/items/5?limit=0', {}, 422],
    ['a valid JSON body', POST => '/items',
     { body => $item, headers => ['Content-Type' => 'application/json'] }, 201],
    ['a body Pydantic refuses', POST => '/items',
     { body => '{"name":"","price":-1}', headers => ['Content-Type' => 'application/json'] }, 422],
    ['a body that is not JSON', POST => '/items',
     { body => '{"name":', headers => ['Content-Type' => 'application/json'] }, 422],
    ['no body', POST => '/items', { body => '' }, 422],
    ['204', DELETE => '/items/3', {}, 204],
    ['dependencies', GET => '/users?skip=1', { headers => ['X-Token' => 'secret'] }, 200],
    ['a missing header dependency', GET => '/users', {}, 422],
    ['a dependency that refuses', GET => '/users', { headers => ['X-Token' => 'nope'] }, 401],
    ['request headers, a repeated one, cookies', GET => '/headers?a=1&b=%20',
     { headers => ['X-One' => 'one', 'X-Dup' => 'first', 'X-Dup' => 'second',
                   'Cookie' => 'a=1; b=two', 'User-Agent' => 'drover-test/1'] }, 200],
    ['startup state', GET => '/state', {}, 200],
    ['cookies and headers set', GET => '/cookie', {}, 200],
    ['a redirect', GET => '/redirect', {}, 307],
    ['an ETag', GET => '/etag', {}, 200],
    ['304', GET => '/etag', { headers => ['If-None-Match' => '"v1-abc"'] }, 304],
    ['GET of a GET/HEAD route', GET => '/head', {}, 200],
    ['a sync endpoint (thread pool)', GET => '/sync/1000', {}, 200],
    ['an async endpoint', GET => '/async/1000', {}, 200],
    ['StreamingResponse', GET => '/stream?n=200', {}, 200],
    ['server-sent events', GET => '/sse?n=5', {}, 200],
    ['404', GET => '/nope', {}, 404],
    ['405', PUT => '/items/1', { body => '' }, 405],
    ['an exception before the response', GET => '/boom', {}, 500, body => 0],
);

sub same_answers {
    for my $c (@_) {
        my ($label, $method, $uri, $opt, $status, %cmp) = @$c;

        my $u = ask_peer($method, $uri, %$opt);
        is($u->{status}, $status, "uvicorn: $label: $status") or diag($u->{head} // $u->{error});

        next unless $drover;
        my $d = ask_drover($method, $uri, %$opt);
        compare("$label ($method $uri)", $d, $u, %cmp);
    }
}

same_answers(@cases);

SKIP: {
    skip $no_runtime, 3 unless $drover;

    my $s = $json->decode(ask_drover(GET => '/scope?x=1')->{body} || '{}');
    is($s->{scheme}, 'https', 'scope: scheme https behind TLS');
    is($s->{raw_path}, '/scope', 'scope: raw_path');
    is($s->{query_string}, 'x=1', 'scope: query_string');
}

# ---- 10 MB both ways, peak memory flat ----

# the serving processes: uvicorn's one, or every process of the pool
sub servers {
    my ($which) = @_;
    return $which eq 'uvicorn' ? ($uv) : map { $_->[0] } $t->family;
}

# peak RSS per process, after resetting it (clear_refs 5) to the current RSS
sub hwm_kb {
    my ($which, $reset) = @_;
    my %kb;
    for my $pid (servers($which)) {
        if ($reset && open my $fh, '>', "/proc/$pid/clear_refs") {
            print $fh "5\n";
            close $fh;
        }
        $kb{$pid} = proc_kb($t, $pid, 'VmHWM') // 0;
    }
    return \%kb;
}

sub grew_kb {
    my ($before, $after) = @_;
    my $max = 0;
    for my $pid (keys %$after) {
        next unless $before->{$pid};
        my $d = $after->{$pid} - $before->{$pid};
        $max = $d if $d > $max;
    }
    return $max;
}

my $upload = join '', map { sprintf "%07d ", $_ } 0 .. ($MB * 10 / 8 - 1);
my $upload_sha = sha256_hex($upload);

for my $which ('uvicorn', 'droverd') {
    SKIP: {
        skip $no_runtime, 8 if $which eq 'droverd' && !$drover;
        my $ask = $which eq 'uvicorn' ? \&ask_peer : \&ask_drover;

        my $h0 = hwm_kb($which, 1);
        my $up = $ask->(POST => '/upload', body => $upload, timeout => 60, record => 0,
                        headers => ['Content-Type' => 'application/octet-stream']);
        my $grew_up = grew_kb($h0, hwm_kb($which));

        my $h1 = hwm_kb($which, 1);
        my $digest = Digest::SHA->new(256);
        my $len = 0;
        my $down = $ask->(GET => '/download?mb=10', timeout => 60, record => 0,
                          sink => sub { $digest->add($_[0]); $len += length $_[0] });
        my $grew_down = grew_kb($h1, hwm_kb($which));
        my $sha = $digest->hexdigest;

        my $got = $json->decode($up->{body} || '{}');
        is($up->{status}, 200, "$which: 10 MB upload: 200");
        is($got->{bytes}, length $upload, "$which: the app read 10 MB");
        is($got->{sha256}, $upload_sha, "$which: the same bytes");
        ok($got->{in_pieces}, "$which: the body reached the app in pieces");
        is($down->{status}, 200, "$which: 10 MB download: 200");
        is($len, 10 * $MB, "$which: 10 MB came");
        my $want = Digest::SHA->new(256);
        $want->add(sprintf('piece %08d ', $_) . ('x' x (65536 - 16)) . "\n") for 0 .. 159;
        is($sha, $want->hexdigest, "$which: the bytes of the pattern");
        diag("$which: peak RSS grew by $grew_up kB during the upload, $grew_down kB during the download");
        SKIP: {
            # ASan's quarantine holds freed memory back from reuse
            skip 'a sanitizer build: freed memory is quarantined, not reused', 1
                if $which eq 'droverd' && $t->sanitized;
            cmp_ok($grew_up + $grew_down, '<', 4096, "$which: peak memory flat both ways (< 4 MB growth)");
        }
    }
}

# ---- a client that leaves mid-stream ----

for my $which ('uvicorn', 'droverd') {
    SKIP: {
        skip $no_runtime, 3 if $which eq 'droverd' && !$drover;
        my $ask = $which eq 'uvicorn' ? \&ask_peer : \&ask_drover;
        my %o = $which eq 'uvicorn' ? (port => $uport) : (tls => 1);

        my ($pid, $state) = leave_stream($t, "leave-$which", %o,
                                         asks => $which eq 'droverd' ? 2 : 1);
        ok($pid, "$which: the stream started (pid " . ($pid // '-') . "), the client left");
        is($state, 'left', "$which: the app's generator was cancelled when the client left");
        is($ask->(GET => '/')->{status}, 200, "$which: serves on");
    }
}

# ---- background task done before the worker's next request ----

SKIP: {
    skip $no_runtime, 2 unless $drover;

    # which worker is on which slot, then a task on one of them
    my %slot_of;
    for my $k (0 .. 1) {
        my $p = $t->get('/', slot => $k)->{headers}{'x-pid'};
        $slot_of{$p} = $k if defined $p;
    }
    my $r = ask_drover(POST => '/bg?tag=t1&ms=300', body => '');
    my ($pid) = ($r->{head} // '') =~ /^x-pid:\s*(\d+)/mi;
    is($r->{status}, 200, 'a background task queued');

    # its worker's slot socket: the next request there waits for the task
    my $slot = defined $pid ? $slot_of{$pid} : undef;
    my $b = defined $slot ? $t->get('/bg', slot => $slot, timeout => 10) : {};
    like($b->{body} // '', qr/"t1"/, "the worker's next request (slot "
         . ($slot // '?') . ") sees the task done");
}

# ---- HEAD, last: a slot a HEAD left busy would fail every request after it ----

same_answers(
    ['HEAD', HEAD => '/head', {}, 200],
    ['HEAD of a GET-only route', HEAD => '/items/1', {}, 405],
);
SKIP: {
    skip $no_runtime, 1 unless $drover;
    my @s = map { ask_drover(GET => '/')->{status} // 'none' } 1 .. 3;
    is("@s", '200 200 200', 'GETs after the HEADs are served (their slots were released)');
}

stop_peer($uv);
diag('uvicorn log: ' . $t->read_file('uvicorn.log')) if $t->read_file('uvicorn.log') =~ /Error/
    && $ENV{DROVER_TEST_VERBOSE};
$t->done;
