#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# drover_group over two droverd hosts on loopback addresses (127.0.0.1 and
# 127.0.0.2, each with listen tcp: and status_listen): each host's slots
# learned over the network, load on both, every process of one host
# SIGKILLed under wrk -c16 with no non-2xx GET, the host marked down
# within about a second, back and used again within 2 s; the group status
# shows each host (JSON, Prometheus text); a group of a unix: host and a
# TCP host; a pool that
# droverd serves on its unix socket only; a host that
# never answers (its probe times out, requests wait and get 503, and nginx
# stops cleanly with a probe under way).  t/multihost_netns.t does the same across network
# namespaces.

use strict;
use warnings;

use IO::Socket::INET;
use Socket ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module wrk));
my $tb = Drover::Test->new;

# N ports in a row, all free on 127.0.0.1 and 127.0.0.2, none of @taken
sub free_run {
    my ($n, @taken) = @_;

    for my $try (1 .. 50) {
        my $base = 20000 + int(rand(30000));
        next if grep { $_ >= $base && $_ < $base + $n } @taken;
        my @s = map {
            my $p = $base + $_;
            map { IO::Socket::INET->new(LocalAddr => $_, LocalPort => $p, Proto => 'tcp',
                                        Listen => 1, ReuseAddr => 1) } '127.0.0.1', '127.0.0.2'
        } 0 .. $n - 1;
        return $base unless grep { !defined } @s;
    }
    die "no run of $n free ports";
}

my $port = free_run(3);
my $sport = free_run(1, $port .. $port + 2);

my %host = (a => { t => $t, ip => '127.0.0.1' }, b => { t => $tb, ip => '127.0.0.2' });

# a "droverd" that takes the connection and never answers: its probe is
# under way most of the time, also when nginx stops
my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                   Listen => 64, ReuseAddr => 1) or die "listen: $!";
my $silent_port = $silent->sockport;

for my $h (values %host) {
    $h->{t}->write_conf(<<"EOF")->run;
control unix:%%DIR%%/ctl.sock;
status_listen tcp:$h->{ip}:$sport;

pool kit {
    app         %%APPS%%/kit.so;
    listen      unix:%%DIR%%/kit.sock;
    listen      tcp:$h->{ip}:$port;
    allow_peers 127.0.0.0/8;
    workers     2;
}

pool plain {
    app         %%APPS%%/kit.so;
    listen      unix:%%DIR%%/plain.sock;
    workers     1;
}
EOF
    ok($h->{t}->alive, "host $h->{ip}: droverd runs");
}

$t->write_nginx_conf(<<"EOF", module => 1)->run_nginx;
    drover_group kit {
        server 127.0.0.1:$sport;
        server 127.0.0.2:$sport pool=kit;
    }

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

    # host a by its unix socket (PATH.slots read), host b over the network
    drover_group mixed {
        server unix:@{[ $t->dir ]}/kit.sock pool=kit;
        server 127.0.0.2:$sport pool=kit;
    }

    drover_group notcp {
        server 127.0.0.1:$sport pool=plain;
    }

    # a host name, resolved when nginx reads its configuration
    drover_group named {
        server localhost:$sport pool=kit;
    }

    drover_group silent {
        server 127.0.0.1:$silent_port pool=kit;
    }

    server {
        listen 127.0.0.1:@{[ $t->port('mixed') ]};

        location / {
            drover_pass group:mixed;
        }

        location /notcp/ {
            drover_pass group:notcp;
        }

        location /named/ {
            drover_pass group:named;
        }

        location /silent/ {
            drover_queue size=16 timeout=300ms;
            drover_pass group:silent;
        }
    }
EOF

# requests a host's droverd served, from its control socket
sub served {
    my ($h) = @_;
    my ($code, $out) = $h->{t}->run_cmd([$t->build . '/droverctl', '-s', $h->{t}->dir . '/ctl.sock',
                                         '--json', 'status'], 10);
    my $j = eval { JSON::PP::decode_json($out) } or return -1;
    return $j->{pools}[0]{requests_total} // -1;
}

sub group {
    my $r = $t->http(GET => '/group-status');
    return undef unless ($r->{status} // 0) == 200;
    my $j = eval { JSON::PP::decode_json($r->{body}) } or return undef;
    return $j->{groups}[0];
}

sub host_state {
    my ($ip) = @_;
    my $g = group() or return '';
    my ($h) = grep { $_->{server} eq "$ip:$sport" } @{ $g->{hosts} };
    return $h ? $h->{state} : '';
}

ok($t->wait_for(sub { host_state('127.0.0.1') eq 'up' && host_state('127.0.0.2') eq 'up' }, 5, 0.05),
   'both hosts up in the group status');

my $g = group();
is(scalar @{ $g->{hosts} }, 2, 'the status shows each host');
is($g->{up}, 4, '4 slots up: 2 per host');
like(join(',', map { "$_->{server}/$_->{pool}/$_->{slots}/$_->{port}" } @{ $g->{hosts} }),
     qr/^127\.0\.0\.1:$sport\/kit\/2\/$port,127\.0\.0\.2:$sport\/kit\/2\/$port$/,
     'each host: its server, pool, slots and shared port as droverd said');

my $r = $t->http(GET => '/');
is($r->{body}, "hello\n", 'GET / through the group');

# ---- the status as Prometheus text ----

$r = $t->http(GET => '/group-status?format=prometheus');
is($r->{status}, 200, 'group status ?format=prometheus: 200');
like($r->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4}, '... text/plain; version=0.0.4');
like($r->{body}, qr/^drover_group_host_up\{group="kit",server="127\.0\.0\.2:$sport"\} 1$/m, '... host b up');
like($r->{body}, qr/^drover_group_slots_up\{group="kit"\} 4$/m, '... 4 slots up in group kit');
is($t->http(GET => '/group-status?format=xml')->{status}, 400, 'an unknown format: 400');

SKIP: {
    skip 'promtool is not installed', 1 unless $t->can_do('promtool');
    my $file = $t->write_file($t->dir . '/group-metrics.txt', $r->{body});
    my ($code, $out) = $t->run_cmd(['promtool', 'check', 'metrics'], 20, stdin => $file);
    is($code, 0, 'promtool check metrics accepts it') or diag($out);
}

# ---- the groups on drover_status's page: JSON, Prometheus, HTML ----

# group kit as host a's drover_status page shows it
sub page_group {
    my $r = $t->http(GET => '/status?format=json');
    return undef unless ($r->{status} // 0) == 200;
    my $j = eval { JSON::PP::decode_json($r->{body}) } or return undef;
    my ($k) = grep { $_->{name} eq 'kit' } @{ $j->{groups} // [] };
    return $k;
}

sub page_host {
    my ($ip) = @_;
    my $k = page_group() or return {};
    my ($h) = grep { $_->{server} eq "$ip:$sport" } @{ $k->{hosts} };
    return $h // {};
}

{
    my $k = page_group();
    ok($k, 'drover_status ?format=json: the page has group kit');
    is(join(',', map { "$_->{server}=$_->{state}/$_->{up}/$_->{slots}" } @{ $k->{hosts} }),
       "127.0.0.1:$sport=up/2/2,127.0.0.2:$sport=up/2/2", '... every host: up, 2 of 2 slots up');
    is($k->{up}, 4, '... 4 slots up in the group');
    my $h = $k->{hosts}[1];
    ok(defined $h->{since} && abs($h->{since} - time) < 60, "... since when the host is up ($h->{since})");
    ok(defined $h->{busy} && $h->{error} eq '', '... its busy slots and no error');
    is(scalar(grep { $_->{name} eq 'mixed' || $_->{name} eq 'silent' } @{
        JSON::PP::decode_json($t->http(GET => '/status?format=json')->{body})->{groups} }), 2,
       '... and the other groups');

    my $r = $t->http(GET => '/status?format=prometheus');
    is($r->{status}, 200, 'drover_status ?format=prometheus: 200');
    like($r->{body}, qr/^drover_group_host_up\{group="kit",server="127\.0\.0\.2:$sport"\} 1$/m,
         '... host b up');
    like($r->{body}, qr/^drover_group_host_slots_up\{group="kit",server="127\.0\.0\.1:$sport"\} 2$/m,
         '... host a\'s 2 slots up');
    like($r->{body}, qr/^drover_group_slots_up\{group="kit"\} 4$/m, '... 4 slots up in group kit');
    like($r->{body}, qr/^drover_pool_failing\{pool="kit"\} 0$/m, '... beside host a\'s pools');

    SKIP: {
        skip 'promtool is not installed (Debian package prometheus)', 1 unless $t->can_do('promtool');
        my ($code, $out) = $t->promtool_check($r->{body});
        is($code, 0, '... promtool check metrics accepts the page') or diag($out);
    }

    $r = $t->http(GET => '/status?format=html');
    is($r->{status}, 200, 'drover_status ?format=html: 200');
    like($r->{body}, qr{<h2>group kit <span class="state">4 of 4 slots up</span></h2>}, '... group kit');
    like($r->{body}, qr{<tr class="host up"><td>127\.0\.0\.2:$sport</td><td>kit</td><td>up</td><td>\d{4}-\d\d-\d\d [\d:]+ UTC \([\d.]+ (s|min)\)</td><td>2 of 2</td>},
         '... host b: up, since when, 2 of 2 slots');
}

# ---- a group of a unix: host and a TCP host ----

{
    my ($m) = grep { $_->{name} eq 'mixed' } @{ (JSON::PP::decode_json($t->http(GET => '/group-status')->{body}))->{groups} };
    ok($t->wait_for(sub {
        ($m) = grep { $_->{name} eq 'mixed' } @{ (JSON::PP::decode_json($t->http(GET => '/group-status')->{body}))->{groups} };
        return $m && $m->{up} == 4;
    }, 5, 0.05), 'group mixed: the unix: host\'s 2 slots and the TCP host\'s 2 are up');
    is(join(',', map { "$_->{server}=$_->{state}" } @{ $m->{hosts} }),
       'unix:' . $t->dir . "/kit.sock=up,127.0.0.2:$sport=up", '... both hosts up in the status');

    my %before = map { $_ => served($host{$_}) } qw(a b);
    my $w = $t->wrk_start('mixed', '-c16', '-t2', '-d1s', 'http://127.0.0.1:' . $t->port('mixed') . '/pid');
    my (undef, undef, $report) = $t->wrk_wait('mixed', $w, 20);
    $t->wrk_clean('wrk -c16 to group mixed', $report);
    cmp_ok(served($host{$_}) - $before{$_}, '>', 100, "group mixed: host $_ served") for qw(a b);
}

# ---- a server given by a host name ----

{
    my @addrs = do {
        my ($err, @res) = Socket::getaddrinfo('localhost', $sport, { socktype => Socket::SOCK_STREAM() });
        map { my (undef, $ip, $p) = Socket::getnameinfo($_->{addr}, Socket::NI_NUMERICHOST() | Socket::NI_NUMERICSERV());
              $ip =~ /:/ ? "[$ip]:$p" : "$ip:$p" } @res;
    };
    my $named;
    ok($t->wait_for(sub {
        ($named) = grep { $_->{name} eq 'named' } @{ (JSON::PP::decode_json($t->http(GET => '/group-status')->{body}))->{groups} };
        return $named && grep { $_->{state} eq 'up' } @{ $named->{hosts} };
    }, 5, 0.05), 'group named (server localhost:PORT): a host up');
    # nginx puts IPv4 addresses first; getaddrinfo may not (::1 on CI)
    is(join(',', sort map { $_->{server} } @{ $named->{hosts} }),
       join(',', sort map { "localhost:$sport ($_)" } @addrs),
       "... a host per address of the name: @addrs");
    my ($v4) = grep { $_->{server} eq "localhost:$sport (127.0.0.1:$sport)" } @{ $named->{hosts} };
    is($v4 && $v4->{up}, 2, '... 127.0.0.1: 2 slots up');
    my $nr = $t->http(GET => '/named/', port => $t->port('mixed'));
    like($nr->{body}, qr{^kit: no route /named/}, '... and the kit app on it answers');
}

# a name that does not resolve: nginx -t fails with a clear [emerg]
{
    $t->write_file('badname.conf', $t->expand(<<"EOF"));
load_module %%MODULE%%;
pid %%DIR%%/nginx-t.pid;
error_log %%DIR%%/nginx-t.log;
events { }
http {
    drover_group bad {
        server no-such-host.invalid:$sport;
    }
    server {
        listen 127.0.0.1:@{[ $t->port('badname') ]};
        location / {
            drover_pass group:bad;
        }
    }
}
EOF
    my ($code, $out) = $t->run_cmd([$Drover::Test::NGINX, '-t', '-p', $t->dir . '/',
                                    '-c', $t->dir . '/badname.conf', '-e', $t->dir . '/nginx-t.log'], 30,
                                   env => { $t->sanitized ? $t->sanitizer_env : () });
    isnt($code, 0, 'a server name that does not resolve: nginx -t fails');
    like($out, qr/\[emerg\] .*drover_group "bad": server "no-such-host\.invalid:$sport": host not found/,
         '... [emerg] drover_group "bad": server "...": host not found') or diag($out);
}

# ---- a host that never answers ----

{
    my $st;
    ok($t->wait_for(sub {
        ($st) = grep { $_->{name} eq 'silent' } @{ (JSON::PP::decode_json($t->http(GET => '/group-status')->{body}))->{groups} };
        return $st && $st->{hosts}[0]{probe_failures} >= 1;
    }, 3, 0.05), 'group silent: its probe timed out');
    is($st->{hosts}[0]{state}, 'unknown', '... the host never answered: unknown');
    is($st->{hosts}[0]{error}, 'no answer within 500 ms', "... error: $st->{hosts}[0]{error}");
    my $x = $t->http(GET => '/silent/', port => $t->port('mixed'));
    is($x->{status}, 503, 'a request to the group waits in its queue, then 503');
}

# ---- a pool without listen tcp: ----

{
    my $st;
    ok($t->wait_for(sub {
        ($st) = grep { $_->{name} eq 'notcp' } @{ (JSON::PP::decode_json($t->http(GET => '/group-status')->{body}))->{groups} };
        return $st && $st->{hosts}[0]{probe_failures} >= 1;
    }, 3, 0.05), 'group notcp: droverd answered for a pool without TCP');
    is($st->{hosts}[0]{error}, 'the pool has no listen tcp:', "... error: $st->{hosts}[0]{error}");
    is($st->{up}, 0, '... no slot of it is used');
}

# ---- load spread over both hosts ----

my %before = map { $_ => served($host{$_}) } qw(a b);
my $url = 'http://127.0.0.1:' . $t->port . '/pid';
my $w = $t->wrk_start('spread', '-c16', '-t2', '-d2s', $url);
my ($done, undef, $report) = $t->wrk_wait('spread', $w, 20);
$t->wrk_clean('wrk -c16 to the group', $report);
my %after = map { $_ => served($host{$_}) } qw(a b);
my ($na, $nb) = map { $after{$_} - $before{$_} } qw(a b);
cmp_ok($na, '>', 100, "host a served $na requests");
cmp_ok($nb, '>', 100, "host b served $nb requests");

# ---- every process of host b killed under load ----

$w = $t->wrk_start('kill', '-c16', '-t2', '-d5s', $url);
sleep 1.5;

my $root = $tb->pid;
my @family = ($root, map { $_->[0] } $tb->descendants($root));
my $killed_at = time;
is(kill('KILL', @family), scalar @family, 'SIGKILL to droverd and every process of host b (' . scalar(@family) . ')');

ok($t->wait_for(sub { host_state('127.0.0.2') eq 'down' }, 3, 0.02), 'host b marked down');
my $down_s = time - $killed_at;
cmp_ok($down_s, '<', 1.2, sprintf('... within about a second (%.2f s)', $down_s));

($done, undef, $report) = $t->wrk_wait('kill', $w, 20);
ok($done, 'wrk ran to its end');
$t->wrk_clean('wrk -c16 while host b dies', $report);
diag(sprintf('host b down after %.2f s; %s', $down_s, join ' ', $report =~ /(\d+ requests in \S+)/));

$tb->wait_exit(5);
$tb->{exit} = undef;     # killed on purpose: not a crash of droverd

# ---- the page shows host b down ----

{
    my $h = page_host('127.0.0.2');
    is($h->{state}, 'down', "drover_status's page: host b down");
    ok($h->{error} ne '' && $h->{up} == 0, "... no slot up, its last error: $h->{error}");
    cmp_ok($h->{since}, '>=', int($killed_at) - 1, '... since it died');
    is(page_host('127.0.0.1')->{state}, 'up', '... host a still up');

    my $r = $t->http(GET => '/status?format=prometheus');
    like($r->{body}, qr/^drover_group_host_up\{group="kit",server="127\.0\.0\.2:$sport"\} 0$/m,
         '... Prometheus: host b down');

    SKIP: {
        skip 'chromium is not installed (Debian package chromium)', 4 unless $t->can_do('chromium');

        my ($code, $dom, $err) = $t->chromium('http://127.0.0.1:' . $t->port . '/status?format=html',
                                              ['--dump-dom'], 60);
        is($code, 0, 'chromium --dump-dom of the page: exit 0') or diag($err);
        like($dom, qr{<h2>group kit <span class="state">2 of 4 slots up</span></h2>},
             '... group kit: 2 of 4 slots up');
        like($dom, qr{<tr class="host down"><td>127\.0\.0\.2:$sport</td><td>kit</td><td>down</td><td>[^<]+</td><td>0 of \d+</td><td>\d+</td><td class="wrap">\Q$h->{error}\E</td></tr>},
             '... host b: down, 0 slots up, its last error');
        like($dom, qr{<tr class="host up"><td>127\.0\.0\.1:$sport</td>}, '... host a: up');
    }
}

# ---- host b back: used again within 2 s ----

$w = $t->wrk_start('back', '-c16', '-t2', '-d5s', $url);
sleep 0.5;
$tb->run;
my $back_at = time;
ok($tb->alive, 'host b runs again');

my $base = served($host{b});
ok($t->wait_for(sub { served($host{b}) > $base + 10 }, 2, 0.02), 'host b serves again');
my $back_s = time - $back_at;
cmp_ok($back_s, '<', 2, sprintf('... within 2 s of its start (%.2f s)', $back_s));
diag(sprintf('host b used again %.2f s after it was ready', $back_s));

($done, undef, $report) = $t->wrk_wait('back', $w, 20);
$t->wrk_clean('wrk -c16 while host b comes back', $report);
is(host_state('127.0.0.2'), 'up', 'host b up in the status');

$g = group();
cmp_ok($g->{replays}, '>', 0, "the group's replays counted ($g->{replays})");
is($g->{failures}, 0, 'no failure that was not replayed');

$tb->stop;
$tb->check_logs;
$t->done;
