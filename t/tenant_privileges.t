#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A pool's processes drop to its user in the safe order (docs/security.md):
# with a tenant user this test creates (useradd), its preloader, workers
# (preload on and off) and prestart command hold exactly the user's uid,
# gid and supplementary groups (none of droverd's own), cannot get root or
# group root back, run with no_new_privs, not dumpable, the pool's rlimits,
# umask and working_dir, and a file they write is the user's.  `min_uid`
# refuses a system user; a missing working_dir, or one the user cannot
# reach, is refused by -t and at start.  droverd still reads the workers'
# memory as root.

use strict;
use warnings;

use Test::More;
use JSON::PP qw(decode_json);

use Drover::Test;

my $t = Drover::Test->new;

plan skip_all => 'needs root (useradd, and droverd switches users only as root)'
    unless Drover::Test::is_root();
plan skip_all => 'apps/privprobe.so is not built (run make)'
    unless -r $t->app('privprobe');
plan skip_all => 'needs useradd, groupadd, userdel and groupdel'
    unless grep({ -x "$_/useradd" } qw(/usr/sbin /sbin))
        && grep({ -x "$_/groupdel" } qw(/usr/sbin /sbin));

$t->has(qw(droverd));
my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';

# ---- the tenant: its own group and one supplementary group; droverd
# holds a third group the tenant must not get ----

my $id = $$ % 1000000;
my $user = "drvt_priv_$id";
my $supp = "drvt_privs_$id";
my $other = "drvt_privo_$id";
my (@made_users, @made_groups);

END {
    system('userdel', $_) for @made_users;
    for my $g (@made_groups) {
        system("groupdel $g 2>/dev/null") if defined getgrnam($g);
    }
}

for my $g ($supp, $other) {
    is(system('groupadd', $g), 0, "groupadd $g") or BAIL_OUT("groupadd $g");
    push @made_groups, $g;
}

is(system('useradd', '-M', '-U', '-G', $supp, '-s', '/usr/sbin/nologin',
          '-d', '/nonexistent', $user), 0, "useradd $user")
    or BAIL_OUT("useradd $user");
push @made_users, $user;
push @made_groups, $user;   # its own group, should userdel leave it

my (undef, undef, $uid, $gid) = getpwnam($user);
my $supp_gid = getgrnam($supp);
my $other_gid = getgrnam($other);
cmp_ok($uid, '>=', 1000, "the tenant's uid $uid is a regular user's");

my $home = "$dir/home";
mkdir $home, 0750 or die "mkdir $home: $!";
chown $uid, $gid, $home or die "chown $home: $!";

# "KEY VALUE" lines of privprobe's report
sub report {
    my (%a) = @_;
    my $r = $t->get('/', %a);
    return {} unless $r->{complete} && $r->{status} == 200;
    my %h;
    for (split /\n/, $r->{body}) {
        my ($k, $v) = split / /, $_, 2;
        $h{$k} = $v // '' unless $k eq 'env';
    }
    return \%h;
}

sub proc_status {
    my ($pid) = @_;
    my $status = $t->read_file("/proc/$pid/status");
    return { map { /^(\w+):\s*(.*)$/ ? ($1 => $2) : () } split /\n/, $status };
}

$t->write_conf(<<"EOF");
control unix:%%DIR%%/ctl.sock;

pool on {
    app          %%APPS%%/privprobe.so;
    listen       unix:%%DIR%%/on.sock;
    workers      2;
    user         $user;
    working_dir  $home;
    umask        0077;
    rlimit_files 512;
    rlimit_nproc 200;
    prestart     /bin/sh -c "pwd; id -u; id -G; umask; grep NoNewPrivs /proc/self/status";
}

pool off {
    app          %%APPS%%/privprobe.so;
    listen       unix:%%DIR%%/off.sock;
    workers      1;
    preload      off;
    user         $user;
}
EOF

my ($code, $out) = $t->droverd_cmd('-t', '-c', $t->conf_path);
is($code, 0, 'droverd -t accepts the tenant pools') or diag($out);

# droverd itself runs with a supplementary group of its own
{
    local $) = "0 0 $other_gid";
    $t->run;
}
ok($t->alive, 'droverd starts');
like(proc_status($t->pid)->{Groups} // '', qr/(^|\s)$other_gid(\s|$)/,
     "droverd holds group $other ($other_gid)");

my %want = map { $_ => 1 } $gid, $supp_gid;
my $want_groups = join ' ', sort { $a <=> $b } keys %want;

for my $case (['on', 0], ['on', 1], ['off', 0]) {
    my ($pool, $k) = @$case;
    my $who = "pool $pool worker $k";
    my $r = report(slot => $k, pool => $pool);

    ok($r->{pid}, "$who: reports") or next;

    is($r->{uid}, "$uid $uid $uid", "$who: uid $uid, real, effective and saved");
    is($r->{gid}, "$gid $gid $gid", "$who: gid $gid, all three");
    is($r->{groups}, $want_groups,
       "$who: exactly the user's groups ($want_groups), not droverd's $other_gid");
    is($r->{no_new_privs}, 1, "$who: no_new_privs");
    is($r->{dumpable}, 0, "$who: not dumpable");
    is($r->{core}, '0 0', "$who: rlimit_core 0 by default, soft and hard");
    is($r->{$_}, 'EPERM', "$who: $_ fails with EPERM")
        for qw(setuid0 seteuid0 setgid0 setgroups0);

    if ($pool eq 'on') {
        is($r->{nofile}, '512 512', "$who: rlimit_files 512");
        is($r->{nproc}, '200 200', "$who: rlimit_nproc 200");
        is($r->{umask}, '0077', "$who: umask 0077");
        is($r->{cwd}, $home, "$who: working_dir");
    } else {
        is($r->{umask}, '0027', "$who: umask 0027 by default");
        is($r->{cwd}, '/', "$who: working_dir / by default");
    }
}

# the same from outside, for the preloader too
my @family = map { $_->[0] } $t->family;
cmp_ok(scalar @family, '>=', 4, 'a preloader and three workers to look at');

for my $pid (@family) {
    my $s = proc_status($pid);
    next unless %$s;
    is($s->{Uid}, join("\t", ($uid) x 4), "process $pid: uid $uid, all four");
    is($s->{Gid}, join("\t", ($gid) x 4), "process $pid: gid $gid, all four");
    is(join(' ', sort { $a <=> $b } split ' ', $s->{Groups} // ''), $want_groups,
       "process $pid: groups $want_groups");
    is($s->{NoNewPrivs}, 1, "process $pid: NoNewPrivs 1");
    is($s->{CapEff}, '0000000000000000', "process $pid: no effective capability");
    is($s->{CapPrm}, '0000000000000000', "process $pid: no permitted capability");
    # (the directory /proc/PID keeps the task's uid whatever its dumpable)
    is((stat "/proc/$pid/environ")[4], 0, "process $pid: not dumpable, /proc/$pid/environ is root's");
}

# the prestart command: the same user, groups, working_dir, umask (its
# stdout is logged as "pool on: prestart /bin/sh: LINE")
my @pre = map { m{pool on: prestart /bin/sh: (.*)$} ? $1 : () } split /\n/, $t->log;
is($pre[0], $home, 'prestart: in working_dir') or diag($t->log);
is($pre[1], $uid, "prestart: as uid $uid");
is(join(' ', sort { $a <=> $b } keys %{ { map { $_ => 1 } split ' ', $pre[2] // '' } }),
   $want_groups, "prestart: groups $want_groups");
is($pre[3], '0077', 'prestart: umask 0077');
like($pre[4] // '', qr/^NoNewPrivs:\s*1$/, 'prestart: no_new_privs');

# a file it writes is the user's, with the pool's umask
my $r = $t->get("/write?path=$home/written", pool => 'on', slot => 0);
is($r->{status}, 200, 'the app writes a file in working_dir') or diag($r->{body});
my @st = stat "$home/written";
is($st[4], $uid, "the file's owner is $user");
is($st[5], $gid, "its group is ${user}'s");
is(($st[2] // 0) & 07777, 0600, 'its mode is 0666 less umask 0077');

# droverd, as root, still reads the memory of its non-dumpable workers
SKIP: {
    skip 'droverctl is not built', 2 unless -x $ctl;

    my $uss;
    ok($t->wait_for(sub {
        my ($c, $o) = $t->run_cmd([$ctl, '-s', "$dir/ctl.sock", '--json', 'status'], 10);
        my $st = $c == 0 ? eval { decode_json($o) } : undef;
        my ($p) = grep { ($_->{name} // '') eq 'on' } @{ $st->{pools} || [] };
        my @w = @{ $p->{workers_detail} || [] };
        $uss = (@w == 2 && !grep { !$_->{uss_bytes} } @w) ? $w[0]{uss_bytes} : undef;
        return defined $uss;
    }, 15), 'droverd reads the USS of both workers (smaps_rollup, as root)');
    cmp_ok($uss // 0, '>', 0, 'a USS above 0');
}

$t->stop;

# ---- no_new_privs off, another rlimit_core ----

$t->write_conf(<<"EOF");
pool nnp {
    app          %%APPS%%/privprobe.so;
    listen       unix:%%DIR%%/nnp.sock;
    workers      1;
    user         $user;
    no_new_privs off;
    rlimit_core  16M;
}
EOF
$t->run;
$r = report(slot => 0, pool => 'nnp');
is($r->{no_new_privs}, 0, 'no_new_privs off: the worker may run a setuid program');
is($r->{core}, (16 << 20) . ' ' . (16 << 20), 'rlimit_core 16M');
is($r->{dumpable}, 0, 'still not dumpable');
$t->stop;

# ---- refused: by -t and at start, FILE:LINE and why ----

sub refused {
    my ($what, $conf, $line, $re) = @_;

    $t->write_conf($conf, 'refused.conf');
    my $path = $t->conf_path;

    my ($c, $o) = $t->droverd_cmd('-t', '-c', $path);
    is($c, 1, "$what: droverd -t exits 1");
    like($o, qr/^\Q$path\E:$line: $re/m, "$what: -t says $path:$line and why") or diag($o);

    ($c, $o) = $t->run_cmd([$t->droverd, '-c', $path], 20);
    is($c, 1, "$what: droverd does not start");
    like($o, qr/\Q$path\E:$line: $re/, "$what: and says why") or diag($o);
}

my $sys = (getpwnam('daemon'))[2];
SKIP: {
    skip 'no system user daemon', 5 unless defined $sys && $sys > 0 && $sys < 1000;

    refused('a system user', <<'EOF', 4, qr/pool "sys" would run as user "daemon" \(uid $sys\), below min_uid 1000: .*lower "min_uid"/);
pool sys {
    app    %%APPS%%/privprobe.so;
    listen unix:%%DIR%%/sys.sock;
    user   daemon;
}
EOF

    $t->write_conf(<<'EOF', 'sys.conf');
min_uid 1;
pool sys {
    app    %%APPS%%/privprobe.so;
    listen unix:%%DIR%%/sys.sock;
    user   daemon;
}
EOF
    ($code, $out) = $t->droverd_cmd('-t', '-c', $t->conf_path);
    is($code, 0, 'min_uid 1: the system user is allowed') or diag($out);
}

refused('min_uid after a pool', <<"EOF", 6, qr/"min_uid" must come before the first pool/);
pool late {
    app    %%APPS%%/privprobe.so;
    listen unix:%%DIR%%/late.sock;
    user   $user;
}
min_uid 500;
EOF

refused('a missing working_dir', <<"EOF", 5, qr/working_dir "\Q$dir\E\/nope" of pool "wd": No such file or directory/);
pool wd {
    app         %%APPS%%/privprobe.so;
    listen      unix:%%DIR%%/wd.sock;
    user        $user;
    working_dir %%DIR%%/nope;
}
EOF

refused('a bad umask', <<"EOF", 5, qr/"umask" needs an octal mode/);
pool um {
    app    %%APPS%%/privprobe.so;
    listen unix:%%DIR%%/um.sock;
    user   $user;
    umask  0999;
}
EOF

# a directory root reaches but the user cannot: refused (-t runs the app
# check as the user), never a cwd the user could not have reached itself
my $locked = "$dir/locked";
mkdir $locked, 0700 or die "mkdir $locked: $!";
mkdir "$locked/inner", 0755 or die "mkdir $locked/inner: $!";

refused('a working_dir the user cannot reach', <<"EOF", 1, qr/pool "locked": user $uid cannot reach working_dir \Q$locked\E\/inner: Permission denied/);
pool locked {
    app         %%APPS%%/privprobe.so;
    listen      unix:%%DIR%%/locked.sock;
    workers     1;
    user        $user;
    working_dir $locked/inner;
}
EOF

$t->done;
