#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Plain mode and the replay rules.
#
# Plain: drover_pass to a socket with no PATH.slots file works as a plain
# FastCGI proxy, to kit's shared socket (through a symlink, so that no
# .slots file sits beside it) and to a stock FastCGI server (the fake).
#
# Replays, with fake backends behind a hand-written PATH.slots (slot
# sockets are symlinks to the fakes):
# - a worker that refuses a POST unread (END_REQUEST with FCGI_OVERLOADED)
#   gets it replayed on the other slot: 200, the body arrives whole;
# - a worker that closes without a response byte: a GET is replayed on the
#   other slot (200); a POST is not (502, "not replayed: the method is not
#   idempotent"); with one slot only, a GET is tried 1 + drover_retries
#   times, then 502 ("drover_retries reached").

use strict;
use warnings;

use Test::More;

use Drover::Test;
use Drover::FCGI qw(:all);
use Drover::FakeFCGI qw(fcgi_end_request);

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

my $good = Drover::FakeFCGI->new($t, name => 'good')->start;
my $good2 = Drover::FakeFCGI->new($t, name => 'good2')->start;
my $over = Drover::FakeFCGI->new($t, name => 'over',
    reply => sub { fcgi_end_request($_[0]{id}, 0, 2) })->start;
my $dies = Drover::FakeFCGI->new($t, name => 'dies', reply => [{ close => 1 }])->start;
my $dies1 = Drover::FakeFCGI->new($t, name => 'dies1', reply => [{ close => 1 }])->start;

symlink "$dir/kit.sock", "$dir/kitplain.sock" or die "symlink: $!";

# a pool of fakes: PATH.k -> the fake of slot k, and PATH.slots
sub fake_pool {
    my ($name, @fakes) = @_;

    symlink $fakes[$_]->path, "$dir/$name.sock.$_" or die "symlink: $!" for 0 .. $#fakes;
    $t->write_file("$name.sock.slots", "drover-slots 1\npool $name\ngeneration 1\nslots "
                   . scalar(@fakes) . "\n" . join('', map { "$_ up 1\n" } 0 .. $#fakes));
}

fake_pool('refuse', $over, $good);
fake_pool('crash', $dies, $good2);
fake_pool('single', $dies1);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        location /fake/ {
            drover_pass unix:%%DIR%%/good.sock;
        }

        location /refuse/ {
            drover_pass unix:%%DIR%%/refuse.sock;
        }

        location /crash/ {
            drover_pass unix:%%DIR%%/crash.sock;
        }

        location /single/ {
            drover_pass unix:%%DIR%%/single.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_PLAIN%%;

        location / {
            drover_pass unix:%%DIR%%/kitplain.sock;
        }
    }
EOF

$t->nginx_started('with the module');

# ---- plain ----

ok(!-e "$dir/kitplain.sock.slots", 'no .slots beside the symlink');
my $answered = 0;
for (1 .. 10) {
    my $r = $t->http(GET => '/pid', port => $t->port('plain'));
    $answered++ if $r->{status} == 200 && $r->{body} =~ /^\d+/;
}
is($answered, 10, 'plain mode to kit\'s shared socket: 10 of 10 answered');

my $r = $t->http(GET => '/fake/x');
is($r->{status}, 200, 'plain mode to a stock FastCGI server: 200');
is($r->{body}, "fake\n", 'its body');
is(scalar $good->requests, 1, 'it got the request once');

# ---- FCGI_OVERLOADED: replayed, also a POST ----

my $mark = $t->nginx_log_mark;
my $body = 'x' x 5000;
$r = $t->http(POST => '/refuse/form', body => $body);
is($r->{status}, 200, 'POST refused unread (OVERLOADED) by slot 0: replayed, 200');
is(scalar $over->requests, 1, 'the refusing worker got it once');
my @got = grep { $_->{stdin_length} == 5000 } $good->requests;
is(scalar @got, 1, 'the other worker got it, with the whole body');
ok((grep { /replaying/ } split /\n/, $t->nginx_log_since($mark)), 'a log line says it was replayed');

# ---- a close before any response byte ----

$r = $t->http(GET => '/crash/a');
is($r->{status}, 200, 'GET lost by a worker that closed: replayed on the other slot, 200');
is(scalar $dies->requests, 1, 'the closing worker got it once');
is(scalar $good2->requests, 1, 'the other one answered');

$mark = $t->nginx_log_mark;
$r = $t->http(POST => '/single/b', body => 'abc');
is($r->{status}, 502, 'POST lost by a worker that closed: not replayed, 502');
my @err = $t->wait_nginx_errors($mark);
ok((grep { /not replayed: the method is not idempotent/ } @err), 'the log says why')
    or diag(join "\n", @err);
is(scalar $dies1->requests, 1, 'the POST was sent once');

$mark = $t->nginx_log_mark;
$r = $t->http(GET => '/single/c');
is($r->{status}, 502, 'GET on a single slot that always closes: 502');
is(scalar $dies1->requests, 4, '1 + drover_retries (2) tries');
@err = $t->wait_nginx_errors($mark);
ok((grep { /not replayed: drover_retries reached/ } @err), 'the log says the retries ran out')
    or diag(join "\n", @err);

$t->stop_nginx;
$t->done;
