# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::Test::Tenant;

# Tests with users other than root: code run under a given uid, gid and
# supplementary groups in a forked child, a FastCGI request made that way,
# and tenant users created with useradd and removed (userdel) when the test
# ends, also when it dies.  Only as root.

use strict;
use warnings;

use Carp qw(croak);
use POSIX ();
use Time::HiRes qw(time);

use Drover::FCGI;

use Exporter qw(import);
our @EXPORT_OK = qw(run_as fcgi_as add_user);

my @created;    # users this process added: removed in END
my $owner = $$;  # not by the forked children

# Run $code in a child with real and effective uid $uid, gid $gid and
# exactly the supplementary groups @$groups (none by default); return what
# it returns (a string), or "died: ..." .  Bounded by $timeout seconds.
sub run_as {
    my (%o) = @_;

    my ($uid, $gid, $code) = @o{qw(uid gid code)};
    my @groups = @{ $o{groups} || [] };
    my $timeout = $o{timeout} || 10;

    pipe(my $r, my $w) or croak "pipe: $!";

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        close $r;
        my $out = eval {
            # $) = "EGID G1 G2 ...": setgroups(2) then setegid
            $) = join ' ', $gid, @groups ? @groups : $gid;
            POSIX::setgid($gid) or die "setgid $gid: $!\n";
            POSIX::setuid($uid) or die "setuid $uid: $!\n";
            die "still uid $<\n" if $< != $uid || $> != $uid;
            $code->();
        };
        $out = "died: $@" unless defined $out;
        print $w $out;
        close $w;
        POSIX::_exit(0);
    }

    close $w;

    my $out = '';
    my $deadline = time + $timeout;
    my $rin = '';
    vec($rin, fileno($r), 1) = 1;

    while (time < $deadline) {
        my $n = select(my $rout = $rin, undef, undef, $deadline - time);
        last if $n <= 0;
        my $got = sysread $r, my $buf, 65536;
        last unless $got;
        $out .= $buf;
    }

    close $r;
    kill 'KILL', $pid if time >= $deadline;
    waitpid $pid, 0;

    return $out;
}

# A GET of $uri on socket $path as uid/gid/groups: "served: BODY",
# "refused: ERRNO TEXT" (connect failed), "closed" (connected, then closed
# without an answer) or "error: ..." .
sub fcgi_as {
    my (%o) = @_;

    my $path = $o{path};
    my $uri = defined $o{uri} ? $o{uri} : '/';

    return run_as(%o, code => sub {
        my $c = Drover::FCGI->connect($path, timeout => 5);
        unless ($c) {
            return "refused: $!";
        }
        my $r = $c->request(uri => $uri, timeout => 5);
        $c->close;
        return "served: $r->{body}" if $r->{complete};
        return 'closed' if !@{ $r->{records} };
        return "error: " . ($r->{error} // 'incomplete');
    });
}

# useradd a tenant: name (<= 32 chars, drvt_...), home (created, mode 0750).
# Returns (uid, gid).  The user is removed when the test process exits.
sub add_user {
    my (%o) = @_;

    my $name = $o{name};
    croak "tenant name $name: use drvt_..., at most 32 characters"
        unless $name =~ /^drvt_[a-z0-9_]+$/ && length $name <= 32;
    croak "user $name exists already" if defined getpwnam($name);

    my @cmd = ('useradd', '--no-create-home', '--user-group',
               '--shell', '/usr/sbin/nologin', '--home-dir', $o{home}, $name);
    system(@cmd) == 0 or croak "@cmd: exit " . ($? >> 8);
    push @created, $name;

    my (undef, undef, $uid, $gid) = getpwnam($name)
        or croak "useradd $name: no passwd entry after it";

    mkdir $o{home} or croak "mkdir $o{home}: $!";
    chown $uid, $gid, $o{home} or croak "chown $o{home}: $!";
    chmod 0750, $o{home} or croak "chmod $o{home}: $!";

    return ($uid, $gid);
}

sub remove_users {
    return unless $$ == $owner;

    # --force: a droverd that died with the test may still run as them
    while (my $name = pop @created) {
        system('userdel', '--force', $name) == 0
            or warn "userdel $name: exit " . ($? >> 8) . "\n";
    }
}

END {
    my $status = $?;
    remove_users();
    $? = $status;
}

1;
