#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A prestart command runs as the pool's user; the switch of credentials
# clears the parent-death signal, which droverd sets again after it: a
# SIGKILL of droverd takes the running prestart command with it, as it
# takes preloaders, workers and exec programs.

use strict;
use warnings;

use Test::More;

use Drover::Test;

plan skip_all => 'needs root: the command must switch to the pool\'s user'
    unless Drover::Test::is_root();

my $t = Drover::Test->new->has(qw(droverd kit));

$t->write_conf(<<'EOF2')->run(ready => 0, wait => 0);
pool pre {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/pre.sock;
    user      nobody;
    workers   1;
    prestart  /bin/sleep 60;
    prestart_timeout 120s;
}
EOF2

my @sleep;
ok($t->wait_for(sub {
       @sleep = grep { (readlink("/proc/$_->[0]/exe") // '') =~ m{/sleep$} }
                $t->family;
       @sleep == 1;
   }, 20), 'the prestart command runs') or diag($t->log);

my $uid = (getpwnam('nobody'))[2];
my $owner = (stat "/proc/$sleep[0][0]")[4];
is($owner, $uid, 'as the pool\'s user');

ok(kill('KILL', $t->pid), 'SIGKILL to droverd');
ok($t->wait_exit(5), 'droverd is gone');
ok($t->wait_for(sub { !Drover::Test::_same_process($sleep[0]) }, 5),
   'the prestart command died with it');

# a new droverd on the same paths, its prestart quick: it serves and stops
# cleanly (the harness checks the last run's exit)
my $conf = $t->read_file($t->conf_path);
$conf =~ s{/bin/sleep 60}{/bin/true};
$t->write_file($t->conf_path, $conf);
$t->run;
is($t->get('/pid', pool => 'pre', timeout => 10)->{status}, 200,
   'a new droverd serves on the same paths');

$t->done;
