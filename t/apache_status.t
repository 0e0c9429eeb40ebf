#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover's drover-status page, its HTML form: the default without
# ?format (Accept chooses as the nginx module's drover_status does: JSON,
# Prometheus text, else HTML), 200 text/html with the pool's figures,
# a hostile pool path escaped, a bad ?format 400, and the page rendered
# by headless Chromium (--dump-dom) when chromium is installed.
# With "DroverStatus unix:PATH" (droverd's status socket) the page is
# droverd's own, its workers and this Apache's counters beside them
# ("dispatch"), in the three formats; promtool accepts the Prometheus text;
# droverd not running: 502 and one line saying so.

use strict;
use warnings;

use JSON::PP ();
use Test::More;

use Drover::Test;
use Drover::Test::Apache;

my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;

$t->write_conf(<<'EOF')->run;
status_socket unix:%%DIR%%/status.sock mode=0666;

pool kit {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/kit.sock;
    workers   2;
}
EOF

ok($t->wait_for(sub { my @up = $t->read_file('kit.sock.slots') =~ /^\d+ up /mg; @up == 2 }, 20),
   'kit: its two workers are up') or diag($t->read_file('kit.sock.slots'));

# a pool path that is markup: no such socket, so a plain pool, never asked
my $hostile = q{<img src=x onerror=alert(1)>&'q};

$t->write_apache_conf(<<"EOF")->run_apache;
<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName localhost
    DroverPass unix:%%DIR%%/kit.sock

    <Location /drover-status>
        SetHandler drover-status
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName droverd.test
    DroverPass unix:%%DIR%%/kit.sock

    <Location /drover-status>
        SetHandler drover-status
        DroverStatus unix:%%DIR%%/status.sock
    </Location>
    <Location /nodroverd-status>
        SetHandler drover-status
        DroverStatus unix:%%DIR%%/no-such.sock
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:%%PORT%%>
    ServerName hostile.test
    DroverPass "unix:%%DIR%%/$hostile.sock"
</VirtualHost>
EOF

for (1 .. 7) {
    is($t->http(GET => '/')->{status}, 200, "request $_ to kit: 200");
}

# the figures of a pool's card: { name => value, state => ... }
sub card {
    my ($html, $pool) = @_;
    my ($card) = $html =~ m{<div class="pool">\s*<h2>[^<]*/\Q$pool\E\.sock\b(.*?)</div>}s
        or return {};
    my %v = $card =~ m{<tr><th>([^<]+)</th><td>([^<]*)</td></tr>}g;
    ($v{state}) = $card =~ m{<span class="\w+">(\w+)</span>};
    return \%v;
}

# ---- the HTML page ----

my $r = $t->http(GET => '/drover-status');
is($r->{status}, 200, 'drover-status without ?format or Accept: 200');
is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', 'text/html by default');
is($r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
like($r->{headers}{vary} // '', qr/\bAccept\b/, 'Vary: Accept');

my $html = $r->{body} // '';
like($html, qr{^<!DOCTYPE html>}, 'an HTML document');
like($html, qr{<title>Drover status</title>}, 'its title');
like($html, qr{<meta http-equiv="refresh" content="2">}, 'it refreshes itself every 2 s');
unlike($html, qr{<(script|link)\b|\bsrc=["']?https?:}i, 'no script, no external asset');

my $kit = card($html, 'kit');
is($kit->{state}, 'serving', 'kit: serving');
is($kit->{slots}, 2, 'kit: 2 slots');
is($kit->{'slots up'}, 2, 'kit: 2 up');
is($kit->{'slots busy'}, 0, 'kit: none busy');
is($kit->{'queue length'}, 0, 'kit: nothing queued');
cmp_ok($kit->{requests} // 0, '>=', 7, 'kit: the 7 requests counted (' . ($kit->{requests} // 'none') . ')');
is($kit->{replays}, 0, 'kit: no replay');
is($kit->{'503s'}, 0, 'kit: no 503');

# the same figures as the JSON
$r = $t->http(GET => '/drover-status?format=json');
is($r->{headers}{'content-type'}, 'application/json', '?format=json: JSON');
my ($j) = grep { $_->{socket} =~ m{/kit\.sock$} }
    @{ (eval { JSON::PP::decode_json($r->{body}) } || {})->{pools} || [] };
is($j->{requests}, $kit->{requests}, 'the page\'s requests are the JSON\'s');

# the hostile path: text, not markup
my $escaped = q{&lt;img src=x onerror=alert(1)&gt;&amp;'q.sock};
like($html, qr{<h2>[^<]*/\Q$escaped\E <span class="plain">plain</span></h2>},
     'the hostile pool path is HTML-escaped, shown as a plain pool');
unlike($html, qr{<img}i, 'none of it is markup');

# ---- the format: ?format, else Accept ----

$r = $t->http(GET => '/drover-status?format=html');
is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', '?format=html: HTML');
$r = $t->http(GET => '/drover-status?x=1&format=prometheus');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, '?x=1&format=prometheus: text');
is($t->http(GET => '/drover-status?format=xml')->{status}, 400, '?format=xml: 400');
is($t->http(GET => '/drover-status?format=')->{status}, 400, '?format= (empty): 400');

my @accept = (
    ['application/json', qr{^application/json}],
    ['text/plain', qr{^text/plain; version=0\.0\.4}],
    ['application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
     qr{^text/plain; version=0\.0\.4}],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', qr{^text/html}],
    ['application/json;q=0.5, text/html', qr{^text/html}],
    ['text/html;q=0.2, application/json;q=0.9', qr{^application/json}],
    ['application/json;q=0', qr{^text/html}],
    ['*/*', qr{^text/html}],
);
for my $a (@accept) {
    $r = $t->http(GET => '/drover-status', headers => [Accept => $a->[0]]);
    like($r->{headers}{'content-type'} // '', $a->[1], "Accept: $a->[0]");
}

# ---- DroverStatus: droverd's own status, this Apache's counters beside ----

my @dh = (headers => ['Host' => 'droverd.test']);
$r = $t->http(GET => '/drover-status?format=json', @dh);
is($r->{status}, 200, 'DroverStatus, JSON: 200');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'DroverStatus, JSON: application/json');
my $st = eval { JSON::PP::decode_json($r->{body}) } || {};
my ($dk) = grep { ($_->{name} // '') eq 'kit' } @{ $st->{pools} || [] };
is(scalar @{ ($dk || {})->{workers_detail} || [] }, 2, "DroverStatus, JSON: droverd's two workers of kit");
ok(defined(($dk || {})->{workers_detail}[0]{pid}), 'DroverStatus, JSON: with their pids');
cmp_ok((($dk || {})->{dispatch} || {})->{requests} // 0, '>=', 7,
       "DroverStatus, JSON: this Apache's dispatch counters beside them (dispatch.requests)");
is((($dk || {})->{dispatch} || {})->{overflows}, 0, 'DroverStatus, JSON: dispatch.overflows');

$r = $t->http(GET => '/drover-status?format=prometheus', @dh);
like($r->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4}, 'DroverStatus, Prometheus: text');
like($r->{body} // '', qr/^drover_worker_requests_total\{pool="kit",worker="0"\} \d/m, "DroverStatus, Prometheus: droverd's worker metrics");
like($r->{body} // '', qr/^drover_pool_dispatched_requests_total\{pool="kit"\} [1-9]/m,
     "DroverStatus, Prometheus: this Apache's counters");
SKIP: {
    skip 'promtool is not installed', 1 unless $t->can_do('promtool');
    $t->write_file('droverd-metrics.txt', $r->{body} // '');
    my ($code, $out) = $t->run_cmd(['promtool', 'check', 'metrics'], 20, stdin => $t->dir . '/droverd-metrics.txt');
    is($code, 0, 'DroverStatus, Prometheus: promtool check metrics accepts it') or diag($out);
}

$r = $t->http(GET => '/drover-status', @dh);
like($r->{headers}{'content-type'} // '', qr{^text/html}, 'DroverStatus, HTML by default');
like($r->{body} // '', qr{\bkit\b}, "DroverStatus, HTML: droverd's page names the pool");

my $mark = $t->apache_log_mark;
$r = $t->http(GET => '/nodroverd-status?format=json', @dh);
is($r->{status}, 502, 'DroverStatus to a socket nobody listens on: 502');
ok($t->wait_apache_log(qr/drover-status: droverd is not running at .*no-such\.sock/, $mark, 5),
   'and one line says droverd is not running there');

# ---- the page in headless Chromium ----

SKIP: {
    skip 'chromium is not installed (Debian package chromium)', 6 unless $t->can_do('chromium');

    my ($code, $dom, $err) = $t->chromium('http://127.0.0.1:' . $t->port . '/drover-status',
                                          ['--dump-dom'], 60);
    is($code, 0, 'chromium --dump-dom: exit 0') or diag($err);
    like($dom, qr{<title>Drover status</title>}, 'the rendered page\'s title');
    my $seen = card($dom, 'kit');
    is($seen->{'slots up'}, 2, 'the rendered page: kit 2 slots up');
    cmp_ok($seen->{requests} // 0, '>=', 7, 'the rendered page: kit\'s requests');
    like($dom, qr{\Q$escaped\E}, 'the hostile path rendered as text');
    unlike($dom, qr{<img}i, 'no element made of it');
}

$t->apache_done;
