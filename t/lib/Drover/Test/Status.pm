# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::Test;

# Drover::Test's status page helpers: fake control sockets, promtool, a
# headless browser.  Loaded by Drover/Test.pm; tests call $t->method.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path getcwd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG WIFEXITED WEXITSTATUS WIFSIGNALED WTERMSIG);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(time sleep);


# ---- the status page: fake control sockets, promtool, a headless browser ----

# the fake control sockets still running, for the END block below
my @fake_controls;

END {
    my $status = $?;
    kill 'KILL', $_->{pid} for grep { $_->{pid} } @fake_controls;
    waitpid($_->{pid}, 0) for grep { $_->{pid} } @fake_controls;
    $? = $status;
}

# A stand-in for droverd's control socket at DIR/NAME.sock, in a process of
# its own, for what droverd never does.  On each connection, one at a
# time, it reads one request line and appends it to DIR/NAME.requests,
# writes reply => BYTES (nothing when undef) split => N bytes at a time
# with delay => S between the pieces, keeps the connection for hold => S
# seconds or until the client closes it, and closes it.  Returns a handle
# for fake_control_requests() and stop_fake_control().
sub fake_control {
    my ($self, $name, %opt) = @_;

    my $fake = {
        path     => "$self->{dir}/$name.sock",
        requests => "$self->{dir}/$name.requests",
        pid      => undef,
    };

    unlink $fake->{path};
    my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $fake->{path},
                                       Listen => 16)
        or croak "fake control socket: listen on $fake->{path}: $!";
    $self->write_file($fake->{requests}, '');

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        _fake_control_loop($listen, $fake, getppid, %opt);
        POSIX::_exit(0);
    }

    close $listen;
    $fake->{pid} = $pid;
    push @fake_controls, $fake;

    return $fake;
}

sub _fake_control_loop {
    my ($listen, $fake, $parent, %opt) = @_;

    my $deadline = time + 300;      # a fake never outlives a test run

    while (time < $deadline && getppid == $parent) {
        my $rin = '';
        vec($rin, fileno $listen, 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.5) > 0;

        my $c = $listen->accept or next;
        binmode $c;

        my $line = '';
        my $until = time + 5;
        while ($line !~ /\n/ && time < $until) {
            my $cin = '';
            vec($cin, fileno $c, 1) = 1;
            next unless select(my $cout = $cin, undef, undef, 0.1) > 0;
            last unless sysread($c, $line, 4096, length $line);
        }

        if (open my $fh, '>>', $fake->{requests}) {
            print $fh $line;
            close $fh;
        }

        local $SIG{PIPE} = 'IGNORE';
        my $reply = defined $opt{reply} ? $opt{reply} : '';
        my $piece = $opt{split} || length($reply) || 1;

        for (my $off = 0; $off < length $reply; $off += $piece) {
            last unless defined syswrite($c, $reply, $piece, $off);
            sleep $opt{delay} if $opt{delay} && $off + $piece < length $reply;
        }

        # hold: until the client closes, or for hold => S seconds
        my $hold = time + ($opt{hold} || 0);
        while (time < $hold) {
            my $cin = '';
            vec($cin, fileno $c, 1) = 1;
            next unless select(my $cout = $cin, undef, undef, 0.1) > 0;
            last unless sysread($c, my $buf, 4096);
        }

        close $c;
    }
}

# the request lines the fake got, in order
sub fake_control_requests {
    my ($self, $fake) = @_;
    return split /(?<=\n)/, $self->read_file($fake->{requests});
}

sub stop_fake_control {
    my ($self, $fake) = @_;

    return unless $fake->{pid};

    kill 'TERM', $fake->{pid};
    my $gone = $self->wait_for(sub { waitpid($fake->{pid}, WNOHANG) != 0 }, 5);
    unless ($gone) {
        kill 'KILL', $fake->{pid};
        waitpid($fake->{pid}, 0);
    }

    $fake->{pid} = undef;
}

# `promtool check metrics` on $text: (exit code, what it printed)
sub promtool_check {
    my ($self, $text) = @_;

    my $file = $self->write_file('metrics.' . ++$self->{cmd_seq} . '.txt', $text);
    return $self->run_cmd(['promtool', 'check', 'metrics'], 30, stdin => $file);
}

# Headless Chromium on $url with @args (--screenshot=..., --dump-dom):
# (exit code or -signal, stdout, stderr).  It runs in a process group of
# its own, so that its renderer and helper processes go with it: after
# $timeout seconds (60) the whole group gets SIGKILL.
sub chromium {
    my ($self, $url, $args, $timeout) = @_;

    $timeout ||= 60;

    my $seq = ++$self->{cmd_seq};
    my $out = "$self->{dir}/chromium.$seq.out";
    my $err = "$self->{dir}/chromium.$seq.err";
    my $profile = "$self->{dir}/chromium-profile.$seq";
    mkdir $profile;

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>', $err or POSIX::_exit(127);
        $ENV{HOME} = $profile;
        exec 'chromium', '--headless', '--no-sandbox', '--disable-gpu',
            '--disable-dev-shm-usage', '--no-first-run',
            '--disable-background-networking', '--disable-component-update',
            '--disable-sync', "--user-data-dir=$profile",
            '--window-size=412,900', @$args, $url
            or POSIX::_exit(127);
    }

    # the group exists once the child made it; a kill before that is
    # aimed at the child alone
    POSIX::setpgid($pid, $pid);

    my $status;
    my $done = $self->wait_for(sub {
        my $r = waitpid($pid, WNOHANG);
        $status = $? if $r == $pid;
        return $r == $pid;
    }, $timeout, 0.05);

    unless ($done) {
        diag("chromium $pid: still running after ${timeout}s; killing its group");
        kill 'KILL', -$pid;
        waitpid($pid, 0);
        $status = $?;
    }

    # helpers that outlived the browser itself
    kill 'KILL', -$pid if kill 0, -$pid;

    my $code = WIFEXITED($status) ? WEXITSTATUS($status) : -WTERMSIG($status);
    return ($code, $self->read_file($out), $self->read_file($err));
}

1;
