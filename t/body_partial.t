#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# An app that reads only part of a request body (the first 100 bytes of a
# 70 KB POST, a common pattern) through nginx and the module, with the
# request body buffered (the default) and streamed: every client gets its
# answer, no worker dies, the pool stays healthy.  Once, such a POST left
# the worker's record parser in the middle of a STDIN record when handle()
# returned and the next record was copied to NULL (SIGSEGV), so one client
# could keep a pool down.  Also a 9 MiB body behind a 64 KiB answer the app
# writes before reading (the worker reads at most 8 MiB first).

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd kit nginx module https));

$t->write_conf(<<'EOF')->run;
pool kit {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/kit.sock;
    workers 2;
}
EOF

$t->write_module_conf(<<'EOF', servers => {
        client_max_body_size 32m;
        client_body_buffer_size 128k;

        location / {
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF
    'stream.test' => <<'EOF',
        client_max_body_size 32m;

        location / {
            drover_request_buffering off;
            drover_pass unix:%%DIR%%/kit.sock;
        }
EOF
})->run_nginx;

$t->nginx_started('with the module');

my @before = sort $t->worker_pids;
is(scalar(grep { defined } @before), 2, 'two workers answer');

my $body = join '', map { chr(($_ * 7 + 3) & 0xff) } 0 .. 70_000 - 1;

for my $host ('localhost', 'stream.test') {
    my $ok = 0;

    for my $i (1 .. 14) {
        my $r = $t->https(POST => '/peek?n=100', body => $body, timeout => 20,
                          headers => { Host => $host });
        $ok++ if ($r->{status} || 0) == 200 && ($r->{body} || '') eq "peeked 100\n";
    }

    is($ok, 14, "$host: 14 POSTs of 70 KB, the app reads 100 bytes: 14 answers");

    # the body ends off and on a record boundary; reads stop inside one
    for my $case ([65535, 100], [65536, 65535], [131072, 70000], [100000, 0]) {
        my ($len, $n) = @$case;
        my $b = substr($body x 2, 0, $len);
        my $r = $t->https(POST => "/peek?n=$n", body => $b, timeout => 20,
                          headers => { Host => $host });
        is($r->{body}, "peeked $n\n", "$host: body $len, app reads $n");
    }
}

# 9 MiB behind a 64 KiB answer written first: the app reads nothing
my $nine = 'z' x (9 * 1024 * 1024);
my $r = $t->https(POST => '/big?kb=64', body => $nine, timeout => 60);
is($r->{status}, 200, '9 MiB POST to an app that answers 64 KiB first: 200');
is(length($r->{body} || ''), 64 * 1024, 'and the whole 64 KiB');

$r = $t->https(POST => '/peek?n=100', body => $nine, timeout => 60,
               headers => { Host => 'stream.test' });
is($r->{body}, "peeked 100\n", '9 MiB streamed POST, the app reads 100 bytes');

my @after = sort $t->worker_pids;
is_deeply(\@after, \@before, 'the same two workers serve: none died');

unlike($t->log, qr/killed by signal|exited with code/, 'no worker exit in the log');
unlike($t->log, qr/failing/, 'the pool was never marked failing');

$t->done;
