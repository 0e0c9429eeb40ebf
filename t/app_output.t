#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# What apps write to their fds 1 and 2 reaches droverd's log only through
# the manager, a line at a time, as "pool NAME pid PID: TEXT":
# - the workers' fds 1 and 2 are the pool's output socket, not droverd's
#   stderr (preload on and off);
# - the pid is the writer's own; control characters are escaped, so an app
#   can neither start a line of droverd's log (a forged "[alert]") nor end
#   one; a line in droverd's own format keeps its level, never above error;
# - a 100 KB line is cut at 1 KiB with a marker;
# - a flood is rate limited, then one "suppressed" line says how much;
# - every line of droverd's log is droverd's own, and it still logs after.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

# forged on purpose below: relayed as text, with the pool in front
$t->allow_alert(qr/: pool kit pid \d+: .*\[alert\].*forged/);

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}

pool off {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/off.sock;
    workers 1;
    preload off;
}
EOF

my $droverd = $t->pid;
my $kit0 = $t->slot_pid(0, pool => 'kit');
my $off0 = $t->slot_pid(0, pool => 'off');
like($kit0 // '', qr/^\d+$/, "pool kit slot 0: worker $kit0");

sub get_ok {
    my ($uri, %a) = @_;
    my $r = $t->get($uri, %a);
    return $r->{complete} && $r->{status} == 200 ? $r->{body} : '';
}

# ---- where fds 1 and 2 go ----

for my $w (['kit', 0], ['kit', 1], ['off', 0]) {
    my %fds = map { split / /, $_, 2 } split /\n/, get_ok('/fds', slot => $w->[1], pool => $w->[0]);
    like($fds{1} // '', qr/^socket:/, "pool $w->[0] slot $w->[1]: fd 1 is a socket");
    is($fds{2}, $fds{1}, "pool $w->[0] slot $w->[1]: fd 2 is the same one");
    isnt($fds{2}, $t->log_path, "pool $w->[0] slot $w->[1]: not droverd's log");
}

# the lines after $mark, once $re matches one of them
sub relayed {
    my ($re, $mark) = @_;
    return $t->wait_log($re, 5, 1, $mark);
}

my $prefix = qr/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] $droverd#0: /;

# ---- plain lines, the pid the kernel's ----

my $mark = $t->log_mark;
like(get_ok('/fd2?text=hello%20from%20fd%202%0a', slot => 0), qr/^wrote 16 bytes/, '/fd2 wrote');
like(get_ok('/fd1?text=hello%20from%20fd%201%0a', slot => 0, pool => 'off'), qr/^wrote 16 bytes/,
     '/fd1 wrote (preload off)');

my ($line) = relayed(qr/hello from fd 2/, $mark);
like($line // '', qr/${prefix}pool kit pid $kit0: hello from fd 2$/,
     'fd 2: a notice of droverd\'s, with the pool and the worker\'s pid');
($line) = relayed(qr/hello from fd 1/, $mark);
like($line // '', qr/${prefix}pool off pid $off0: hello from fd 1$/, 'fd 1 of a preload-off worker: the same');

# ---- forging ----

$mark = $t->log_mark;
my $forged = join '',
    "before\n",
    "2026/01/01 00:00:00 [alert] 1#0: forged alert of pid 1\n",
    "2026/01/01 00:00:00 [alert] $kit0#0: forged alert in its own name\n",
    "\e[2K\e[31mred\rover\x7f\n",
    "tail without newline",
    "\n";
(my $q = $forged) =~ s/([^A-Za-z0-9])/sprintf('%%%02x', ord $1)/ge;
like(get_ok("/fd2?text=$q", slot => 0), qr/^wrote @{[length $forged]} bytes/, 'the forgeries were written');

relayed(qr/tail without newline/, $mark);
my @new = split /\n/, $t->log_since($mark);

ok(!grep({ !/$prefix/ } @new), 'every new line is droverd\'s own, with its pid')
    or diag(join "\n", grep { !/$prefix/ } @new);
ok(!grep({ /^2026\/01\/01/ } @new), 'no line starts with the forged date');
ok(!grep({ /^\S+ \S+ \[(alert|emerg)\]/ } @new), 'no [alert] level line came of it');

like((grep { /forged alert of pid 1/ } @new)[0] // '',
     qr/${prefix}pool kit pid $kit0: 2026\/01\/01 00:00:00 \[alert\] 1#0: forged alert of pid 1$/,
     'a line that claims another pid: plain text behind the pool and the real pid');
($line) = grep { /forged alert in its own name/ } @new;
like($line // '', qr/^\S+ \S+ \[error\] $droverd#0: pool kit pid $kit0: \[alert\] forged alert in its own name$/,
     'droverd\'s format in its own name: at most an error, "[alert]" kept as text');
ok(scalar(grep { /pool kit pid $kit0: \\x1b\[2K\\x1b\[31mred\\x0dover\\x7f$/ } @new),
   'ESC, CR and DEL escaped') or diag(join "\n", @new);
ok($t->log !~ /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control character anywhere in the log');

# ---- a 100 KB line ----

$mark = $t->log_mark;
like(get_ok('/fd2?bytes=102400', slot => 1), qr/^wrote 102401 bytes/, 'a 100 KB line written');
($line) = relayed(qr/xxxx/, $mark);
like($line // '', qr/${prefix}pool kit pid \d+: x{1024} \[cut: the line is longer than 1024 bytes\]$/,
     'it is cut at 1 KiB, with a marker');
like(get_ok('/fd2?text=after%20the%20long%20one%0a', slot => 1), qr/^wrote/, 'then a short line');
ok(relayed(qr/pool kit pid \d+: after the long one$/, $mark), 'which comes whole, on its own');
is(scalar(grep { /xxxx/ } split /\n/, $t->log_since($mark)), 1, 'the rest of the long line was dropped');

# ---- a flood ----

$mark = $t->log_mark;
like(get_ok('/fd2?lines=5000', slot => 0, timeout => 20), qr/^wrote \d+ bytes to fd 2, 0 lost/,
     '5000 lines written, none refused');
my $suppressed = qr/pool kit: (\d+) lines of output suppressed \(more than 1000 a second\)/;
my $shown;
my $hidden = 0;
$t->wait_for(sub {
    my $log = $t->log_since($mark);
    $shown = () = $log =~ /kit fd2 line \d+/g;
    $hidden = 0;
    $hidden += $1 while $log =~ /$suppressed/g;
    return $shown + $hidden >= 5000;
}, 5);
ok($hidden > 0, "a line says how many were suppressed ($hidden)") or diag($t->log_since($mark));
my $windows = () = $t->log_since($mark) =~ /$suppressed/g;
# the flood may straddle a second boundary: each second shows up to 1000
cmp_ok($shown, '<=', 1000 * ($windows + 1), "at most 1000 lines a second ($shown shown, $windows suppressed)");
is($shown + $hidden, 5000, 'shown and suppressed add up to the 5000 written');

# ---- the socket itself: forged credentials, fds sent down stdout ----

SKIP: {
    skip 'needs root and cc (takes a worker\'s fd 1 with pidfd_getfd)', 12
        unless Drover::Test::is_root() && $t->can_do('cc');

    my $src = $t->write_file('sender.c', <<'C');
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* sender PID: the worker's fd 1, then as nobody: a line claiming pid 1,
   then lines carrying fds */
int main(int argc, char **argv)
{
    int             s, i, fds[3];
    char            cbuf[CMSG_SPACE(sizeof(fds))];
    struct ucred    u = { 1, 65534, 65534 };
    struct iovec    iov;
    struct msghdr   m;
    struct cmsghdr *c;

    s = syscall(SYS_pidfd_getfd, syscall(SYS_pidfd_open, atoi(argv[1]), 0), 1, 0);
    if (argc < 2 || s < 0 || setgid(65534) != 0 || setuid(65534) != 0) {
        return 2;
    }

    /* sender PID shutdown: what any process of the pool could do to fd 1 */
    if (argc > 2) {
        printf("shutdown: %s\n", shutdown(s, SHUT_WR) == 0 ? "done" : "failed");
        return 0;
    }

    memset(&m, 0, sizeof(m));
    iov.iov_base = "claims pid 1\n";
    iov.iov_len = strlen(iov.iov_base);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = CMSG_SPACE(sizeof(u));
    c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(u));
    memcpy(CMSG_DATA(c), &u, sizeof(u));
    printf("forged credentials: %s\n", sendmsg(s, &m, 0) < 0 ? "refused" : "sent");

    for (i = 0; i < 3; i++) {
        fds[i] = open("/dev/null", O_RDONLY);
    }
    iov.iov_base = "carries three fds\n";
    iov.iov_len = strlen(iov.iov_base);
    m.msg_controllen = CMSG_SPACE(sizeof(fds));
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    for (i = 0; i < 50 && sendmsg(s, &m, 0) > 0; i++) {
    }
    printf("sent fds %d times as pid %d\n", i, (int) getpid());
    return 0;
}
C
    my ($cc, $ccout) = $t->run_cmd(['cc', '-o', "$dir/sender", $src]);
    is($cc, 0, 'the sender compiles') or diag($ccout);

    my $fds_before = () = glob "/proc/$droverd/fd/*";
    $mark = $t->log_mark;
    my ($rc, $out) = $t->run_cmd(["$dir/sender", $kit0]);
    like($out, qr/^forged credentials: refused$/m, 'the kernel refuses a claim to be pid 1');
    my ($sender) = $out =~ /sent fds 50 times as pid (\d+)/;
    ok($sender, 'fds went down fd 1 fifty times') or diag($out);
    is(scalar $t->wait_log(qr/pool kit pid $sender: carries three fds$/, 5, 50, $mark), 50,
       'each line logged under the sender\'s real pid');
    my $fds_after = () = glob "/proc/$droverd/fd/*";
    is($fds_after, $fds_before, "droverd holds no fd more ($fds_after)");

    # shutdown(SHUT_WR) of the shared socket: droverd's end reads EOF
    $mark = $t->log_mark;
    ($rc, $out) = $t->run_cmd(["$dir/sender", $kit0, 'shutdown']);
    like($out, qr/^shutdown: done$/m, 'a process of the pool shut the socket down');
    ok($t->wait_log(qr/\[warn\] .*pool kit: one of its processes shut down the socket/, 5, 1, $mark),
       'droverd says so') or diag($t->log_since($mark));
    my $cpu = $t->cpu_seconds($droverd);
    $t->wait_for(sub { 0 }, 1);
    $cpu = $t->cpu_seconds($droverd) - $cpu;
    cmp_ok($cpu, '<', 0.2, sprintf('and does not spin on the EOF (%.2f s of CPU in 1 s)', $cpu));
    is(scalar(() = $t->log_since($mark) =~ /shut down the socket/g), 1, 'one line about it');

    # a reload: a new preloader with the new socket, its workers are heard
    is($t->reload, 'serves', 'a reload after it serves');
    $kit0 = $t->slot_pid(0, pool => 'kit');
    $mark = $t->log_mark;
    like(get_ok('/fd2?text=heard%20again%0a', slot => 0), qr/^wrote 12 bytes/, 'a new worker writes');
    ok(relayed(qr/pool kit pid $kit0: heard again$/, $mark), 'and is heard');
}

# ---- droverd still logs, and the app's output still comes ----

$t->wait_for(sub { 0 }, 1.1);       # the next second: the rate allows again
$mark = $t->log_mark;
like(get_ok('/fd2?text=still%20here%0a', slot => 0), qr/^wrote/, 'a line after the flood');
ok(relayed(qr/pool kit pid $kit0: still here$/, $mark), 'is logged');
is($t->reload, 'serves', 'a reload is logged and served');
ok($t->alive, 'droverd is up');

my @foreign = grep { !/$prefix/ } split /\n/, $t->log;
ok(!@foreign, 'every line of droverd\'s log, from the start, is droverd\'s own')
    or diag(join "\n", @foreign[0 .. ($#foreign < 10 ? $#foreign : 10)]);

$t->done;
