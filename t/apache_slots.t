#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover reading PATH.slots (docs/protocols.md) as droverd would write
# it, with fake backends behind the slot sockets (symlinks to them): no
# file is plain mode (PATH itself); an up slot gets the requests, a change
# (a new file renamed in) is used within about a second; a malformed file
# is logged once and the slots read before stay in use; "state stopped"
# with no slot up gives 503 + Retry-After: 30 at once; "ondemand 1" makes
# the down slot 0 usable; the file gone is plain mode again.  The config
# keeps a "Mutex ... drover-shm" line (the slot table's lock was once that
# httpd mutex): still accepted, Apache starts.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::Test::Apache;
use Drover::FakeFCGI qw(fcgi_response);

my $t = Drover::Test->new->has_apache;
my $dir = $t->dir;

# each fake answers with its own name
my %fakes;
for my $name (qw(plain s0 s1)) {
    $fakes{$name} = Drover::FakeFCGI->new($t, name => $name, reply => sub {
        fcgi_response($_[0]{id}, "Content-Type: text/plain\r\n\r\n$name\n");
    })->start;
}

symlink "$dir/plain.sock", "$dir/p.sock" or die "symlink: $!";
symlink "$dir/s0.sock", "$dir/p.sock.0" or die "symlink: $!";
symlink "$dir/s1.sock", "$dir/p.sock.1" or die "symlink: $!";

# replace p.sock.slots the way droverd does: a new file renamed in
my $seq = 0;
sub slots_file {
    my ($text) = @_;
    my $tmp = "p.sock.slots.tmp" . $seq++;
    $t->write_file($tmp, $text, 0644);
    rename "$dir/$tmp", "$dir/p.sock.slots" or die "rename: $!";
}

sub who { my $r = $t->http(GET => '/'); return ($r->{status} || 0) == 200 ? $r->{body} : "status $r->{status}" }

# the answer within 3 s (the module looks at the file once a second)
sub becomes {
    my ($want, $what) = @_;
    my $got;
    ok($t->wait_for(sub { ($got = who()) eq $want }, 3, 0.05), $what) or diag("got $got");
}

$t->write_apache_conf(<<'EOF')->run_apache;
Mutex pthread drover-shm
DroverQueue size=10 timeout=10s
DroverPass unix:%%DIR%%/p.sock
EOF

$t->apache_started;

is(who(), "plain\n", 'no .slots file: plain mode, PATH itself');

slots_file("drover-slots 1\npool p\ngeneration 1\nstate serving\nslots 2\n0 down 0\n1 up 101\n");
becomes("s1\n", 'slot 1 up, slot 0 down: slot 1 gets the requests');

slots_file("drover-slots 1\ngeneration 2\nstate serving\nslots 2\n0 up 100\n1 down 0\nfuture-line 7\n");
becomes("s0\n", 'a new file: slot 0 within a second (an unknown line skipped)');

my $mark = $t->apache_log_mark;
slots_file("drover-slots 2\ngeneration 3\nslots 2\n0 down 0\n1 up 101\n");
# the module looks at the file on requests
my @answers;
ok($t->wait_for(sub {
    push @answers, who();
    $t->apache_log_since($mark) =~ /drover: ".*p\.sock\.slots" line 1: not "drover-slots 1"/;
}, 3, 0.05), 'a malformed file is logged with its line and reason');
is_deeply([grep { $_ ne "s0\n" } @answers], [], 'the slots read before stay in use');

# requests for 1.5 s more: the module looks at the file again, logs nothing
my $until = time + 1.5;
$t->wait_for(sub { who(); time >= $until }, 3, 0.1);
is(scalar(() = $t->apache_log_since($mark) =~ /not "drover-slots 1"/g), 1, 'logged once');

slots_file("drover-slots 1\ngeneration 4\nstate stopped\nslots 2\n0 down 0\n1 down 0\n");
my $r;
ok($t->wait_for(sub { ($r = $t->http(GET => '/'))->{status} == 503 }, 3, 0.05),
   'state stopped, no slot up: 503');
is($r->{headers}{'retry-after'}, '30', 'Retry-After: 30');

slots_file("drover-slots 1\ngeneration 5\nstate serving\nslots 2\n0 down 0\n1 down 0\nondemand 1\n");
becomes("s0\n", 'ondemand 1, every slot down: slot 0 starts on demand, the request goes there');

unlink "$dir/p.sock.slots";
becomes("plain\n", 'the file gone: plain mode again');

$t->apache_done;
