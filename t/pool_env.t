#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# A pool's processes get a cleared environment (docs/security.md): droverd
# runs with a secret, NOTIFY_SOCKET and other variables of its own; the
# manager's app check, the preloader, the workers (preload on and off) and
# a prestart command see only PATH (a fixed one, or the pool's) and what
# the pool lists with `env NAME;` (droverd's value) or `env NAME VALUE;`,
# plus DROVER_POOL for the prestart command.

use strict;
use warnings;

use Test::More;
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);

use Drover::Test;

my $t = Drover::Test->new;
plan skip_all => 'apps/privprobe.so is not built (run make)'
    unless -r $t->app('privprobe');
$t->has(qw(droverd));

my $dir = $t->dir;
my $probe = "$dir/probe";
mkdir $probe or die "mkdir $probe: $!";
chmod 0777, $probe or die "chmod $probe: $!";

# ---- droverd's own environment: what must not leak, what may ----

my $notify = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "$dir/notify.sock")
    or die "notify socket: $!";

$ENV{DROVER_TEST_SECRET} = 's3cret-do-not-leak';
$ENV{NOTIFY_SOCKET} = "$dir/notify.sock";
$ENV{LD_LIBRARY_PATH} = '/nonexistent/lib';
$ENV{PASSME} = 'passed from droverd';
delete $ENV{ABSENT};

# the prestart command: a script that writes its environment to a file
my $perl = $^X;
my $dump = $t->write_file("$dir/dumpenv.pl", <<'PL', 0755);
open my $f, '>', $ARGV[0] or die "$ARGV[0]: $!";
print $f map { "$_=$ENV{$_}\n" } sort keys %ENV;
close $f or die "$ARGV[0]: $!";
PL

$t->write_conf(<<"EOF");
run_dir %%DIR%%;

pool listed {
    app      %%APPS%%/privprobe.so;
    listen   unix:%%DIR%%/listed.sock;
    workers  1;
    env      PASSME;
    env      ABSENT;
    env      SETME "a value; with spaces";
    env      PATH /opt/site/bin:/usr/bin;
    env      TMPDIR /var/tmp;
    env      PRIVPROBE_DIR $probe;
    env      DROVER_POOL overridden;
    prestart $perl $dump $probe/prestart.env;
}

pool bare {
    app      %%APPS%%/privprobe.so;
    listen   unix:%%DIR%%/bare.sock;
    workers  1;
    preload  off;
}
EOF

my ($code, $out) = $t->droverd_cmd('-t', '-c', $t->conf_path);
is($code, 0, 'droverd -t accepts the env lines') or diag($out);

$t->run;
ok($t->alive, 'droverd starts with a secret in its environment');
like($t->read_file('/proc/' . $t->pid . '/environ'), qr/DROVER_TEST_SECRET=s3cret/,
     'droverd itself has it') if Drover::Test::is_root();

# the sanitizers' variables pass through a SAN build: not the app's business
my $san = qr/^(ASAN|UBSAN|LSAN)_OPTIONS=/;

sub env_of_report {
    my ($pool) = @_;
    my $r = $t->get('/', pool => $pool, slot => 0);
    return undef unless $r->{complete} && $r->{status} == 200;
    return [sort grep { !/$san/ } map { /^env (.*)$/ ? $1 : () } split /\n/, $r->{body}];
}

# privprobe's constructor files: [cmdline, [sorted env]]
sub env_files {
    my %out;
    for my $path (glob "$probe/env.*") {
        next if $path =~ /\.tmp$/;
        my ($cmdline, @env) = split /\n/, $t->read_file($path);
        $out{$path} = [$cmdline // '', [sort grep { !/$san/ } @env]];
    }
    return \%out;
}

my @listed = sort(
    'PASSME=passed from droverd',
    'SETME=a value; with spaces',
    'PATH=/opt/site/bin:/usr/bin',
    'TMPDIR=/var/tmp',
    "PRIVPROBE_DIR=$probe",
    'DROVER_POOL=overridden',
);

is_deeply(env_of_report('listed'), \@listed,
          'pool listed, worker (preload on): exactly the listed variables')
    or diag(explain env_of_report('listed'));
is_deeply(env_of_report('bare'), ['PATH=/usr/local/bin:/usr/bin:/bin'],
          'pool bare, worker (preload off): PATH alone, the fixed one')
    or diag(explain env_of_report('bare'));

# the app check (droverd -c, no --preloader) and the preloader ran the
# constructor of pool listed
my $files = env_files();
my @check = grep { $files->{$_}[0] !~ /--(preloader|worker)\b/ } keys %$files;
my @pre = grep { $files->{$_}[0] =~ /--preloader\b/ } keys %$files;

cmp_ok(scalar @check, '>=', 1, 'the app check ran the constructor') or diag(explain $files);
cmp_ok(scalar @pre, '>=', 1, 'the preloader ran the constructor');
is_deeply($files->{$_}[1], \@listed, "the app check ($_): exactly the listed variables")
    for @check;
is_deeply($files->{$_}[1], \@listed, "the preloader ($_): exactly the listed variables")
    for @pre;

# the prestart command: the same, DROVER_POOL its own
ok($t->wait_for(sub { -s "$probe/prestart.env" }, 10), 'the prestart command wrote its environment')
    or diag($t->log);
my @prestart = sort grep { !/$san/ } split /\n/, $t->read_file("$probe/prestart.env");
is_deeply(\@prestart, [sort map { /^DROVER_POOL=/ ? 'DROVER_POOL=listed' : $_ } @listed],
          'the prestart command: the listed variables, DROVER_POOL=listed')
    or diag(explain \@prestart);

# nothing of droverd's own anywhere
my $all = join "\n", @{ env_of_report('listed') || [] }, @{ env_of_report('bare') || [] },
    @prestart, map { @{ $_->[1] } } values %$files;
unlike($all, qr/s3cret|NOTIFY_SOCKET|LD_LIBRARY_PATH|^HOME=|^ABSENT=/m,
       'no secret, NOTIFY_SOCKET, LD_LIBRARY_PATH, HOME or unset ABSENT anywhere');

$t->stop;

# ---- bad env lines: -t says FILE:LINE and why ----

# (as root the test adds a `user nobody;` line after the pool's "{")
my $shift = Drover::Test::is_root() ? 1 : 0;

for my $case (['bad name', 'env 1BAD x;', 5, qr/bad env name "1BAD"/],
              ['duplicate', "env A 1;\n    env A 2;", 6, qr/duplicate env "A" in pool "e"/],
              ['relative TMPDIR', 'env TMPDIR tmp;', 5, qr/"env TMPDIR" needs an absolute path/])
{
    my ($what, $lines, $line, $re) = @$case;
    $line += $shift;

    $t->write_conf(<<"EOF", 'bad.conf');
pool e {
    app     %%APPS%%/privprobe.so;
    listen  unix:%%DIR%%/e.sock;
    workers 1;
    $lines
}
EOF
    my $path = $t->conf_path;
    ($code, $out) = $t->droverd_cmd('-t', '-c', $path);
    is($code, 1, "$what: droverd -t exits 1");
    like($out, qr/^\Q$path\E:$line: $re/m, "$what: -t says $path:$line and why") or diag($out);
}

$t->done;
