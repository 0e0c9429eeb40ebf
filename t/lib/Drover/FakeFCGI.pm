# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::FakeFCGI;

# A fake FastCGI backend for the nginx module's tests, in core Perl.  It
# listens on a Unix socket in the test's temp dir (or on 127.0.0.1 with
# tcp => 1), in a process of its own; each accepted connection gets a
# child of its own, so an idle kept-alive connection never holds up a new
# one.  On a connection it reads requests -- BEGIN_REQUEST, PARAMS up to the
# empty record, STDIN up to the empty record -- and answers each with a
# scripted reply, and it writes what it saw to a log of JSON lines:
#
#     {"event":"accept","conn":1}
#     {"event":"request","conn":1,"id":1,"role":1,"flags":1,
#      "params":[["REQUEST_METHOD","GET"],...],"stdin":"...",
#      "stdin_length":N,"stdin_md5":"..."}
#     {"event":"begin","conn":1,"id":1}       BEGIN_REQUEST came
#     {"event":"abort","conn":1,"id":1}       FCGI_ABORT_REQUEST came
#     {"event":"replied","conn":1,"id":1}     the whole reply was written
#     {"event":"eof","conn":1}                the front end closed
#
#     my $fake = Drover::FakeFCGI->new($t, reply => sub {
#         my ($req) = @_;
#         return fcgi_response($req->{id}, "Status: 404\r\n\r\ngone\n");
#     })->start;
#     ... "drover_pass " . $fake->pass . ";" ...
#     is(scalar $fake->requests, 1);
#     $fake->stop;
#
# reply is bytes, an array of pieces, or a sub that gets the request and
# returns either.  A piece is bytes, { sleep => S } (keep reading for S
# seconds: an ABORT_REQUEST is logged and answered with END_REQUEST, spec
# section 5.4, and ends the reply), or { close => 1 }.  Options: split => N
# writes N bytes at a time, delay => S between writes (1 ms by default when
# split); close => 1 closes after every reply even when FCGI_KEEP_CONN was
# asked; silent => 1 accepts and never reads; no_accept => 1 (tcp) never
# accepts, backlog => N.  Stopped by PID: stop(), or when the test ends.

use strict;
use warnings;

use Carp qw(croak);
use Digest::MD5 qw(md5_hex);
use Errno qw(EINTR);
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM SOMAXCONN);
use Time::HiRes qw(time sleep);

use Drover::FCGI qw(:all);

use Exporter qw(import);
our @EXPORT_OK = qw(fcgi_response fcgi_end_request);

use constant {
    IDLE_LIMIT  => 300,     # seconds a connection or the listener lives idle
    STDIN_KEEP  => 65536,   # stdin up to this size is logged whole
};

my @live;

END {
    my $status = $?;
    $_->stop for grep { defined } @live;
    $? = $status;
}


# STDOUT records (the stream ends with the empty one), then END_REQUEST
sub fcgi_response {
    my ($id, $stdout, %opt) = @_;

    return fcgi_stream(FCGI_STDOUT, $id, $stdout, 65535)
        . fcgi_end_request($id, $opt{app_status});
}

sub fcgi_end_request {
    my ($id, $app_status, $protocol_status) = @_;

    return fcgi_record(FCGI_END_REQUEST, $id,
                       pack('NCx3', $app_status || 0, $protocol_status || FCGI_REQUEST_COMPLETE));
}


sub new {
    my ($class, $t, %opt) = @_;

    my $name = $opt{name} || 'fake';

    return bless {
        %opt,
        name  => $name,
        path  => $t->dir . "/$name.sock",
        log   => $t->dir . "/$name.log",
        pid   => undef,
        port  => undef,
        reply => defined $opt{reply} ? $opt{reply}
                 : sub { fcgi_response($_[0]{id}, "Content-Type: text/plain\r\n\r\nfake\n") },
    }, $class;
}

sub path { $_[0]{path} }
sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }

# what drover_pass takes
sub pass {
    my ($self) = @_;
    return $self->{tcp} ? "127.0.0.1:$self->{port}" : "unix:$self->{path}";
}

# listen in the test process (so it is ready on return), then fork
sub start {
    my ($self) = @_;

    my $backlog = $self->{backlog} || SOMAXCONN;
    my $listen;

    if ($self->{tcp}) {
        $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                        Proto => 'tcp', Listen => $backlog, ReuseAddr => 1)
            or croak "fake FastCGI: listen on 127.0.0.1: $!";
        $self->{port} = $listen->sockport;
    } else {
        unlink $self->{path};
        $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $self->{path},
                                        Listen => $backlog)
            or croak "fake FastCGI: listen on $self->{path}: $!";
        chmod 0777, $self->{path};
    }

    open my $fh, '>', $self->{log} or croak "fake FastCGI: $self->{log}: $!";
    close $fh;

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $self->_accept_loop($listen, getppid);
        POSIX::_exit(0);
    }

    close $listen;
    $self->{pid} = $pid;
    push @live, $self;

    return $self;
}

# TERM, then KILL after 5 s; the listener passes TERM on to its children
sub stop {
    my ($self) = @_;

    my $pid = $self->{pid} or return;
    $self->{pid} = undef;

    kill 'TERM', $pid;

    my $deadline = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.01;
    }

    unlink $self->{path} unless $self->{tcp};
}

# every logged event, oldest first
sub events {
    my ($self) = @_;

    open my $fh, '<', $self->{log} or return ();
    my $json = JSON::PP->new;
    return map { eval { $json->decode($_) } || () } <$fh>;
}

sub events_of {
    my ($self, $type) = @_;
    return grep { $_->{event} eq $type } $self->events;
}

sub requests    { $_[0]->events_of('request') }
sub aborts      { $_[0]->events_of('abort') }
sub connections { scalar $_[0]->events_of('accept') }

# the params of a logged request as a hash (the last one of a name wins)
sub params_of {
    my ($class, $req) = @_;
    return { map { @$_ } @{ $req->{params} || [] } };
}


# ---- in the fake's processes ----

sub _log {
    my ($self, %event) = @_;

    my $line = JSON::PP->new->canonical->encode(\%event) . "\n";

    open my $fh, '>>', $self->{log} or return;
    syswrite $fh, $line;
    close $fh;
}

sub _accept_loop {
    my ($self, $listen, $test_pid) = @_;

    my %kids;
    my $conn = 0;
    my $idle_until = time + IDLE_LIMIT;

    $SIG{TERM} = sub { kill 'TERM', keys %kids; POSIX::_exit(0) };

    # bounded: gone with the test, or after IDLE_LIMIT without a connection
    while (getppid == $test_pid && time < $idle_until) {
        delete $kids{$_} for grep { waitpid($_, WNOHANG) != 0 } keys %kids;

        if ($self->{no_accept}) {
            sleep 0.2;
            next;
        }

        my $rin = '';
        vec($rin, fileno $listen, 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.5) > 0;

        my $sock = $listen->accept or next;
        $idle_until = time + IDLE_LIMIT;
        $self->_log(event => 'accept', conn => ++$conn);

        my $pid = fork;
        if (!defined $pid) {
            close $sock;
            next;
        }

        if ($pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            close $listen;
            binmode $sock;
            $self->_serve({ sock => $sock, buf => '', conn => $conn, parent => getppid });
            POSIX::_exit(0);
        }

        $kids{$pid} = 1;
        close $sock;
    }

    kill 'TERM', keys %kids;
}

sub _serve {
    my ($self, $io) = @_;

    if ($self->{silent}) {
        my $until = time + IDLE_LIMIT;
        sleep 0.2 while _parent_alive($io) && time < $until;
        return;
    }

    while (my $req = $self->_read_request($io)) {
        $self->_log(event => 'request', conn => $io->{conn}, %$req);

        my $reply = ref $self->{reply} eq 'CODE' ? $self->{reply}->($req, $io->{conn})
                  : $self->{reply};

        for my $piece (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
            if (!ref $piece) {
                return unless $self->_write($io, $piece);
            } elsif ($piece->{close}) {
                return;
            } elsif ($piece->{sleep}) {
                my $what = $self->_watch($io, $req->{id}, $piece->{sleep});
                return if $what eq 'eof';
                last if $what eq 'abort';
            }
        }

        $self->_log(event => 'replied', conn => $io->{conn}, id => $req->{id});

        return if $self->{close} || !($req->{flags} & FCGI_KEEP_CONN);
    }
}

sub _parent_alive { getppid == $_[0]{parent} }

# 1 when the socket is readable within $wait seconds, 0 otherwise; checks
# twice a second that the listener is still there
sub _wait_readable {
    my ($io, $wait) = @_;

    my $deadline = time + $wait;

    while (_parent_alive($io)) {
        my $left = $deadline - time;
        return 0 if $left <= 0;

        my $rin = '';
        vec($rin, fileno $io->{sock}, 1) = 1;
        return 1 if select(my $rout = $rin, undef, undef, $left < 0.5 ? $left : 0.5) > 0;
    }

    return 0;
}

# the next record, or undef at EOF (logged), on an error or after $wait
sub _read_record {
    my ($self, $io, $wait) = @_;

    my $deadline = time + $wait;

    for (;;) {
        if (length $io->{buf} >= 8) {
            my ($version, $type, $id, $clen, $plen) = unpack('CCnnC', $io->{buf});

            if (length $io->{buf} >= 8 + $clen + $plen) {
                my $content = substr($io->{buf}, 8, $clen);
                substr($io->{buf}, 0, 8 + $clen + $plen, '');
                return { version => $version, type => $type, id => $id, content => $content };
            }
        }

        my $left = $deadline - time;
        return undef if $left <= 0 || !_wait_readable($io, $left);

        my $n = sysread($io->{sock}, $io->{buf}, 65536, length $io->{buf});
        next if !defined $n && $! == EINTR;

        unless ($n) {
            $self->_log(event => 'eof', conn => $io->{conn});
            return undef;
        }
    }
}

# BEGIN_REQUEST, PARAMS, STDIN: the request as a hash, undef at EOF.  An
# ABORT_REQUEST in the middle is logged and answered; the next request
# is read then.
sub _read_request {
    my ($self, $io) = @_;

    my ($req, $params, $stdin) = (undef, '', '');
    my $stdin_done = 0;

    while (my $rec = $self->_read_record($io, IDLE_LIMIT)) {
        my $type = $rec->{type};

        if ($type == FCGI_BEGIN_REQUEST) {
            my ($role, $flags) = unpack('nC', $rec->{content});
            $req = { id => $rec->{id}, role => $role, flags => $flags, version => $rec->{version} };
            $self->_log(event => 'begin', conn => $io->{conn}, id => $rec->{id});
            ($params, $stdin) = ('', '');

        } elsif ($type == FCGI_ABORT_REQUEST) {
            $self->_abort($io, $rec->{id});
            $req = undef;

        } elsif ($req && $type == FCGI_PARAMS && length $rec->{content}) {
            $params .= $rec->{content};

        } elsif ($req && $type == FCGI_PARAMS) {
            my @kv = eval { fcgi_decode_pairs($params) };
            $req->{params} = [map { [@kv[2 * $_, 2 * $_ + 1]] } 0 .. $#kv / 2];
            $req->{params_error} = $@ if $@;
            return $self->_with_stdin($req, '', 0) unless $self->_wants_stdin;

        } elsif ($req && $type == FCGI_STDIN && length $rec->{content}) {
            $stdin .= $rec->{content};

        } elsif ($req && $type == FCGI_STDIN) {
            return $self->_with_stdin($req, $stdin, 1);

        } else {
            $self->_log(event => 'record', conn => $io->{conn}, type => $type, id => $rec->{id});
        }
    }

    return undef;
}

sub _wants_stdin { !defined $_[0]{read_stdin} || $_[0]{read_stdin} }

sub _with_stdin {
    my ($self, $req, $stdin, $done) = @_;

    $req->{stdin_length} = length $stdin;
    $req->{stdin_md5} = md5_hex($stdin);
    $req->{stdin} = $stdin if length $stdin <= STDIN_KEEP;
    $req->{stdin_done} = $done;

    return $req;
}

sub _abort {
    my ($self, $io, $id) = @_;

    $self->_log(event => 'abort', conn => $io->{conn}, id => $id);
    $self->_write($io, fcgi_end_request($id, 0));
}

# read for $seconds: 'abort' (answered), 'eof', or 'time'
sub _watch {
    my ($self, $io, $id, $seconds) = @_;

    my $deadline = time + $seconds;

    while ((my $left = $deadline - time) > 0) {
        my $rec = $self->_read_record($io, $left);

        unless ($rec) {
            return 'time' if time >= $deadline && _parent_alive($io);
            return 'eof';
        }

        if ($rec->{type} == FCGI_ABORT_REQUEST) {
            $self->_abort($io, $rec->{id});
            return 'abort';
        }

        $self->_log(event => 'record', conn => $io->{conn}, type => $rec->{type}, id => $rec->{id});
    }

    return 'time';
}

# write $bytes, split => N bytes at a time with delay between writes
sub _write {
    my ($self, $io, $bytes) = @_;

    local $SIG{PIPE} = 'IGNORE';

    my $piece = $self->{split} || length($bytes) || 1;
    my $delay = defined $self->{delay} ? $self->{delay} : $self->{split} ? 0.001 : 0;

    for (my $off = 0; $off < length $bytes; ) {
        my $n = syswrite($io->{sock}, $bytes, $piece, $off);

        unless (defined $n) {
            next if $! == EINTR;
            return 0;
        }

        $off += $n;
        sleep $delay if $delay && $off < length $bytes;
    }

    return 1;
}

1;
