#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A hostile or broken front end: bad version, oversize params, a record
# stalled half-way (io_timeout), garbage, an unknown role, and the
# management records (GET_VALUES, an unknown type).  Each bad connection is
# closed or refused; droverd and the worker keep serving.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI qw(:all);

my $t = Drover::Test->new->has(qw(droverd kit));

$t->write_conf(<<'EOF')->run;
pool kit {
    app        %%APPS%%/kit.so;
    listen     unix:%%DIR%%/kit.sock;
    workers    1;
    io_timeout 1s;
}
EOF

my $sock = $t->socket_path;

sub healthy {
    my ($what) = @_;
    my $r = $t->get('/', timeout => 10);
    is($r->{body}, "hello\n", "$what: a new connection is served");
}

sub connect_ok {
    my $c = Drover::FCGI->connect($sock, timeout => 10);
    BAIL_OUT("cannot connect to $sock: $@") unless $c;
    return $c;
}

# ---- bad version ----

my $c = connect_ok();
$c->send_raw(fcgi_record(FCGI_BEGIN_REQUEST, 1, pack('nCx5', FCGI_RESPONDER, 0), version => 2)
             . fcgi_stream(FCGI_PARAMS, 1, fcgi_pairs(REQUEST_METHOD => 'GET', REQUEST_URI => '/'))
             . fcgi_stream(FCGI_STDIN, 1, ''));
my $r = $c->read_response(timeout => 5);
ok(!($r->{complete} && ($r->{status} || 0) == 200), 'version 2: not served');
ok($c->wait_closed(5), 'version 2: connection closed');
healthy('version 2');

# ---- garbage ----

$c = connect_ok();
$c->send_raw(join '', map { chr((($_ * 131) ^ 0x5a) & 0xff) } 0 .. 255);
ok($c->wait_closed(5), 'garbage: connection closed');
healthy('garbage');

# ---- oversize params ----

# a pair that claims a 2 GiB value: must not be buffered or waited for
$c = connect_ok();
$c->send_raw(fcgi_begin_request(1, FCGI_RESPONDER, 0)
             . fcgi_record(FCGI_PARAMS, 1, pack('CN', 4, 0x80000000 | 0x7ffffff0) . 'HUGE' . ('x' x 1000)));
my $start = time;
$r = $c->read_response(timeout => 6);
ok(!($r->{complete} && ($r->{status} || 0) == 200), 'pair of 2 GiB: not served');
ok($c->wait_closed(6), 'pair of 2 GiB: connection closed');
cmp_ok(time - $start, '<', 6, 'pair of 2 GiB: within io_timeout and a little');
healthy('pair of 2 GiB');

# 16 MiB of real params
$c = connect_ok();
my $ok = $c->send_raw(fcgi_request_bytes(uri => '/', params => { HTTP_X_BIG => 'y' x (16 * 1024 * 1024) },
                                         record_size => 65535),
                      timeout => 20);
$r = $c->read_response(timeout => 10);
ok(!($r->{complete} && ($r->{status} || 0) == 200), '16 MiB of params: refused')
    or diag("got $r->{status}");
$c->close;
healthy('16 MiB of params');

# ---- stalled mid-record ----

$c = connect_ok();
$c->send_raw(substr(fcgi_begin_request(1, FCGI_RESPONDER, 0), 0, 5));
$start = time;
ok($c->wait_closed(6), 'stalled in a record header: closed after io_timeout');
my $took = time - $start;
cmp_ok($took, '>', 0.5, sprintf('stalled header: not before io_timeout (%.2f s)', $took));
cmp_ok($took, '<', 4, 'stalled header: soon after io_timeout');
healthy('stalled header');

# stalled in the body: the app is in drover_req_read
$c = connect_ok();
my $bytes = fcgi_request_bytes(method => 'POST', uri => '/echo', body => 'z' x 1000);
$c->send_raw(substr($bytes, 0, length($bytes) - 900));
$start = time;
ok($c->wait_closed(6), 'stalled in the body: closed after io_timeout');
cmp_ok(time - $start, '<', 4, 'stalled body: soon after io_timeout');
healthy('stalled body');

# ---- unknown role (spec 5.1: FCGI_UNKNOWN_ROLE) ----

$c = connect_ok();
$r = $c->request(uri => '/', role => 99);
is($r->{protocol_status}, FCGI_UNKNOWN_ROLE, 'role 99: END_REQUEST with UNKNOWN_ROLE')
    or diag($r->{error} || '');
$c->close;

# ---- management records (spec 4) ----

$c = connect_ok();
$c->send_raw(fcgi_record(99, 0, 'whatever'));
my $rec = $c->read_record(timeout => 5);
ok($rec, 'type 99 on request id 0: an answer') or diag($c->error);
is($rec && $rec->{type}, FCGI_UNKNOWN_TYPE, 'it is FCGI_UNKNOWN_TYPE');
is($rec && $rec->{id}, 0, 'for request id 0');
is($rec && length $rec->{content}, 8, 'its body is 8 bytes');
is($rec && unpack('C', $rec->{content}), 99, 'naming type 99');

my $v = $c->get_values(qw(FCGI_MAX_CONNS FCGI_MAX_REQS FCGI_MPXS_CONNS X_UNKNOWN));
ok($v, 'GET_VALUES: GET_VALUES_RESULT') or diag($c->error);
is($c->{last_record} && $c->{last_record}{id}, 0, 'GET_VALUES_RESULT: request id 0');
ok($v && keys %$v, 'GET_VALUES_RESULT: some values');
ok($v && !exists $v->{X_UNKNOWN}, 'GET_VALUES_RESULT: unknown names left out');
is($v && $v->{FCGI_MPXS_CONNS}, 0, 'GET_VALUES_RESULT: FCGI_MPXS_CONNS 0') if $v && exists $v->{FCGI_MPXS_CONNS};
like($v->{$_}, qr/^\d+$/, "GET_VALUES_RESULT: $_ is a number") for grep { $v && exists $v->{$_} } qw(FCGI_MAX_CONNS FCGI_MAX_REQS);

# the same connection still serves a request
$r = $c->request(uri => '/', keep_conn => 1);
is($r->{body}, "hello\n", 'after management records: a request on the same connection');
$c->close;

# ---- a client that goes away mid-response ----

$c = connect_ok();
$c->send_raw(fcgi_request_bytes(uri => '/big?kb=8192'));
$c->read_record(timeout => 5);
$c->close;
healthy('client gone mid-response');

ok($t->alive, 'droverd survived all of it');
ok(defined($t->slot_pid(0)), 'and its worker answers');

$t->done;
