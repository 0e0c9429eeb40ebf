#!/usr/bin/perl
# No descriptor droverd was started with reaches app code: droverd runs
# with a root-only 0600 file open as fd 9 without close-on-exec (what a
# careless init script or a parent leaves behind); its preloaders and
# workers, with preload on and off, have no such fd, stdin is /dev/null,
# stdout and stderr are not droverd's own, and every fd past 2 is one of
# their own (sockets, pipes, epoll and the like).

use strict;
use warnings;

use Fcntl qw(O_WRONLY O_APPEND);
use POSIX ();
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

my $secret = $t->write_file("$dir/secret", "root only\n", 0600);

# fd 9, inherited across exec: above $^F Perl sets close-on-exec, and
# dup2() clears it anyway
{
    local $^F = 100;
    sysopen(my $fh, $secret, O_WRONLY | O_APPEND) or die "open $secret: $!";
    POSIX::dup2(fileno $fh, 9) == 9 or die "dup2: $!";
    close $fh;
}
is(readlink("/proc/$$/fd/9"), $secret, 'the test holds the file as fd 9');
my ($flags) = $t->read_file("/proc/$$/fdinfo/9") =~ /^flags:\s*(\d+)/m;
is(oct($flags // 0) & 02000000, 0, 'without close-on-exec');

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

POSIX::close(9);

is(readlink("/proc/" . $t->pid . "/fd/9"), $secret, 'droverd itself was started with it as fd 9');

# fd => target, from a worker's own /fds
sub worker_fds {
    my ($pool, $k) = @_;
    my $r = $t->get('/fds', socket => $t->slot_path($k, $pool));
    return undef unless $r->{complete} && $r->{status} == 200;
    return { map { split / /, $_, 2 } split /\n/, $r->{body} };
}

# its own fds: never a file, and not droverd's log on 1 and 2
sub check_fds {
    my ($who, $fds) = @_;

    ok($fds && %$fds, "$who: lists its fds") or return;
    ok(!grep({ $_ eq $secret } values %$fds), "$who: the root-only file is not among them")
        or diag(explain $fds);
    is($fds->{0}, '/dev/null', "$who: stdin is /dev/null");
    ok(!grep({ ($fds->{$_} // '') eq $t->log_path } 1, 2),
       "$who: stdout and stderr are not droverd's log (the pool's output socket)");

    my @files = grep { $_ > 2 && $fds->{$_} !~ /^(socket|pipe|anon_inode):/ } keys %$fds;
    ok(!@files, "$who: every fd past 2 is a socket, pipe or anon inode")
        or diag(join "\n", map { "$_ -> $fds->{$_}" } sort { $a <=> $b } @files);
}

check_fds("pool kit worker $_ (preload on)", worker_fds('kit', $_)) for 0, 1;
check_fds('pool off worker 0 (preload off)', worker_fds('off', 0));

# the preloaders and workers as /proc shows them, from outside
my @family = map { $_->[0] } $t->family;
cmp_ok(scalar @family, '>=', 4, 'a preloader and three workers to look at');

for my $pid (@family) {
    my %fds;
    opendir(my $d, "/proc/$pid/fd") or next;
    for my $fd (grep { /^\d+$/ } readdir $d) {
        my $to = readlink "/proc/$pid/fd/$fd";
        $fds{$fd} = $to if defined $to;
    }
    check_fds("process $pid", \%fds);
}

is($t->read_file($secret), "root only\n", 'the root-only file is unchanged');

$t->done;
