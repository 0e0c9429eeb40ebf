#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A reload sets the sockets' new mode through a descriptor of the node
# droverd bound, never by following the name: where the pool's user could
# write the socket directory for a while and swapped a socket for a symlink
# to a root-only file, the next SIGHUP leaves that file alone, says so once,
# and droverd keeps running; the sockets still in place get the new mode.
# (droverd refuses a socket directory the pool's user can write at start
# and at each reload, t/sockets_acl.t: here it is the pool user's only
# between the two, as a directory fixed after the fact.)

use strict;
use warnings;

use POSIX ();
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd hello));

plan skip_all => 'needs root (a socket directory owned by nobody, a root-only file)'
    unless Drover::Test::is_root();

my $dir = $t->dir;
my (undef, undef, $nobody, $nogroup) = getpwnam('nobody')
    or plan skip_all => 'no user nobody';

# the socket directory is root's when droverd starts
mkdir "$dir/run" or die "mkdir: $!";

# what the attacker wants to open up: root's, 0600
my $secret = $t->write_file("$dir/secret", "root only\n");
chmod 0600, $secret or die "chmod: $!";

my $conf = <<'EOF';
pool hello {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/run/hello.sock mode=MODE;
    workers 2;
}
EOF

sub conf_with_mode { (my $c = $conf) =~ s/MODE/$_[0]/; return $c }

sub mode_of { my @st = lstat $_[0]; return @st ? sprintf('%04o', $st[2] & 07777) : 'absent' }
sub owner_of { my @st = lstat $_[0]; return @st ? "$st[4]:$st[5]" : 'absent' }

$t->write_conf(conf_with_mode('0600'))->run;
ok($t->alive, 'droverd runs with its sockets in a directory nobody can write');
is(mode_of("$dir/run/hello.sock.0"), '0600', 'slot 0 socket: mode 0600 from bind on');

# the directory becomes the pool user's for a while ...
chown $nobody, $nogroup, "$dir/run" or die "chown: $!";

# as nobody: swap slot 0's socket for a symlink to the secret
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    POSIX::setgid($nogroup) && POSIX::setuid($nobody) or POSIX::_exit(2);
    symlink($secret, "$dir/run/tmp") && rename("$dir/run/tmp", "$dir/run/hello.sock.0")
        or POSIX::_exit(3);
    POSIX::_exit(0);
}
waitpid $pid, 0;
is($?, 0, 'nobody swapped the slot socket for a symlink to a root-only file');
ok(-l "$dir/run/hello.sock.0", 'the symlink is in place');

# ... and root's again, the swap left in place
chown 0, 0, "$dir/run" or die "chown: $!";

# a reload that widens the mode
$t->write_conf(conf_with_mode('0666'));
my $mark = $t->log_mark;
is($t->reload, 'serves', 'SIGHUP with mode=0666: the reload goes through');

is(mode_of($secret), '0600', 'the root-only file is still 0600');
is(owner_of($secret), '0:0', 'and still root\'s');
is($t->read_file($secret), "root only\n", 'and unchanged');

my @refused = grep { /hello\.sock\.0 is no longer the socket droverd bound/ }
              split /\n/, $t->log_since($mark);
is(scalar @refused, 1, 'one clear log line names the replaced socket') or diag($t->log_since($mark));
like($refused[0] // '', qr/\[error\] .*pool hello: .*now a symlink.*left alone/,
     'it says what was found and what droverd did');

ok($t->alive, 'droverd keeps running');
is(mode_of("$dir/run/hello.sock"), '0666', 'the shared socket took the new mode');
is(mode_of("$dir/run/hello.sock.1"), '0666', 'slot 1 took the new mode');
is(owner_of("$dir/run/hello.sock.1"), "$nobody:$nogroup", 'slot 1 is still the pool user\'s');
is($t->get("/", slot => 1)->{body}, "hello\n", 'slot 1 serves');

# a normal change back, with the symlink still there: same refusal, no harm
$t->write_conf(conf_with_mode('0640'));
$mark = $t->log_mark;
is($t->reload, 'serves', 'SIGHUP with mode=0640');
is(mode_of("$dir/run/hello.sock"), '0640', 'the shared socket narrowed to 0640');
is(mode_of($secret), '0600', 'the root-only file is still 0600');

is($t->stop, 0, 'SIGTERM: exit 0');
ok(-l "$dir/run/hello.sock.0", 'stop leaves the symlink it did not create');
is($t->read_file($secret), "root only\n", 'the root-only file survived it all');

$t->done;
