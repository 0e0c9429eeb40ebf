#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A Flask app (t/apps/python/flask_app.py, WSGI) unchanged in a droverd
# python pool (interface wsgi) behind nginx + drover_pass, and under Debian's
# gunicorn: the same requests to both, compared answer by answer (status, the
# headers the app sets, body).  Then on each: a 10 MB upload (wsgi.input
# streamed) and download with the serving process's peak memory flat, a
# client that leaves mid-stream (the app's generator closed), an iterable's
# close() called, PEP 3333's write().  Without the python runtime in
# droverd, only the gunicorn half runs and the rest is skipped with the
# reason.

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
python_needs($t, qw(flask gunicorn));

my $PY = $Drover::Test::Python::PYTHON;
my $json = JSON::PP->new->canonical;
my $MB = 1024 * 1024;

app_dir($t);
my $no_runtime = python_runtime($t);

# ---- the two servers ----

my $uport = $t->port('gunicorn');
my $uv = start_peer($t, 'gunicorn', [$PY, '-m', 'gunicorn', '-b', "127.0.0.1:$uport", '-w', 1,
                                     '--log-level', 'warning', 'flask_app:application'], $uport);
ok($uv, "gunicorn serves the app on 127.0.0.1:$uport") or BAIL_OUT('gunicorn did not start');

my $drover = !$no_runtime;
if ($drover) {
    $t->write_conf(python_pool_conf($t, 'flask_app:application', extra => "    interface    wsgi;\n"))->run(timeout => 60);
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

my $item = '{"name":"lamp","price":12.5}';
my @cases = (
    # label, method, uri, request options, what gunicorn must answer, compare options
    ['hello', GET => '/', {}, 200],
    ['path and query parameters', GET => '/items/5?q=hello%20world&tag=a&tag=b&limit=7', {}, 200],
    ['an escaped path', GET => '/items/%34%32', {}, 200],
    ['a path parameter that is not an int', GET => '/items/abc', {}, 404],
    ['a valid JSON body', POST => '/items',
     { body => $item, headers => ['Content-Type' => 'application/json'] }, 201],
    ['a body the app refuses', POST => '/items',
     { body => '{"name":"","price":-1}', headers => ['Content-Type' => 'application/json'] }, 422],
    ['a body that is not JSON', POST => '/items',
     { body => '{"name":', headers => ['Content-Type' => 'application/json'] }, 422],
    ['204', DELETE => '/items/3', {}, 204],
    ['request headers, a repeated one, cookies', GET => '/headers?a=1&b=%20',
     { headers => ['X-One' => 'one', 'X-Dup' => 'first', 'X-Dup' => 'second',
                   'Cookie' => 'a=1; b=two', 'User-Agent' => 'drover-test/1'] }, 200],
    ['cookies and headers set', GET => '/cookie', {}, 200],
    ['a redirect', GET => '/redirect', {}, 307],
    ['an ETag', GET => '/etag', {}, 200],
    ['304', GET => '/etag', { headers => ['If-None-Match' => '"v1-abc"'] }, 304],
    ['GET', GET => '/head', {}, 200],
    ['a generator response', GET => '/stream?n=200', {}, 200],
    ['write()', GET => '/write', {}, 200],
    ['abort(403)', GET => '/abort', {}, 403],
    ['404', GET => '/nope', {}, 404],
    ['405', PUT => '/items/1', { body => '' }, 405],
    ['an exception before the response', GET => '/boom', {}, 500, body => 0],
);

sub same_answers {
    for my $c (@_) {
        my ($label, $method, $uri, $opt, $status, %cmp) = @$c;

        my $u = ask_peer($method, $uri, %$opt);
        is($u->{status}, $status, "gunicorn: $label: $status") or diag($u->{head} // $u->{error});

        next unless $drover;
        my $d = ask_drover($method, $uri, %$opt);
        compare("$label ($method $uri)", $d, $u, %cmp);
    }
}

same_answers(@cases);

SKIP: {
    skip $no_runtime, 3 unless $drover;

    my $e = $json->decode(ask_drover(GET => '/environ?x=1')->{body} || '{}');
    is($e->{scheme}, 'https', 'environ: wsgi.url_scheme https behind TLS');
    is($e->{query}, 'x=1', 'environ: QUERY_STRING');
    is_deeply($e->{version}, [1, 0], 'environ: wsgi.version (1, 0)');
}

# ---- 10 MB both ways, peak memory flat ----

sub servers {
    my ($which) = @_;
    # gunicorn's master and its worker; the pool's preloader and workers
    return $which eq 'gunicorn' ? peer_pids($t, $uv) : map { $_->[0] } $t->family;
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

for my $which ('gunicorn', 'droverd') {
    SKIP: {
        skip $no_runtime, 7 if $which eq 'droverd' && !$drover;
        my $ask = $which eq 'gunicorn' ? \&ask_peer : \&ask_drover;

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

for my $which ('gunicorn', 'droverd') {
    SKIP: {
        skip $no_runtime, 3 if $which eq 'droverd' && !$drover;
        my $ask = $which eq 'gunicorn' ? \&ask_peer : \&ask_drover;
        my %o = $which eq 'gunicorn' ? (port => $uport) : (tls => 1);

        my ($pid, $state) = leave_stream($t, "leave-$which", %o,
                                         asks => $which eq 'droverd' ? 2 : 1);
        ok($pid, "$which: the stream started (pid " . ($pid // '-') . "), the client left");
        is($state, 'closed early', "$which: the app's generator was closed when the client left")
            or diag($which eq 'droverd' ? $t->log : '');
        is($ask->(GET => '/')->{status}, 200, "$which: serves on");
    }
}

# ---- the iterable's close() ----

for my $which ('gunicorn', 'droverd') {
    SKIP: {
        skip $no_runtime, 2 if $which eq 'droverd' && !$drover;
        my $ask = $which eq 'gunicorn' ? \&ask_peer : \&ask_drover;

        my $id = "close-$which";
        my $r = $ask->(GET => "/closing/$id");
        my ($pid) = ($r->{head} // '') =~ /^x-pid:\s*(\d+)/mi;
        is($r->{body}, "one\ntwo\n", "$which: the iterable's body");
        my $state = '';
        $t->wait_for(sub {
            my $s = $ask->(GET => "/streams/$id");
            my ($p) = ($s->{head} // '') =~ /^x-pid:\s*(\d+)/mi;
            return 0 unless $p && $pid && $p == $pid;
            $state = ($json->decode($s->{body} || '{}'))->{state} // '';
            return 1;
        }, 10, 0.05);
        is($state, 'closed by the server', "$which: the server called the iterable's close()");
    }
}

# ---- HEAD, last: a slot a HEAD left busy would fail every request after it ----

same_answers(
    ['HEAD', HEAD => '/head', {}, 200],
);
SKIP: {
    skip $no_runtime, 1 unless $drover;
    my @s = map { ask_drover(GET => '/')->{status} // 'none' } 1 .. 3;
    is("@s", '200 200 200', 'GETs after the HEADs are served (their slots were released)');
}

stop_peer($uv);
diag('gunicorn log: ' . $t->read_file('gunicorn.log')) if $t->read_file('gunicorn.log') =~ /Error/
    && $ENV{DROVER_TEST_VERBOSE};
$t->done;
