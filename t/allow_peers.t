#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# allow_peers: a worker checks SO_PEERCRED on every connection it takes (the
# shared socket, its slot socket) and closes one from a user who is not
# allowed at once, with one log line a second at most and a count of the
# rest.  By default the allowed users are root, droverd's own user and
# whoever the socket's owner, group (also as a supplementary group) and
# acl= name; `allow_peers USER...` names them instead.  The sockets here
# are mode 0666 on purpose, so only the check stands in the way.

use strict;
use warnings;

use Test::More;
use Time::HiRes ();

use Drover::Test;
use Drover::Test::Tenant qw(fcgi_as);

my $t = Drover::Test->new->has(qw(droverd hello));

plan skip_all => 'needs root (connections made as other users)'
    unless Drover::Test::is_root();

my (undef, undef, $nobody, $nogroup) = getpwnam('nobody')
    or plan skip_all => 'no user nobody';

# ids with no passwd entry: only ever used as a connecting process's
my ($stranger, $acl_user, $listed, $member, $front_gid) =
    (61731, 61732, 61733, 61734, 61735);

my $dir = $t->dir;

$t->write_conf(<<"EOF");
pool open {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/open.sock mode=0666 group=$front_gid acl=$acl_user;
    workers 1;
}

pool listed {
    app         %%APPS%%/hello.so;
    listen      unix:%%DIR%%/listed.sock mode=0666;
    workers     1;
    allow_peers $listed;
}
EOF

# ---- droverd -t ----

{
    my $bad = $t->write_file("$dir/bad.conf", $t->add_default_user(<<"EOF"));
pool bad {
    app         @{[ $t->app('hello') ]};
    listen      unix:$dir/bad.sock;
    allow_peers $listed nosuchuser_drvt;
}
EOF
    my ($code, $out) = $t->run_cmd([$t->droverd, '-t', '-c', $bad]);
    isnt($code, 0, 'droverd -t: an unknown allow_peers user fails the check');
    like($out, qr/\Q$bad\E:5: "allow_peers": unknown user "nosuchuser_drvt"/,
         'FILE:LINE and the user named') or diag($out);
}

$t->run;
ok($t->alive, 'droverd runs');

sub as { my ($uid, $path, %o) = @_; fcgi_as(uid => $uid, gid => $o{gid} // $uid, groups => $o{groups}, path => $path) }

my $open = "$dir/open.sock";

# ---- the default: the socket's own users ----

is(as(0, $open), "served: hello\n", 'default: root is served');
is(as($nobody, $open, gid => $nogroup), "served: hello\n", 'default: the socket\'s owner (the pool\'s user) is served');
is(as($acl_user, $open), "served: hello\n", 'default: an acl= user is served');
is(as($member, $open, gid => $front_gid), "served: hello\n", 'default: a peer of the socket\'s group is served');
is(as($member, $open, gid => $member, groups => [$member, $front_gid]), "served: hello\n",
   'default: a peer with the socket\'s group as a supplementary group is served');

my $mark = $t->log_mark;
is(as($stranger, $open), 'closed', 'default: anyone else is closed at once, unanswered');
is(as($stranger, "$open.0"), 'closed', 'on the slot socket too');

my $refused = qr/\[error\] .*connection closed: peer uid $stranger gid $stranger pid \d+ is not allowed to connect \(allow_peers\)/;
ok($t->wait_log($refused, 5, 1, $mark), 'one [error] line names the peer');

# ---- rate limit: a tenant connecting in a loop ----

$mark = $t->log_mark;
my @out = map { as($stranger, $open) } 1 .. 20;
is(scalar(grep { $_ eq 'closed' } @out), 20, '20 connections in a row: all closed');

my $lines = () = $t->log_since($mark) =~ /$refused/g;
cmp_ok($lines, '<=', 2, "at most one line a second for them ($lines)");

# past the second: the next line counts what was not logged
my $start = Time::HiRes::time();
$t->wait_for(sub { Time::HiRes::time() - $start > 1.1 }, 3);
$mark = $t->log_mark;
is(as($stranger, $open), 'closed', 'a second later: closed');
ok($t->wait_log(qr/$refused \(and \d+ more since the last such line\)/, 5, 1, $mark),
   'its line counts the connections closed without a line');

is(as(0, $open), "served: hello\n", 'root is still served: the worker kept going');

# ---- allow_peers names the users ----

my $listed_sock = "$dir/listed.sock";
is(as($listed, $listed_sock), "served: hello\n", 'allow_peers: the listed user is served');
is(as(0, $listed_sock), "served: hello\n", 'allow_peers: root always');
is(as($nobody, $listed_sock, gid => $nogroup), 'closed',
   'allow_peers: the socket\'s owner is no longer enough');
is(as($acl_user, $listed_sock), 'closed', 'allow_peers: nor anyone else');

# ---- a reload keeps the check (the workers read it from the manager) ----

is($t->reload, 'serves', 'SIGHUP: the reload goes through');
is(as($listed, $listed_sock), "served: hello\n", 'after the reload: the listed user is served');
is(as($stranger, $listed_sock), 'closed', 'after the reload: others are closed');

is($t->stop, 0, 'SIGTERM: exit 0');
$t->done;
