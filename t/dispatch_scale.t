#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Pool changes without an nginx reload: droverd's config goes from
# "workers 2" to "workers 3" and droverd gets SIGHUP; once kit.sock.slots
# lists 3 slots up, the third worker answers /pid through the same nginx
# within 2 s (two /sleep requests hold the other two slots, so /pid can
# only go to the new one).  nginx is never reloaded.  Then the pool goes
# back to 2 workers: the third slot is not used any more, and requests
# are still served.

use strict;
use warnings;

use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module));
my $dir = $t->dir;

my $conf = <<'EOF';
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers WORKERS;
}
EOF

(my $two = $conf) =~ s/WORKERS/2/;
(my $three = $conf) =~ s/WORKERS/3/;

$t->write_conf($two)->run;
$t->wait_for(sub { -e "$dir/kit.sock.slots" }, 5);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }
EOF

$t->nginx_started('with the module');
my $nginx_workers = join ' ', sort $t->nginx_workers;

is($t->http(GET => '/pid')->{status}, 200, 'served with 2 workers');

# slot => pid of the up slots
sub up_slots {
    my %up = map { /^(\d+) up (\d+)$/ ? ($1 => $2) : () }
             split /\n/, $t->read_file('kit.sock.slots');
    return \%up;
}

# hold two slots with /sleep, then ask /pid: the pid that answered
sub pid_beside_two_sleeps {
    my @kids;
    for (1 .. 2) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            $t->http(GET => '/sleep?ms=400', timeout => 5);
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }

    sleep 0.1;
    my $r = $t->http(GET => '/pid', timeout => 5);
    waitpid($_, 0) for @kids;

    return $r->{status} == 200 && $r->{body} =~ /^(\d+)/ ? $1 : 0;
}

$t->write_conf($three);
ok($t->signal('HUP'), 'SIGHUP to droverd: workers 2 -> 3');

ok($t->wait_for(sub { my $up = up_slots(); keys %$up == 3 }, 20), 'kit.sock.slots lists 3 slots up')
    or diag($t->read_file('kit.sock.slots'));
my $listed = time;
my $third = up_slots()->{2};

my ($seen, $when);
for (1 .. 20) {
    my $pid = pid_beside_two_sleeps();
    if ($pid == $third) {
        $seen = 1;
        $when = time - $listed;
        last;
    }
    last if time - $listed > 5;
}

ok($seen, 'the third worker answered /pid');
cmp_ok($when // 99, '<', 2.5, sprintf('within ~2 s of its slot being listed (%.2f s)', $when // 99));
is(join(' ', sort $t->nginx_workers), $nginx_workers, 'nginx was not reloaded (same workers)');

# ---- and back to 2 ----

$t->write_conf($two);
ok($t->signal('HUP'), 'SIGHUP to droverd: workers 3 -> 2');
ok($t->wait_for(sub { my $up = up_slots(); keys %$up == 2 && !exists $up->{2} }, 20),
   'kit.sock.slots lists 2 slots up');
sleep 1.1;

my %answered;
for (1 .. 5) {
    my $pid = pid_beside_two_sleeps();
    $answered{$pid}++;
}
my $up = up_slots();
my %current = map { $_ => 1 } values %$up;
is(scalar(grep { !$current{$_} } keys %answered), 0, 'only current workers answer after scaling down')
    or diag(join ' ', keys %answered);

is($t->http(GET => '/pid')->{status}, 200, 'served with 2 workers again');

$t->stop_nginx;
$t->done;
