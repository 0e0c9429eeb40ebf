#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover under mpm_prefork: one request per Apache process, so the
# slot table and the queue count are shared between processes only. A
# pool of one worker: a request in one child holds the slot, one in a
# second child waits in the queue, a third in a third child finds the
# queue (size=1) full: 503 at once; the waiting one is served when the
# slot frees. Bodies both ways in a child of its own.

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;

plan(skip_all => 'mpm_prefork is not installed')
    unless -r "$Drover::Test::APACHE_MODULES/mod_mpm_prefork.so";

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 1;
}
EOF

$t->write_apache_conf(<<'EOF', mpm => 'prefork', servers => 4)->run_apache;
LogLevel notice drover:debug
KeepAlive Off
DroverQueue size=1 timeout=10s
# the queue is the point here: nothing waits behind a running request
DroverPipeline off
DroverPass unix:%%DIR%%/kit.sock
EOF

$t->apache_started('with mpm_prefork');
ok($t->wait_for(sub { $t->apache_children >= 4 }, 10), 'four prefork children');

is($t->http(GET => '/')->{body}, "hello\n", 'GET /: the app answers');

my ($wpid) = map { /^0 up (\d+)$/m ? $1 : () } $t->read_file('kit.sock.slots');

sub send_only {
    my ($uri) = @_;
    my $c = $t->http_connect or die "connect: $@";
    $c->send_raw($c->request_bytes(GET => $uri, close => 1)) or die 'send failed';
    return $c;
}

my $mark = $t->apache_log_mark;
my $c1 = send_only('/sleep?ms=1500');
ok($t->wait_for(sub { $t->read_file("/proc/$wpid/syscall") =~ /^(35|230) / }, 5),
   'a request in one child holds the only slot');

my $c2 = send_only('/sleep?ms=1');
my @q = $t->wait_apache_log(qr/waiting in the queue \(1 waiting\)/, $mark, 5);
ok(@q, 'a second, in another child, waits in the queue');

my $t0 = time;
my $r = $t->http(GET => '/');
is($r->{status}, 503, 'a third, in a third child: the shared queue is full, 503');
cmp_ok(time - $t0, '<', 0.5, 'at once');

my @pids = map { /\[pid (\d+)/ ? $1 : () }
    @q, $t->wait_apache_log(qr/queue is full \(1\)/, $mark);
is(scalar(keys %{{ map { $_ => 1 } @pids }}), 2, 'the waiter and the refused one were in two processes');

is($c1->read_response(time + 10, 0)->{status}, 200, 'the first: 200');
$r = $c2->read_response(time + 10, 0);
is($r->{body}, "slept 1 ms\n", 'the one that waited: served when the slot freed');

my $body = join '', map { sprintf "%07d\n", $_ } 1 .. 50000;
$r = $t->http(POST => '/echo', body => $body, timeout => 30);
is(md5_hex($r->{body} // ''), md5_hex($body), 'a 400 KB body echoed back');

$t->apache_done;
