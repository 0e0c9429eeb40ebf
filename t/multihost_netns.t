#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Three droverd hosts, each in a network namespace of its own that this test
# creates (ip netns + a veth pair per host, private 10.213.X.0/24 addresses
# on those links only), nginx with the module in front (drover_group over
# the hosts' status_listen): load spread over the hosts; every process of
# one host SIGKILLed under wrk -c16 -> 0 non-2xx GETs, the host marked down
# within about a second; the host back -> used again within 2 s; the group
# status shows every host.  The namespaces and links are removed at the
# end, also when the test fails.  Needs root; skips with the reason
# otherwise.

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module wrk));

plan skip_all => 'needs root (creates network namespaces)' unless Drover::Test::is_root();

my $IP = -x '/usr/sbin/ip' ? '/usr/sbin/ip' : -x '/sbin/ip' ? '/sbin/ip' : undef;
plan skip_all => 'no ip(8) (iproute2)' unless $IP;

my $tag = "drv$$";
my $net = 10 + $$ % 200;             # 10.213.$net+K.0/24, one per host
my @ns;

sub ip { system($IP, @_) == 0 }
sub ipq { system("$IP @_ >/dev/null 2>&1") == 0 }

# every process of a namespace, SIGKILLed; the namespace and its link go
sub cleanup {
    for my $n (@ns) {
        my @pids = `$IP netns pids $n 2>/dev/null` =~ /(\d+)/g;
        kill 'KILL', @pids if @pids;
        ipq('netns', 'del', $n);
    }
    @ns = ();
}

END { cleanup() }
$SIG{INT} = $SIG{TERM} = sub { cleanup(); POSIX::_exit(1) };

# ---- the namespaces ----

unless (ipq('netns', 'add', "${tag}h1")) {
    plan skip_all => 'cannot create a network namespace here (ip netns add failed)';
}
push @ns, "${tag}h1";

for my $k (2, 3) {
    ip('netns', 'add', "${tag}h$k") or BAIL_OUT("ip netns add ${tag}h$k");
    push @ns, "${tag}h$k";
}

my @host;

for my $k (1 .. 3) {
    my ($n, $link) = ("${tag}h$k", "${tag}v$k");
    my $subnet = "10.213." . ($net + $k);

    ip('link', 'add', $link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', $n)
        and ip('addr', 'add', "$subnet.1/24", 'dev', $link)
        and ip('link', 'set', $link, 'up')
        and ip('-n', $n, 'addr', 'add', "$subnet.2/24", 'dev', 'eth0')
        and ip('-n', $n, 'link', 'set', 'eth0', 'up')
        and ip('-n', $n, 'link', 'set', 'lo', 'up')
        or BAIL_OUT("cannot set up the link of namespace $n");

    push @host, { k => $k, ns => $n, ip => "$subnet.2", front => "$subnet.1",
                  t => $k == 1 ? $t : Drover::Test->new };
}

ok(1, 'three namespaces, each with its veth link: ' . join(', ', map { "$_->{ns} $_->{ip}" } @host));

# ---- a droverd in each ----

# droverd inside the host's namespace (ip netns exec execs it: same pid)
sub start_host {
    my ($h) = @_;
    my $ht = $h->{t};

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $ht->log_path or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec $IP, 'netns', 'exec', $h->{ns}, $ht->droverd, '-c', $ht->conf_path
            or POSIX::_exit(127);
    }

    $ht->adopt($pid);
    return $ht->wait_sockets(20) && $ht->wait_ready(20);
}

for my $h (@host) {
    $h->{t}->write_conf(<<"EOF");
control unix:%%DIR%%/ctl.sock;
status_listen tcp:$h->{ip}:9090 allow=$h->{front};

pool kit {
    app         %%APPS%%/kit.so;
    listen      unix:%%DIR%%/kit.sock;
    listen      tcp:$h->{ip}:9000;
    allow_peers $h->{front};
    workers     2;
}
EOF
    ok(start_host($h), "host $h->{k}: droverd serves in $h->{ns}");
}

my $servers = join '', map { "        server $_->{ip}:9090;\n" } @host;

$t->write_nginx_conf(<<"EOF", module => 1)->run_nginx;
    drover_group kit {
$servers    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_pass group:kit;
        }

        location = /group-status {
            drover_group_status;
        }

        location = /status {
            drover_status unix:@{[ $t->dir ]}/ctl.sock;
        }
    }
EOF

sub group {
    my $r = $t->http(GET => '/group-status');
    return undef unless ($r->{status} // 0) == 200;
    my $j = eval { JSON::PP::decode_json($r->{body}) } or return undef;
    return $j->{groups}[0];
}

sub state_of {
    my ($h) = @_;
    my $g = group() or return '';
    my ($x) = grep { $_->{server} eq "$h->{ip}:9090" } @{ $g->{hosts} };
    return $x ? $x->{state} : '';
}

sub served {
    my ($h) = @_;
    my ($code, $out) = $t->run_cmd([$t->build . '/droverctl', '-s', $h->{t}->dir . '/ctl.sock',
                                    '--json', 'status'], 10);
    my $j = eval { JSON::PP::decode_json($out) } or return -1;
    return $j->{pools}[0]{requests_total} // -1;
}

ok($t->wait_for(sub { !grep { state_of($_) ne 'up' } @host }, 5, 0.05), 'every host up in the group status');

my $g = group();
is(scalar @{ $g->{hosts} }, 3, 'the status page shows the 3 hosts');
is($g->{up}, 6, '6 slots up: 2 per host');

# ---- load spread over the hosts ----

my $url = 'http://127.0.0.1:' . $t->port . '/pid';
my %before = map { $_->{k} => served($_) } @host;
my $w = $t->wrk_start('spread', '-c16', '-t2', '-d2s', $url);
my ($done, undef, $report) = $t->wrk_wait('spread', $w, 20);
$t->wrk_clean('wrk -c16 over 3 hosts', $report);

for my $h (@host) {
    my $n = served($h) - $before{ $h->{k} };
    cmp_ok($n, '>', 100, "host $h->{k} served $n requests");
}

# ---- every process of host 2 killed under load ----

my $h2 = $host[1];
$w = $t->wrk_start('kill', '-c16', '-t2', '-d5s', $url);
sleep 1.5;

my @pids = `$IP netns pids $h2->{ns}` =~ /(\d+)/g;
my $killed_at = time;
is(kill('KILL', @pids), scalar @pids, 'SIGKILL to every process of host 2 (' . scalar(@pids) . ')');

ok($t->wait_for(sub { state_of($h2) eq 'down' }, 3, 0.02), 'host 2 marked down');
my $down_s = time - $killed_at;
cmp_ok($down_s, '<', 1.2, sprintf('... within about a second (%.2f s)', $down_s));

($done, undef, $report) = $t->wrk_wait('kill', $w, 20);
ok($done, 'wrk ran to its end');
$t->wrk_clean('wrk -c16 GETs while host 2 dies', $report);
diag(sprintf('host 2 down after %.2f s; %s', $down_s, join ' ', $report =~ /(\d+ requests in \S+)/));

$h2->{t}->wait_exit(5);
$h2->{t}->{exit} = undef;     # killed on purpose: not a crash of droverd

# ---- the status page (host 1's droverd, through nginx) shows every host ----

{
    my $r = $t->http(GET => '/status?format=json');
    my $j = eval { JSON::PP::decode_json($r->{body}) } // {};
    my ($pg) = @{ $j->{groups} // [] };
    is(join(',', map { "$_->{server}=$_->{state}" } @{ $pg->{hosts} // [] }),
       join(',', map { "$_->{ip}:9090=" . ($_ == $h2 ? 'down' : 'up') } @host),
       'drover_status\'s page: the 3 hosts, host 2 down');

    $r = $t->http(GET => '/status?format=html');
    my @rows = $r->{body} =~ m{<tr class="host (\w+)"><td>([\d.:]+)</td>}g;
    is("@rows", join(' ', map { ($_ == $h2 ? 'down' : 'up'), "$_->{ip}:9090" } @host),
       '... in HTML: a row per host');

    $r = $t->http(GET => '/status?format=prometheus');
    my @up = $r->{body} =~ /^drover_group_host_up\{group="kit",server="[\d.:]+"\} (\d)$/mg;
    is("@up", '1 0 1', '... in Prometheus text: drover_group_host_up per host');
}

# ---- host 2 back: used again within 2 s ----

$w = $t->wrk_start('back', '-c16', '-t2', '-d5s', $url);
sleep 0.5;
ok(start_host($h2), 'host 2 runs again');
my $back_at = time;
my $base = served($h2);
ok($t->wait_for(sub { served($h2) > $base + 10 }, 2, 0.02), 'host 2 serves again');
my $back_s = time - $back_at;
cmp_ok($back_s, '<', 2, sprintf('... within 2 s (%.2f s)', $back_s));
diag(sprintf('host 2 used again %.2f s after it was ready', $back_s));

($done, undef, $report) = $t->wrk_wait('back', $w, 20);
$t->wrk_clean('wrk -c16 while host 2 comes back', $report);

$g = group();
is(join(',', map { $_->{state} } @{ $g->{hosts} }), 'up,up,up', 'the status: every host up');
is($g->{failures}, 0, 'no failure that was not replayed');

# ---- host 3 unreachable (its end of the link down: no reset, silence) ----

my $h3 = $host[2];
ip('-n', $h3->{ns}, 'link', 'set', 'eth0', 'down') or BAIL_OUT('ip link set down');
my $cut_at = time;
ok($t->wait_for(sub { state_of($h3) eq 'down' }, 3, 0.02), 'host 3, unreachable, marked down');
my $silent_s = time - $cut_at;
cmp_ok($silent_s, '<', 1.2, sprintf('... within about a second (%.2f s)', $silent_s));
diag(sprintf('a silent host is marked down after %.2f s', $silent_s));

$g = group();
my ($x3) = grep { $_->{server} eq "$h3->{ip}:9090" } @{ $g->{hosts} };
is($x3->{error}, 'no answer within 500 ms', "its error: $x3->{error}");
is($t->http(GET => '/')->{body}, "hello\n", 'the others serve');

ip('-n', $h3->{ns}, 'link', 'set', 'eth0', 'up') or BAIL_OUT('ip link set up');
ok($t->wait_for(sub { state_of($h3) eq 'up' }, 5, 0.02), 'host 3 up again once reachable');

for my $h (@host[1, 2]) {
    $h->{t}->stop;
    $h->{t}->check_logs;
}

$t->stop;
cleanup();
ok(!grep({ /^\Q$tag\E/ } `$IP netns list`), 'the namespaces and their links are gone');

$t->done;
