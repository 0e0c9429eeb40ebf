#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# No request waits behind a slow one on the shared socket (docs/fastcgi.md,
# "No request waits behind a slow one"): while a worker runs a request, a
# kept-alive connection it holds on which the next request arrives goes,
# unread, to a free worker.  FastCGI connections of our own first (which
# worker serves each is known): a GET and a POST body handed over, a
# connection handed twice; then stock nginx fastcgi_pass + keepalive with
# one /sleep in flight and a burst of fast requests, and the adopting worker
# killed while it holds handed connections.

use strict;
use warnings;

use JSON::PP qw(decode_json);
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time);

use Drover::FCGI;
use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx));
my $ctl = $t->build . '/droverctl';
plan(skip_all => 'droverctl is not built (run make)') unless -x $ctl;

$t->write_conf(<<'EOF')->run;
control unix:%%DIR%%/ctl.sock;

pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

my $shared = $t->socket_path('kit');

# the pid of the worker in a request right now (scoreboard), or undef
sub busy_pids {
    my ($code, $out) = $t->run_cmd([$ctl, '-s', $t->dir . '/ctl.sock', '--json', 'status', 'kit'], 10);
    return () unless $code == 0;
    my $st = eval { decode_json($out) } or return ();
    my ($p) = grep { ($_->{name} // '') eq 'kit' } @{ $st->{pools} || [] };
    return map { $_->{pid} } grep { ($_->{state} // '') eq 'busy' } @{ ($p || {})->{workers_detail} || [] };
}

sub wait_busy {
    my ($pid) = @_;
    return $t->wait_for(sub { grep { $_ == $pid } busy_pids() }, 10, 0.02);
}

# a kept-alive FastCGI connection to the shared socket and the worker on it
sub conn {
    my $c = Drover::FCGI->connect($shared, timeout => 10) or die $@;
    my $r = $c->request(uri => '/pid', keep_conn => 1);
    return ($c, $r->{body} =~ /^(\d+)/ ? $1 : 0);
}

my @w = grep { $_ } $t->worker_pids;
is(scalar @w, 2, 'two workers');

# connections until each worker holds three.  accept() alone may give them
# all to one worker (the one awake; an ASan build is slow to wake the other),
# so once one worker holds three, it is kept in a sleep while the rest
# connect: a worker in a request does not accept, and the watcher polls only
# kept-alive connections, so the free worker takes them.
my %on;
my $held = sub { scalar @{ $on{ $_[0] } || [] } };
for (1 .. 200) {
    my ($c, $pid) = conn();
    push @{ $on{$pid} }, $c if $held->($pid) < 3;
    last if grep { $held->($_) >= 3 } @w;
}
my ($full) = grep { $held->($_) >= 3 } @w;
my ($other) = grep { !defined $full || $_ != $full } @w;
if (defined $full && $held->($other) < 3) {
    my $k = $on{$full}[0];
    $k->send_raw(Drover::FCGI::fcgi_request_bytes(uri => '/sleep?ms=3000', keep_conn => 1))
        && wait_busy($full)
        or BAIL_OUT("worker $full did not start a sleep");
    for (1 .. 50) {
        my ($c, $pid) = conn();
        push @{ $on{$pid} }, $c if $held->($pid) < 3;
        last if $held->($other) >= 3;
    }
    my $r = $k->read_response(timeout => 20);
    BAIL_OUT('the sleep that spread the connections did not end')
        unless $r->{complete} && $r->{status} == 200;
}
ok((2 == grep { $held->($_) >= 3 } @w), 'each worker holds three kept-alive connections')
    or BAIL_OUT('the free worker did not accept the connections');

my ($p1, $p2) = @w;

# ---- a GET, then a POST body, handed from a busy worker ----

my ($s1, $x, $z) = @{ $on{$p1} };
my $sleep_bytes = Drover::FCGI::fcgi_request_bytes(uri => '/sleep?ms=1500', keep_conn => 1);
ok($s1->send_raw($sleep_bytes), "a 1.5 s sleep sent to worker $p1");
ok(wait_busy($p1), "worker $p1 is in it");

my $t0 = time;
my $r = $x->request(uri => '/pid', keep_conn => 1);
my $ms = (time - $t0) * 1000;
is($r->{body}, "$p2\n", "a /pid on a connection of the busy worker is served by $p2");
cmp_ok($ms, '<', 500, sprintf('at once (%.1f ms), not after the sleep', $ms));

my $body = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 200_000;
$t0 = time;
$r = $z->request(method => 'POST', uri => '/echo', body => $body, keep_conn => 1,
                 params => { CONTENT_TYPE => 'application/octet-stream' });
$ms = (time - $t0) * 1000;
ok($r->{complete} && $r->{status} == 200, 'a POST handed over: answered');
ok($r->{body} eq $body, 'its 200 KB body echoed whole');
cmp_ok($ms, '<', 1000, sprintf('before the sleep ended (%.1f ms)', $ms));

$r = $s1->read_response(timeout => 10);
is($r->{status}, 200, 'the sleep ends normally');

# the sleeping worker dropped its copies: the connections stay with $p2
$r = $x->request(uri => '/pid', keep_conn => 1);
is($r->{body}, "$p2\n", "the handed connection stays with $p2 after the sleep");

# ---- handed twice: $x goes back from $p2 to $p1 ----

my ($s2) = @{ $on{$p2} };
ok($s2->send_raw($sleep_bytes), "a sleep sent to worker $p2");
ok(wait_busy($p2), "worker $p2 is in it");

$r = $x->request(uri => '/pid', keep_conn => 1);
is($r->{body}, "$p1\n", "the connection handed to $p2 is handed again, back to $p1");
$r = $z->request(method => 'POST', uri => '/echo', body => 'again', keep_conn => 1);
is($r->{body}, 'again', 'a POST on a connection handed twice');

$r = $s2->read_response(timeout => 10);
is($r->{status}, 200, 'the second sleep ends normally');

# requests in order on a connection handed over and over: no loss, no reorder
my $ordered = 1;
for my $i (1 .. 20) {
    $r = $x->request(method => 'POST', uri => '/echo', body => "n$i", keep_conn => 1);
    $ordered = 0 unless ($r->{body} // '') eq "n$i";
}
ok($ordered, 'twenty requests in a row on it, each answered in order');

$_->close for map { @$_ } values %on;

# ---- stock nginx fastcgi_pass + keepalive, one slow request in flight ----

$t->write_nginx_conf(<<'EOF')->run_nginx;
    upstream stock {
        server unix:%%DIR%%/kit.sock;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass stock;
        }
    }
EOF

$t->nginx_started('stock nginx');

my $url = 'http://127.0.0.1:' . $t->port . '/pid';

# fill nginx's cache of kept-alive connections over both workers
my $wp = $t->wrk_start('warm', '-t1', '-c16', '-d1s', $url);
my ($done, $code, $out) = $t->wrk_wait('warm', $wp, 20);
ok($done && $code == 0, 'warm-up wrk ran') or diag($out);

sub slow_request {
    my ($ms) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $r = $t->http(GET => "/sleep?ms=$ms", timeout => 20);
        POSIX::_exit(($r->{status} || 0) == 200 ? 0 : 1);
    }
    return $pid;
}

my $slow = slow_request(2000);
ok($t->wait_for(sub { scalar busy_pids() }, 10, 0.02), 'the 2 s sleep is in a worker');

# longer than the sleep: a request stuck behind it is counted when it ends
$wp = $t->wrk_start('burst', '-t1', '-c16', '-d3s', '--timeout', '10s', '--latency', $url);
($done, $code, $out) = $t->wrk_wait('burst', $wp, 20);
ok($done && $code == 0, 'the burst ran');
$t->wrk_clean('burst', $out, 100);

sub wrk_ms {
    my ($v, $unit) = @_;
    return defined $v ? $v * { us => 0.001, ms => 1, s => 1000 }->{$unit} : 1e9;
}

my $p99 = wrk_ms($out =~ /^\s*99%\s+([\d.]+)(us|ms|s)\b/m);
my $max = wrk_ms($out =~ /^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b/m);
cmp_ok($p99, '<', 500, 'the fast requests did not wait for the sleep (p99 < 500 ms)');
cmp_ok($max, '<', 1000, 'not one of them did (max < 1 s, the sleep 2 s)');
diag(sprintf('stock fastcgi_pass + keepalive 16, kit 2 workers, one 2 s sleep: '
             . 'p99 %.2f ms, max %.2f ms', $p99, $max));

waitpid($slow, 0);
is($? >> 8, 0, 'the sleep itself was answered');

# every answer right, over many kept-alive connections at once
sub burst {
    my ($n, $par) = @_;
    my @kids;
    for my $k (1 .. $par) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            my $bad = 0;
            my $c = $t->http_connect;
            for my $i (1 .. $n) {
                my $b = "k$k-$i-" . ('x' x ($i * 97 % 3000));
                my $r = $c->request(POST => '/echo', body => $b, timeout => 10);
                $bad++ unless ($r->{status} || 0) == 200 && $r->{body} eq $b;
                if ($r->{error}) { $c->close; $c = $t->http_connect }
            }
            POSIX::_exit($bad > 255 ? 255 : $bad);
        }
        push @kids, $pid;
    }
    my $bad = 0;
    for (@kids) { waitpid($_, 0); $bad += $? >> 8 }
    return $bad;
}

$slow = slow_request(2000);
ok($t->wait_for(sub { scalar busy_pids() }, 10, 0.02), 'another 2 s sleep is in a worker');
is(burst(25, 8), 0, '8 clients x 25 POST /echo meanwhile: every body echoed right');
waitpid($slow, 0);

# ---- the adopter killed while it holds handed connections ----

$slow = slow_request(3000);
my ($sleeper) = ();
$t->wait_for(sub { ($sleeper) = busy_pids(); $sleeper }, 10, 0.02);
ok($sleeper, "a 3 s sleep is in worker $sleeper");

$wp = $t->wrk_start('spread', '-t1', '-c16', '-d0.5s', $url);
$t->wrk_wait('spread', $wp, 20);

my ($adopter) = grep { $_ != $sleeper } $t->worker_pids;
ok($adopter, "worker $adopter serves the connections meanwhile");
my $mark = $t->log_mark;
kill 'KILL', $adopter;
ok(scalar($t->wait_log(qr/\(pid $adopter\) killed by signal 9/, 10, 1, $mark)),
   'droverd saw it killed') or diag($t->log_since($mark));

# requests on connections the dead worker held come back once the sleeping
# one drops its copies (nginx retries a failed cached connection)
my $bad = burst(5, 8);
cmp_ok($bad, '<=', 2, "after the kill, 8 clients x 5 POST /echo: $bad failed");
waitpid($slow, 0);
is(burst(5, 8), 0, 'then every request is answered right');

my @now;
ok($t->wait_for(sub {
    @now = grep { $_ } $t->worker_pids;
    return @now == 2 && !grep { $_ == $adopter } @now;
}, 20), 'droverd replaced it: two workers again') or diag("workers: @now");

$t->allow_alert(qr/this never matches/);
$t->stop_nginx;
$t->done;
