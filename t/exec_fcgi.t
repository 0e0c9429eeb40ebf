#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Exec mode with a libfcgi C program (built here from libfcgi-dev): it
# accepts on fd 0 like php-cgi, behind drover_pass and on its slot socket
# directly; a crash is restarted, with the backoff of any worker; it reads
# PHP_FCGI_MAX_REQUESTS like php-cgi does and its exit 0 after it is a
# recycle; request_timeout kills a request that runs too long (and droverd
# answers 504); a reload turns the pool into an app pool (its shared socket
# bound) and back (the shared socket gone); the program dies with droverd.

use strict;
use warnings;

use JSON::PP qw(decode_json);
use Test::More;
use Time::HiRes qw(time);

use Drover::Test;
use Drover::FCGI ();

my $t = Drover::Test->new->has(qw(droverd nginx module cc hello));
plan(skip_all => 'libfcgi-dev is not installed') unless -r '/usr/include/fcgi_stdio.h';

my $dir = $t->dir;
my $ctl = $t->build . '/droverctl';

plan(skip_all => 'droverctl is not built (run make)') unless -x $ctl;

# the crash and the timeout are the test
$t->allow_alert(qr/pool fcgi: worker \d+ .*(signal 6|signal 9|request timeout)/);

my $src = $t->write_file('prog.c', <<'EOF');
/* a libfcgi responder: its pid and count; /crash aborts, /sleep hangs */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
    const char  *uri, *max;
    int          n = 0, limit;

    max = getenv("PHP_FCGI_MAX_REQUESTS");
    limit = max ? atoi(max) : 0;

    while (FCGI_Accept() >= 0) {
        uri = getenv("REQUEST_URI");
        n++;

        if (uri != NULL && strcmp(uri, "/crash") == 0) {
            abort();
        }

        if (uri != NULL && strcmp(uri, "/sleep") == 0) {
            sleep(60);
        }

        printf("Content-Type: text/plain\r\n\r\npid=%d n=%d max=%s\n",
               (int) getpid(), n, max ? max : "unset");

        if (limit > 0 && n >= limit) {
            FCGI_Finish();
            return 0;
        }
    }

    return 0;
}
EOF

my $prog = "$dir/prog";
my ($code, $out) = $t->run_cmd(['cc', '-O2', '-o', $prog, $src, '-lfcgi'], 60);
is($code, 0, 'the libfcgi program builds') or diag($out);
chmod 0755, $prog;

$t->write_conf(<<'EOF')->run(wait => 0);
log_level info;
control unix:%%DIR%%/ctl.sock;

pool fcgi {
    exec            %%DIR%%/prog;
    listen          unix:%%DIR%%/fcgi.sock;
    workers         1;
    max_requests    4;
    request_timeout 1500ms;
}
EOF

ok($t->wait_for(sub { $t->alive && -S "$dir/fcgi.sock.0" }, 20), 'its slot socket is there')
    or diag($t->log);

# straight to the slot socket, as a stock FastCGI client would
my $r;
ok($t->wait_for(sub {
    $r = Drover::FCGI::get("$dir/fcgi.sock.0", uri => '/', timeout => 5);
    ($r->{stdout} // '') =~ /pid=\d+/;
}, 10), 'a FastCGI request on the slot socket') or diag(explain($r));
like($r->{stdout}, qr/max=4\b/, 'PHP_FCGI_MAX_REQUESTS reaches the program');

$t->write_nginx_conf(<<'EOF', module => 1)->run_nginx;
    server {
        listen 127.0.0.1:%%PORT%%;

        drover_queue size=16 timeout=20s;

        location / {
            drover_pass unix:%%DIR%%/fcgi.sock;
        }
    }
EOF
$t->nginx_started('with the module');

sub pid_of {
    my $r = $t->http(GET => '/', timeout => 10);
    return ($r->{body} // '') =~ /pid=(\d+)/ ? $1 : undef;
}

# ---- max_requests 4 through PHP_FCGI_MAX_REQUESTS ----

my $mark = $t->log_mark;
my %pids;
for (1 .. 9) {
    my $pid = pid_of();
    $pids{ $pid // 'none' }++;
}
ok(!$pids{none} && keys %pids >= 3, '9 requests through drover_pass, 3 processes at most 4 each')
    or diag(explain(\%pids));
ok(!grep({ $_ > 4 } values %pids), 'none served more than 4') or diag(explain(\%pids));
ok($t->wait_log(qr/pool fcgi: worker 0 \(pid \d+\) exited with code 0 .*\(max requests\)/, 10, 1,
                $mark), 'its exit 0 is a max requests recycle');
ok(!grep({ /keeps exiting early/ } split /\n/, $t->log_since($mark)), 'with no backoff');

# ---- a crash ----

my $before = pid_of();
$mark = $t->log_mark;
$r = $t->http(POST => '/crash', body => 'x', timeout => 10);
is($r->{status}, 502, 'a program that aborts: 502');
ok($t->wait_log(qr/pool fcgi: worker 0 \(pid $before\) killed by signal 6/, 10, 1, $mark),
   'the crash is logged with its signal');
my $after;
ok($t->wait_for(sub { $after = pid_of(); $after }, 10), 'a new program serves');
isnt($after, $before, 'in a new process');

# ---- request_timeout 1500ms ----

# seen idle since its last request: droverd knows the program wrote nothing
# of the next one (exec.c), and answers it 504 itself
ok($t->wait_for(sub {
    my $out = `$ctl -s $dir/ctl.sock --json status fcgi 2>&1`;
    my $st = eval { decode_json($out) } or return 0;
    my @w;
    push @w, @{ $_->{workers_detail} || [] } for @{ $st->{pools} || [] };
    return @w == 1 && $w[0]{state} eq 'idle';
}, 10, 0.1), 'the slot is idle') or diag(`$ctl -s $dir/ctl.sock status fcgi 2>&1`);
$mark = $t->log_mark;
my $start = time;
$r = $t->http(POST => '/sleep', body => 'x', timeout => 30);
my $took = time - $start;
is($r->{status}, 504, 'a request past request_timeout: 504 from droverd');
ok($took >= 1.4 && $took < 8, sprintf('after about request_timeout (%.1f s)', $took));
ok($t->wait_log(qr/pool fcgi: worker 0 .*killed by signal 9 .*\(request timeout\)/, 5, 1, $mark),
   'classified as request timeout');
ok($t->wait_for(sub { pid_of() }, 10), 'the pool serves after it');

# ---- a reload changes the pool's kind: exec -> app -> exec ----

my $conf = $t->read_file($t->conf_path);
my $hello = $t->app('hello');
(my $app_conf = $conf) =~ s{exec\s+\S+/prog;}{app $hello;};
$t->write_file($t->conf_path, $app_conf);
is($t->reload, 'serves', 'reload to an app pool: it serves');
ok(-S "$dir/fcgi.sock", 'the shared socket is bound for the app pool');
$r = Drover::FCGI::get("$dir/fcgi.sock", uri => '/', timeout => 5);
like($r->{stdout} // '', qr/hello/, 'the app answers on the shared socket');
ok($t->wait_for(sub { (($t->http(GET => '/', timeout => 5))->{body} // '') =~ /hello/ }, 10),
   'and through drover_pass');
unlike($t->read_file('fcgi.sock.slots'), qr/^kind exec$/m, 'PATH.slots no longer says kind exec');

$t->write_file($t->conf_path, $conf);
is($t->reload, 'serves', 'reload back to exec: it serves');
ok(!-e "$dir/fcgi.sock", 'the shared socket is gone again');
ok($t->wait_for(sub { pid_of() }, 10), 'the program answers through drover_pass');

# ---- SIGKILL of droverd: the program dies with it ----

# (a change of credentials clears PR_SET_PDEATHSIG: it is set again after)
my @family = grep { (readlink("/proc/$_->[0]/exe") // '') eq $prog } $t->family;
is(scalar @family, 1, 'one program runs');
my $old = $t->pid;
ok(kill('KILL', $old), 'SIGKILL to droverd');
ok($t->wait_exit(2), 'droverd is gone');
ok($t->wait_for(sub { !grep { Drover::Test::_same_process($_) } @family }, 2),
   'the program died with it');

$t->run(wait => 0);
ok($t->wait_for(sub { pid_of() }, 20), 'a new droverd serves on the same paths');

$t->done;
