#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Two tenants in one droverd, each pool under a user this test creates
# (useradd, removed at the end): each tenant's app is hostile and tries,
# from inside its worker, to reach the other tenant -- connect to its
# sockets (EACCES; closed by allow_peers where its socket is made 0666),
# read its files (0600 in a 0750 home), kill its workers (EPERM), and use
# droverd's control socket (EACCES).  Each app really runs as its own user:
# a file it writes is its own, and it has no supplementary group but its
# own.

use strict;
use warnings;

use FindBin ();
use Test::More;

use Drover::Test;
use Drover::Test::Tenant qw(add_user);

my $t = Drover::Test->new->has(qw(droverd cc));

plan skip_all => 'needs root (useradd, pools under other users)'
    unless Drover::Test::is_root();
plan skip_all => 'needs useradd and userdel'
    unless -x '/usr/sbin/useradd' && -x '/usr/sbin/userdel';

my $dir = $t->dir;
my $tag = $$ % 100000;
my %ten;

for my $x (qw(a b)) {
    my $name = "drvt_iso_${x}_$tag";
    my $home = "$dir/home_$x";
    my ($uid, $gid) = add_user(name => $name, home => $home);
    $ten{$x} = { name => $name, home => $home, uid => $uid, gid => $gid };

    my $secret = $t->write_file("$home/secret", "tenant $x only\n");
    chown $uid, $gid, $secret or die "chown: $!";
    chmod 0600, $secret or die "chmod: $!";
}
my ($A, $B) = @ten{qw(a b)};

# ---- the hostile app ----

$t->write_file("$dir/tenant.c", <<'EOF');
/* tenant.c -- an app that tries to reach outside its tenant */
#include <drover.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int
fail(drover_req_t *req, const char *what)
{
    drover_resp_printf(req, "error: %s: %s\n", what, strerror(errno));
    return 0;
}

/* connect, then one FastCGI request with no params: answered or closed */
static int
try_connect(drover_req_t *req, const char *path)
{
    int                 fd;
    char                buf[256];
    ssize_t             n;
    struct pollfd       pfd;
    struct sockaddr_un  sa;
    static const unsigned char  rq[] = {
        1, 1, 0, 1, 0, 8, 0, 0,  0, 1, 0, 0, 0, 0, 0, 0,   /* BEGIN */
        1, 4, 0, 1, 0, 0, 0, 0,                            /* PARAMS */
        1, 5, 0, 1, 0, 0, 0, 0                             /* STDIN */
    };

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        return fail(req, "connect");
    }

    if (write(fd, rq, sizeof(rq)) != (ssize_t) sizeof(rq)) {
        close(fd);
        return fail(req, "write");
    }

    pfd.fd = fd;
    pfd.events = POLLIN;
    n = poll(&pfd, 1, 5000) == 1 ? read(fd, buf, sizeof(buf)) : -2;
    close(fd);

    /* closed with our request unread: a reset, as good as an EOF */
    drover_resp_printf(req, "%s\n", n > 0 ? "answered"
                       : n == 0 || (n == -1 && errno == ECONNRESET)
                       ? "closed" : "no answer");
    return 0;
}

static int
tenant_handle(drover_req_t *req, void *state)
{
    int          fd, i, n;
    char         arg[512], buf[512];
    uid_t        ru, eu, su;
    gid_t        rg, eg, sg, groups[64];
    ssize_t      got;
    const char  *path = drover_req_path(req);

    (void) state;

    if (drover_req_arg(req, "path", arg, sizeof(arg)) < 0) {
        arg[0] = '\0';
    }

    if (strcmp(path, "/id") == 0) {
        getresuid(&ru, &eu, &su);
        getresgid(&rg, &eg, &sg);
        drover_resp_printf(req, "pid %ld uid %ld %ld %ld gid %ld %ld %ld "
                           "groups", (long) getpid(), (long) ru, (long) eu,
                           (long) su, (long) rg, (long) eg, (long) sg);
        n = getgroups(64, groups);
        for (i = 0; i < n; i++) {
            drover_resp_printf(req, " %ld", (long) groups[i]);
        }
        drover_resp_printf(req, "\n");
        return 0;
    }

    if (strcmp(path, "/write") == 0) {
        fd = open(arg, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0640);
        if (fd < 0) {
            return fail(req, "open");
        }
        n = write(fd, "written\n", 8);
        close(fd);
        drover_resp_printf(req, n == 8 ? "ok\n" : "short write\n");
        return 0;
    }

    if (strcmp(path, "/read") == 0) {
        fd = open(arg, O_RDONLY);
        if (fd < 0) {
            return fail(req, "open");
        }
        got = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[got > 0 ? got : 0] = '\0';
        drover_resp_printf(req, "read: %s", buf);
        return 0;
    }

    if (strcmp(path, "/kill") == 0) {
        if (kill((pid_t) atol(arg), SIGKILL) != 0) {
            return fail(req, "kill");
        }
        drover_resp_printf(req, "killed\n");
        return 0;
    }

    if (strcmp(path, "/connect") == 0) {
        return try_connect(req, arg);
    }

    drover_resp_status(req, 404);
    return 0;
}

DROVER_APP(.name = "tenant", .handle = tenant_handle);
EOF

my $include = "$FindBin::Bin/../worker_host/include";
my ($cc, $cc_out) = $t->run_cmd(['cc', '-std=c11', '-D_GNU_SOURCE', '-Wall', '-Werror', '-fPIC', '-shared',
                                 '-fvisibility=hidden', "-I$include", '-o', "$dir/tenant.so", "$dir/tenant.c"], 60);
is($cc, 0, 'the hostile tenant app builds') or diag($cc_out);
chmod 0755, "$dir/tenant.so";

# ---- droverd: one pool per tenant, and a tenant socket left wide open ----

mkdir "$dir/run" or die "mkdir: $!";
my $ctl = "$dir/droverd.ctl";

$t->write_conf(<<"EOF");
control unix:$ctl;

pool a {
    app      $dir/tenant.so;
    listen   unix:$dir/run/a.sock;
    user     $A->{name};
    workers  2;
}

pool b {
    app      $dir/tenant.so;
    listen   unix:$dir/run/b.sock;
    user     $B->{name};
    workers  2;
}

# a mistake on purpose: anyone may open it, only allow_peers stands guard
pool bopen {
    app      $dir/tenant.so;
    listen   unix:$dir/run/bopen.sock mode=0666;
    user     $B->{name};
    workers  1;
}
EOF

$t->run;
ok($t->alive, 'droverd runs two tenants');

sub ask {
    my ($pool, $uri) = @_;
    my $r = $t->get($uri, pool => $pool);
    return $r->{complete} ? $r->{body} : 'no response: ' . ($r->{error} // '');
}

sub q_path { my ($u, $p) = @_; (my $e = $p) =~ s/([^A-Za-z0-9_.\/-])/sprintf '%%%02X', ord $1/ge; "$u?path=$e" }

# ---- each runs as its user, with its own group only ----

my %pids;
for my $x (qw(a b)) {
    my $T = $ten{$x};
    my $id = ask($x, '/id');
    my ($pid, $uids, $gids, $groups) = $id =~ /^pid (\d+) uid (\S+ \S+ \S+) gid (\S+ \S+ \S+) groups ?(.*)$/
        or fail("tenant $x: /id answers") && diag($id) && next;
    $pids{$x} = $pid;
    is($uids, join(' ', ($T->{uid}) x 3), "tenant $x: real, effective and saved uid are $T->{name}'s");
    is($gids, join(' ', ($T->{gid}) x 3), "tenant $x: real, effective and saved gid are its group's");
    my @extra = grep { $_ != $T->{gid} } split ' ', $groups;
    is("@extra", '', "tenant $x: no supplementary group but its own ($groups)");

    is(ask($x, q_path('/connect', "$dir/run/$x.sock")), "answered\n",
       "tenant $x: reaches its own socket (so the probe works)");
    is(ask($x, q_path('/write', "$T->{home}/proof")), "ok\n", "tenant $x: writes a file in its home");
    my @st = stat "$T->{home}/proof";
    is(@st ? "$st[4]:$st[5]" : 'absent', "$T->{uid}:$T->{gid}", "tenant $x: the file is its user's and group's");
}

# ---- A against B, B against A ----

for my $pair ([qw(a b)], [qw(b a)]) {
    my ($x, $y) = @$pair;
    my ($X, $Y) = @ten{$x, $y};
    my $sock = "$dir/run/$y.sock";

    like(ask($x, q_path('/connect', $sock)), qr/^error: connect: Permission denied/,
         "$x -> $y: cannot connect to ${y}'s shared socket (EACCES)");
    like(ask($x, q_path('/connect', "$sock.0")), qr/^error: connect: Permission denied/,
         "$x -> $y: nor to its slot socket");
    like(ask($x, q_path('/read', "$Y->{home}/secret")), qr/^error: open: Permission denied/,
         "$x -> $y: cannot read ${y}'s file");
    like(ask($x, q_path('/read', "$Y->{home}/proof")), qr/^error: open: Permission denied/,
         "$x -> $y: nor what ${y}'s app wrote");
    like(ask($x, q_path('/write', "$Y->{home}/planted")), qr/^error: open: Permission denied/,
         "$x -> $y: cannot write into ${y}'s home");
    like(ask($x, q_path('/kill', $pids{$y} // 1)), qr/^error: kill: Operation not permitted/,
         "$x -> $y: cannot kill ${y}'s worker (EPERM)");
    like(ask($x, q_path('/connect', $ctl)), qr/^error: connect: Permission denied/,
         "$x: cannot connect to droverd's control socket");
}

# the wide-open socket of tenant b: A gets in by the mode, allow_peers closes it
my $mark = $t->log_mark;
# (closed before or after the app's request went out: EOF, or EPIPE/ECONNRESET
# on the write -- either way no byte of an answer)
like(ask('a', q_path('/connect', "$dir/run/bopen.sock")),
     qr/^(?:closed|error: write: (?:Broken pipe|Connection reset by peer))\n\z/,
     'a -> b, a socket made 0666: connected, then closed unanswered (allow_peers)');
ok($t->wait_log(qr/\[error\] .*pool bopen.*peer uid $A->{uid} .*not allowed to connect/, 5, 1, $mark),
   'one log line names tenant a\'s uid');

is(ask('a', q_path('/kill', $$)), "error: kill: Operation not permitted\n", 'a cannot kill the test (root)');
is(ask('a', q_path('/kill', $t->pid)), "error: kill: Operation not permitted\n", 'a cannot kill droverd');

# after all this, B's workers are the same and serve
my $id = ask('b', '/id');
like($id, qr/^pid \d+ uid $B->{uid} /, 'b still serves');
is($t->read_file("$B->{home}/secret"), "tenant b only\n", 'b\'s file is intact');
ok(!-e "$B->{home}/planted", 'nothing was planted in b\'s home');
ok(kill(0, $pids{b}), "b's worker $pids{b} is alive") if $pids{b};

is($t->stop, 0, 'SIGTERM: exit 0');
$t->done;
