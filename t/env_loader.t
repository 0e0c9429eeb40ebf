#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# `env LD_PRELOAD ...;` (or LD_LIBRARY_PATH, GCONV_PATH ...) names a file a
# tenant may write.  droverd's preloaders and workers start as root and
# switch users after exec: the pool's environment must not reach the
# dynamic loader of that root process.  A library whose constructor logs
# its uid is preloaded: it may run as the tenant (in a prestart command,
# which execs after the switch), never as root.

use strict;
use warnings;

use Test::More;

use Drover::Test;

plan skip_all => 'needs root: the pools must switch users'
    unless Drover::Test::is_root();

my $cc = (grep { -x "$_/cc" } split /:/, $ENV{PATH} // '')[0];
plan skip_all => 'no C compiler to build the preloaded library' unless $cc;
$cc .= '/cc';

my $t = Drover::Test->new->has(qw(droverd kit));
my $dir = $t->dir;

# the tenant's directory: nobody may write it (the library, its log)
my $evil = "$dir/tenant";
mkdir $evil or die "mkdir $evil: $!";
chmod 0777, $evil or die "chmod $evil: $!";

$t->write_file("$evil/evil.c", <<'C');
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void
evil(void)
{
    char     line[128], exe[64];
    int      fd;
    ssize_t  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    exe[n > 0 ? n : 0] = '\0';
    snprintf(line, sizeof(line), "euid %d uid %d exe %s\n",
             (int) geteuid(), (int) getuid(), exe);
    fd = open(EVIL_LOG, O_WRONLY | O_APPEND | O_CREAT, 0666);
    if (fd >= 0) {
        (void) !write(fd, line, strlen(line));
        close(fd);
    }
}
C

system($cc, '-shared', '-fPIC', "-DEVIL_LOG=\"$evil/evil.log\"", '-o',
       "$evil/evil.so", "$evil/evil.c") == 0 or BAIL_OUT('cannot build evil.so');

$t->write_conf(<<"EOF");
pool pre {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/pre.sock;
    user      nobody;
    workers   1;
    env       LD_PRELOAD $evil/evil.so;
    env       LD_LIBRARY_PATH $evil;
    prestart  /bin/true;
}

pool nopre {
    app       %%APPS%%/kit.so;
    listen    unix:%%DIR%%/nopre.sock;
    user      nobody;
    workers   1;
    preload   off;
    env       LD_PRELOAD $evil/evil.so;
}
EOF
$t->run;

is($t->get('/pid', pool => 'pre', timeout => 10)->{status}, 200, 'pre serves');
is($t->get('/pid', pool => 'nopre', timeout => 10)->{status}, 200, 'nopre serves');

my $nobody = (getpwnam('nobody'))[2];
my @lines = split /\n/, ($t->read_file("$evil/evil.log") // '');
my @root = grep { /^euid 0 / || / uid 0 / } @lines;

is(scalar @root, 0, 'the tenant\'s library never ran as root')
    or diag(join "\n", @root);
ok(grep({ /^euid $nobody uid $nobody exe \/(usr\/)?bin\/true$/ } @lines),
   'it ran in the prestart command, as the tenant (LD_PRELOAD reaches what the tenant execs)')
    or diag(join "\n", @lines);

$t->done;
