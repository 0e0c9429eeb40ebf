#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# mod_drover against a FastCGI backend that breaks the protocol (plain
# mode: a fake with no .slots file). Each malformed answer gives 502, or --
# when the response had begun -- a response cut short, never a clean
# complete one; one error log line; no byte of the malformed part (each
# carries a marker) reaches the client; the next request is served. Each
# case with the bytes in one write and one byte per write. STDERR goes to
# the log only. A client that leaves while the app works: the backend
# gets FCGI_ABORT_REQUEST at once. FastCGI 1.0 sections 3.3 (records),
# 5.3, 5.4, 5.5; RFC 3875 6.3.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::Test::Apache;
use Drover::FCGI qw(:all);
use Drover::FakeFCGI qw(fcgi_response fcgi_end_request);
use Drover::Test::Malformed qw(malformed_answers $OK_HEAD);

my $t = Drover::Test->new->has_apache;

my $MARK = sprintf 'DROVERMARK%08x%04x', int(rand(0xffffffff)), $$ & 0xffff;

my %cases = malformed_answers($MARK);

my %good = (
    'stderr' => sub {
        fcgi_record(FCGI_STDERR, $_[0], "$MARK on stderr\n") . fcgi_response($_[0], "${OK_HEAD}ok\n");
    },
    'ok' => sub { fcgi_response($_[0], "${OK_HEAD}ok\n") },
    'slow' => sub { [{ sleep => 5 }, fcgi_response($_[0], "${OK_HEAD}late\n")] },
);

sub reply_by_path {
    my ($req) = @_;
    my ($name) = (Drover::FakeFCGI->params_of($req)->{REQUEST_URI} || '') =~ m{^/[^/]+/([^/?]+)};
    my $make = $cases{$name // ''} || $good{$name // ''} || $good{ok};
    return $make->($req->{id});
}

my $fake = Drover::FakeFCGI->new($t, reply => \&reply_by_path)->start;
my $bytewise = Drover::FakeFCGI->new($t, name => 'bytewise', split => 1, delay => 0,
                                     reply => \&reply_by_path)->start;
my ($pass, $bytewise_pass) = ($fake->pass, $bytewise->pass);

$t->write_apache_conf(<<"EOF")->run_apache;
DroverReadTimeout 5s

<Location /h/>
    DroverPass $pass
</Location>

<Location /b/>
    DroverPass $bytewise_pass
</Location>
EOF

$t->apache_started;

sub healthy {
    my ($what, $prefix) = @_;
    my $r = $t->http(GET => "/$prefix/ok");
    ok(($r->{status} || 0) == 200 && ($r->{body} // '') eq "ok\n", "$what: the next request is served")
        or diag($r->{error} || "status $r->{status}");
}

for my $prefix (qw(h b)) {
    my $how = $prefix eq 'b' ? 'byte by byte' : 'one write';

    for my $name (sort keys %cases) {
        my $what = "$name ($how)";

        my $mark = $t->apache_log_mark;
        my $c = $t->http_connect(timeout => 15);
        my $r = $c->request(GET => "/$prefix/$name");
        $c->wait_closed(2) unless ($r->{status} || 0) == 502 && $r->{complete};
        $c->close;

        my $status = $r->{status} || 0;
        ok(index($c->received, $MARK) < 0, "$what: no marker byte reached the client")
            or diag(substr($c->received, 0, 300));

        # byte by byte, the bytes after END_REQUEST come in a read of their
        # own, after the response was rightly complete
        if ($prefix eq 'b' && $name eq 'data-after-end'
            && $status == 200 && $r->{complete} && $r->{body} eq "first\n")
        {
            pass("$what: END_REQUEST came alone, the complete response before it stands");
            healthy($what, $prefix);
            next;
        }

        ok($status == 502 || ($status && !$r->{complete}), "$what: 502, or a response cut short")
            or diag("status $status, complete " . ($r->{complete} // 0) . ', body ' . ($r->{body} // ''));

        my @lines = $t->wait_apache_log(qr/\[drover:error\]/, $mark);
        is(scalar @lines, 1, "$what: one error log line") or diag(join "\n", @lines);

        healthy($what, $prefix);
    }
}

my $mark = $t->apache_log_mark;
my $c = $t->http_connect;
my $r = $c->request(GET => '/h/stderr');
is($r->{body}, "ok\n", 'STDERR beside a good answer: the answer');
ok(index($c->received, $MARK) < 0, 'nothing of STDERR reaches the client');
ok($t->wait_apache_log(qr/FastCGI sent in stderr: "\Q$MARK\E on stderr"/, $mark), 'STDERR is logged');
$c->close;

# ---- a client that leaves while the app works: FCGI_ABORT_REQUEST ----

$c = $t->http_connect;
$c->send_raw($c->request_bytes(GET => '/h/slow'));
ok($t->wait_for(sub { grep { (Drover::FakeFCGI->params_of($_)->{REQUEST_URI} || '') eq '/h/slow' }
                      $fake->requests }, 5), 'a slow request reached the backend');
my $t0 = time;
$c->close;
ok($t->wait_for(sub { scalar $fake->aborts }, 3), 'the client left: FCGI_ABORT_REQUEST reached the backend');
cmp_ok(time - $t0, '<', 2, 'at once, not when the app would have answered');
is($t->http(GET => '/h/ok')->{body}, "ok\n", 'the next request is served');

$t->apache_done;
