#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# The Debian packages (make deb) installed with apt into a fresh bookworm
# root (mmdebstrap, cached in build/deb-root/): the module is enabled for
# Debian's nginx, droverd starts as its unit says and tells READY=1, the
# example site serves hello over HTTPS, drover-dev builds an app, Debian's
# Apache with libapache2-mod-drover (a2enmod drover) serves hello too, and a
# purge leaves nothing of ours but what policy keeps.  Needs root (chroot,
# mount).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG);
use Socket qw(SOCK_DGRAM);
use Test::More;
use Time::HiRes qw(time sleep);

my $top = abs_path(dirname(abs_path($0)) . '/..');
my $build = $ENV{DROVER_BUILD} || "$top/build";

# t/ runs twice in make test; the packages are built with Debian's flags,
# never with ASan, so the second pass would only repeat the first
plan(skip_all => 'the packages are built with Debian\'s flags, not ASan: '
     . "the normal pass of make test installs them (DROVER_BUILD=$build)")
    if $build =~ m{(^|/)asan/?$};
plan(skip_all => 'installing into a Debian root needs root (chroot, mount)')
    if $> != 0;
plan(skip_all => 'the install test is for Debian 12 (bookworm) hosts')
    unless -r '/etc/debian_version' && slurp('/etc/debian_version') =~ /^12\./;

my $cache = "$top/build/deb-root";
my $root = "$cache/run";
my $log = "$cache/test.log";
my (@pids, $droverd_pid);

make_path($cache);
open(my $logfh, '>', $log) or die "$log: $!";
$logfh->autoflush(1);

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($path, $text) = @_;
    make_path(dirname($path));
    open(my $fh, '>', $path) or die "$path: $!";
    print {$fh} $text;
    close($fh) or die "$path: $!";
}

# run a command (a list), its output into the log; (exit code, output)
sub run {
    my (@cmd) = @_;
    print {$logfh} "\n\$ @cmd\n";
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT) or die;
        open(STDIN, '<', '/dev/null') or die;
        exec(@cmd) or do { print "exec $cmd[0]: $!\n"; POSIX::_exit(127) };
    }
    local $/;
    my $out = <$fh> // '';
    close($fh);
    my $rc = $? >> 8;
    print {$logfh} $out, "(exit $rc)\n";
    return ($rc, $out);
}

# a command inside the root, with a plain environment
sub in_root {
    return run('env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C',
               'DEBIAN_FRONTEND=noninteractive', 'chroot', $root, @_);
}

sub wait_for {
    my ($what, $timeout, $cond) = @_;
    my $deadline = time() + $timeout;
    while (time() < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep(0.1);
    }
    diag("timed out after ${timeout}s waiting for $what");
    return undef;
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "a free port: $!";
    return $s->sockport;
}

# running, and not a zombie
sub alive {
    my ($pid) = @_;
    my $st = eval { slurp("/proc/$pid/status") } // return 0;
    return $st !~ /^State:\s+Z/m;
}

# stop a process we started, by its pid: TERM (or SIG), then KILL
sub stop_pid {
    my ($pid, $sig) = @_;
    return 1 unless -e "/proc/$pid";
    kill($sig // 'TERM', $pid);
    my $gone = wait_for("pid $pid to exit", 15, sub {
        waitpid($pid, WNOHANG);
        return !alive($pid);
    });
    return 1 if $gone;
    kill('KILL', $pid);
    waitpid($pid, 0);
    return 0;
}

# processes whose root directory is inside $root (ours, started there)
sub root_pids {
    my @found;
    for my $dir (glob('/proc/[0-9]*')) {
        my $r = readlink("$dir/root") // next;
        push @found, $dir =~ s{/proc/}{}r if $r eq $root || index($r, "$root/") == 0;
    }
    return @found;
}

sub cleanup {
    stop_pid($_) for grep { -e "/proc/$_" } @pids;
    # anything else still running in the root was started by us there
    for my $pid (root_pids()) {
        diag("still running in the root: pid $pid, stopping it");
        stop_pid($pid, 'KILL');
    }
    unmount_all();
}

# every mount below $root (proc, and anything a package made), deepest first
sub unmount_all {
    my @mounts = grep { $_ eq $root || index($_, "$root/") == 0 }
                 map { (split ' ')[1] } split(/\n/, slurp('/proc/mounts'));
    for my $m (sort { length($b) <=> length($a) } @mounts) {
        system('umount', $m) == 0 or system('umount', '-l', $m);
    }
}

END {
    my $rc = $?;
    cleanup() if -d $root;
    $? = $rc;
}

# ---- the root: a fresh bookworm from this machine's Debian sources ----

sub debian_sources {
    my @files = grep { -f } ('/etc/apt/sources.list',
                             glob('/etc/apt/sources.list.d/*.list'),
                             glob('/etc/apt/sources.list.d/*.sources'));
    # only Debian's own: other repositories are not for the root
    return grep { slurp($_) =~ /^[^#]*(^|\s)bookworm(-\w+)?(\s|$)/m } @files;
}

my $tar = "$cache/bookworm.tar";
if (-f $tar && -M $tar > 7) {
    unlink($tar);   # a week old: security updates make its apt lists stale
}
if (!-f $tar) {
    my @sources = debian_sources();
    my $why;
    if (!grep { -x "$_/mmdebstrap" } split(/:/, $ENV{PATH} // '/usr/bin')) {
        $why = 'mmdebstrap is not installed (apt-get install mmdebstrap)';
    } elsif (!@sources) {
        $why = 'no bookworm entry in /etc/apt/sources.list{,.d}';
    } else {
        # the tools the test uses inside, and the packages our Depends will
        # want downloaded now (installed only if the Depends ask for them)
        my ($mrc, $mout) = run(
            'mmdebstrap', '--variant=minbase', '--mode=root', '--format=tar',
            '--skip=cleanup/apt',
            '--include=curl,openssl,gcc,libc6-dev,make,pkgconf',
            '--customize-hook=chroot "$1" apt-get install --download-only '
                . '-y -q nginx apache2 libuv1 libjson-c5 systemd',
            'bookworm', "$tar.new", @sources);
        if ($mrc == 0) {
            rename("$tar.new", $tar) or die "$tar: $!";
        } else {
            unlink("$tar.new");
            my @last = (split /\n/, $mout)[-3 .. -1];
            $why = 'mmdebstrap could not make a bookworm root: '
                . join(' / ', grep { defined } @last);
        }
    }
    if ($why) {
        diag("$why (log: $log)");
        plan(skip_all => $why);
    }
}

# ---- the packages ----

my ($deb_rc) = run('make', '-C', $top, '--no-print-directory', 'deb');
is($deb_rc, 0, 'make deb builds the packages and lintian passes them')
    or BAIL_OUT("make deb failed: see $log");
my $version = (run('dpkg-parsechangelog', '-l', "$top/debian/changelog",
                   '-S', 'Version'))[1];
chomp($version);
my @debs = map { glob("$top/build/deb/${_}_${version}_*.deb") }
           qw(libnginx-mod-http-drover libapache2-mod-drover droverd drover-dev);
is(scalar @debs, 4, 'four packages: ' . join(' ', map { s{.*/}{}r } @debs));

my ($rc, $out);
unmount_all() if -d $root;
system('rm', '-rf', '--one-file-system', $root) == 0 or die "rm $root";
make_path($root);
($rc) = run('tar', '-C', $root, '-xf', $tar);
is($rc, 0, "a fresh root from $tar") or BAIL_OUT("tar: see $log");

system('mount', '-t', 'proc', 'proc', "$root/proc") == 0
    or BAIL_OUT("cannot mount proc in $root");
# no service starts in the root: maintainer scripts' invoke-rc.d is refused
spew("$root/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n");
chmod(0755, "$root/usr/sbin/policy-rc.d");

make_path("$root/tmp/debs");
system('cp', @debs, "$root/tmp/debs/") == 0 or die 'cp debs';

# ---- install: apt resolves our Depends (nginx through nginx-abi,
# apache2-bin through apache2-api, libuv1, libjson-c5, systemd for sysusers);
# apache2 (a2enmod, the stock configuration) is the admin's choice, as with
# Debian's own libapache2-mod-* (a root made before it was in the download
# list above fetches it from the archive) ----

($rc, $out) = in_root('apt-get', 'install', '-y', '-q', '--no-install-recommends',
                      (map { s{.*/}{/tmp/debs/}r } @debs), 'apache2');
is($rc, 0, 'apt-get installs the four packages, their Depends and apache2')
    or BAIL_OUT("apt-get install failed: see $log");

# the module is tied to the ABI of the nginx it was built for: the nginx
# apt installed provides it, and a module asking for another is refused
my ($mod_deb) = grep { m{/libnginx-mod-http-drover_} } @debs;
my ($abi) = `dpkg-deb -f '$mod_deb' Depends` =~ /\b(nginx-abi-[\w.+~-]+)/;
ok($abi, 'the module depends on an nginx ABI (' . ($abi // 'none') . ')');
(undef, $out) = in_root('dpkg-query', '-W', '-f', '${Provides}', 'nginx');
my $abi_re = quotemeta($abi // 'none');
like($out, qr/(?:^|[ ,])$abi_re(?:[ ,]|$)/,
     'the nginx apt installed provides that ABI');
my $other = "$root/tmp/other-abi";
(run('dpkg-deb', '-R', $mod_deb, $other))[0] == 0 or die 'dpkg-deb -R';
my $control = slurp("$other/DEBIAN/control");
$control =~ s/nginx-abi-[\w.+~-]+/nginx-abi-0.0.1-1/;
spew("$other/DEBIAN/control", $control);
(run('dpkg-deb', '-b', $other, "$root/tmp/other-abi.deb"))[0] == 0
    or die 'dpkg-deb -b';
($rc, $out) = in_root('apt-get', 'install', '-s', '/tmp/other-abi.deb');
isnt($rc, 0, 'apt refuses the module built for another nginx ABI');
like($out, qr/nginx-abi-0\.0\.1-1/, 'and names the missing ABI');

my $link = "$root/etc/nginx/modules-enabled/50-mod-http-drover.conf";
is(readlink($link), '/usr/share/nginx/modules-available/mod-http-drover.conf',
   'the module is enabled in /etc/nginx/modules-enabled');
like(slurp("$root/usr/share/nginx/modules-available/mod-http-drover.conf"),
     qr{^load_module modules/ngx_http_drover_module\.so;$}m,
     'its snippet loads ngx_http_drover_module.so');
my ($passwd) = grep { /^drover:/ } split(/\n/, slurp("$root/etc/passwd"));
ok($passwd, 'sysusers made the system user drover')
    or BAIL_OUT('no user drover');
my $drover_uid = (split(/:/, $passwd))[2];
cmp_ok($drover_uid, '<', 1000, "drover is a system user (uid $drover_uid)");
ok(-d "$root/run/drover", 'tmpfiles made /run/drover');

# mod_drover: tied to the Apache module API it was built for (dh_apache2's
# apache2-api-YYYYMMDD, which apache2-bin provides), enabled on install
my ($apache_deb) = grep { m{/libapache2-mod-drover_} } @debs;
my ($api) = `dpkg-deb -f '$apache_deb' Depends` =~ /\b(apache2-api-\d{8})\b/;
ok($api, 'mod_drover depends on an Apache module API (' . ($api // 'none') . ')');
(undef, $out) = in_root('dpkg-query', '-W', '-f', '${Provides}', 'apache2-bin');
my $api_re = quotemeta($api // 'none');
like($out, qr/(?:^|[ ,])$api_re(?:[ ,]|$)/,
     'the apache2-bin apt installed provides that API');
ok(-f "$root/usr/lib/apache2/modules/mod_drover.so",
   'mod_drover.so is in /usr/lib/apache2/modules');
like(slurp("$root/etc/apache2/mods-available/drover.load"),
     qr{^LoadModule drover_module /usr/lib/apache2/modules/mod_drover\.so$}m,
     'drover.load loads it');
is(readlink("$root/etc/apache2/mods-enabled/drover.load"),
   '../mods-available/drover.load', 'the package enabled it on install');
($rc, $out) = in_root('a2dismod', '-q', 'drover');
is($rc, 0, 'a2dismod drover') or diag($out);
ok(!-e "$root/etc/apache2/mods-enabled/drover.load", 'disables it');
($rc, $out) = in_root('a2enmod', 'drover');
is($rc, 0, 'a2enmod drover') or diag($out);
ok(-l "$root/etc/apache2/mods-enabled/drover.load"
   && -l "$root/etc/apache2/mods-enabled/drover.conf",
   'enables it again: drover.load and drover.conf in mods-enabled');

# ---- configure as an admin would (docs/install.md) ----

my ($https, $http, $plain) = (free_port(), free_port(), free_port());
my $conf_d = "$root/etc/drover/conf.d";
system('cp', "$conf_d/hello.conf.example", "$conf_d/hello.conf") == 0
    or die 'cp hello.conf';

# drover-dev's example, built with pkg-config, as a second pool
in_root('cp', '-r', '/usr/share/doc/drover-dev/examples', '/srv/ex');
($rc, $out) = in_root('make', '-C', '/srv/ex');
is($rc, 0, 'drover-dev\'s example builds with its Makefile (pkg-config drover)');
my ($pcrc, $pcver) = in_root('pkg-config', '--modversion', 'drover');
is($pcver, "$version\n", "pkg-config knows drover $version");
ok(-f "$root/srv/ex/hello.so", 'the example built /srv/ex/hello.so');
spew("$conf_d/ex.conf", <<'EOF');
pool ex {
    app     /srv/ex/hello.so;
    listen  unix:/run/drover/ex.sock mode=0660 group=www-data;
    user    drover;
    workers 1;
}
EOF

# the example site, as shipped, on free ports, with a certificate made here
my $site = slurp("$root/usr/share/doc/libnginx-mod-http-drover/examples/"
                 . 'drover-site.conf');
$site =~ s/^(\s*listen\s+(?:\[::\]:)?)443\b/$1$https/mg;
$site =~ s/^(\s*listen\s+(?:\[::\]:)?)80\b/$1$http/mg;
$site =~ s/^\s*listen\s+\[::\].*\n//mg unless -s '/proc/net/if_inet6';
spew("$root/etc/nginx/sites-available/drover", $site);
symlink('../sites-available/drover', "$root/etc/nginx/sites-enabled/drover")
    or die "symlink: $!";
# the stock default site listens on port 80: not on this shared machine
unlink("$root/etc/nginx/sites-enabled/default");
make_path("$root/etc/ssl/private");
($rc) = run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
            '-days', '2', '-subj', '/CN=localhost',
            '-keyout', "$root/etc/ssl/private/ssl-cert-snakeoil.key",
            '-out', "$root/etc/ssl/certs/ssl-cert-snakeoil.pem");
is($rc, 0, 'a certificate for the site');
# the drover-dev example's pool, on a plain port of a test server
spew("$root/etc/nginx/conf.d/drover-ex.conf", <<"EOF");
server {
    listen 127.0.0.1:$plain;
    location / { drover_pass unix:/run/drover/ex.sock; }
}
EOF

# ---- droverd, started as its unit's ExecStartPre and ExecStart say ----

my $unit = slurp("$root/lib/systemd/system/droverd.service");
my ($pre) = $unit =~ /^ExecStartPre=(.*)$/m;
my ($start) = $unit =~ /^ExecStart=(.*)$/m;
ok($pre && $start, "the unit's ExecStartPre ($pre) and ExecStart ($start)");
like($unit, qr/^Type=notify$/m, 'the unit is Type=notify');

($rc, $out) = in_root(split(' ', $pre));
is($rc, 0, 'ExecStartPre: droverd -t passes on the packaged config');

# systemd's part: the notify socket (a path inside the root), the runtime
# directory's variable
my $notify_path = '/run/test-notify.sock';
unlink("$root$notify_path");
my $notify = IO::Socket::UNIX->new(Type => SOCK_DGRAM,
                                   Local => "$root$notify_path")
    or die "notify socket: $!";
open(my $dlog, '>', "$cache/droverd.log") or die "droverd.log: $!";
$droverd_pid = fork() // die "fork: $!";
if ($droverd_pid == 0) {
    open(STDOUT, '>&', $dlog) or die;
    open(STDERR, '>&', $dlog) or die;
    open(STDIN, '<', '/dev/null') or die;
    chroot($root) or die "chroot: $!";
    chdir('/') or die;
    %ENV = (PATH => '/usr/sbin:/usr/bin:/sbin:/bin', LANG => 'C',
            NOTIFY_SOCKET => $notify_path, RUNTIME_DIRECTORY => '/run/drover');
    my @argv = split(' ', $start);
    exec(@argv) or die "exec $argv[0]: $!";
}
push @pids, $droverd_pid;

my $said = '';
my $ready = wait_for('READY=1 on the notify socket', 30, sub {
    my $sel = IO::Select->new($notify);
    while ($sel->can_read(0.1)) {
        my $msg;
        $notify->recv($msg, 4096) // last;
        $said .= "$msg\n";
    }
    return $said =~ /^READY=1$/m;
});
ok($ready, 'droverd says READY=1 on NOTIFY_SOCKET')
    or diag("notify messages: $said; droverd's log: "
            . slurp("$cache/droverd.log"));

# ---- nginx: Debian's stock nginx.conf with the module and the site ----

($rc, $out) = in_root('nginx', '-t');
is($rc, 0, 'nginx -t passes: stock nginx.conf, the module, the example site')
    or diag($out);
($rc, $out) = in_root('nginx');
is($rc, 0, 'nginx starts') or diag($out);
my $nginx_pid = wait_for('/run/nginx.pid', 10, sub {
    my $p = -s "$root/run/nginx.pid" ? slurp("$root/run/nginx.pid") : '';
    return $p =~ /^(\d+)/ ? $1 : undef;
});
push @pids, $nginx_pid if $nginx_pid;
ok($nginx_pid, "nginx's master is running (pid " . ($nginx_pid // '?') . ')');

sub curl {
    my (@args) = @_;
    my ($c, $o) = run('curl', '-sk', '--max-time', '10', @args);
    return $c == 0 ? $o : undef;
}

my $body = wait_for('hello over HTTPS', 15, sub {
    curl("https://127.0.0.1:$https/");
});
is($body, "hello\n", "curl -k https://127.0.0.1:$https/ gets hello from the packaged app");
is(curl('--http2', '-o', '/dev/null', '-w', '%{http_version}',
        "https://127.0.0.1:$https/"), '2', 'over HTTP/2');
is(curl('--tlsv1.3', '-o', '/dev/null', '-w', '%{http_code}',
        "https://127.0.0.1:$https/"), '200', 'TLS 1.3 is accepted');
is(curl('--tlsv1.2', '--tls-max', '1.2', '-o', '/dev/null', '-w',
        '%{http_code}', "https://127.0.0.1:$https/"), '200',
   'TLS 1.2 is accepted');
ok(!defined curl('--tlsv1.1', '--tls-max', '1.1',
                 "https://127.0.0.1:$https/"), 'TLS 1.1 is refused');
like(curl('-o', '/dev/null', '-w', '%{http_code} %{redirect_url}',
          "http://127.0.0.1:$http/a?b"),
     qr{^301 https://127\.0\.0\.1/a\?b$}, 'port 80 redirects to https');
like(curl("https://127.0.0.1:$https/drover-status") // '', qr/\bhello\b/,
   'the status page answers localhost, and shows the pool');
is(curl('--interface', '127.0.0.2', '-o', '/dev/null', '-w', '%{http_code}',
        "https://127.0.0.1:$https/drover-status"), '403',
   'the status page is refused to another address (127.0.0.2)');
is(wait_for('the drover-dev example', 15, sub { curl("http://127.0.0.1:$plain/") }),
   "hello\n", 'the app built from drover-dev\'s example loads and answers');

# ---- Apache: Debian's stock apache2.conf, the module, a site passing to the
# packaged hello pool (docs/install.md), on a free port of 127.0.0.1 ----

my $aport = free_port();
spew("$root/etc/apache2/ports.conf", "Listen 127.0.0.1:$aport\n");
spew("$root/etc/apache2/sites-available/drover.conf", <<"EOF");
<VirtualHost 127.0.0.1:$aport>
    ServerName localhost
    DroverPass unix:/run/drover/hello.sock
    <Location "/drover-status">
        SetHandler drover-status
        Require local
    </Location>
</VirtualHost>
EOF
# the stock default site is for port 80
($rc, $out) = in_root('a2dissite', '-q', '000-default');
is($rc, 0, 'a2dissite 000-default') or diag($out);
($rc, $out) = in_root('a2ensite', '-q', 'drover');
is($rc, 0, 'a2ensite drover') or diag($out);
# apache2ctl also makes /run/apache2 and /run/lock/apache2, as at boot
($rc, $out) = in_root('apache2ctl', 'configtest');
is($rc, 0, 'apache2ctl configtest: stock apache2.conf, mod_drover, the site')
    or diag($out);

# in the foreground, as apache2.service's apachectl start would run it
my $apache_pid = fork() // die "fork: $!";
if ($apache_pid == 0) {
    open(STDOUT, '>', "$cache/apache.log") or die;
    open(STDERR, '>&', \*STDOUT) or die;
    open(STDIN, '<', '/dev/null') or die;
    chroot($root) or die "chroot: $!";
    chdir('/') or die;
    %ENV = (PATH => '/usr/sbin:/usr/bin:/sbin:/bin');
    exec('/bin/sh', '-c', '. /etc/apache2/envvars && exec apache2 -DFOREGROUND')
        or die "exec sh: $!";
}
push @pids, $apache_pid;
is(wait_for('hello through Apache', 15, sub {
       curl("http://127.0.0.1:$aport/");
   }), "hello\n",
   "Apache with mod_drover: http://127.0.0.1:$aport/ gets hello from the packaged pool");
like(curl("http://127.0.0.1:$aport/drover-status?format=json") // '',
     qr{"socket":"/run/drover/hello\.sock","dispatch":true},
     'its drover-status counts the pool, dispatched to the slots');
ok(alive($apache_pid), "Apache runs as the pid the test started ($apache_pid)");

# ---- droverctl and the workers ----

($rc, $out) = in_root('droverctl', 'status');
is($rc, 0, 'droverctl status exits 0');
like($out, qr/\bhello\b/, 'droverctl status shows the pool hello');
like($out, qr/\bex\b/, 'and the pool ex');

my @kids;
for my $dir (glob('/proc/[0-9]*')) {
    my $st = eval { slurp("$dir/status") } // next;
    next unless $st =~ /^PPid:\s+$droverd_pid$/m;
    my ($uids) = $st =~ /^Uid:\s+(.*)$/m;
    push @kids, [$dir =~ s{/proc/}{}r, [split(' ', $uids)]];
}
cmp_ok(scalar @kids, '>=', 3,
       'droverd has its preloaders and workers (' . scalar(@kids) . ')');
is(scalar(grep { grep { $_ != $drover_uid } @{$_->[1]} } @kids), 0,
   "every one of them runs as drover (uid $drover_uid), none as root");

# ---- stop, as systemd would: SIGTERM to droverd, QUIT to nginx ----

ok(stop_pid($nginx_pid, 'QUIT'), 'nginx stops') if $nginx_pid;
ok(stop_pid($apache_pid, 'TERM'), 'Apache stops');
ok(stop_pid($droverd_pid, 'TERM'), 'droverd stops on SIGTERM');
ok(wait_for('the workers to exit', 15, sub { !root_pids() }),
   'nothing of ours runs in the root any more');
unlike(slurp("$cache/droverd.log"), qr/\[(alert|emerg|crit)\]/,
       "droverd's log has no alert, emerg or crit line");
unlike(slurp("$root/var/log/nginx/error.log"), qr/\[(alert|emerg|crit)\]/,
       "nginx's error log has none either");
unlike(slurp("$root/var/log/apache2/error.log"), qr/:(alert|emerg|crit)\]/,
       "nor Apache's");

# ---- purge ----

my %ours;
for my $pkg (qw(libnginx-mod-http-drover libapache2-mod-drover droverd drover-dev)) {
    my (undef, $list) = in_root('dpkg-query', '-L', $pkg);
    $ours{$_} = 1 for grep { m{^/} && $_ ne '/.' } split(/\n/, $list);
}
$ours{'/etc/nginx/modules-enabled/50-mod-http-drover.conf'} = 1;
$ours{"/etc/apache2/mods-enabled/drover.$_"} = 1 for qw(load conf);

# the admin disables the site first: nginx without the module would refuse it
# (and Apache without it a site that uses DroverPass)
unlink("$root/etc/nginx/sites-enabled/drover", "$root/etc/nginx/conf.d/drover-ex.conf");
in_root('a2dissite', '-q', 'drover');
($rc, $out) = in_root('apt-get', 'purge', '-y', '-q', 'libnginx-mod-http-drover',
                      'libapache2-mod-drover', 'droverd', 'drover-dev');
is($rc, 0, 'apt-get purge removes the four packages');

# what policy keeps: files the admin made (the enabled pools), so their
# directories; and directories other packages still own (/usr/share/doc, ...)
my %admin = map { $_ => 1 } ('/etc/drover/conf.d/hello.conf',
                             '/etc/drover/conf.d/ex.conf');
my @left;
for my $path (sort keys %ours) {
    next unless -e "$root$path" || -l "$root$path";
    # merged /usr: /lib and the like are the system's links to /usr/lib
    next if -l "$root$path" && -d "$root$path";
    if (-d "$root$path" && !-l "$root$path") {
        next if grep { index($_, "$path/") == 0 } keys %admin;
        my ($owned) = in_root('dpkg-query', '-S', $path);
        next if $owned == 0;
    }
    next if $admin{$path};
    push @left, $path;
}
is_deeply(\@left, [], 'the purge leaves no file of ours but the admin\'s pools')
    or diag("left: @left");
ok(!-e "$root/etc/nginx/modules-enabled/50-mod-http-drover.conf.removed",
   'and no .removed module link');
ok(-f "$root$_", "policy keeps the admin's $_") for sort keys %admin;
($rc, $out) = in_root('nginx', '-t');
is($rc, 0, 'nginx -t still passes after the purge') or diag($out);
($rc, $out) = in_root('apache2ctl', 'configtest');
is($rc, 0, 'and apache2ctl configtest') or diag($out);

cleanup();
system('rm', '-rf', '--one-file-system', $root) unless $ENV{DROVER_TEST_KEEP};
ok(!grep({ index((split ' ')[1], $root) == 0 } split(/\n/, slurp('/proc/mounts'))),
   'no mount is left under the root');

done_testing();
