# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::FCGI;

# A FastCGI client in core Perl, for tests: well-formed requests (optionally
# written in small pieces, to exercise the server's resumable parser) and raw
# records for hostile ones.  Record layout, FastCGI 1.0 spec section 3.3:
#
#     version(1) type(1) requestId(2) contentLength(2) paddingLength(1)
#     reserved(1) content padding
#
# Every read has a deadline, so a test never hangs on a silent server.

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM MSG_NOSIGNAL);
use Time::HiRes qw(time sleep);

use Exporter qw(import);

use constant {
    FCGI_VERSION_1          => 1,

    # record types, spec section 8
    FCGI_BEGIN_REQUEST      => 1,
    FCGI_ABORT_REQUEST      => 2,
    FCGI_END_REQUEST        => 3,
    FCGI_PARAMS             => 4,
    FCGI_STDIN              => 5,
    FCGI_STDOUT             => 6,
    FCGI_STDERR             => 7,
    FCGI_DATA               => 8,
    FCGI_GET_VALUES         => 9,
    FCGI_GET_VALUES_RESULT  => 10,
    FCGI_UNKNOWN_TYPE       => 11,

    FCGI_KEEP_CONN          => 1,

    FCGI_RESPONDER          => 1,
    FCGI_AUTHORIZER         => 2,
    FCGI_FILTER             => 3,

    # protocolStatus of FCGI_END_REQUEST
    FCGI_REQUEST_COMPLETE   => 0,
    FCGI_CANT_MPX_CONN      => 1,
    FCGI_OVERLOADED         => 2,
    FCGI_UNKNOWN_ROLE       => 3,

    FCGI_MAX_CONTENT        => 65535,
};

our @EXPORT_OK = qw(
    FCGI_VERSION_1 FCGI_BEGIN_REQUEST FCGI_ABORT_REQUEST FCGI_END_REQUEST
    FCGI_PARAMS FCGI_STDIN FCGI_STDOUT FCGI_STDERR FCGI_DATA FCGI_GET_VALUES
    FCGI_GET_VALUES_RESULT FCGI_UNKNOWN_TYPE FCGI_KEEP_CONN FCGI_RESPONDER
    FCGI_AUTHORIZER FCGI_FILTER FCGI_REQUEST_COMPLETE FCGI_CANT_MPX_CONN
    FCGI_OVERLOADED FCGI_UNKNOWN_ROLE
    fcgi_record fcgi_stream fcgi_pairs fcgi_decode_pairs fcgi_begin_request
    fcgi_request_bytes
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

our $DEFAULT_TIMEOUT = 10;


# ---- pure encoders: bytes in, bytes out ----

# one record; content longer than 65535 bytes is a caller bug
sub fcgi_record {
    my ($type, $id, $content, %opt) = @_;

    $content = '' unless defined $content;
    croak 'record content over 65535 bytes' if length $content > FCGI_MAX_CONTENT;

    my $version = defined $opt{version} ? $opt{version} : FCGI_VERSION_1;
    my $pad = defined $opt{padding} ? $opt{padding} : (8 - length($content) % 8) % 8;

    return pack('CCnnCx', $version, $type, $id, length $content, $pad)
        . $content . ("\0" x $pad);
}

# a stream (PARAMS, STDIN, ...): the data in records of at most $max bytes,
# then the empty record that ends the stream (spec section 3.3)
sub fcgi_stream {
    my ($type, $id, $data, $max) = @_;

    $max ||= 32768;
    croak 'stream piece size must be 1..65535' if $max > FCGI_MAX_CONTENT;

    my $out = '';
    for (my $off = 0; $off < length $data; $off += $max) {
        $out .= fcgi_record($type, $id, substr($data, $off, $max));
    }

    return $out . fcgi_record($type, $id, '');
}

# a length as 1 byte when < 128, else 4 bytes with the high bit set
# (spec section 3.4)
sub _pair_length {
    my ($len) = @_;

    return $len < 128 ? pack('C', $len) : pack('N', $len | 0x80000000);
}

# name-value pairs from a list (name, value, name, value, ...)
sub fcgi_pairs {
    my @kv = @_;
    my $out = '';

    while (@kv) {
        my ($name, $value) = splice @kv, 0, 2;
        $value = '' unless defined $value;
        $out .= _pair_length(length $name) . _pair_length(length $value)
            . $name . $value;
    }

    return $out;
}

# the reverse: a list of (name, value, ...); croaks on a truncated pair
sub fcgi_decode_pairs {
    my ($data) = @_;
    my @kv;
    my $off = 0;

    while ($off < length $data) {
        my @len;

        for (1 .. 2) {
            croak 'truncated pair length' if $off >= length $data;
            my $b = unpack('C', substr($data, $off, 1));

            if ($b < 128) {
                push @len, $b;
                $off += 1;
            } else {
                croak 'truncated pair length' if $off + 4 > length $data;
                push @len, unpack('N', substr($data, $off, 4)) & 0x7fffffff;
                $off += 4;
            }
        }

        croak 'truncated pair' if $off + $len[0] + $len[1] > length $data;
        push @kv, substr($data, $off, $len[0]), substr($data, $off + $len[0], $len[1]);
        $off += $len[0] + $len[1];
    }

    return @kv;
}

sub fcgi_begin_request {
    my ($id, $role, $flags) = @_;

    return fcgi_record(FCGI_BEGIN_REQUEST, $id,
        pack('nCx5', defined $role ? $role : FCGI_RESPONDER, $flags || 0));
}

# The CGI/1.1 parameters a front end like nginx sends (RFC 3875 section 4.1),
# as a list; %$extra adds to or replaces them.
sub default_params {
    my ($method, $uri, $body, $extra) = @_;

    my ($path, $query) = $uri =~ /^([^?]*)(?:\?(.*))?$/s;
    $query = '' unless defined $query;

    my %p = (
        GATEWAY_INTERFACE => 'CGI/1.1',
        SERVER_SOFTWARE   => 'drover-tests',
        SERVER_PROTOCOL   => 'HTTP/1.1',
        SERVER_NAME       => 'localhost',
        SERVER_PORT       => '80',
        SERVER_ADDR       => '127.0.0.1',
        REMOTE_ADDR       => '127.0.0.1',
        REMOTE_PORT       => '40000',
        REQUEST_METHOD    => $method,
        REQUEST_URI       => $uri,
        DOCUMENT_URI      => $path,
        SCRIPT_NAME       => $path,
        QUERY_STRING      => $query,
        CONTENT_LENGTH    => length($body) ? length($body) : '',
        CONTENT_TYPE      => '',
        HTTP_HOST         => 'localhost',
    );

    my @order = sort keys %p;
    my @extra = ref $extra eq 'HASH' ? (map { ($_, $extra->{$_}) } sort keys %$extra)
              : ref $extra eq 'ARRAY' ? @$extra
              : ();

    my %override = @extra;
    my @kv = map { ($_, $p{$_}) } grep { !exists $override{$_} } @order;

    return (@kv, @extra);
}

# every byte of one request: BEGIN_REQUEST, PARAMS stream, STDIN stream
sub fcgi_request_bytes {
    my (%a) = @_;

    my $id = defined $a{id} ? $a{id} : 1;
    my $body = defined $a{body} ? $a{body} : '';
    my @params = $a{raw_params} ? @{ $a{raw_params} }
        : default_params($a{method} || 'GET', $a{uri} || '/', $body, $a{params});

    return fcgi_begin_request($id, $a{role}, $a{keep_conn} ? FCGI_KEEP_CONN : 0)
        . fcgi_stream(FCGI_PARAMS, $id, fcgi_pairs(@params), $a{record_size})
        . fcgi_stream(FCGI_STDIN, $id, $body, $a{record_size});
}


# ---- a connection ----

# Drover::FCGI->connect(PATH, timeout => SECONDS): undef and $@ on failure.
# PATH "tcp:ADDR:PORT" (IPv4) connects over TCP, from local_addr => ADDR
# when given.
sub connect {
    my ($class, $path, %opt) = @_;

    my $sock = $path =~ /^tcp:([\d.]+):(\d+)$/
        ? IO::Socket::INET->new(PeerAddr => $1, PeerPort => $2, Proto => 'tcp',
                                (defined $opt{local_addr} ? (LocalAddr => $opt{local_addr}) : ()))
        : IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path);
    unless ($sock) {
        $@ = "connect $path: $!";
        return undef;
    }

    $sock->blocking(0);
    binmode $sock;

    return bless {
        sock    => $sock,
        path    => $path,
        rbuf    => '',
        eof     => 0,
        timeout => defined $opt{timeout} ? $opt{timeout} : $DEFAULT_TIMEOUT,
        error   => undef,
    }, $class;
}

sub socket { $_[0]{sock} }
sub error  { $_[0]{error} }

sub close {
    my ($self) = @_;

    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
}

# Read what is there into rbuf, waiting at most $wait seconds.  Returns the
# number of bytes read, 0 on EOF (also sets eof), undef when nothing came.
sub _fill {
    my ($self, $wait) = @_;

    return 0 if $self->{eof};

    my $rin = '';
    vec($rin, fileno $self->{sock}, 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $wait < 0 ? 0 : $wait);
    return undef if $n <= 0;

    my $got = sysread($self->{sock}, $self->{rbuf}, 65536, length $self->{rbuf});

    if (!defined $got) {
        return undef if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        $self->{error} = "read: $!";
        $self->{eof} = 1;       # ECONNRESET and the like end the stream too
        return 0;
    }

    $self->{eof} = 1 if $got == 0;
    return $got;
}

# Write all of $data before $deadline, reading whatever the server sends
# meanwhile (a server that echoes while reading would otherwise block on a
# full socket while we block on ours).  1 on success, 0 with error set.
sub _write_all {
    my ($self, $data, $deadline) = @_;

    my $off = 0;

    while ($off < length $data) {
        my $left = $deadline - time;
        if ($left <= 0) {
            $self->{error} = 'timeout writing';
            return 0;
        }

        my ($rin, $win) = ('', '');
        vec($rin, fileno $self->{sock}, 1) = 1 unless $self->{eof};
        vec($win, fileno $self->{sock}, 1) = 1;
        select(my $rout = $rin, my $wout = $win, undef, $left);

        if (!$self->{eof} && vec($rout, fileno $self->{sock}, 1)) {
            $self->_fill(0);
        }

        next unless vec($wout, fileno $self->{sock}, 1);

        my $n = send($self->{sock}, substr($data, $off), MSG_NOSIGNAL);

        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $self->{error} = "write: $!";
            return 0;
        }

        $off += $n;
    }

    return 1;
}

# Send bytes as they are.  split => N writes N bytes at a time, delay => S
# sleeps S seconds between pieces (still reading meanwhile).  1 or 0.
sub send_raw {
    my ($self, $data, %opt) = @_;

    my $deadline = time + ($opt{timeout} || $self->{timeout});
    my $piece = $opt{split} || length($data) || 1;

    for (my $off = 0; $off < length $data; $off += $piece) {
        return 0 unless $self->_write_all(substr($data, $off, $piece), $deadline);

        if ($opt{delay} && $off + $piece < length $data) {
            my $until = time + $opt{delay};
            while ((my $left = $until - time) > 0) {
                $self->_fill($left);
            }
        }
    }

    return 1;
}

# The next record: a hash {version, type, id, content, padding}, or undef
# with error 'eof' or 'timeout' (or a read error).
sub read_record {
    my ($self, %opt) = @_;

    my $deadline = time + (defined $opt{timeout} ? $opt{timeout} : $self->{timeout});

    for (;;) {
        if (length $self->{rbuf} >= 8) {
            my ($version, $type, $id, $clen, $plen) =
                unpack('CCnnC', $self->{rbuf});

            if (length $self->{rbuf} >= 8 + $clen + $plen) {
                my $content = substr($self->{rbuf}, 8, $clen);
                substr($self->{rbuf}, 0, 8 + $clen + $plen, '');

                return { version => $version, type => $type, id => $id,
                         content => $content, padding => $plen };
            }
        }

        if ($self->{eof}) {
            $self->{error} ||= length $self->{rbuf} ? 'eof inside a record' : 'eof';
            return undef;
        }

        my $left = $deadline - time;
        if ($left <= 0) {
            $self->{error} = 'timeout';
            return undef;
        }

        $self->_fill($left);
    }
}

# 1 when the server closes the connection within $timeout seconds (data
# that arrives first is discarded), 0 otherwise
sub wait_closed {
    my ($self, $timeout) = @_;

    my $deadline = time + $timeout;

    while (!$self->{eof}) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        $self->_fill($left);
        $self->{rbuf} = '';
    }

    return 1;
}

# Read the records of request $id until its END_REQUEST; returns the
# response hash (see request()).
sub read_response {
    my ($self, %opt) = @_;

    my $id = defined $opt{id} ? $opt{id} : 1;
    my $deadline = time + ($opt{timeout} || $self->{timeout});
    my %r = (stdout => '', stderr => '', records => [], complete => 0);

    for (;;) {
        my $rec = $self->read_record(timeout => $deadline - time);

        unless ($rec) {
            $r{error} = $self->{error};
            last;
        }

        push @{ $r{records} }, $rec;

        if ($rec->{id} != $id) {
            $r{stray} = 1;      # a management record or another request
            next;
        }

        if ($rec->{type} == FCGI_STDOUT) {
            $r{stdout} .= $rec->{content};

        } elsif ($rec->{type} == FCGI_STDERR) {
            $r{stderr} .= $rec->{content};

        } elsif ($rec->{type} == FCGI_END_REQUEST) {
            @r{qw(app_status protocol_status)} = unpack('NC', $rec->{content});
            $r{complete} = 1;
            last;
        }
    }

    _parse_stdout(\%r);
    return \%r;
}

# CGI response (RFC 3875 section 6): header lines, an empty line, the body.
# "Status: 404 Not Found" sets the status; 200 otherwise.
sub _parse_stdout {
    my ($r) = @_;

    $r->{headers} = {};
    $r->{header_list} = [];
    $r->{body} = '';

    my ($head, $body) = split /\r?\n\r?\n/, $r->{stdout}, 2;
    return unless defined $body;

    $r->{body} = $body;
    $r->{status} = 200;

    for my $line (split /\r?\n/, $head) {
        my ($name, $value) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        push @{ $r->{header_list} }, [$name, $value];

        my $lc = lc $name;
        $r->{headers}{$lc} = exists $r->{headers}{$lc}
            ? "$r->{headers}{$lc}, $value" : $value;
    }

    if (defined $r->{headers}{status} && $r->{headers}{status} =~ /^(\d{3})/) {
        $r->{status} = $1;
    }
}

# One request on this connection.  Arguments: method, uri, body, params
# (hash or list of extra/replacing params), raw_params (the whole list),
# id, keep_conn, role, record_size (bytes per stream record), split and
# delay (see send_raw), timeout.  Returns a hash: status, headers (lower-case
# names), header_list, body, stderr, stdout, app_status, protocol_status,
# complete (END_REQUEST seen), records, error.
sub request {
    my ($self, %a) = @_;

    my $bytes = fcgi_request_bytes(%a);

    unless ($self->send_raw($bytes, split => $a{split}, delay => $a{delay},
                            timeout => $a{timeout}))
    {
        # the server may have answered and closed already: read what came
        my $r = $self->read_response(id => $a{id}, timeout => 1);
        $r->{error} = $self->{error};
        return $r;
    }

    return $self->read_response(id => $a{id}, timeout => $a{timeout});
}

# FCGI_GET_VALUES for @names (spec section 4.1): the result as a hash, or
# undef with error set.  The result record itself is in {last_record}.
sub get_values {
    my ($self, @names) = @_;

    my $bytes = fcgi_record(FCGI_GET_VALUES, 0, fcgi_pairs(map { ($_, '') } @names));
    return undef unless $self->send_raw($bytes);

    my $rec = $self->read_record or return undef;
    $self->{last_record} = $rec;

    if ($rec->{type} != FCGI_GET_VALUES_RESULT) {
        $self->{error} = "expected GET_VALUES_RESULT, got type $rec->{type}";
        return undef;
    }

    my %v = eval { fcgi_decode_pairs($rec->{content}) };
    if ($@) {
        $self->{error} = "bad GET_VALUES_RESULT: $@";
        return undef;
    }

    return \%v;
}


# ---- one-shot helpers ----

# Drover::FCGI::get(PATH, %request): connect, one request, close.  On a
# failed connect returns { error => ... }.
sub get {
    my ($path, %a) = @_;

    my $c = Drover::FCGI->connect($path, timeout => $a{timeout},
                                  local_addr => delete $a{local_addr})
        or return { error => $@, complete => 0, body => '', stderr => '' };

    my $r = $c->request(%a);
    $c->close;

    return $r;
}

1;
