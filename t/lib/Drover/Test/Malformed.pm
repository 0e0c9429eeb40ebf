# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
#
# Drover::Test::Malformed -- the malformed FastCGI answers a front end must
# turn into a 502 (or a response cut short), with one log line and nothing
# of them reaching the client: the same cases for the nginx module
# (t/module_hostile.t) and mod_drover (t/apache_hostile.t).
#
#   my %cases = malformed_answers($MARK);   # name => sub ($id) -> reply
#
# A reply is bytes, or pieces for Drover::FakeFCGI (bytes, { close => 1 },
# { sleep => S }).  $MARK is a unique string: it must never reach a client.

package Drover::Test::Malformed;

use strict;
use warnings;

use Exporter 'import';

use Drover::FCGI qw(:all);
use Drover::FakeFCGI qw(fcgi_response fcgi_end_request);

our @EXPORT_OK = qw(malformed_answers $OK_HEAD);

our $OK_HEAD = "Content-Type: text/plain\r\n\r\n";

sub malformed_answers {
    my ($MARK) = @_;

    return (
        # RFC 3875 6.3: a header line is name ":" value
        'no-colon' => sub {
            fcgi_response($_[0], "Content-Type: text/plain\r\n$MARK-no-colon-here\r\n\r\nbody $MARK\n");
        },

        # spec 3.3: version is FCGI_VERSION_1
        'version-2' => sub {
            fcgi_record(FCGI_STDOUT, $_[0], "$OK_HEAD$MARK version 2\n", version => 2)
                . fcgi_record(FCGI_STDOUT, $_[0], '') . fcgi_end_request($_[0]);
        },

        # a record that claims 1000 bytes, then the connection closes after
        # 100 (no marker: the 100 bytes are a plausible start of a body, which
        # a streaming parser may pass on before it knows the rest never comes)
        'length-past-record' => sub {
            my $content = substr($OK_HEAD . ('x' x 200), 0, 100);
            [pack('CCnnCx', 1, FCGI_STDOUT, $_[0], 1000, 0) . $content, { close => 1 }];
        },

        # 1 MiB of headers: far over any header buffer
        'huge-headers' => sub {
            my $lines = join '', map { sprintf "X-%s-%06d: %s\r\n", $MARK, $_, 'h' x 100 } 1 .. 8000;
            fcgi_response($_[0], "Content-Type: text/plain\r\n$lines\r\nbody\n");
        },

        # one header line over any sane limit
        'huge-header-line' => sub {
            fcgi_response($_[0], "Content-Type: text/plain\r\nX-Long: $MARK" . ('l' x (1 << 20)) . "\r\n\r\nbody\n");
        },

        # a complete response, then more STDOUT after END_REQUEST, all in one write
        'data-after-end' => sub {
            fcgi_response($_[0], "${OK_HEAD}first\n")
                . fcgi_record(FCGI_STDOUT, $_[0], "$MARK after the end\n")
                . fcgi_end_request($_[0]);
        },

        # the backend goes away before END_REQUEST, the body under way
        'close-mid-body' => sub {
            [fcgi_record(FCGI_STDOUT, $_[0], "${OK_HEAD}partial body\n"), { close => 1 }];
        },

        # the backend goes away in the middle of the headers
        'close-mid-headers' => sub {
            [fcgi_record(FCGI_STDOUT, $_[0], "Content-Type: text/plain\r\nX-$MARK: 1"), { close => 1 }];
        },

        # the backend goes away without a byte
        'close-at-once' => sub { [{ close => 1 }] },

        # STDOUT and END_REQUEST for a request id that was never sent
        'wrong-request-id' => sub {
            fcgi_response($_[0] + 7, "$OK_HEAD$MARK wrong id\n");
        },

        # a record type a responder never sends (spec 8)
        'unknown-type' => sub {
            fcgi_record(99, $_[0], "$MARK unknown type") . fcgi_response($_[0], "${OK_HEAD}ok\n");
        },

        # END_REQUEST's body is 8 bytes (spec 5.5); the marker is after the
        # END_REQUEST header, where the 8 bytes would be
        'short-end-request' => sub {
            fcgi_stream(FCGI_STDOUT, $_[0], "${OK_HEAD}short end\n")
                . fcgi_record(FCGI_END_REQUEST, $_[0], "\0\0") . $MARK;
        },

        # RFC 3875 6.3.3: Status is a 3-digit code
        'bad-status' => sub {
            fcgi_response($_[0], "Status: abc\r\nContent-Type: text/plain\r\n\r\n$MARK bad status\n");
        },

        # a body shorter than its Content-Length
        'content-length-short' => sub {
            fcgi_response($_[0], "Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly ten.\n");
        },

        # a body longer than its Content-Length: the rest must go nowhere
        'content-length-long' => sub {
            fcgi_response($_[0], "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n12345$MARK\n");
        },

        # the same, the excess a moment after the first 5 bytes: the outcome
        # must not depend on how the bytes are split
        'content-length-long-later' => sub {
            [fcgi_record(FCGI_STDOUT, $_[0], "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n12345"),
             { sleep => 0.3 },
             fcgi_record(FCGI_STDOUT, $_[0], "$MARK\n") . fcgi_record(FCGI_STDOUT, $_[0], '')
             . fcgi_end_request($_[0])];
        },

        # NUL in a header value
        'nul-in-header' => sub {
            fcgi_response($_[0], "Content-Type: text/plain\r\nX-Nul: a\0$MARK\r\n\r\nbody\n");
        },
    );
}

1;
