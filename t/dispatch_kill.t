#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# No GET is lost to a crash: wrk -t1 -c16 -d10s through drover_pass to kit
# with 2 workers while a killer sends SIGKILL to a random worker (a pid
# read from kit.sock.slots) every 100 ms.  A request a worker lost before
# any response byte is replayed on another slot: zero non-2xx responses,
# zero socket errors.  The same load through stock fastcgi_pass is
# measured and reported, not asserted (a pool of its own, so that both
# start from fresh workers).  droverd's restart backoff keeps a worker
# killed again and again down for longer each time (100 ms, 200, 400, ...),
# which bounds the kills that land; the queue's deadline is raised here:
# requests wait for a worker rather than fail.

use strict;
use warnings;

use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module wrk));
my $dir = $t->dir;

$t->write_conf(<<'EOF')->run;
pool kit {
    app           %%APPS%%/kit.so;
    listen        unix:%%DIR%%/kit.sock;
    workers       2;
    restart_limit 100000 per 60s;
}

pool kits {
    app           %%APPS%%/kit.so;
    listen        unix:%%DIR%%/kits.sock;
    workers       2;
    restart_limit 100000 per 60s;
}
EOF

$t->wait_for(sub { -e "$dir/kit.sock.slots" && -e "$dir/kits.sock.slots" }, 5);

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    access_log off;

    upstream stock {
        server unix:%%DIR%%/kits.sock;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_queue size=100 timeout=30s;
            drover_pass unix:%%DIR%%/kit.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_STOCK%%;

        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass stock;
        }
    }
EOF

$t->nginx_started('with the module');
is($t->http(GET => '/')->{status}, 200, 'served before the killing starts');

# SIGKILL to a random up worker every 100 ms until killed; the count in a
# file.  A worker is spared for its first 100 ms (its age from /proc), as in
# t/apache_kill.t: with both workers down in droverd's backoff, a killer
# that shot each one the moment it came back would kill it while it runs
# the replay it was given first, and a request lost by three workers in a
# row while it runs is one drover_retries gives up on purpose.
sub killer {
    my ($pool) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;

    my ($kills, $end) = (0, time + 30);
    while (time < $end) {
        my @old = grep { ($t->process_age($_) // 0) >= 0.1 } $t->up_pids($pool);
        if (@old) {
            $kills += kill 'KILL', $old[int rand @old];
            $t->write_file('kills', "$kills\n");
        }
        sleep 0.1;
    }
    POSIX::_exit(0);
}

sub load {
    my ($port, $pool) = @_;

    unlink "$dir/kills";
    my $k = killer($pool);
    my ($code, $out) = $t->run_cmd(['wrk', '-t1', '-c16', '-d10s', '--timeout', '30s',
                                    "http://127.0.0.1:$port/"], 60);
    kill 'KILL', $k;
    waitpid($k, 0);

    my %r = (out => $out, code => $code, kills => ($t->read_file('kills') =~ /(\d+)/)[0] || 0);
    $r{requests} = $out =~ /(\d+) requests in/ ? $1 : 0;
    $r{non2xx} = $out =~ /Non-2xx or 3xx responses: (\d+)/ ? $1 : 0;
    $r{sockerr} = 0;
    $r{sockerr} += $_ for $out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
    return \%r;
}

my $mark = $t->nginx_log_mark;
my $r = load($t->port, 'kit');

is($r->{code}, 0, 'wrk ran') or diag($r->{out});
cmp_ok($r->{kills}, '>=', 10, "workers were killed meanwhile ($r->{kills} kills)");
cmp_ok($r->{requests}, '>', 100, "requests were served ($r->{requests})");
is($r->{non2xx}, 0, 'drover_pass: zero non-2xx responses') or diag($r->{out});
is($r->{sockerr}, 0, 'drover_pass: zero socket errors') or diag($r->{out});

my $log = $t->nginx_log_since($mark);
my $replays = () = $log =~ /replaying/g;
my $lost = () = $log =~ /not replayed/g;
diag("drover_pass: $r->{requests} requests, $r->{kills} kills, $replays replays, "
     . "$lost not replayed, $r->{non2xx} non-2xx, $r->{sockerr} socket errors");

my $s = load($t->port('stock'), 'kits');
diag("stock fastcgi_pass: $s->{requests} requests, $s->{kills} kills, "
     . "$s->{non2xx} non-2xx, $s->{sockerr} socket errors");

$t->stop_nginx;
$t->allow_alert(qr/worker \d+ .*(signal|killed)/i) if $t->can('allow_alert');
$t->done;
