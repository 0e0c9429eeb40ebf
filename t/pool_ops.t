#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# One pool at a time: two pools a and b, each in its own included file and
# behind the module, under load from wrk; 10 `droverctl reload a`, each
# with a real change to a's file: b's workers keep their pids through all
# of them and neither pool loses a request.  `droverctl stop a`: a answers
# 503 at once, b serves on; `droverctl start a`: a serves again.  `droverd
# -t POOLFILE` checks one pool file; bad pool names and bad files get clear
# errors and exit codes.

use strict;
use warnings;

use Test::More;
use Time::HiRes ();

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module wrk));
my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';

plan(skip_all => 'droverctl is not built (run make)') unless -x $ctl;

mkdir "$dir/pools" or die "mkdir: $!";

# pool NAME's file, with app_param round ROUND (kit ignores it: a change
# droverd must roll out all the same)
sub write_pool {
    my ($name, $round, $extra) = @_;

    $extra //= '';

    my $text = <<"EOF";
# pool $name
pool $name {
    app       %%APPS%%/kit.so;
    app_param round $round;
    listen    unix:%%DIR%%/$name.sock;
    workers   2;
$extra}
EOF

    return $t->write_file("pools/$name.conf",
                          $t->add_default_user($t->expand($text)));
}

write_pool('a', 0);
write_pool('b', 0);

$t->write_conf(<<'EOF')->run(wait => 0);
log_level info;
control unix:%%DIR%%/ctl.sock;
include pools/*.conf;
EOF

# the pid answering /pid on SOCK, or undef
sub pid_at {
    my ($sock) = @_;

    my $r = $t->get('/pid', socket => $sock, timeout => 2);
    return $r->{complete} && $r->{body} =~ /^(\d+)\n$/ ? $1 : undef;
}

sub pids {
    my ($pool) = @_;
    return map { pid_at("$dir/$pool.sock.$_") } 0, 1;
}

sub ctl {
    my (@args) = @_;
    return $t->run_cmd([$ctl, '-s', "$dir/ctl.sock", @args], 20);
}

for my $pool (qw(a b)) {
    ok($t->wait_for(sub { !grep { !defined } pids($pool) }, 20),
       "pool $pool: both workers answer") or diag($t->log);
}


# ---- droverd -t POOLFILE ----

my $main = $t->conf_path;
my ($code, $out) = $t->droverd_cmd('-t', '-c', $main, "$dir/pools/a.conf");
is($code, 0, '-t POOLFILE: exit 0') or diag($out);
like($out, qr/pool file \Q$dir\E\/pools\/a\.conf test is successful/,
     '-t POOLFILE: says the pool file passed');

# another tenant's broken file fails neither a's check nor a's reload
$t->write_file("pools/c.conf", $t->expand("pool c {\n    app %%APPS%%/kit.so;\n"
                                          . "    workers lots;\n}\n"));
($code, $out) = $t->droverd_cmd('-t', '-c', $main, "$dir/pools/a.conf");
is($code, 0, '-t POOLFILE: another pool file\'s error is not read');
($code, $out) = $t->droverd_cmd('-t', '-c', $main, "$dir/pools/c.conf");
is($code, 1, '-t of the broken pool file: exit 1');
like($out, qr/^\Q$dir\E\/pools\/c\.conf:3: .*workers/m,
     '-t of the broken pool file: FILE:LINE: message');
like($out, qr/pool file \Q$dir\E\/pools\/c\.conf test failed/,
     '-t of the broken pool file: says it failed');
($code, $out) = $t->droverd_cmd('-t', '-c', $main);
is($code, 1, '-t of the whole configuration: fails on c.conf');

$t->write_file('elsewhere.conf', "pool e { }\n");
($code, $out) = $t->droverd_cmd('-t', '-c', $main, "$dir/elsewhere.conf");
is($code, 1, '-t of a file the main file does not include: exit 1');
like($out, qr/is not included by this file/, '... and says so');
($code, $out) = $t->droverd_cmd('-t', '-c', $main, "$dir/pools/none.conf");
is($code, 1, '-t of a missing pool file: exit 1');
like($out, qr/none\.conf: No such file/, '... and says so');


# ---- 10 reloads of a under load: b untouched ----

my @b_pids = pids('b');
my @a_pids = pids('a');

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            drover_queue size=100 timeout=10s;
            drover_pass unix:%%DIR%%/a.sock;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_B%%;

        location / {
            drover_queue size=100 timeout=10s;
            drover_pass unix:%%DIR%%/b.sock;
        }
    }
EOF

$t->nginx_started('with the module');
is($t->http(GET => '/')->{status}, 200, 'pool a through nginx: 200');
is($t->http(GET => '/', port => $t->port('b'))->{status}, 200,
   'pool b through nginx: 200');

my @wrk = ('-t1', '-c4', '-d15s', '--timeout', '5s');
my %wrk = (a => $t->wrk_start('a', @wrk, 'http://127.0.0.1:' . $t->port . '/'),
           b => $t->wrk_start('b', @wrk, 'http://127.0.0.1:' . $t->port('b') . '/'));

ok($t->wait_for(sub { (-s "$dir/nginx-access.log" || 0) > 50_000 }, 5),
   'wrk is under way');

my $log0 = $t->log_mark;
my ($reloaded, $b_same, $a_moved) = (0, 0, 0);

for my $round (1 .. 10) {
    my $next = Time::HiRes::time() + 1;
    my $mark = $t->log_mark;

    write_pool('a', $round);
    ($code, $out) = ctl('reload', 'a');
    diag("reload a, round $round: exit $code: $out") if $code != 0;

    $reloaded++ if $code == 0
        && $t->wait_log(qr/pool a: generation \d+ serves/, 10, 1, $mark);
    $b_same++ if join(' ', pids('b')) eq join(' ', @b_pids);

    $t->wait_for(sub { Time::HiRes::time() >= $next }, 2);
}

is($reloaded, 10, '10 reloads of a, each ended in "generation N serves"')
    or diag($t->log_since($log0));
is($b_same, 10, "b's worker pids (@b_pids) unchanged after each of them");

my @a_now = pids('a');
ok(!grep({ my $p = $_; grep { $_ == $p } @a_pids } @a_now),
   "a's workers were replaced (@a_pids -> @a_now)");

my $since = $t->log_since($log0);
is(scalar(() = $since =~ /pool b: generation/g), 0,
   'the log names no new generation of b');
is(scalar(() = $since =~ /pool b: worker \d+ \(pid/g), 0,
   'and no exit of a b worker');
like($since, qr/pool a: reloading it alone from \Q$dir\E\/pools\/a\.conf/,
     'droverd logs the one-pool reload and its file');

for my $name (qw(a b)) {
    my ($done, $wcode, $report) = $t->wrk_wait($name, $wrk{$name}, 30);
    ok($done, "$name: wrk finished");
    is($wcode, 0, "$name: wrk exited 0");
    note($report);
    $t->wrk_clean($name, $report, 200);
}


# ---- stop a, start a ----

($code, $out) = ctl('stop', 'a');
is($code, 0, 'stop a: exit 0') or diag($out);
like($out, qr/^pool a: stopping it$/m, 'stop a: says so');

ok($t->wait_for(sub {
       my $s = $t->read_file('a.sock.slots');
       return $s =~ /^state stopped$/m && $s !~ / up /;
   }, 10), 'a.sock.slots: state stopped, no slot up')
    or diag($t->read_file('a.sock.slots'));

# the module re-reads PATH.slots at most once a second
my $seen = Time::HiRes::time() + 1.1;
$t->wait_for(sub { Time::HiRes::time() >= $seen }, 2);
ok($t->wait_for(sub { !grep { kill 0, $_ } @a_now }, 15),
   "a's workers exited");
ok(-S "$dir/a.sock" && -S "$dir/a.sock.0" && -S "$dir/a.sock.1",
   "a's sockets are still there");

($code, $out) = ctl('--json', 'status', 'a');
like($out, qr/"state"\s*:\s*"stopped"/, 'status a: stopped');

my $nmark = length $t->nginx_log;
my $t0 = Time::HiRes::time();
my $r = $t->http(GET => '/');
my $took = Time::HiRes::time() - $t0;
is($r->{status}, 503, 'a through nginx: 503');
cmp_ok($took, '<', 1, sprintf('... at once (%.3f s)', $took));
like($t->nginx_log_since($nmark), qr/drover: the pool of "\S+a\.sock" is stopped \(droverctl stop; droverctl start serves it again\), 503/,
     '... and nginx logs that the pool is stopped, not that its app failed');
is($t->http(GET => '/', port => $t->port('b'))->{status}, 200,
   'b through nginx: 200');
is(join(' ', pids('b')), join(' ', @b_pids), "b's workers unchanged");

($code, $out) = ctl('stop', 'a');
is($code, 0, 'stop a again: exit 0 (it is stopped)');
for my $args (['restart', 'a'], ['scale', 'a', '3']) {
    ($code, $out) = ctl(@$args);
    is($code, 1, "@$args while a is stopped: exit 1");
    like($out, qr/pool "a" is stopped: droverctl start it first/, '... and says so');
}

# a stopped pool takes a reload: it applies at start
write_pool('a', 99);
($code, $out) = ctl('reload', 'a');
is($code, 0, 'reload of the stopped a: exit 0') or diag($out);
ok(scalar $t->wait_log(qr/pool a: stopped; its new configuration applies/,
                       5), '... kept for its start');
like($t->read_file('a.sock.slots'), qr/^state stopped$/m, '... a stays stopped');

$since = $t->log_mark;
($code, $out) = ctl('start', 'a');
is($code, 0, 'start a: exit 0') or diag($out);
like($out, qr/^pool a: starting it$/m, 'start a: says so');
ok($t->wait_for(sub { !grep { !defined } pids('a') }, 20),
   'a: both workers answer again') or diag($t->log_since($since));
# the module learns it within a second: 503 at once until then
ok($t->wait_for(sub { ($t->http(GET => '/')->{status} // 0) == 200 }, 5, 0.05),
   'a through nginx: 200 again');
like($t->read_file('a.sock.slots'), qr/^state serving$/m,
     'a.sock.slots: state serving');
is(join(' ', pids('b')), join(' ', @b_pids), "b's workers still unchanged");

($code, $out) = ctl('start', 'a');
is($code, 1, 'start a while it serves: exit 1');
like($out, qr/pool "a" is not stopped/, '... and says so');


# ---- bad names and a bad file ----

for my $cmd (qw(reload stop start)) {
    ($code, $out) = ctl($cmd, 'nope');
    is($code, 1, "$cmd nope: exit 1");
    like($out, qr/no pool "nope"/, "$cmd nope: says there is no such pool");

    ($code, $out) = ctl($cmd, '../x');
    is($code, 2, "$cmd ../x: exit 2 (usage)");
    like($out, qr/"\.\.\/x" is not a pool name/, "$cmd ../x: says why");
}

($code, $out) = ctl('start');
is($code, 2, 'start without a pool: exit 2');

@a_now = pids('a');
write_pool('a', 100, "    workers lots;\n");
($code, $out) = ctl('reload', 'a');
is($code, 1, 'reload a with an error in its file: exit 1');
like($out, qr/pools\/a\.conf:\d+: .*workers/, '... FILE:LINE: message');
is(join(' ', pids('a')), join(' ', @a_now), '... a keeps its workers');


# a pool declared in the main file itself: -t reads that file alone
my $main2 = $t->write_file('main2.conf', $t->add_default_user($t->expand(<<'EOF')));
pool m {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/m.sock;
}
include pools/*.conf;
EOF
($code, $out) = $t->droverd_cmd('-t', '-c', $main2, $main2);
is($code, 0, '-t of the main file as POOLFILE: its own pools, no include read')
    or diag($out);


# ---- a full reload keeps a stopped pool stopped; droverd stops cleanly ----

unlink "$dir/pools/c.conf";
write_pool('a', 101);
@a_now = pids('a');
($code, $out) = ctl('stop', 'a');
is($code, 0, 'stop a once more');
ok($t->wait_for(sub { !grep { kill 0, $_ } @a_now }, 15), "a's workers exited");

# a start whose prestart fails: a stays stopped, droverd and b go on
write_pool('a', 102, "    prestart /bin/false;\n");
($code, $out) = ctl('reload', 'a');
is($code, 0, 'reload of the stopped a with a failing prestart: exit 0');
my $mark = $t->log_mark;
($code, $out) = ctl('start', 'a');
is($code, 0, 'start a: accepted');
ok(scalar $t->wait_log(qr/pool a: prestart failed: .*the pool is stopped/,
                       10, 1, $mark), 'its prestart fails: a is stopped again')
    or diag($t->log_since($mark));
ok($t->alive, 'droverd still running');
is(join(' ', pids('b')), join(' ', @b_pids), "b's workers still unchanged");
write_pool('a', 103);

$mark = $t->log_mark;
($code, $out) = ctl('reload');
is($code, 0, 'a full reload: exit 0') or diag($out);
ok(scalar $t->wait_log(qr/pool b: generation \d+ serves/, 20, 1, $mark),
   'the full reload gives b a new generation');
ok(scalar $t->wait_log(qr/pool a: stopped; its new configuration applies/,
                       5, 1, $mark), 'and keeps a stopped with its new file');
like($t->read_file('a.sock.slots'), qr/^state stopped$/m, 'a is still stopped');
unlike($t->log_since($mark), qr/pool a: worker \d+ started/,
       'no worker of a started');

ok($t->alive, 'droverd still running');

$t->stop_nginx;
is($t->stop, 0, 'SIGTERM with a stopped pool: droverd exits 0');

$t->done;
