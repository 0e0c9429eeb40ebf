#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# docs/shared-hosting.md works as written: its code blocks (the setup
# commands, droverd.conf, alice.conf, bob.conf, the nginx server blocks, the
# check commands) are read from the .md file itself, so the test fails when
# the guide drifts, and run with only what a test machine must change: the
# tenants are two users this test creates, /run/drover, /etc/drover and the
# homes are dirs in the temp dir, alice's site.so is kit.so, and the servers
# listen on a 127.0.0.1 port with a test certificate.  Checks: droverd -t of
# the whole config and of bob.conf alone, no process of either pool before
# its first request (on demand), a missing .php is 404 and runs nothing,
# both sites answer, each pool's processes run as their tenant (no other
# group, no_new_privs, no capabilities), the sockets' modes and ACLs as in
# "What to check on a new host", droverctl reload of one tenant leaves the
# other's processes alone, and no alert in the logs.

use strict;
use warnings;

use File::Copy qw(copy);
use JSON::PP qw(decode_json);
use FindBin ();
use Test::More;

use Drover::Test;
use Drover::Test::Tenant qw(add_user fcgi_as);

my $GUIDE = "$FindBin::Bin/../docs/shared-hosting.md";
my $PHP = '/usr/bin/php-cgi';

my $t = Drover::Test->new->has(qw(droverd kit module https));

plan skip_all => 'needs root (useradd, pools under other users, nginx as www-data)'
    unless Drover::Test::is_root();
plan skip_all => 'needs useradd and userdel'
    unless -x '/usr/sbin/useradd' && -x '/usr/sbin/userdel';
plan skip_all => "$PHP is not installed (apt-get install php-cgi)" unless -x $PHP;
plan skip_all => 'needs setfacl and getfacl (Debian package acl)'
    unless grep { -x "$_/setfacl" && -x "$_/getfacl" } split /:/, $ENV{PATH} || '/usr/bin:/bin';
plan skip_all => 'needs curl' unless grep { -x "$_/curl" } split /:/, $ENV{PATH} || '/usr/bin:/bin';
plan skip_all => 'needs the user www-data (nginx runs as it)' unless defined getpwnam('www-data');

my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';

# ---- the guide's code blocks ----

open my $fh, '<', $GUIDE or die "$GUIDE: $!";
my $md = do { local $/; <$fh> };
close $fh;

my @blocks;
while ($md =~ /^```(\w*)\n(.*?)^```\s*$/msg) {
    push @blocks, { lang => $1, text => $2 };
}

sub block {
    my ($what, $re) = @_;
    my @b = grep { $_->{text} =~ $re } @blocks;
    is(scalar @b, 1, "the guide has one block of $what") or BAIL_OUT("no block of $what in $GUIDE");
    return $b[0]{text};
}

my $setup_sh = block('setup commands', qr/^useradd /m);
my $main_conf = block('droverd.conf', qr{^include /etc/drover/conf\.d/}m);
my $alice_conf = block('alice.conf', qr/^pool alice \{/m);
my $bob_conf = block('bob.conf', qr/^pool bob \{/m);
my $nginx_conf = block('nginx config', qr/^http \{/m);
my $check_sh = block('check commands', qr/^droverd -t /m);

like($md, qr{^`/etc/drover/conf\.d/alice\.conf`}m, 'alice.conf is named as the include finds it');
like($md, qr{^`/etc/drover/conf\.d/bob\.conf`}m, 'bob.conf is named as the include finds it');

# ---- what a test machine changes ----

my $tag = $$ % 100000;
my %ten;
for my $x (qw(alice bob)) {
    my $name = "drvt_shg_${x}_$tag";
    my $home = "$dir/home_" . substr($x, 0, 1);
    my ($uid, $gid) = add_user(name => $name, home => $home);
    $ten{$x} = { name => $name, home => $home, uid => $uid, gid => $gid };
}
my ($A, $B) = @ten{qw(alice bob)};

my $run = "$dir/run";         # /run/drover
my $etc = "$dir/etc";         # /etc/drover
mkdir $etc or die "mkdir $etc: $!";
mkdir "$etc/conf.d" or die "mkdir $etc/conf.d: $!";

# RUN_DIR (the control socket, droverctl's default) follows /run/drover
$ENV{RUNTIME_DIRECTORY} = $run;
$ENV{DROVER_CONTROL} = "$run/droverd.ctl";

# the paths, then the tenants' names where they name a user (the pools
# and their sockets keep theirs)
sub subst {
    my ($text) = @_;

    $text =~ s{/etc/drover}{\@\@ETC\@\@}g;
    $text =~ s{/run/drover}{\@\@RUN\@\@}g;
    $text =~ s{/home/(alice|bob)\b}{\@\@HOME_$1\@\@}g;

    $text =~ s{^(\s*user\s+)(alice|bob);}{$1$ten{$2}{name};}mg;
    $text =~ s{(-[og]\s+)(alice|bob)\b}{$1$ten{$2}{name}}g;

    $text =~ s{\@\@ETC\@\@}{$etc}g;
    $text =~ s{\@\@RUN\@\@}{$run}g;
    $text =~ s{\@\@HOME_(\w+)\@\@}{$ten{$1}{home}}g;

    return $text;
}

# a block's commands, one a line, comments dropped
sub commands {
    my ($text) = @_;
    return grep { length } map { s/(^|\s+)#.*$//r =~ s/^\s+|\s+$//gr } split /\n/, $text;
}

# ---- the setup: the guide's commands, but useradd (add_user did it) ----

for my $cmd (commands($setup_sh)) {
    next if $cmd =~ /^useradd /;
    my $sub = subst($cmd);
    my ($code, $out) = $t->run_cmd(['sh', '-c', $sub], 20);
    is($code, 0, "setup: $cmd") or diag("$sub: $out");
}

is(sprintf('%04o', (stat $run)[2] & 07777) . ' ' . (stat _)[4], '0755 0', 'the socket dir: root, 0755');
is((stat "$A->{home}/app")[4], $A->{uid}, "alice's app dir is alice's");
is(sprintf('%04o', (stat "$B->{home}/public")[2] & 07777), '0750', "bob's document root: 0750");

# alice's app: kit.so
my $site = "$A->{home}/app/site.so";
copy($t->app('kit'), $site) or die "copy: $!";
chown $A->{uid}, $A->{gid}, $site;
chmod 0755, $site;

# bob's PHP: the uid it runs as, and a file outside the document root
$t->write_file("$B->{home}/public/index.php", <<'EOF', 0644);
<?php
echo 'uid=', posix_getuid(), ' euid=', posix_geteuid(), ' pid=', getmypid(), "\n";
EOF
chown $B->{uid}, $B->{gid}, "$B->{home}/public/index.php";

# ---- droverd's config, as the guide has it ----

my $main_text = subst($main_conf);
$t->write_conf($main_text, 'etc/droverd.conf');
$t->write_file("$etc/conf.d/alice.conf", subst($alice_conf));
$t->write_file("$etc/conf.d/bob.conf", subst($bob_conf));

# the guide's droverd -t lines
my @checks = grep { /^droverd -t / } commands($check_sh);
is(scalar @checks, 2, 'the guide checks the whole config and one pool file');
for my $cmd (@checks) {
    my @args = split ' ', subst($cmd);
    shift @args;
    my ($code, $out) = $t->droverd_cmd(@args);
    is($code, 0, "$cmd: passes") or diag($out);
    unlike($out, qr/\b(error|warn(ing)?|alert|emerg)\b/i, "$cmd: no error or warning")
        or diag($out);
}

# ---- droverd: nothing runs until a request ----

$t->run(wait => 0);

my @socks = ("$run/alice.sock", map({ "$run/alice.sock.$_" } 0 .. 3),
             map({ "$run/bob.sock.$_" } 0 .. 1));
ok($t->wait_for(sub { $t->alive && !grep { !-S $_ } @socks }, 20),
   'droverd binds alice\'s sockets and bob\'s slot sockets') or diag($t->log);

# the processes running as a tenant: [pid, status text]
sub procs_of {
    my ($uid) = @_;
    my @p;
    for my $st (glob '/proc/[0-9]*/status') {
        my $text = $t->read_file($st);
        next unless $text =~ /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m;
        next unless grep { $_ == $uid } $1, $2, $3, $4;
        push @p, [$st =~ m{/proc/(\d+)/} ? $1 : 0, $text];
    }
    return @p;
}

is(scalar(procs_of($A->{uid})), 0, 'on demand: no process of alice before her first request');
is(scalar(procs_of($B->{uid})), 0, 'on demand: no process of bob before his first request');

# the guide's droverctl status: both pools there, no worker
SKIP: {
    skip 'droverctl is not built', 3 unless -x $ctl;
    my ($line) = grep { /^droverctl status/ } commands($check_sh);
    ok($line, 'the guide runs droverctl status');
    my ($code, $out) = $t->run_cmd([$ctl, 'status'], 10);
    ok($code == 0 && $out =~ /\balice\b/ && $out =~ /\bbob\b/, 'droverctl status lists alice and bob')
        or diag($out);
    ($code, $out) = $t->run_cmd([$ctl, '--json', 'status'], 10);
    my $st = eval { decode_json($out) } || {};
    my %running = map {
        ($_->{name} => scalar grep { $_->{pid} } @{ $_->{workers_detail} || [] })
    } @{ $st->{pools} || [] };
    is_deeply(\%running, { alice => 0, bob => 0 }, 'droverctl status: 0 workers until used')
        or diag($out);
}

# ---- nginx, as the guide has it, its workers as www-data ----

$t->make_cert;
my $port = $t->port;
my $ng = subst($nginx_conf);
my $module = $t->module;
ok($ng =~ s{^load_module\s+modules/ngx_http_drover_module\.so;}{load_module $module;}m,
   'the guide loads the module');
my $listens = $ng =~ s{^(\s*)listen 443 ssl;}{$1listen 127.0.0.1:$port ssl;\n$1ssl_certificate $dir/cert.pem;\n$1ssl_certificate_key $dir/key.pem;}mg;
is($listens, 2, 'two servers on 443 with TLS');

mkdir "$dir/nginx-tmp";
mkdir "$dir/san";
chmod 01777, "$dir/san";
my $harness_http = <<"EOF";
    access_log $dir/nginx-access.log;
    client_body_temp_path $dir/nginx-tmp/body;
    fastcgi_temp_path $dir/nginx-tmp/fastcgi;
    proxy_temp_path $dir/nginx-tmp/proxy;
    uwsgi_temp_path $dir/nginx-tmp/uwsgi;
    scgi_temp_path $dir/nginx-tmp/scgi;
EOF
my $harness_main = <<"EOF";
user www-data;
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log notice;
events {
    worker_connections 256;
}
EOF
ok($ng =~ s|^http \{\n|${harness_main}\nhttp \{\n$harness_http|m, 'the guide has an http block');
$t->write_file('nginx.conf', $ng);

# a sanitizer build of the module: nginx's workers (www-data) write their
# reports into a dir of their own, moved where the log checks look at the end
my %san;
if ($t->sanitized) {
    %san = $t->sanitizer_env;
    $san{ASAN_OPTIONS} =~ s{log_path=\S+}{log_path=$dir/san/sanitizer};
    $san{UBSAN_OPTIONS} =~ s{log_path=\S+}{log_path=$dir/san/sanitizer};
}
{
    local @ENV{keys %san} = values %san;
    $t->run_nginx;
}
$t->nginx_started('with the guide\'s server blocks');

is(scalar(procs_of($A->{uid})) + scalar(procs_of($B->{uid})), 0,
   'nginx up: still no process of either pool');

# ---- bob: a missing .php is 404 and starts nothing ----

sub get {
    my ($host, $uri) = @_;
    return $t->https(GET => $uri, headers => { Host => $host }, timeout => 20);
}

my $r = get('bob.example', '/missing.php');
is($r->{status}, 404, 'bob: a missing .php gets 404');
ok(!$t->wait_for(sub { scalar procs_of($B->{uid}) }, 1), 'and starts no process of bob');

# ---- alice: her app, as alice ----

$r = get('alice.example', '/');
is($r->{status}, 200, 'alice.example answers') or diag(explain($r));
is($r->{body}, "hello\n", "with alice's app");
$r = get('alice.example', '/pid');
my ($apid) = ($r->{body} // '') =~ /^(\d+)$/;
ok($apid, "alice's worker says its pid");
like($t->read_file("/proc/$apid/status"), qr/^Uid:\s+$A->{uid}\s+$A->{uid}\s+$A->{uid}\s+$A->{uid}$/m,
     'it runs as alice') if $apid;
is(scalar(procs_of($B->{uid})), 0, 'a request to alice starts nothing of bob');

# what alice.conf asks of her processes: working_dir, rlimit_* (env is
# set after exec, so /proc/PID/environ cannot show it: t/pool_env.t)
if ($apid) {
    is(readlink("/proc/$apid/cwd"), "$A->{home}/app", 'alice: working_dir');
    my $limits = $t->read_file("/proc/$apid/limits");
    like($limits, qr/^Max open files\s+1024\s+1024\s/m, 'alice: rlimit_files 1024');
    like($limits, qr/^Max processes\s+64\s+64\s/m, 'alice: rlimit_nproc 64');
}

# ---- bob: PHP, as bob (index.php of the document root) ----

$r = get('bob.example', '/');
is($r->{status}, 200, 'bob.example answers') or diag(explain($r));
like($r->{body} // '', qr/^uid=$B->{uid} euid=$B->{uid} pid=\d+$/, 'with PHP running as bob');

# the setfacl of the setup: nginx serves bob's static files itself
$t->write_file("$B->{home}/public/robots.txt", "User-agent: *\n", 0644);
chown $B->{uid}, $B->{gid}, "$B->{home}/public/robots.txt";
$r = get('bob.example', '/robots.txt');
is($r->{status} . ' ' . ($r->{body} // ''), "200 User-agent: *\n", "bob: nginx serves a static file");

# the guide's curl line
my ($curl) = grep { /^curl / } commands($check_sh);
ok($curl, 'the guide has a curl line');
if ($curl) {
    my $c = $curl =~ s{https://bob\.example/}{https://bob.example:$port/}r;
    my ($code, $out) = $t->run_cmd(['sh', '-c', "$c --resolve bob.example:$port:127.0.0.1"], 20);
    like($out, qr/^200 [\d.]+$/, "curl -sk https://bob.example/: 200") or diag("$c: $out");
}

# ---- each pool's processes: their tenant's ids only ----

for my $x (qw(alice bob)) {
    my $u = $ten{$x};
    my @p = procs_of($u->{uid});
    ok(@p >= 1, "$x: processes running") or next;
    my @family = map { $_->[0] } $t->descendants($t->pid);
    my $ids = "$u->{uid}\t$u->{uid}\t$u->{uid}\t$u->{uid}";
    my $gids = "$u->{gid}\t$u->{gid}\t$u->{gid}\t$u->{gid}";
    for my $p (@p) {
        my ($pid, $st) = @$p;
        my %f = $st =~ /^(\w+):\s*(.*?)\s*$/mg;
        ok((grep { $_ == $pid } @family), "$x: $pid is droverd's");
        is("$f{Uid}|$f{Gid}|$f{Groups}", "$ids|$gids|" . ($f{Groups} eq '' ? '' : $u->{gid}),
           "$x: $pid has the tenant's uid, gid and no other group");
        is("$f{NoNewPrivs} $f{CapEff}", '1 0000000000000000', "$x: $pid: NoNewPrivs 1, CapEff 0");
    }
}

# ---- one tenant cannot talk to the other's pool ----

is(fcgi_as(uid => $A->{uid}, gid => $A->{gid}, path => "$run/bob.sock.0") =~ s/:.*//sr, 'refused',
   "alice cannot connect to bob's socket");
is(fcgi_as(uid => $B->{uid}, gid => $B->{gid}, path => "$run/alice.sock") =~ s/:.*//sr, 'refused',
   "bob cannot connect to alice's socket");
my $www = getpwnam('www-data');
like(fcgi_as(uid => $www, gid => scalar getgrnam('www-data'), path => "$run/alice.sock", uri => '/'),
     qr/^served: /, "www-data (nginx) can");

# ---- the sockets, as "What to check on a new host" says ----

my ($code, $ls) = $t->run_cmd(['ls', '-l', $run], 10);
my %mode = map { (split ' ')[8] => $_ } grep { /^s/ } split /\n/, $ls;
for my $s (qw(alice.sock alice.sock.0 alice.sock.1 alice.sock.2 alice.sock.3 status.sock)) {
    like($mode{$s} // '', qr/^srw-rw----\s+\d+\s+\S+\s+www-data\s/, "$s: srw-rw---- with group www-data")
        or diag($ls);
}
for my $s (qw(bob.sock.0 bob.sock.1)) {
    like($mode{$s} // '', qr/^srw-rw----\+\s+\d+\s+\Q$B->{name}\E\s+\Q$B->{name}\E\s/,
         "$s: srw-rw----+ (an ACL), bob's") or diag($ls);
    my ($c, $acl) = $t->run_cmd(['getfacl', '--omit-header', '--absolute-names', "$run/$s"], 10);
    like($acl, qr/^user:www-data:rw-$/m, "$s: the ACL names www-data") or diag($acl);
}
like($mode{'droverd.ctl'} // '', qr/^srw-------\s+\d+\s+root\s+root\s/, 'droverd.ctl: srw------- root\'s')
    or diag($ls);
ok(!exists $mode{'bob.sock'}, 'bob (exec) has only its slot sockets');
ok(keys %mode >= 9 && !grep({ !/^s.{6}---/ } values %mode), 'no socket others can use') or diag($ls);
my @st = stat $run;
is(sprintf('%d %d %04o', @st[4, 5], $st[2] & 07777), '0 0 0755', 'the directory is root\'s');

# ---- droverctl reload bob: only bob's processes are replaced ----

SKIP: {
    skip 'droverctl is not built', 5 unless -x $ctl;
    my ($line) = grep { /^droverctl reload bob/ } commands($check_sh);
    ok($line, 'the guide reloads one tenant');

    my @alice_before = sort map { $_->[0] } procs_of($A->{uid});
    my @bob_before = map { $_->[0] } procs_of($B->{uid});
    my ($c, $out) = $t->run_cmd([$ctl, 'reload', 'bob'], 20);
    is($c, 0, 'droverctl reload bob') or diag($out);
    ok($t->wait_for(sub { !grep { kill 0, $_ } @bob_before }, 20), "bob's old processes go");
    $r = get('bob.example', '/');
    like($r->{body} // '', qr/^uid=$B->{uid} /, 'bob serves after it');
    is_deeply([sort map { $_->[0] } procs_of($A->{uid})], \@alice_before, "alice's processes stay");
}

$t->stop_nginx;
for my $f (glob "$dir/san/*") {
    rename $f, "$dir/" . ($f =~ s{.*/}{}r) or diag("rename $f: $!");
}
$t->done;
