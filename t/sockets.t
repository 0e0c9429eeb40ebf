#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Socket files: created with their final mode, a stale socket replaced, a
# regular file, a symlink or a live listener at the path refused, and the
# files removed on stop.

use strict;
use warnings;

use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd hello));
my $dir = $t->dir;

# the refused starts below are fatal errors, logged as such
$t->allow_alert(qr/\[emerg\].*(not a socket|in use)/);

my $conf = <<'EOF';
pool hello {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/hello.sock;
    workers 2;
}

pool private {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/private.sock mode=0600;
    workers 1;
}
EOF

sub mode_of { my @st = lstat $_[0]; return @st ? sprintf('%04o', $st[2] & 07777) : 'absent' }

# ---- modes ----

# a stale socket file, as a droverd killed by SIGKILL leaves behind
{
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/hello.sock", Listen => 1)
        or die "bind: $!";
    close $s;
}
ok(-S "$dir/hello.sock", 'a stale socket file is at the path');

$t->write_conf($conf)->run;
ok($t->alive, 'droverd runs over a stale socket file');
is($t->get('/')->{body}, "hello\n", 'the stale socket was replaced by a live one');

is(mode_of("$dir/hello.sock"), '0660', 'shared socket: mode 0660 by default');
is(mode_of("$dir/hello.sock.$_"), '0660', "slot $_ socket: mode 0660") for 0, 1;
is(mode_of("$dir/private.sock"), '0600', 'mode=0600: shared socket');
is(mode_of("$dir/private.sock.0"), '0600', 'mode=0600: slot socket');

is($t->stop, 0, 'SIGTERM: exit 0');
ok(!-e "$dir/$_", "stop removes $_") for qw(hello.sock hello.sock.0 hello.sock.1 private.sock private.sock.0);

# ---- what is refused ----

# droverd must exit non-zero, say why naming the path, and leave the thing
# at the path alone
sub refused {
    my ($what, $path, $still_there) = @_;

    my $before = length $t->log;
    $t->write_conf($conf)->run(wait => 0);

    ok($t->wait_exit(10), "$what: droverd exits");
    isnt($t->exit_code, 0, "$what: non-zero exit") or diag($t->exit_text);
    $t->stop;       # in case it did not exit

    my $log = substr($t->log, $before);
    like($log, qr/\Q$path\E/, "$what: the message names the path") or diag($log);
    ok($still_there->(), "$what: left as it was");
}

# a regular file at a slot path
$t->write_file("$dir/hello.sock.1", "precious data\n");
refused('regular file', "$dir/hello.sock.1",
        sub { $t->read_file("$dir/hello.sock.1") eq "precious data\n" });
unlink "$dir/hello.sock.1";

# a symlink at the shared path, pointing to a file that must not be touched
$t->write_file("$dir/target", "target\n");
symlink "$dir/target", "$dir/hello.sock" or die "symlink: $!";
refused('symlink', "$dir/hello.sock",
        sub { -l "$dir/hello.sock" && $t->read_file("$dir/target") eq "target\n" });
unlink "$dir/hello.sock";

# a live listener: another server owns the path
my $live = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/hello.sock", Listen => 5)
    or die "bind: $!";
refused('socket in use', "$dir/hello.sock", sub {
    # droverd's probes (it waits up to 2 s for a dying predecessor) sit in
    # the backlog: take them first, or our own connect would block
    $live->blocking(0);
    1 while $live->accept;
    $live->blocking(1);
    my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "$dir/hello.sock");
    return $c && $live->accept;
});
close $live;
unlink "$dir/hello.sock";

ok(!grep({ -e "$dir/$_" } qw(hello.sock.0 private.sock private.sock.0)),
   'a refused start leaves no socket files of its own');

$t->done;
