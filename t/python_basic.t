#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Python pools (apps/python/): a tiny ASGI app and a tiny WSGI app written
# here, no framework, through nginx and the module.  ASGI: the http scope
# (method, path, raw_path, query_string, root_path, headers with repeats,
# client, server, scheme https, http_version), a 1 MiB body streamed in
# both ways (receive() in pieces, each echoed at once), HEAD, 204 without a
# Content-Type, lifespan state in each request and shutdown at the stop,
# http.disconnect when the client leaves mid-stream, WebSocket refused
# (400, logged).  WSGI: the environ
# (SCRIPT_NAME = root_path, PATH_INFO under it), wsgi.input read in pieces
# and by line, write(), the iterable's close().  A background task after
# the response: the response is not held back by it.  Preload: the app imported
# once, in the preloader; gc.freeze() ran; os.register_at_fork's callbacks
# ran in the preloader (before, after_in_parent) and in each worker.

use strict;
use warnings;

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;

my $PYTHON = '/usr/bin/python3';

my $t = Drover::Test->new->has(qw(droverd nginx module https));
plan(skip_all => "$PYTHON is not installed") unless -x $PYTHON;
plan(skip_all => 'no Python runtime (build/drover_python.so: run make)')
    unless -r $t->build . '/drover_python.so';

my $dir = $t->dir;
mkdir "$dir/app", 0755;
mkdir "$dir/rec", 0777;
chmod 0777, "$dir/rec";

$t->write_file('app/asgi_app.py', <<"EOF", 0644);
import gc, json, os, asyncio

REC = "$dir/rec"

def note(name, text=""):
    with open("%s/%s" % (REC, name), "a") as f:
        f.write("%s %s\\n" % (os.getpid(), text))

note("import")
os.register_at_fork(before=lambda: note("before"),
                    after_in_parent=lambda: note("parent"),
                    after_in_child=lambda: note("child"))

async def body_of(receive):
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            return body

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                scope["state"]["token"] = "ls-%d" % os.getpid()
                await send({"type": "lifespan.startup.complete"})
            else:
                note("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return

    path = scope["path"]
    if path.startswith(scope["root_path"] + "/"):
        path = path[len(scope["root_path"]):]
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain")]}

    if path == "/scope":
        s = dict(scope)
        s["raw_path"] = s["raw_path"].decode("latin-1")
        s["query_string"] = s["query_string"].decode("latin-1")
        s["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in s["headers"]]
        s["body"] = (await body_of(receive)).decode()
        s["pid"] = os.getpid()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(s).encode()})

    elif path == "/echo":
        # each piece back as it comes: streamed both ways
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"x-pieces", b"see-trailer")]})
        n = 0
        while True:
            m = await receive()
            n += 1
            await send({"type": "http.response.body", "body": m.get("body", b""),
                        "more_body": True})
            if not m.get("more_body"):
                break
        note("echo", str(n))
        await send({"type": "http.response.body", "body": b""})

    elif path == "/nocontent":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    elif path == "/pid":
        await send(start)
        await send({"type": "http.response.body", "body": b"%d\\n" % os.getpid()})

    elif path == "/bg":
        # a background task after the response, as Starlette runs one
        # (with a Content-Length, as Starlette's responses have)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5"),
                                (b"x-accel-buffering", b"no")]})
        await send({"type": "http.response.body", "body": b"done\\n"})
        await asyncio.sleep(1.5)
        note("bg")

    elif path == "/frozen":
        await send(start)
        await send({"type": "http.response.body", "body": b"%d\\n" % gc.get_freeze_count()})

    elif path == "/sse":
        # ticks until the client leaves; the disconnect ends it
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"),
                                (b"x-accel-buffering", b"no")]})
        await body_of(receive)
        left = asyncio.ensure_future(receive())
        for i in range(400):
            await send({"type": "http.response.body", "body": b"data: tick %d\\n\\n" % i,
                        "more_body": True})
            done, _ = await asyncio.wait([left], timeout=0.025)
            if done:
                note("left", left.result()["type"])
                return
        await send({"type": "http.response.body", "body": b""})

    else:
        await send(start)
        await send({"type": "http.response.body", "body": b"asgi " + path.encode() + b"\\n"})
EOF

$t->write_file('app/wsgi_app.py', <<"EOF", 0644);
import json, os

REC = "$dir/rec"

class Closing:
    def __init__(self, parts):
        self.parts = parts
    def __iter__(self):
        return iter(self.parts)
    def close(self):
        with open(REC + "/closed", "a") as f:
            f.write("%d\\n" % os.getpid())

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/environ":
        keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD",
                "wsgi.url_scheme", "HTTP_X_TEST", "CONTENT_LENGTH", "SERVER_PROTOCOL")
        env = {k: environ.get(k) for k in keys}
        env["first_line"] = environ["wsgi.input"].readline().decode()
        env["rest"] = len(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(env).encode()]
    if path == "/echo":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        def gen():
            while True:
                piece = environ["wsgi.input"].read(8192)
                if not piece:
                    return
                yield piece
        return gen()
    if path == "/write":
        write = start_response("201 Created", [("Content-Type", "text/plain"),
                                                ("X-Way", "write")])
        write(b"written ")
        return Closing([b"then ", b"iterated\\n"])
    if path == "/nocontent":
        start_response("204 No Content", [])
        return []
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi " + path.encode() + b"\\n"]
EOF

$t->write_conf(<<'EOF')->run;
pool asgi {
    python      asgi_app:app;
    python_path %%DIR%%/app;
    root_path   /api;
    listen      unix:%%DIR%%/asgi.sock;
    workers     2;
}
pool wsgi {
    python      wsgi_app:app;
    python_path %%DIR%%/app;
    interface   wsgi;
    root_path   /w;
    listen      unix:%%DIR%%/wsgi.sock;
    workers     2;
    preload     off;
}
EOF

$t->write_module_conf(<<'EOF', servers => {
        client_max_body_size 8m;

        location / {
            drover_pass unix:%%DIR%%/asgi.sock;
        }
EOF
    'wsgi.test' => <<'EOF',
        client_max_body_size 8m;

        location / {
            drover_pass unix:%%DIR%%/wsgi.sock;
        }
EOF
})->run_nginx;

$t->nginx_started('with the module');

my %W = (Host => 'wsgi.test');

sub rec_pids {
    my ($name) = @_;
    return map { /^(\d+)/ ? $1 : () } split /\n/, $t->read_file("rec/$name");
}

# ---- the ASGI scope ----

my $r = $t->https(POST => '/api/sc%6fpe?a=1&b=%20x', body => 'hi',
                  headers => [Host => 'localhost', 'X-Test' => 'one', 'X-Multi' => 'a',
                              'X-Multi' => 'b', 'Content-Type' => 'text/plain']);
is($r->{status}, 200, 'ASGI /scope: 200') or diag($r->{body});
my $s = eval { JSON::PP::decode_json($r->{body}) } || {};

is($s->{type}, 'http', 'scope type http');
is_deeply($s->{asgi}, { version => '3.0', spec_version => '2.3' }, 'scope asgi version 3.0');
is($s->{method}, 'POST', 'scope method');
is($s->{scheme}, 'https', 'scope scheme https (the front end said so)');
is($s->{http_version}, '1.1', 'scope http_version');
is($s->{path}, '/api/scope', 'scope path: decoded');
is($s->{raw_path}, '/api/sc%6fpe', 'scope raw_path: as sent');
is($s->{query_string}, 'a=1&b=%20x', 'scope query_string: as sent');
is($s->{root_path}, '/api', 'scope root_path from the pool');
is($s->{body}, 'hi', 'the body');
my %h;
push @{ $h{$_->[0]} }, $_->[1] for @{ $s->{headers} || [] };
is_deeply($h{'x-test'}, ['one'], 'a header, its name lowercased');
is(join(',', @{ $h{'x-multi'} || [] }) =~ s/\s//gr, 'a,b', 'a repeated header: both values');
is_deeply($h{'content-type'}, ['text/plain'], 'content-type among the headers');
is_deeply($h{'content-length'}, ['2'], 'content-length among the headers');
is($s->{client}[0], '127.0.0.1', 'scope client address');
like($s->{client}[1], qr/^\d+$/, 'scope client port');
like($s->{server}[1] // '', qr/^\d+$/, 'scope server port');
like($s->{state}{token} // '', qr/^ls-\d+$/, 'lifespan state reaches the request');
is($s->{state}{token}, "ls-$s->{pid}", 'the state of this worker\'s own lifespan');

# ---- streamed both ways, HEAD, 204 ----

my $mib = join '', map { chr(($_ * 131 + ($_ >> 8)) & 0xff) } 0 .. 1024 * 1024 - 1;
$r = $t->https(POST => '/api/echo', body => $mib, timeout => 30, headers => { Host => 'localhost' });
is($r->{status}, 200, 'ASGI 1 MiB echo: 200');
ok($r->{complete} && ($r->{body} // '') eq $mib, 'ASGI 1 MiB echo: the same bytes')
    or diag('got ' . length($r->{body} // '') . ' bytes');
is($r->{headers}{'content-length'}, undef, 'the echo is streamed (no Content-Length)');
my ($pieces) = map { /^\d+ (\d+)/ ? $1 : () } split /\n/, $t->read_file('rec/echo');
cmp_ok($pieces // 0, '>', 4, "receive() gave the body in pieces ($pieces)");

$r = $t->https(GET => '/api/nocontent', headers => { Host => 'localhost' });
is($r->{status}, 204, 'ASGI 204');
is($r->{headers}{'content-type'}, undef, 'ASGI 204: no default Content-Type added');

# ---- a background task: the response goes out first, the task finishes ----

# (droverd sends the response before the task ends; nginx passes it on at
# FCGI_END_REQUEST, Content-Length or not: reported)
$r = $t->https(GET => '/api/bg', headers => { Host => 'localhost' }, timeout => 10);
is($r->{body}, "done\n", 'background task: the response');
ok($t->read_file('rec/bg') ne '', '... and the task ran to its end before the request ended');

# ---- WebSocket: refused, with a line in the log ----

$r = $t->https(GET => '/api/ws', headers => { Host => 'localhost', Upgrade => 'websocket',
                                              Connection => 'Upgrade',
                                              'Sec-WebSocket-Version' => '13',
                                              'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==' });
is($r->{status}, 400, 'a WebSocket request: 400');
ok($t->wait_log(qr/pool asgi: worker \d: app: WebSocket request for \/api\/ws refused/, 5),
   '... refused with a log line');

# ---- the client leaves mid-stream: http.disconnect ----

my $c = $t->https_connect;
$c->send_raw($c->request_bytes(GET => '/api/sse', headers => { Host => 'localhost' }));
ok($t->wait_for(sub { $c->_fill(time + 0.1); $c->received =~ /tick 2\b/ }, 10),
   'SSE: ticks arrive as sent') or diag('received: ' . substr($c->received, 0, 600));
$c->close;
ok($t->wait_for(sub { $t->read_file('rec/left') ne '' }, 10),
   'the client left: receive() returned, the app stopped');
like($t->read_file('rec/left'), qr/^\d+ http\.disconnect$/m, '... with http.disconnect');

# ---- preload and fork ----

my ($preloader) = map { /pool asgi: preloader (\d+) ready/ ? $1 : () } split /\n/, $t->log;
my @import = rec_pids('import');
my @asgi_pids = sort map { $t->slot_pid($_, pool => 'asgi') // 'none' } 0, 1;
is(scalar(grep { $_ eq ($preloader // '') } @import), 1,
   'ASGI app imported once, in the preloader');
my %child = map { $_ => 1 } rec_pids('child');
ok($child{$asgi_pids[0]} && $child{$asgi_pids[1]},
   "os.register_at_fork after_in_child ran in each worker (@asgi_pids)")
    or diag('child callbacks in: ' . join(' ', keys %child));
my @before = rec_pids('before');
my @parent = rec_pids('parent');
ok(@before >= 2 && !grep({ $_ ne $preloader } @before, @parent) && @parent == @before,
   'before and after_in_parent ran in the preloader, once per fork');
$r = $t->https(GET => '/api/frozen', headers => { Host => 'localhost' });
cmp_ok(($r->{body} // '0') + 0, '>', 0, 'gc.freeze() ran before the fork');

# ---- WSGI ----

$r = $t->https(POST => '/w/environ?q=1', body => "line one\nand the rest",
               headers => { %W, 'X-Test' => 'wsgi' });
is($r->{status}, 200, 'WSGI /environ: 200') or diag($r->{body});
my $e = eval { JSON::PP::decode_json($r->{body}) } || {};
is($e->{SCRIPT_NAME}, '/w', 'SCRIPT_NAME is root_path');
is($e->{PATH_INFO}, '/environ', 'PATH_INFO under it');
is($e->{QUERY_STRING}, 'q=1', 'QUERY_STRING');
is($e->{REQUEST_METHOD}, 'POST', 'REQUEST_METHOD');
is($e->{'wsgi.url_scheme'}, 'https', 'wsgi.url_scheme https');
is($e->{HTTP_X_TEST}, 'wsgi', 'HTTP_ headers');
is($e->{first_line}, "line one\n", 'wsgi.input readline()');
is($e->{rest}, length('and the rest'), 'wsgi.input read() of the rest');

$r = $t->https(POST => '/w/echo', body => $mib, timeout => 30, headers => \%W);
ok($r->{status} == 200 && ($r->{body} // '') eq $mib, 'WSGI 1 MiB echo through a generator')
    or diag("status $r->{status}, " . length($r->{body} // '') . ' bytes');

$r = $t->https(GET => '/w/write', headers => \%W);
is($r->{status}, 201, 'WSGI status from start_response');
is($r->{body}, "written then iterated\n", 'write() then the iterable');
is($r->{headers}{'x-way'}, 'write', 'WSGI headers');
ok($t->wait_for(sub { $t->read_file('rec/closed') ne '' }, 5), 'the iterable was closed');

$r = $t->https(GET => '/w/nocontent', headers => \%W);
ok($r->{status} == 204 && !defined $r->{headers}{'content-type'}, 'WSGI 204, no Content-Type')
    or diag($r->{head});

# ---- HEAD ----

$r = $t->https(HEAD => '/api/hello', headers => { Host => 'localhost' });
is($r->{status}, 200, 'ASGI HEAD: 200');
is($r->{body} // '', '', 'ASGI HEAD: no body');
is($r->{headers}{'content-type'}, 'text/plain', 'ASGI HEAD: the app\'s headers');

$r = $t->https(HEAD => '/w/hello', headers => \%W);
ok($r->{status} == 200 && ($r->{body} // '') eq '', 'WSGI HEAD: 200, no body');

# ---- lifespan shutdown at the stop ----

$t->stop;
my %down = map { $_ => 1 } rec_pids('shutdown');
ok($down{$asgi_pids[0]} && $down{$asgi_pids[1]}, 'lifespan shutdown ran in each ASGI worker');

$t->done;
