#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Exec mode with Debian's php-cgi behind drover_pass: a PHP file of the
# document root runs (SCRIPT_FILENAME from $document_root$fastcgi_script_name),
# a path outside it or that does not exist gets 404 and runs nothing; one
# php-cgi per slot with the slot socket on fd 0, PHP_FCGI_CHILDREN unset,
# the pool's user, a clean environment; PATH.slots says "kind exec" and the
# shared socket is not bound; the module keeps no connection to a slot and
# pipelines nothing there (a request taken back would run twice in php-cgi,
# drover_pipeline is set to prove it); a script that kills its own process is
# restarted; max_requests recycles through PHP_FCGI_MAX_REQUESTS (logged as
# max requests, not a crash); request_timeout kills a script that runs too
# long and droverd answers 504 on its connection (not replayed), and neither
# an idle slot nor back-to-back short requests are killed; memory_limit;
# droverctl status shows the slots with pid, state and memory.

use strict;
use warnings;

use JSON::PP qw(decode_json);
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;
use Drover::FCGI ();

my $PHP = '/usr/bin/php-cgi';

my $t = Drover::Test->new->has(qw(droverd nginx module));
plan(skip_all => "$PHP is not installed (apt-get install php-cgi)") unless -x $PHP;

my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';

# the crash and the timeout are the test
$t->allow_alert(qr/pool php: worker \d+ .*(signal 9|request timeout)/);

mkdir "$dir/www" or die "mkdir: $!";
chmod 0755, "$dir/www";

$t->write_file('www/info.php', <<'EOF', 0644);
<?php
header('Content-Type: text/plain');
echo 'pid=', getmypid(), "\n";
echo 'uid=', function_exists('posix_geteuid') ? posix_geteuid() : -1, "\n";
echo 'children=', var_export(getenv('PHP_FCGI_CHILDREN'), true), "\n";
echo 'max=', getenv('PHP_FCGI_MAX_REQUESTS'), "\n";
echo 'secret=', var_export(getenv('DROVER_TEST_SECRET'), true), "\n";
echo 'script=', $_SERVER['SCRIPT_FILENAME'], "\n";
echo 'q=', $_GET['q'] ?? '', "\n";
EOF
$t->write_file('www/big.php', "<?php\n\$x = str_repeat('x', 96 << 20);\nusleep(1500000);\n"
               . "echo 'big ', strlen(\$x);\n", 0644);
# (php.ini's output_buffering holds an echo until ob_end_flush)
$t->write_file('www/flush.php', "<?php\necho 'partial';\nwhile (ob_get_level()) { ob_end_flush(); }\n"
               . "flush();\nusleep(20000000);\n", 0644);
# a request's start, by id, in runs/ (written as the pool's user)
mkdir "$dir/www/runs" or die "mkdir: $!";
chmod 0777, "$dir/www/runs";
$t->write_file('www/count.php', <<'EOF', 0644);
<?php
$id = preg_replace('/[^a-z0-9]/', '', $_GET['id'] ?? 'x');
file_put_contents(__DIR__ . "/runs/$id", "start\n", FILE_APPEND);
usleep((int) ($_GET['ms'] ?? 0) * 1000);
echo "ran $id\n";
EOF
$t->write_file('www/kill.php', "<?php\nposix_kill(getmypid(), 9);\necho 'still here';\n", 0644);
$t->write_file('www/sleep.php', "<?php\nusleep((int) (\$_GET['ms'] ?? 0) * 1000);\necho 'slept';\n",
               0644);
# outside the document root: must never run
$t->write_file('outside.php', "<?php\necho 'OUTSIDE RAN';\n", 0644);

$ENV{DROVER_TEST_SECRET} = 'droverd-only';

$t->write_conf(<<'EOF')->run(wait => 0);
control unix:%%DIR%%/ctl.sock;
log_level info;

pool php {
    exec            /usr/bin/php-cgi;
    listen          unix:%%DIR%%/php.sock;
    workers         2;
    max_requests    5;
    request_timeout 2s;
    memory_limit    64M;
}
EOF

my @slots = map { "$dir/php.sock.$_" } 0, 1;
ok($t->wait_for(sub { $t->alive && !grep { !-S $_ } @slots }, 20), 'the slot sockets are there')
    or diag($t->log);
ok(!-e "$dir/php.sock", 'the shared socket of an exec pool is not bound');
ok($t->wait_for(sub { $t->read_file('php.sock.slots') =~ /^state \w+\nkind exec\nslots 2$/m }, 10),
   'PATH.slots says "kind exec"') or diag($t->read_file('php.sock.slots'));
like(join("\n", $t->log_grep(qr/pool php: 2 slots run/)), qr/itself is not bound/,
     'the start line says the shared socket is not bound');
my ($code, $out) = $t->run_cmd([$t->droverd, '-t', '-c', $t->conf_path], 20);
is($code, 0, 'droverd -t accepts the exec pool');
like($out, qr{note: \S+:\d+: pool "php" runs /usr/bin/php-cgi: its shared socket \S+ is not bound.*drover_pass},
     'droverd -t says the shared socket is not bound and what to use');

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%DIR%%/www;

        drover_queue size=16 timeout=20s;

        location ~ \.php$ {
            # only files of the document root run (docs/fastcgi.md)
            try_files $fastcgi_script_name =404;
            drover_pass unix:%%DIR%%/php.sock;
            # a no-op for an exec pool ("kind exec"): see the count test
            drover_pipeline 1 timeout=500ms;
            drover_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        }
    }
EOF
$t->nginx_started('with the module');

sub info {
    my $r = $t->http(GET => '/info.php?q=' . ($_[0] // ''), timeout => 15);
    my %v = ($r->{body} // '') =~ /^(\w+)=(.*)$/mg;
    return ($r, \%v);
}

my ($r, $v);
ok($t->wait_for(sub { ($r, $v) = info('up'); ($r->{status} // 0) == 200 }, 20),
   'a PHP file of the document root runs') or diag(explain($r));
is($v->{q}, 'up', 'the query string reaches PHP');
is($v->{script}, "$dir/www/info.php", 'SCRIPT_FILENAME from $document_root$fastcgi_script_name');
is($v->{children}, 'false', 'PHP_FCGI_CHILDREN is not set');
is($v->{max}, '5', 'PHP_FCGI_MAX_REQUESTS is max_requests');
is($v->{secret}, 'false', "droverd's own environment does not reach the program");
is($v->{uid}, scalar getpwnam('nobody'), 'php-cgi runs as the pool user') if Drover::Test::is_root();

# the document root only: a missing file, one outside it, the pathinfo trick
for my $uri ('/missing.php', '/../outside.php', '/%2e%2e/outside.php', '/info.php/x.php',
             '/www/../../outside.php')
{
    my $r = $t->http(GET => $uri, timeout => 10);
    like($r->{status}, qr/^40[04]$/, "$uri: 404 (or 400 for a path above the root)");
    unlike($r->{body} // '', qr/OUTSIDE RAN|pid=/, "$uri: nothing ran");
}

# "kind exec": no kept connection (drover_keepalive is on by default), so a
# php-cgi between requests waits in accept() on fd 0 and holds no connection
# (each has served 3 requests at most here: none recycles under max_requests 5)
($r, $v) = info('kept');
my $served = $v->{pid} // 0;
ok($served && $t->wait_for(sub {
    !grep { m{^socket:} } map { readlink($_) // '' } grep { !m{/[012]$} } glob("/proc/$served/fd/*");
}, 3), 'no connection is kept to an exec slot')
    or diag("php-cgi $served holds: " . join ' ', map { readlink($_) // '' } glob("/proc/$served/fd/*"));

# one php-cgi per slot, listening on fd 0, nothing else forked
sub php_pids {
    return sort { $a <=> $b } grep { (readlink("/proc/$_/exe") // '') =~ m{/php-cgi} }
           map { $_->[0] } $t->descendants($t->pid);
}

my @php = php_pids();
is(scalar @php, 2, 'one php-cgi per slot') or diag("@php");
for my $pid (@php) {
    my ($ino) = (readlink("/proc/$pid/fd/0") // '') =~ /^socket:\[(\d+)\]$/;
    ok($ino, "php-cgi $pid: a socket on fd 0");
    # php's own files (opcache's lock) may follow; nothing of droverd's
    my @leaked = grep { !m{/\.ZendSem\.} }
                 map { readlink($_) // '' } grep { !m{/[012]$} } glob("/proc/$pid/fd/*");
    is_deeply(\@leaked, [], "php-cgi $pid: no fd of droverd's beyond 0, 1, 2");
}

# ---- no pipelining: a request never waits in a busy php-cgi's backlog ----

# Both slots busy, a short request (700 ms) then a long one (3 s), both
# young, then a third: pipelined, it would wait behind the youngest (the
# long one), be taken back once the short one ends and run on that slot --
# and php-cgi, which knows nothing of a request taken back, would run it
# again from its backlog when the long one ends.
sub started { my $s = $t->read_file("www/runs/$_[0]"); return scalar(() = $s =~ /start/g) }

my @kids;
sub spawn_get {
    my ($uri, $name) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $r = $t->http(GET => $uri, timeout => 15);
        $t->write_file("$name.tmp", ($r->{status} || 0) . ' ' . ($r->{body} // ''));
        rename "$dir/$name.tmp", "$dir/$name";
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

spawn_get('/count.php?id=short&ms=700', 'short.out');
ok($t->wait_for(sub { started('short') }, 5, 0.005), 'the short request runs');
spawn_get('/count.php?id=long&ms=3000', 'long.out');
ok($t->wait_for(sub { started('long') }, 5, 0.005), 'the long request runs');
spawn_get('/count.php?id=third', 'third.out');
ok($t->wait_for(sub { -e "$dir/third.out" && -e "$dir/long.out" }, 15), 'all three answered');
like($t->read_file('third.out'), qr/^200 ran third/, 'the third request ran');
waitpid($_, 0) for @kids;
# the long one is over: its php-cgi has had every chance to run a copy
ok(!$t->wait_for(sub { started('third') > 1 }, 1.5, 0.1), 'and ran exactly once')
    or diag('third ran ' . started('third') . ' times');

# ---- a crash: the script kills its own process ----

my $mark = $t->log_mark;
$r = $t->http(POST => '/kill.php', body => 'x', timeout => 15);
is($r->{status}, 502, 'a script that kills php-cgi: 502 (a POST is not replayed)');
ok($t->wait_log(qr/pool php: worker \d+ \(pid \d+\) killed by signal 9 .*\(signal\)/, 10, 1, $mark),
   'the crash is logged as one');
ok($t->wait_for(sub { (info())[0]{status} == 200 }, 10), 'the pool serves after the crash');
ok($t->wait_for(sub {
    my @now = php_pids();
    @now == 2;
}, 10), 'the slot has a new php-cgi');

# ---- max_requests: php-cgi exits after 5, a recycle ----

$mark = $t->log_mark;
my %pids;
for (1 .. 12) {
    my ($r, $v) = info();
    $pids{ $v->{pid} // 'none' }++ if $r->{status} == 200;
}
ok(keys %pids >= 3, 'max_requests 5: 12 requests saw at least 3 php-cgi processes')
    or diag(explain(\%pids));
ok(!grep({ $_ > 5 } values %pids), 'none served more than 5') or diag(explain(\%pids));
ok($t->wait_log(qr/pool php: worker \d+ \(pid \d+\) exited with code 0 .*\(max requests\)/, 10, 1,
                $mark), 'the exit after max_requests is logged as max requests');
ok(!grep({ /keeps exiting early|pool php: worker .*\((exit|signal)\)/ }
         split /\n/, $t->log_since($mark)), 'and not as a crash');

# ---- request_timeout 2s ----

# an idle php-cgi (blocked in accept) is not killed
my @before = php_pids();
$mark = $t->log_mark;
sleep 3.5;
my @after = php_pids();
is_deeply(\@after, \@before, 'idle slots outlive request_timeout');

# short requests back to back for longer than request_timeout: none killed
my ($ok, $start) = (0, time);
while (time - $start < 3.5) {
    $ok++ if $t->http(GET => '/sleep.php?ms=100', timeout => 10)->{status} == 200;
}
ok($ok >= 10, "$ok short requests in 3.5 s");
ok(!grep({ /request_timeout|request timeout/ } split /\n/, $t->log_since($mark)),
   'back-to-back short requests are not a timeout');

# every slot seen idle since its last request: droverd knows what each
# php-cgi had written before the next one (exec.c, exec_timeout)
sub wait_idle {
    my $out = '';
    my $ok = $t->wait_for(sub {
        $out = `$ctl -s $dir/ctl.sock --json status php 2>&1`;
        my $st = eval { decode_json($out) } or return 0;
        my @w;
        push @w, @{ $_->{workers_detail} || [] } for @{ $st->{pools} || [] };
        return @w == 2 && !grep { ($_->{state} // '') ne 'idle' } @w;
    }, 10, 0.1);
    diag($out) unless $ok;
    return $ok;
}

# a script that runs for 20 s is killed after about 2, and answered 504:
# a GET, which a plain kill would have had replayed on the other slot
ok(wait_idle(), 'both slots idle');
$mark = $t->log_mark;
$start = time;
$r = $t->http(GET => '/sleep.php?ms=20000', timeout => 30);
my $took = time - $start;
is($r->{status}, 504, 'a script past request_timeout: 504 from droverd');
like($r->{body}, qr/did not answer within request_timeout/, 'with the 504 body of any worker');
ok($took >= 1.9 && $took < 8, sprintf('after about request_timeout (%.1f s)', $took));
ok($t->wait_log(qr/pool php: worker \d+ \(pid \d+\) has run one request for \d+ ms, over request_timeout 2000 ms: killing it/,
                5, 1, $mark), 'droverd says why it killed it');
ok($t->wait_log(qr/pool php: worker \d+ .*killed by signal 9 .*\(request timeout\)/, 5, 1, $mark),
   'the exit is classified as request timeout');
ok($t->wait_for(sub { (info())[0]{status} == 200 }, 10), 'the pool serves after the timeout');
# droverd answers the 504 itself only when it saw the program idle after its
# last write (it samples once a second): when a quick request before this
# one fell between two samples, it cannot tell, says so, and the module
# replays the GET once, on the other slot, which it did see idle
my $kills = () = $t->log_since($mark) =~ /over request_timeout/g;
my $unsure = () = $t->log_since($mark) =~ /wrote since it was last seen idle/g;
ok($kills == 1 && $unsure == 0 || $kills == 2 && $unsure == 1,
   "one php-cgi killed, answered 504 by droverd ($kills killed, $unsure not seen idle first): "
   . 'the request was not replayed on the other slot, or once when droverd says why')
    or diag($t->log_since($mark));

# one whose response had begun is cut, as a worker's is: no 504 glued on
ok(wait_idle(), 'both slots idle again');
$mark = $t->log_mark;
$r = $t->http(GET => '/flush.php', timeout => 30);
is($r->{status}, 200, 'a response begun before request_timeout keeps its status')
    or diag(explain($r));
ok(!$r->{complete} && ($r->{body} // '') eq 'partial', 'and is cut where it stood')
    or diag(explain($r));
ok($t->wait_for(sub { (info())[0]{status} == 200 }, 10), 'the pool serves after it');
is(scalar(() = $t->log_since($mark) =~ /over request_timeout/g), 1, 'one php-cgi killed');

# ---- memory_limit 64M: USS from /proc, as for any worker ----

$mark = $t->log_mark;
$r = $t->http(GET => '/big.php', timeout => 20);
is($r->{body}, 'big ' . (96 << 20), 'a request over memory_limit still ends (SIGTERM: php-cgi finishes it)');
ok($t->wait_log(qr/pool php: worker \d+ \(pid \d+\) uses \d+ MiB of private memory, over memory_limit 64 MiB/,
                5, 1, $mark), 'droverd measured it over memory_limit');
ok($t->wait_log(qr/pool php: worker \d+ .*\(memory limit\)/, 10, 1, $mark),
   'and recycled it after its request');

# ---- status: the slots, their pids and memory, without a scoreboard ----

SKIP: {
    skip 'droverctl is not built', 4 unless -x $ctl;

    my (@w, $out);
    $t->wait_for(sub {
        $out = `$ctl -s $dir/ctl.sock --json status php 2>&1`;
        my $st = eval { decode_json($out) } or return 0;
        my ($pool) = grep { $_->{name} eq 'php' } @{ $st->{pools} || [] };
        @w = @{ $pool->{workers_detail} || [] };
        return @w == 2 && !grep { ($_->{state} // '') !~ /^(idle|busy)$/ || !$_->{uss_bytes} } @w;
    }, 10, 0.2);
    is(scalar @w, 2, 'status: two slots') or diag($out);
    ok(!grep({ !$_->{pid} } @w), 'status: each with its pid') or diag(explain(\@w));
    ok(!grep({ ($_->{state} // '') !~ /^(idle|busy)$/ } @w), 'status: idle or busy, from /proc')
        or diag(explain(\@w));
    ok(!grep({ !$_->{uss_bytes} } @w), 'status: the private memory of each')
        or diag(explain(\@w));
}

$t->done;
