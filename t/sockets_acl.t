#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Sockets tenants cannot reach or replace.  `listen ... acl=USER` gives USER
# rw on the shared and every slot socket (a POSIX ACL, set through the node
# droverd bound) and r on PATH.slots, which the module reads; a reload
# applies a new list and takes back what it drops; the mode stays 0660 and
# nobody else gets in.  A socket directory (or one above it) that someone
# other than root can write is refused: by droverd -t, at start and at a
# reload, with FILE:LINE and the fix.

use strict;
use warnings;

use Test::More;

use Drover::Test;
use Drover::Test::Tenant qw(fcgi_as run_as);

my $t = Drover::Test->new->has(qw(droverd hello));

plan skip_all => 'needs root (connections made as other users)'
    unless Drover::Test::is_root();
plan skip_all => 'needs getfacl (Debian package acl)'
    unless grep { -x "$_/getfacl" } split /:/, $ENV{PATH} || '/usr/bin:/bin';

my (undef, undef, $nobody, $nogroup) = getpwnam('nobody')
    or plan skip_all => 'no user nobody';

# ids without a passwd entry, only ever a connecting process's
my ($front, $other, $later) = (61741, 61742, 61743);

my $dir = $t->dir;
mkdir "$dir/run" or die "mkdir: $!";

# a refused start or reload says why at [emerg]
$t->allow_alert(qr/\[emerg\].*socket directory/);

sub conf {
    my ($acl, $sockdir) = @_;
    $sockdir //= "$dir/run";
    return <<"EOF";
pool site {
    app     %%APPS%%/hello.so;
    listen  unix:$sockdir/site.sock$acl;
    workers 2;
}
EOF
}

sub acl_of {
    my ($path) = @_;
    my ($code, $out) = $t->run_cmd(['getfacl', '--numeric', '--omit-header', '--absolute-names', $path]);
    return $code == 0 ? join ',', grep { /^(user|mask)/ } split /\n/, $out : "getfacl: $out";
}

sub mode_of { my @st = lstat $_[0]; return @st ? sprintf('%04o', $st[2] & 07777) : 'absent' }

sub as { fcgi_as(uid => $_[0], gid => $_[0], path => $_[1]) }

my $sock = "$dir/run/site.sock";

# ---- acl= ----

$t->write_conf(conf(" acl=$front"))->run;
ok($t->alive, 'droverd runs with acl=');

for my $p ($sock, "$sock.0", "$sock.1") {
    is(acl_of($p), "user::rw-,user:$front:rw-,mask::rw-", "$p: user:$front:rw- and nobody else named");
    is(mode_of($p), '0660', "$p: still mode 0660");
}
is(acl_of("$sock.slots"), "user::rw-,user:$front:r--,mask::r--", 'PATH.slots: readable by the acl= user');

is(as($front, $sock), "served: hello\n", 'the acl= user is served on the shared socket');
is(as($front, "$sock.1"), "served: hello\n", 'and on a slot socket');
is(run_as(uid => $front, gid => $front, code => sub {
    open my $fh, '<', "$sock.slots" or return "open: $!";
    return scalar <$fh>;
}), "drover-slots 1\n", 'the acl= user reads PATH.slots');
like(as($other, $sock), qr/^refused: Permission denied/, 'another user cannot connect (EACCES)');

# ---- a reload changes the list ----

$t->write_conf(conf(" acl=$later"));
is($t->reload, 'serves', 'SIGHUP with acl= naming another user');
is(acl_of($sock), "user::rw-,user:$later:rw-,mask::rw-", 'the new user replaces the old one');
is(acl_of("$sock.0"), "user::rw-,user:$later:rw-,mask::rw-", 'on the slot sockets too');
like(as($front, $sock), qr/^refused: Permission denied/, 'the dropped user is refused at once');
is(as($later, $sock), "served: hello\n", 'the new user is served');

$t->write_conf(conf(''));
is($t->reload, 'serves', 'SIGHUP without acl=');
is(acl_of($sock), 'user::rw-', 'no named entry is left');
is(mode_of($sock), '0660', 'mode 0660');
like(as($later, $sock), qr/^refused: Permission denied/, 'the last acl= user is refused');

is($t->stop, 0, 'SIGTERM: exit 0');

# ---- socket directories ----

sub check_refused {
    my ($what, $sockdir, $re) = @_;

    $t->write_conf(conf('', $sockdir));
    my ($code, $out) = $t->droverd_cmd('-t', '-c', $t->conf_path);
    isnt($code, 0, "$what: droverd -t fails");
    like($out, qr/droverd\.conf:4: pool "site": $re/, "$what: FILE:LINE, the directory and why") or diag($out);

    my $mark = $t->log_mark;
    $t->run(wait => 0);
    ok($t->wait_exit(10), "$what: droverd does not start");
    $t->stop;
    like($t->log_since($mark), $re, "$what: the log says why");
    ok(!-e "$sockdir/site.sock", "$what: nothing was bound");
}

mkdir "$dir/$_" or die "mkdir $_: $!" for qw(tenant world group sticky up);

chown $nobody, $nogroup, "$dir/tenant";
check_refused('owned by the pool\'s user', "$dir/tenant",
              qr/socket directory \Q$dir\E\/tenant is owned by uid $nobody, who could replace the sockets in it/);

chmod 0777, "$dir/world";
check_refused('writable by anyone', "$dir/world",
              qr/socket directory \Q$dir\E\/world is writable by anyone \(mode 0777\).*chmod go-w/);

chown 0, $nogroup, "$dir/group";
chmod 0770, "$dir/group";
check_refused('writable by a group', "$dir/group", qr/socket directory \Q$dir\E\/group is writable by its group/);

# a directory above: the pool's user owns $dir/up, root owns $dir/up/run
chown $nobody, $nogroup, "$dir/up";
mkdir "$dir/up/run" or die "mkdir: $!";
check_refused('a directory above', "$dir/up/run", qr/socket directory \Q$dir\E\/up is owned by uid $nobody/);

# through a symlink to a tenant's directory
symlink "$dir/tenant", "$dir/link" or die "symlink: $!";
check_refused('a symlink to a tenant\'s directory', "$dir/link",
              qr/socket directory \Q$dir\E\/tenant is owned by uid $nobody/);

# droverd -t of one pool file (what droverctl reload POOL checks too)
{
    mkdir "$dir/pools" or die "mkdir: $!";
    my $main = $t->write_file("$dir/main.conf", "include pools/*.conf;\n");
    $t->write_file("$dir/pools/site.conf", $t->add_default_user($t->expand(conf('', "$dir/world"))));
    my ($code, $out) = $t->droverd_cmd('-t', '-c', $main, "$dir/pools/site.conf");
    isnt($code, 0, 'droverd -t of one pool file: fails too');
    like($out, qr/site\.conf:4: pool "site": socket directory \Q$dir\E\/world is writable by anyone/,
         'with FILE:LINE and why') or diag($out);
}

# sticky, as /tmp: fine above (every test dir is in /tmp), not as the
# socket's own directory, where anyone could bind a name first
chmod 01777, "$dir/sticky";
check_refused('sticky and writable by anyone', "$dir/sticky",
              qr/socket directory \Q$dir\E\/sticky is writable by anyone \(mode 1777\), who could take the names of the sockets in it/);

mkdir "$dir/sticky/run" or die "mkdir: $!";
$t->write_conf(conf('', "$dir/sticky/run"));
my ($code, $out) = $t->droverd_cmd('-t', '-c', $t->conf_path);
is($code, 0, 'a root directory below a sticky one passes -t') or diag($out);

# ---- a reload into a directory gone unsafe is refused, the pool serves ----

$t->write_conf(conf(''))->run;
ok($t->alive, 'droverd runs in a root directory');
chmod 0777, "$dir/run";
is($t->reload, 'refused', 'SIGHUP once the directory is world-writable: the reload is refused');
ok($t->log_since(0) =~ /reload refused.*socket directory \Q$dir\E\/run is writable by anyone/,
   'the log says why') or diag($t->log);
ok($t->alive, 'droverd keeps running');
is($t->get('/')->{body}, "hello\n", 'and serving on its bound sockets');
chmod 0755, "$dir/run";
is($t->reload, 'serves', 'fixed: the next reload goes through');

is($t->stop, 0, 'SIGTERM: exit 0');
$t->done;
