#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Graceful reload on SIGHUP: droverd re-reads its config file; an invalid
# one is refused and the running workers keep serving; a new preloader
# loads the app .so as it is on disk now; the workers are replaced one slot
# at a time and each finishes its request first; a new generation that
# fails leaves the old one serving; workers 2 -> 3 adds a slot socket,
# removing a pool stops it and removes its sockets, adding one starts it.
# Then 10 reloads in a row, and a storm of 25 SIGHUPs.

use strict;
use warnings;

use File::Copy qw(copy);
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::Test;
use Drover::FCGI qw(fcgi_request_bytes);

my $t = Drover::Test->new->has(qw(droverd kit hello));
my $dir = $t->dir;

# the app file the pool loads, replaced the way an install does: a new
# file renamed over the old one (running processes keep the old inode)
sub install_app {
    my ($name) = @_;

    copy($t->app($name), "$dir/app.so.new") or die "copy: $!";
    chmod 0755, "$dir/app.so.new";
    rename "$dir/app.so.new", "$dir/app.so" or die "rename: $!";
}

# the config: pool kit with $opt{workers} (2), its extra directives, and
# pool other unless other => 0, pool extra when extra => 1
sub conf {
    my (%opt) = @_;

    my $workers = $opt{workers} || 2;
    my $kit_extra = $opt{kit} || '';

    my $text = <<"EOF";
log_level info;

pool kit {
    app     %%DIR%%/app.so;
    listen  unix:%%DIR%%/kit.sock;
    workers $workers;
$kit_extra}
EOF

    $text .= <<'EOF' unless defined $opt{other} && !$opt{other};

pool other {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/other.sock;
    workers 1;
}
EOF

    $text .= <<'EOF' if $opt{extra};

pool extra {
    app     %%APPS%%/kit.so;
    listen  unix:%%DIR%%/extra.sock;
    workers 1;
}
EOF

    return $text;
}

install_app('kit');
$t->write_conf(conf())->run;

my @pids = $t->worker_pids;
my ($other) = $t->worker_pids(pool => 'other');
is(scalar(grep { defined } @pids), 2, 'kit: two workers: ' . join(' ', map { $_ // '-' } @pids));

# ---- an invalid config is refused ----

$t->write_file('droverd.conf', $t->read_file('droverd.conf') . "\nworkers lots;\n");
is($t->reload, 'refused', 'invalid config: "reload refused"');
ok($t->log_grep(qr/reload refused.*droverd\.conf:\d+: /), 'with FILE:LINE of the error');
is_deeply([$t->worker_pids], \@pids, 'the kit workers keep serving, same pids');
is(($t->worker_pids(pool => 'other'))[0], $other, 'and so does pool other');
ok($t->alive, 'droverd still running');

# ---- a reload with a request in flight and a changed app ----

$t->write_conf(conf());
install_app('hello');

my $sleeper = $pids[0];
my $c = Drover::FCGI->connect("$dir/kit.sock.0", timeout => 15);
ok($c->send_raw(fcgi_request_bytes(uri => '/sleep?ms=800')), '/sleep?ms=800 sent to slot 0');
ok($t->wait_for(sub { $t->read_file("/proc/$sleeper/wchan") =~ /nanosleep/ }, 5),
   'the worker is inside /sleep');

my $mark = $t->log_mark;
my $start = time;
is($t->reload(serves => 2), 'serves', 'reload: both pools log "generation 2 serves"')
    or diag($t->log_since($mark));
note(sprintf 'rolled over in %.0f ms', (time - $start) * 1000);

my $r = $c->read_response(timeout => 5);
is($r->{status}, 200, 'the request in flight during the reload completed with 200');
is($r->{body}, "slept 800 ms\n", 'with its whole body');
$c->close;

is($t->get('/pid', slot => 0)->{body}, "hello\n", 'slot 0 runs the app now on disk (hello)');
is($t->get('/pid', slot => 1)->{body}, "hello\n", 'and so does slot 1');
is($t->get('/anything')->{body}, "hello\n", 'and the shared socket');
ok($t->log_grep(qr/pool kit: generation 2 ready, replacing generation 1 one worker at a time/),
   'the log announces the rolling replacement');

# one slot at a time: slot k's old worker exits "(reload)", its
# replacement starts, and only then the next slot's old worker stops
my @steps = map {
    /pool kit: worker (\d+) \(pid \d+\) .*\(reload\)$/ ? "exit $1"
        : /pool kit: worker (\d+) started, pid \d+ \(generation 2\)/ ? "start $1" : ()
} split /\n/, $t->log_since($mark);
is("@steps", 'exit 0 start 0 exit 1 start 1', 'slots replaced one at a time: ' . "@steps");

# the sleeping worker was not cut short: it exited after its request
ok($t->log_grep(qr/pool kit: worker 0 \(pid $sleeper\) exited with code 0 after \d+ ms \(reload\)$/),
   'the old worker exited with code 0, "(reload)"');

install_app('kit');
is($t->reload(serves => 2), 'serves', 'back to kit');
@pids = $t->worker_pids;
is(scalar(grep { defined } @pids), 2, 'kit serves /pid again');

# ---- a new generation that fails keeps the old one ----

$t->write_conf(conf(kit => "    app_param fail_init yes;\n"));
$mark = $t->log_mark;
is($t->reload(serves => 1), 'failed', 'fail_init: "reload failed"')
    or diag($t->log_since($mark));
ok($t->wait_log(qr/pool kit: reload failed: .*; generation \d+ keeps serving/, 5, 1, $mark),
   'the log names the pool and the generation that keeps serving');
ok($t->wait_log(qr/pool other: generation \d+ serves/, 10, 1, $mark),
   'pool other, unchanged, reloads fine');
is_deeply([$t->worker_pids], \@pids, 'the old kit workers keep serving, same pids');

# the failed generation is not retried behind our back
ok(!$t->wait_for(sub { "@{[$t->worker_pids]}" ne "@pids" }, 1, 0.1),
   'for a second after, still the same pids');

# ---- workers 2 -> 3 -> 2 ----

$t->write_conf(conf(workers => 3));
is($t->reload(serves => 2), 'serves', 'workers 3: reloaded');
ok(-S "$dir/kit.sock.2", 'kit.sock.2 appeared');
like($t->get('/pid', slot => 2)->{body} // '', qr/^\d+\n$/, 'and slot 2 serves');
is(scalar(grep { defined } $t->worker_pids), 3, 'three workers');

$t->write_conf(conf(workers => 2));
is($t->reload(serves => 2), 'serves', 'workers 2: reloaded');
ok($t->wait_for(sub { !-e "$dir/kit.sock.2" }, 5), 'kit.sock.2 removed');
is(scalar(grep { defined } $t->worker_pids), 2, 'two workers serve');

# ---- removing and adding pools ----

my @other_family = grep { $t->read_file("/proc/$_->[0]/cmdline") =~ /\bother\b/ } $t->family;
($other) = $t->worker_pids(pool => 'other');

$t->write_conf(conf(other => 0, extra => 1));
$mark = $t->log_mark;
is($t->reload(serves => 1), 'serves', 'pool other removed, pool extra added: reloaded');
ok($t->wait_log(qr/pool other: no longer in the configuration: stopping it/, 5, 1, $mark),
   'other: "no longer in the configuration"');
ok($t->wait_for(sub { !grep { -e "$dir/other.sock$_" } '', '.0' }, 5),
   'other: its socket files are removed');
ok($t->wait_for(sub { !-e "/proc/$other" }, 5), "other: its worker $other is gone");
ok($t->wait_for(sub { -S "$dir/extra.sock" && -S "$dir/extra.sock.0" }, 5),
   'extra: its sockets appeared');
like($t->get('/pid', pool => 'extra', slot => 0, timeout => 5)->{body} // '', qr/^\d+\n$/,
     'extra: serves');
like($t->get('/pid', pool => 'extra', timeout => 5)->{body} // '', qr/^\d+\n$/,
     'extra: serves on its shared socket');

$t->write_conf(conf());     # back to kit and other
is($t->reload(serves => 1), 'serves', 'other back, extra removed');
ok($t->wait_for(sub { !-e "$dir/extra.sock" && -S "$dir/other.sock.0" }, 5),
   'extra\'s sockets gone, other\'s back');
like($t->get('/pid', pool => 'other', slot => 0, timeout => 5)->{body} // '', qr/^\d+\n$/,
     'other: serves again');

# ---- 10 reloads in a row ----

my $ok = 0;
for (1 .. 10) {
    last unless $t->reload(serves => 2) eq 'serves';
    $ok++;
}
is($ok, 10, '10 reloads in a row, each ending in "serves"');
is(scalar(grep { defined } $t->worker_pids), 2, 'kit serves after them');

# the retired preloaders are gone: only the newest of each pool is left
# (workers are forks of it, with the same command line, so go by the log)
my %newest_preloader;
my @old_preloaders;
for ($t->log_grep(qr/pool \S+: preloader started, pid \d+/)) {
    my ($pool, $pid) = /pool (\S+): preloader started, pid (\d+)/;
    push @old_preloaders, $newest_preloader{$pool} if $newest_preloader{$pool};
    $newest_preloader{$pool} = $pid;
}
ok($t->wait_for(sub { !grep { -e "/proc/$_" } @old_preloaders }, 3),
   scalar(@old_preloaders) . ' retired preloaders are all gone')
    or diag('still there: ' . join ' ', grep { -e "/proc/$_" } @old_preloaders);
ok(!grep({ !-e "/proc/$_" } @newest_preloader{qw(kit other)}), 'the newest preloader of each pool runs');
ok(!-e "/proc/$newest_preloader{extra}", 'the removed pool\'s preloader is gone');

# ---- a storm of 25 SIGHUPs ----

$mark = $t->log_mark;
for (1 .. 25) {
    $t->signal('HUP');
    sleep 0.005;
}

# it settles when every reload that began has served, for both pools, and
# the log stays quiet for 0.7 s
my ($seen, $quiet_since) = ('', time);
my $settled = $t->wait_for(sub {
    my $log = $t->log_since($mark);
    ($seen, $quiet_since) = ($log, time) if $log ne $seen;
    my $began = () = $log =~ /reloading /g;
    my $served = () = $log =~ /: generation \d+ serves/g;
    return $began && $served == 2 * $began && time - $quiet_since >= 0.7;
}, 60, 0.1);
ok($settled, 'the storm settled: every reload that began ended in "serves"')
    or diag($t->log_since($mark));
ok($t->alive, 'droverd still running');

my $log = $t->log_since($mark);
my ($last) = (reverse grep { /pool kit: generation \d+ serves/ } split /\n/, $log);
my ($newest) = ($last // '') =~ /generation (\d+) serves/;
my %gen_of = map { /pool kit: worker \d+ started, pid (\d+) \(generation (\d+)\)/ ? ($1 => $2) : () }
    $t->log_grep(qr/pool kit: worker/);
my ($max_gen) = sort { $b <=> $a } values %gen_of;

is($newest, $max_gen, "the last \"serves\" line is the newest generation ($max_gen)");
my @now = $t->worker_pids;
is_deeply([map { defined $_ ? $gen_of{$_} : undef } @now], [$newest, $newest],
          'both kit workers run the newest generation');
note(sprintf '25 SIGHUPs made %d reloads', scalar(() = $log =~ /reloading /g));

$t->stop;
is($t->exit_code, 0, 'SIGTERM after all that: exit 0');

$t->done;
