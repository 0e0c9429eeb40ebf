#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Group root is root too: `group root`, `group 0`, and a user who is a
# member of group root are refused like `user root`, by `droverd -t` and at
# start, with FILE:LINE and the fix.  A pool that starts holds no gid 0 in
# its preloader or its workers, as real, effective or supplementary group,
# has no capability and runs with no_new_privs.  `min_uid 0` does not let
# a pool run as root.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));

plan skip_all => 'needs root (droverd switches to the pool\'s user only as root)'
    unless Drover::Test::is_root();

my $dir = $t->dir;

sub pool_conf {
    my ($lines) = @_;
    return <<"EOF";
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
$lines}
EOF
}

# -t and a start both refuse $conf: exit 1 and the message at FILE:LINE
sub refused {
    my ($what, $conf, $line, $re, @wrap) = @_;

    $t->write_conf($conf, 'refused.conf');
    my $path = $t->conf_path;

    my ($code, $out) = $t->run_cmd([@wrap, $t->droverd, '-t', '-c', $path]);
    is($code, 1, "$what: droverd -t exits 1");
    like($out, qr/^\Q$path\E:$line: $re/m, "$what: -t says $path:$line and why") or diag($out);

    ($code, $out) = $t->run_cmd([@wrap, $t->droverd, '-c', $path], 20);
    is($code, 1, "$what: droverd does not start");
    like($out, qr/\Q$path\E:$line: $re/, "$what: and says why") or diag($out);
    ok(!-e "$dir/kit.sock", "$what: no socket was created");
}

refused('group root', pool_conf("    user nobody;\n    group root;\n"), 6,
        qr/pool "kit" would run with group root \("group root"\): use an unprivileged group$/m);

refused('group 0', pool_conf("    group 0;\n    user nobody;\n"), 5,
        qr/pool "kit" would run with group root \("group 0"\)/);

refused('user root under min_uid 0', "min_uid 0;\n" . pool_conf("    user root;\n"), 6,
        qr/pool "kit" would run as root \("user root"\): use an unprivileged user$/m);

# a member of group root: in a mount namespace of its own, droverd sees an
# /etc/group where nobody is one (the host's stays as it is)
SKIP: {
    my $unshare = (grep { -x "$_/unshare" } qw(/usr/bin /bin))[0];
    skip 'no unshare(1)', 10 unless $unshare;

    my ($code) = $t->run_cmd(["$unshare/unshare", '--mount', 'true']);
    skip 'unshare --mount does not work here', 10 unless $code == 0;

    my $group = $t->read_file('/etc/group');
    $group =~ s/^(root:[^:]*:0:)(.*)$/$1 . ($2 eq '' ? 'nobody' : "$2,nobody")/me
        or skip 'no group root in /etc/group', 10;
    my $fake = $t->write_file("$dir/group", $group);

    my @wrap = ("$unshare/unshare", '--mount', 'sh', '-c',
                "mount --bind $fake /etc/group && exec \"\$@\"", 'sh');

    my ($c, $id) = $t->run_cmd([@wrap, 'id', '-G', 'nobody']);
    like($id, qr/(^|\s)0(\s|$)/, 'in the namespace nobody is a member of group root');

    refused('supplementary group root', pool_conf("    user nobody;\n"), 5,
            qr/pool "kit" would run with group root: user "nobody" is a member of group root \(gid 0\).*remove it from that group or use another user/, @wrap);

    refused('supplementary group root, another group named',
            pool_conf("    user nobody;\n    group nogroup;\n"), 5,
            qr/pool "kit" would run with group root: user "nobody" is a member of group root/, @wrap);
}

# ---- a pool that runs: no gid 0 anywhere ----

sub ids {
    my ($pid) = @_;
    my $status = $t->read_file("/proc/$pid/status");
    my ($gid) = $status =~ /^Gid:\s*(.*)$/m;
    my ($groups) = $status =~ /^Groups:\s*(.*)$/m;
    my ($uid) = $status =~ /^Uid:\s*(.*)$/m;
    my ($nnp) = $status =~ /^NoNewPrivs:\s*(.*)$/m;
    my ($caps) = join ' ', $status =~ /^Cap(?:Eff|Prm|Amb):\s*(.*)$/mg;
    return ($uid // '', $gid // '', $groups // '', $nnp // '', $caps);
}

$t->write_conf(pool_conf("    user nobody;\n"))->run;
ok($t->alive, 'user nobody, its own group: droverd starts');

my (undef, undef, $nobody, $nogroup) = getpwnam('nobody');
my @pids = ($t->worker_pids, map { $_->[0] } $t->family);
my %seen;
@pids = grep { defined && !$seen{$_}++ } @pids;
cmp_ok(scalar @pids, '>=', 3, 'a preloader and two workers to look at');

for my $pid (@pids) {
    my ($uid, $gid, $groups, $nnp, $caps) = ids($pid);
    is($uid, join("\t", ($nobody) x 4), "process $pid: uid nobody, real, effective, saved, fs");
    is($gid, join("\t", ($nogroup) x 4), "process $pid: gid nogroup, all four");
    ok(!grep({ $_ == 0 } split ' ', $groups), "process $pid: no supplementary gid 0 ($groups)");
    is($nnp, 1, "process $pid: no_new_privs by default");
    is($caps, join(' ', ('0000000000000000') x 3), "process $pid: no capability, effective, permitted or ambient");
}

$t->done;
