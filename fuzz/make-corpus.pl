#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Generate the seed corpora under fuzz/corpus/TARGET/ (core Perl only).
#
#   perl fuzz/make-corpus.pl            rewrite every seed
#
# The seeds are committed; rerun this after changing it and commit the
# result.  Each seed is one file named after what it holds.  The whole
# corpus stays well under 1 MiB: only a few seeds carry a record at the
# 65535-byte content limit.
#
# Control bytes in front of an input (see each target's header comment):
#   fuzz_fcgi_parse   1 byte: split size (0: 1 byte at a time)
#   fuzz_worker_conn  1 byte: read size and connection flags
#   fuzz_ngx_fcgi     2 bytes: split size, give-back count
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);

my $top = dirname(__FILE__);
my %seeds;

sub seed {
    my ($target, $name, $data) = @_;
    die "duplicate seed $target/$name\n" if exists $seeds{$target}{$name};
    $seeds{$target}{$name} = $data;
}

# ---- FastCGI encoding (spec 3.3, 3.4, 5.1) ----

sub rec {
    my ($type, $id, $content, $pad) = @_;
    $content //= '';
    $pad //= (8 - length($content) % 8) % 8;
    return pack('CCnnCC', 1, $type, $id, length $content, $pad, 0)
        . $content . ("\0" x $pad);
}

sub plen {
    my ($n, $long) = @_;
    return ($n < 128 && !$long) ? pack('C', $n) : pack('N', $n | 0x80000000);
}

sub pair {
    my ($name, $value, $long) = @_;
    return plen(length $name, $long) . plen(length $value, $long)
        . $name . $value;
}

sub begin_req {
    my ($id, $role, $keep) = @_;
    return rec(1, $id, pack('nCx5', $role // 1, $keep // 1));
}

# a stream (PARAMS 4, STDIN 5, STDOUT 6, STDERR 7) in records of at most
# $max bytes, then its empty end record
sub stream {
    my ($type, $id, $data, $max) = @_;
    my $out = '';
    $max //= 65535;
    for (my $off = 0; $off < length $data; $off += $max) {
        $out .= rec($type, $id, substr($data, $off, $max));
    }
    return $out . rec($type, $id, '');
}

sub params {
    my (%p) = @_;
    return join '', map { pair($_, $p{$_}) } sort keys %p;
}

sub request {
    my (%o) = @_;
    my $id = $o{id} // 1;
    my $uri = $o{uri} // '/';
    my ($path, $query) = split /\?/, $uri, 2;
    $query //= '';
    my $body = $o{body} // '';
    my %p = (
        REQUEST_METHOD => length $body ? 'POST' : 'GET',
        REQUEST_URI    => $uri,
        DOCUMENT_URI   => $path,
        SCRIPT_NAME    => $path,
        QUERY_STRING   => $query,
        SERVER_PROTOCOL => 'HTTP/1.1',
        HTTP_HOST      => 'localhost',
        %{ $o{params} // {} },
    );
    $p{CONTENT_LENGTH} = length $body if length $body;
    return begin_req($id, 1, $o{keep} // 1)
        . stream(4, $id, params(%p), $o{params_max})
        . ($o{no_stdin} ? '' : stream(5, $id, $body, $o{stdin_max}));
}

my $pattern = join '', map { chr(ord('a') + $_ % 26) } 0 .. 70_000;

# ---- fuzz_fcgi_parse: control byte + a front end's stream ----

{
    my $get = request(uri => '/?a=1');
    seed('fuzz_fcgi_parse', 'get-whole', "\x01" . $get);
    seed('fuzz_fcgi_parse', 'get-bytewise', "\x00" . $get);
    seed('fuzz_fcgi_parse', 'get-split-7', "\x07" . $get);
    seed('fuzz_fcgi_parse', 'post-records-of-1',
         "\x00" . request(body => 'x' x 40, stdin_max => 1));
    seed('fuzz_fcgi_parse', 'content-65535-pad-255',
         "\xff" . rec(5, 1, substr($pattern, 0, 65535), 255) . rec(5, 1, ''));
    seed('fuzz_fcgi_parse', 'get-values',
         "\x03" . rec(9, 0, pair('FCGI_MAX_CONNS', '') . pair('FCGI_MPXS_CONNS', '')));
    seed('fuzz_fcgi_parse', 'abort', "\x02" . begin_req(1) . rec(2, 1, ''));
    seed('fuzz_fcgi_parse', 'bad-version', "\x01" . "\x02" . substr(begin_req(1), 1));
    seed('fuzz_fcgi_parse', 'begin-length-7', "\x01" . rec(1, 1, "\0\1\1\0\0\0\0"));
    seed('fuzz_fcgi_parse', 'abort-length-1', "\x01" . rec(2, 1, "x"));
    seed('fuzz_fcgi_parse', 'end-request-length-9', "\x01" . rec(3, 1, "x" x 9));
    seed('fuzz_fcgi_parse', 'header-cut', "\x00" . substr(begin_req(1), 0, 5));
    seed('fuzz_fcgi_parse', 'padding-only', "\x00" . pack('CCnnCC', 1, 5, 1, 0, 255, 0) . ("\0" x 100));
    seed('fuzz_fcgi_parse', 'id-65535', "\x05" . begin_req(65535) . rec(4, 65535, ''));
    seed('fuzz_fcgi_parse', 'unknown-type-200', "\x04" . rec(200, 1, 'xyz'));
}

# ---- fuzz_fcgi_params: a PARAMS stream's content ----

{
    my %p = (REQUEST_METHOD => 'GET', REQUEST_URI => '/x?y=1',
             QUERY_STRING => 'y=1', HTTP_HOST => 'localhost');
    seed('fuzz_fcgi_params', 'typical', params(%p));
    seed('fuzz_fcgi_params', 'four-byte-lengths',
         pair('A', 'B', 1) . pair('NAME', 'value', 1));
    seed('fuzz_fcgi_params', 'long-name-200', pair('N' x 200, 'v'));
    seed('fuzz_fcgi_params', 'long-value-4000', pair('V', 'v' x 4000));
    seed('fuzz_fcgi_params', 'empty-name-and-value', pair('', '') . pair('', 'x'));
    seed('fuzz_fcgi_params', 'length-2g-1', plen(0x7fffffff, 1) . plen(1) . 'ab');
    seed('fuzz_fcgi_params', 'name-past-end', plen(10) . plen(0) . 'abc');
    seed('fuzz_fcgi_params', 'value-length-cut', plen(1) . "\x80\x00");
    seed('fuzz_fcgi_params', 'nul-in-value', pair('A', "b\0c"));
    seed('fuzz_fcgi_params', 'get-values-query',
         pair('FCGI_MAX_CONNS', '') . pair('FCGI_MAX_REQS', '')
         . pair('FCGI_MPXS_CONNS', '') . pair('OTHER', ''));
    seed('fuzz_fcgi_params', 'many-pairs-1100', pair('a', '') x 1100);
}

# ---- fuzz_worker_conn: control byte + a front end's stream ----
# control byte: bits 0-3 read size index, bit 4 slot, bit 5 stopping,
# bit 6 over the connection limit

{
    my $w = 'fuzz_worker_conn';
    seed($w, 'get', "\x0e" . request(uri => '/'));
    seed($w, 'get-bytewise', "\x00" . request(uri => '/a/b?do=p&a=%41'));
    seed($w, 'get-keepalive-twice', "\x0e" . request(id => 1, uri => '/?do=pw10')
         . request(id => 2, uri => '/?do=w20f'));
    seed($w, 'post-echo-small', "\x07" . request(uri => '/?do=Rw5', body => 'hello world'));
    seed($w, 'post-read-all', "\x09" . request(uri => '/?do=a100000',
         body => substr($pattern, 0, 3000), stdin_max => 1000));
    # the shape of the known crash: a partial read of a multi-record body
    seed($w, 'post-66000-read-100', "\x0e" . request(uri => '/?do=r100w6',
         body => substr($pattern, 0, 66000)));
    seed($w, 'post-partial-then-keepalive', "\x0d" . request(id => 1,
         uri => '/?do=r10', body => substr($pattern, 0, 5000), stdin_max => 999)
         . request(id => 2, uri => '/?do=R'));
    seed($w, 'post-early-response', "\x0e" . request(uri => '/?do=w70000fR',
         body => substr($pattern, 0, 9000)));
    seed($w, 'headers-status-stderr', "\x0e" . request(uri => '/?do=s404he30w1&hv=a%0Db'));
    seed($w, 'app-fails', "\x0e" . request(uri => '/?do=x'));
    seed($w, 'abort-mid-body', "\x0e" . begin_req(1) . stream(4, 1, params(
         REQUEST_METHOD => 'POST', REQUEST_URI => '/?do=R', QUERY_STRING => 'do=R',
         CONTENT_LENGTH => 100)) . rec(5, 1, 'x' x 10) . rec(2, 1, ''));
    seed($w, 'abort-before-params-end', "\x0e" . begin_req(1) . rec(4, 1, pair('A', 'b'))
         . rec(2, 1, ''));
    seed($w, 'get-values-and-unknown-mgmt', "\x0e"
         . rec(9, 0, pair('FCGI_MAX_CONNS', '') . pair('FCGI_MPXS_CONNS', ''))
         . rec(77, 0, 'x'));
    seed($w, 'second-begin-cant-mpx', "\x0e" . begin_req(1) . begin_req(2)
         . rec(4, 1, '') . rec(5, 1, ''));
    seed($w, 'role-authorizer', "\x0e" . begin_req(1, 2, 0));
    seed($w, 'stdin-before-params-end', "\x0e" . begin_req(1) . rec(5, 1, 'x'));
    seed($w, 'params-long-4-byte', "\x0e" . begin_req(1)
         . stream(4, 1, pair('HTTP_X_LONG', 'v' x 3000, 1) . params(REQUEST_URI => '/'),
                  777) . rec(5, 1, ''));
    seed($w, 'withdrawable-slot', "\x1e" . request(uri => '/?do=R',
         body => 'abc', params => { DROVER_WITHDRAWABLE => '1' }));
    seed($w, 'stopping', "\x2e" . request(uri => '/') . request(id => 2, uri => '/'));
    seed($w, 'over-limit', "\x4e" . request(uri => '/'));
    seed($w, 'no-keepalive-then-more', "\x0e" . request(uri => '/?do=r1',
         body => 'x' x 100, keep => 0) . request(id => 2, uri => '/'));
    seed($w, 'bad-version', "\x0e" . "\x02" . substr(begin_req(1), 1));
}

# ---- fuzz_ngx_fcgi: split byte, give-back byte, droverd's response ----

{
    my $n = 'fuzz_ngx_fcgi';
    my $ok = rec(3, 1, pack('NCx3', 0, 0));
    my $resp = stream(6, 1, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n") . $ok;
    seed($n, 'ok-whole', "\x01\x00" . $resp);
    seed($n, 'ok-bytewise', "\x00\x00" . $resp);
    seed($n, 'ok-giveback-5', "\x01\x05" . $resp);
    seed($n, 'stderr-interleaved', "\x02\x03" . rec(7, 1, "warning\n")
         . rec(6, 1, "Content-Type: text/html\r\n\r\n") . rec(7, 1, 'x' x 30)
         . rec(6, 1, 'body') . rec(6, 1, '') . $ok);
    seed($n, 'stdout-65535-pad-255', "\xff\x07" . rec(6, 1, substr($pattern, 0, 65535), 255)
         . rec(6, 1, '') . $ok);
    seed($n, 'overloaded', "\x01\x00" . rec(3, 1, pack('NCx3', 0, 2)));
    seed($n, 'app-status-1', "\x01\x00" . rec(6, 1, '') . rec(3, 1, pack('NCx3', 1, 0)));
    seed($n, 'stdout-after-end', "\x01\x00" . rec(6, 1, '') . rec(6, 1, 'late') . $ok);
    seed($n, 'wrong-request-id', "\x01\x00" . rec(6, 2, 'x'));
    seed($n, 'management-type', "\x01\x00" . rec(10, 0, ''));
    seed($n, 'end-request-short', "\x00\x00" . rec(3, 1, 'x' x 7));
    seed($n, 'end-request-bytewise-padded', "\x00\x00" . rec(6, 1, '')
         . rec(3, 1, pack('NCx3', 0, 0), 16));
    seed($n, 'bad-version', "\x01\x00" . "\x00" . substr($ok, 1));
}

# ---- fuzz_conf: a droverd.conf (app.so, inc.conf, conf.d/ exist) ----

{
    my $c = 'fuzz_conf';
    seed($c, 'minimal', "pool kit {\n    app app.so;\n    listen unix:/run/drover/kit.sock;\n}\n");
    seed($c, 'every-directive', <<'EOF');
# every directive once
log_level info;
run_dir /run/drover;
memory_budget 2G;
control unix:/run/drover/droverd.ctl mode=0660 group=root;
status_socket unix:/run/drover/status.sock mode=0666;
include conf.d/*.conf;
pool kit {
    app app.so;
    app_param data "/var/lib/kit data";
    app_param size 256M;
    listen unix:/run/drover/kit.sock mode=0660 owner=root group=root;
    workers auto;
    preload off;
    io_timeout 30s;
    prestart /bin/true --check "a b";
    prestart_timeout 5m;
    request_timeout 30s;
    memory_limit 512M;
    memory_limit_hard 1G;
    max_requests 1000 100;
    restart_limit 10 per 60s;
    stop_timeout 10s;
    busy_target 50% 90%;
    log_level debug;
}
EOF
    seed($c, 'two-pools-include', "include inc.conf;\npool b {\n    app 'app.so';\n"
         . "    listen unix:/run/drover/b.sock;\n    workers 4;\n    user nobody;\n"
         . "    group nogroup;\n}\n");
    seed($c, 'quotes-and-escapes', "pool \"q\" {\n    app \"app.so\";\n"
         . "    app_param 'k' \"v \\\" \\\\ ; { }\";\n    listen \"unix:/run/drover/q.sock\";\n}\n");
    seed($c, 'errors-unknown-directive', "pool x {\n    frobnicate 1;\n}\n");
    seed($c, 'errors-unclosed-block', "pool x {\n    app app.so;\n");
    seed($c, 'errors-duplicate-listen', "pool a { app app.so; listen unix:/r/a.sock; }\n"
         . "pool b { app app.so; listen unix:/r/a.sock; }\n");
    seed($c, 'numbers-at-limits', "pool n {\n    app app.so;\n    listen unix:/r/n.sock;\n"
         . "    workers 256;\n    io_timeout 4294967295ms;\n    max_requests 4294967295 4294967295;\n"
         . "    memory_limit 18446744073709551615;\n    busy_target 0% 100%;\n}\n");
    seed($c, 'long-name-and-path', "pool " . ('n' x 64) . " {\n    app app.so;\n"
         . "    listen unix:/" . ('p' x 120) . ".sock;\n}\n");
    seed($c, 'include-loop', "include droverd.conf;\n");
    seed($c, 'nul-byte', "pool x {\0}\n");
    seed($c, 'tcp', "status_listen tcp:10.0.0.5:9090 allow=10.0.0.0/8,fd00::/8;\n"
         . "pool t {\n    app app.so;\n    listen unix:/r/t.sock;\n    listen tcp:[::]:9000;\n"
         . "    allow_peers 10.1.2.3/8 192.168.1.7 root;\n    workers 4;\n}\n");
}

# ---- fuzz_ngx_slots: a PATH.slots file ----

{
    my $s = 'fuzz_ngx_slots';
    seed($s, 'readme-example', "drover-slots 1\npool kit\ngeneration 3\nslots 2\n0 up 1234\n1 down 0\n");
    seed($s, 'slots-256', "drover-slots 1\ngeneration 99999999\nslots 256\n"
         . join('', map { "$_ up " . (1000 + $_) . "\n" } 0 .. 255));
    seed($s, 'slots-257', "drover-slots 1\nslots 257\n");
    seed($s, 'slot-past-count', "drover-slots 1\nslots 1\n1 up 5\n");
    seed($s, 'slot-before-count', "drover-slots 1\n0 up 5\nslots 1\n");
    seed($s, 'no-final-newline', "drover-slots 1\nslots 1\n0 up 5");
    seed($s, 'wrong-version', "drover-slots 2\nslots 1\n");
    seed($s, 'number-overflow', "drover-slots 1\nslots 1\n0 up 9999999999999\n");
    seed($s, 'unknown-lines', "drover-slots 1\nfuture thing\nslots 1\n# comment\n0 down 0\n");
    seed($s, 'neither-up-nor-down', "drover-slots 1\nslots 1\n0 sideways 1\n");
    seed($s, 'empty', '');
}

# ---- fuzz_ngx_netslots: droverd's answer to "slots POOL" ----

{
    my $n = 'fuzz_ngx_netslots';
    seed($n, 'fastcgi-md-example', "drover-netslots 1\npool kit\ngeneration 3\nstate serving\nslots 2\n"
         . "port 9000\n0 up 1234 9001\n1 down 0 9002\n");
    seed($n, 'slots-file', "drover-slots 1\npool kit\ngeneration 1\nslots 1\n0 up 5\n");
    seed($n, 'slots-256', "drover-netslots 1\nslots 256\nport 65279\n"
         . join('', map { "$_ up " . (1000 + $_) . ' ' . (9001 + $_) . "\n" } 0 .. 255));
    seed($n, 'error-no-pool', "drover-netslots 1\nerror no pool \"x\"\n");
    seed($n, 'port-past-65535', "drover-netslots 1\nslots 1\nport 65536\n0 up 5 70000\n");
    seed($n, 'state-failing-stopped', "drover-netslots 1\nstate failing\nstate stopped\nslots 1\n0 down 0 0\n");
    seed($n, 'ondemand-exec', "drover-netslots 1\nkind exec\nslots 2\nport 0\n0 down 0 0\n1 up 7 9\nondemand 2\n");
    seed($n, 'no-final-newline', "drover-netslots 1\nslots 1\n0 up 5 9001");
    seed($n, 'trailing-space', "drover-netslots 1\nslots 1\n0 up 5 \n");
    seed($n, 'empty', '');
}

# ---- fuzz_control: what a client sends (a leading space: read-only) ----

{
    my $k = 'fuzz_control';
    seed($k, 'status', qq({"cmd":"status"}\n));
    seed($k, 'status-pool-id', qq({"cmd":"status","pool":"kit","id":42}\n));
    seed($k, 'status-raw-prometheus-queues', qq({"cmd":"status","format":"prometheus","raw":true,)
         . qq("queues":[{"listen":"/run/drover/kit.sock","queued":3,"requests":10,"waited":2,)
         . qq("wait_ms":10,"wait_max_ms":7,"overflows":0,"timeouts":1,"replays":2,)
         . qq("failures":0,"pipelined":4,"moved":1},{"listen":5},"x"]}\n));
    seed($k, 'status-html', qq({"cmd":"status","format":"html","id":"a"}\n));
    seed($k, 'actions', qq({"cmd":"reload"}\n{"cmd":"restart","pool":"kit"}\n)
         . qq({"cmd":"scale","pool":"kit","workers":3}\n{"cmd":"stop"}\n{"cmd":"version","id":[1,{}]}\n));
    seed($k, 'action-errors', qq({"cmd":"restart","pool":"nope"}\n{"cmd":"restart","pool":"silent"}\n)
         . qq({"cmd":"scale","pool":"kit","workers":0}\n{"cmd":"scale","pool":"kit","workers":1.5}\n)
         . qq({"cmd":"scale","pool":"kit","workers":"2"}\n{"cmd":"reload","pool":"kit"}\n));
    seed($k, 'bad-json', qq({"cmd":\n[1,2]\nnull\n12\n{"cmd":"status"} x\n{"cmd":"st\\u0000atus"}\n\r\n   \n));
    seed($k, 'bad-pool-names', qq({"cmd":"restart","pool":"k\\u0000t"}\n{"cmd":"restart","pool":""}\n)
         . qq({"cmd":"restart","pool":") . ('p' x 65) . qq("}\n{"cmd":"restart","pool":"a/b"}\n));
    seed($k, 'readonly-stop', qq( {"cmd":"stop"}\n{"cmd":"status"}\n));
    seed($k, 'no-newline-at-eof', qq({"cmd":"version"}));
    seed($k, 'crlf', qq({"cmd":"version"}\r\n));
    seed($k, 'nul-byte', qq({"cmd":"version"\0}\n));
    seed($k, 'line-65537', '"' . ('x' x 65535) . qq("\n));
}

# ---- write ----

for my $target (sort keys %seeds) {
    my $dir = "$top/corpus/$target";
    remove_tree($dir);
    make_path($dir);
    for my $name (sort keys %{ $seeds{$target} }) {
        open my $fh, '>:raw', "$dir/$name" or die "$dir/$name: $!\n";
        print {$fh} $seeds{$target}{$name};
        close $fh or die "$dir/$name: $!\n";
    }
}

my $total = 0;
$total += length $_ for map { values %$_ } values %seeds;
printf "make-corpus: %d seeds, %d bytes\n",
    scalar(map { keys %$_ } values %seeds), $total;
