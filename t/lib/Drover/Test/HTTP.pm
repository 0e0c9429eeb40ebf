# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::Test::HTTP;

# A small HTTP/1.1 client over TCP or TLS (IO::Socket::SSL, tls => 1):
# Content-Length and chunked bodies both ways, keepalive, HEAD, headers in
# the order given (also repeated, or with names nginx calls invalid), raw
# requests, and a deadline on every read and write.  The socket is
# non-blocking: a request body is written while the response is read, so
# an echo of a big body never deadlocks on full socket buffers.
#
# Every byte received is kept in received() (unless record => 0), so a test
# can check that something never reached the client.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Socket::INET;
use Time::HiRes qw(time);

# bytes per write: a TLS record, and a size a non-blocking SSL_write
# can be retried with unchanged
use constant PIECE => 16384;

# new($host, $port, tls => 1, sni => NAME, timeout => S, record => 0):
# undef and $@ on failure
sub new {
    my ($class, $host, $port, %opt) = @_;

    my $sock;

    if ($opt{tls}) {
        require IO::Socket::SSL;
        $sock = IO::Socket::SSL->new(
            PeerAddr        => $host,
            PeerPort        => $port,
            Timeout         => 5,
            SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
            SSL_hostname    => defined $opt{sni} ? $opt{sni} : 'localhost',
        );
        $@ = 'TLS connect: ' . (IO::Socket::SSL::errstr() || $!) unless $sock;
    } else {
        $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                      Proto => 'tcp', Timeout => 5);
        $@ = "connect: $!" unless $sock;
    }

    return undef unless $sock;

    binmode $sock;
    $sock->blocking(0);

    return bless {
        sock     => $sock,
        tls      => $opt{tls} ? 1 : 0,
        rbuf     => '',
        eof      => 0,
        error    => undef,
        received => '',
        record   => defined $opt{record} ? $opt{record} : 1,
        host     => $host,
        port     => $port,
        timeout  => $opt{timeout} || 10,
    }, $class;
}

sub socket   { $_[0]{sock} }
sub received { $_[0]{received} }
sub eof      { $_[0]{eof} }

# the client's own port: REMOTE_PORT as the server sees it
sub local_port { $_[0]{sock} ? $_[0]{sock}->sockport : undef }

# what TLS negotiated: (protocol, cipher), e.g. ('TLSv1.3', 'TLS_AES_256_GCM_SHA384')
sub tls_info {
    my ($self) = @_;

    return () unless $self->{tls} && $self->{sock};

    # IO::Socket::SSL says TLSv1_2 where nginx's $ssl_protocol says TLSv1.2
    my $version = $self->{sock}->get_sslversion;
    $version =~ s/_/./g if defined $version;

    return ($version, $self->{sock}->get_cipher);
}

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
}

# One read of what is there, without waiting: 1 when bytes came, 0 at EOF
# (eof set), undef when nothing is there yet.
sub _read_some {
    my ($self) = @_;

    return 0 if $self->{eof} || !$self->{sock};

    my $n = sysread($self->{sock}, my $buf, 65536);

    if (!defined $n) {
        # IO::Socket::SSL says EAGAIN for SSL_WANT_READ (half a record)
        return undef if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        $self->{error} = "read: $!";
        $self->{eof} = 1;       # ECONNRESET and the like end the stream too
        return 0;
    }

    if ($n == 0) {
        $self->{eof} = 1;
        return 0;
    }

    $self->{rbuf} .= $buf;
    $self->{received} .= $buf if $self->{record};
    return 1;
}

# bytes already decrypted inside the TLS layer, which select() cannot see
sub _pending {
    my ($self) = @_;
    return $self->{tls} && $self->{sock} && $self->{sock}->pending;
}

# wait for more bytes until $deadline; 0 on EOF or timeout
sub _fill {
    my ($self, $deadline) = @_;

    for (;;) {
        return 0 if $self->{eof} || !$self->{sock};

        unless ($self->_pending) {
            my $left = $deadline - time;
            return 0 if $left <= 0;

            my $rin = '';
            vec($rin, fileno $self->{sock}, 1) = 1;
            next unless select(my $rout = $rin, undef, undef, $left) > 0;
        }

        my $r = $self->_read_some;
        return $r if defined $r;
    }
}

# read until $self->{rbuf} has $len bytes
sub _need {
    my ($self, $len, $deadline) = @_;

    while (length $self->{rbuf} < $len) {
        return 0 unless $self->_fill($deadline);
    }

    return 1;
}

# read a line ending in CRLF; undef at EOF or timeout
sub _line {
    my ($self, $deadline) = @_;

    for (;;) {
        my $i = index $self->{rbuf}, "\r\n";
        return substr($self->{rbuf}, 0, $i + 2, '') =~ s/\r\n$//r if $i >= 0;
        return undef unless $self->_fill($deadline);
    }
}

# Write all of $data before $deadline, reading what the server sends
# meanwhile.  split => N writes N bytes at a time and delay => S waits S
# seconds between pieces (still reading).  1, or 0 with {error} set.
sub send_raw {
    my ($self, $data, %opt) = @_;

    my $deadline = time + ($opt{timeout} || $self->{timeout});
    my $piece = $opt{split} || PIECE;
    $piece = PIECE if $piece > PIECE;

    local $SIG{PIPE} = 'IGNORE';

    for (my $off = 0; $off < length $data; ) {
        return 0 unless $self->{sock};

        my $left = $deadline - time;
        if ($left <= 0) {
            $self->{error} = 'timeout writing';
            return 0;
        }

        my ($rin, $win) = ('', '');
        vec($rin, fileno $self->{sock}, 1) = 1 unless $self->{eof};
        vec($win, fileno $self->{sock}, 1) = 1;
        select(my $rout = $rin, my $wout = $win, undef, $left);

        $self->_read_some if !$self->{eof} && (vec($rout, fileno $self->{sock}, 1) || $self->_pending);
        next unless vec($wout, fileno $self->{sock}, 1);

        my $len = length($data) - $off;
        $len = $piece if $len > $piece;
        my $n = syswrite($self->{sock}, $data, $len, $off);

        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $self->{error} = "write: $!";
            return 0;
        }

        $off += $n;

        if ($opt{delay} && $off < length $data) {
            my $until = time + $opt{delay};
            $self->_fill($until) while !$self->{eof} && time < $until;
            select(undef, undef, undef, $until - time) if time < $until;
        }
    }

    return 1;
}

# the request's bytes: request line, headers, body (Content-Length, or
# chunked => N: chunks of N bytes, or chunked => [sizes] cycled)
sub request_bytes {
    my ($self, $method, $uri, %opt) = @_;

    my $body = defined $opt{body} ? $opt{body} : '';

    # headers: a hash (sent sorted) or a list of [name, value] pairs or
    # name, value, ... in the order given
    my @h;
    if (ref $opt{headers} eq 'ARRAY') {
        my @kv = @{ $opt{headers} };
        @h = ref $kv[0] eq 'ARRAY' ? @kv : map { [@kv[2 * $_, 2 * $_ + 1]] } 0 .. $#kv / 2;
    } elsif ($opt{headers}) {
        @h = map { [$_, $opt{headers}{$_}] } sort keys %{ $opt{headers} };
    }

    my %have = map { (lc $_->[0] => 1) } @h;
    unshift @h, ['Host', 'localhost'] unless $have{host};

    if ($opt{chunked}) {
        push @h, ['Transfer-Encoding', 'chunked'] unless $have{'transfer-encoding'};
        $body = _chunk($body, $opt{chunked});
    } elsif ((length $body || $method eq 'POST') && !$have{'content-length'}) {
        push @h, ['Content-Length', length $body];
    }

    push @h, ['Connection', 'close'] if $opt{close} && !$have{connection};

    return "$method $uri HTTP/1.1\r\n"
        . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n" . $body;
}

sub _chunk {
    my ($body, $how) = @_;

    my @sizes = ref $how ? @$how : ($how > 1 ? $how : 4096);
    my ($out, $off, $i) = ('', 0, 0);

    while ($off < length $body) {
        my $n = $sizes[$i++ % @sizes] || 1;
        my $piece = substr($body, $off, $n);
        $out .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
        $off += length $piece;
    }

    return $out . "0\r\n\r\n";
}

# request($method, $uri, body => ..., headers => {...} or [...],
#         chunked => N, close => 1, split/delay => (see send_raw),
#         sink => sub { piece }, timeout => S)
# or request(raw => BYTES, method => 'HEAD' when it is one).
# Returns see read_response; write_error when the request could not be
# sent whole (the server may have answered early, e.g. 413).
sub request {
    my ($self, $method, $uri, %opt) = @_;

    my $bytes = defined $opt{raw} ? $opt{raw} : $self->request_bytes($method, $uri, %opt);
    my $deadline = time + ($opt{timeout} || $self->{timeout});

    my $sent = $self->send_raw($bytes, split => $opt{split}, delay => $opt{delay},
                               timeout => $opt{timeout});
    my $error = $sent ? undef : $self->{error};

    # an early answer is already in rbuf; give it a moment otherwise
    $deadline = time + 2 if !$sent && $deadline > time + 2;

    my $r = $self->read_response($deadline, ($method || '') eq 'HEAD', sink => $opt{sink});
    $r->{write_error} = $error if defined $error;
    return $r;
}

# read_response($deadline, $is_head, sink => CODE) reads one response:
# {status, reason, version, head (raw text), headers (lower-case names, a
# repeated one joined with ", "), header_list ([name, value] pairs as
# sent), body (or sink gets it piece by piece), body_length, complete (the
# framing was satisfied: all of Content-Length, the last chunk, or EOF of
# a close-delimited body), error}
sub read_response {
    my ($self, $deadline, $head, %opt) = @_;

    my ($status_line, $status);

    # skip 1xx interim responses
    for (1 .. 5) {
        $status_line = $self->_line($deadline);
        return { error => $self->{eof} ? 'eof before the status line' : 'no status line',
                 complete => 0, body => '', body_length => 0, headers => {}, header_list => [] }
            unless defined $status_line;

        $status = $status_line =~ m{^HTTP/(1\.[01]) (\d{3})} ? $2 : undef;
        return { error => "bad status line: $status_line", complete => 0, body => '',
                 body_length => 0, headers => {}, header_list => [] }
            unless defined $status;

        last unless $status >= 100 && $status < 200;

        for (;;) {
            my $line = $self->_line($deadline);
            last unless defined $line && $line ne '';
        }
    }

    my ($version, $reason) = $status_line =~ m{^HTTP/(1\.[01]) \d{3} ?(.*)$};
    my $r = { status => $status, reason => $reason, version => $version,
              head => "$status_line\r\n", headers => {}, header_list => [],
              body => '', body_length => 0, complete => 0 };

    for (;;) {
        my $line = $self->_line($deadline);
        return { %$r, error => 'eof in headers' } unless defined $line;
        $r->{head} .= "$line\r\n";
        last if $line eq '';

        my ($name, $value) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        push @{ $r->{header_list} }, [$name, $value];
        my $lc = lc $name;
        $r->{headers}{$lc} = exists $r->{headers}{$lc} ? "$r->{headers}{$lc}, $value" : $value;
    }

    if ($head || $status == 204 || $status == 304) {
        $r->{complete} = 1;
        return $r;
    }

    my $sink = $opt{sink} || sub { $r->{body} .= $_[0] };
    my $take = sub {
        my ($n) = @_;
        my $piece = substr($self->{rbuf}, 0, $n, '');
        $r->{body_length} += length $piece;
        $sink->($piece);
    };

    my $h = $r->{headers};

    if (($h->{'transfer-encoding'} || '') =~ /chunked/i) {
        for (;;) {
            my $size = $self->_line($deadline);
            return { %$r, error => 'eof in chunk size' } unless defined $size;
            return { %$r, error => "bad chunk size: $size" } unless $size =~ /^([0-9a-fA-F]+)/;
            $size = hex $1;
            last if $size == 0;

            while ($size > 0) {
                return { %$r, error => 'eof in chunk' }
                    unless length $self->{rbuf} || $self->_fill($deadline);
                my $n = $size < length $self->{rbuf} ? $size : length $self->{rbuf};
                $take->($n);
                $size -= $n;
            }

            return { %$r, error => 'eof after chunk' } unless $self->_need(2, $deadline);
            return { %$r, error => 'no CRLF after chunk' }
                unless substr($self->{rbuf}, 0, 2, '') eq "\r\n";
        }

        # trailers, up to the empty line
        for (;;) {
            my $line = $self->_line($deadline);
            return { %$r, error => 'eof in trailers' } unless defined $line;
            last if $line eq '';
        }

    } elsif (defined $h->{'content-length'}) {
        my $len = $h->{'content-length'};

        while ($len > 0) {
            return { %$r, error => 'eof in body' }
                unless length $self->{rbuf} || $self->_fill($deadline);
            my $n = $len < length $self->{rbuf} ? $len : length $self->{rbuf};
            $take->($n);
            $len -= $n;
        }

    } else {
        for (;;) {
            $take->(length $self->{rbuf}) if length $self->{rbuf};
            last unless $self->_fill($deadline);
        }
        return { %$r, error => $self->{error} || 'timeout in a close-delimited body' }
            unless $self->{eof} && !$self->{error};
    }

    $r->{complete} = 1;
    return $r;
}

# 1 when the server closes the connection within $timeout seconds (what
# arrives first is read and kept in received()), 0 otherwise
sub wait_closed {
    my ($self, $timeout) = @_;

    my $deadline = time + $timeout;

    while (!$self->{eof}) {
        return 0 if time >= $deadline;
        $self->_fill($deadline);
        $self->{rbuf} = '';
    }

    return 1;
}

1;
