# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::Test;

# Drover::Test's Apache httpd methods, for mod_drover's tests (t/apache_*.t):
# Debian's /usr/sbin/apache2 on a config of the test's own (ServerRoot,
# PidFile, logs and runtime dir in the temp dir, mpm_event, Listen on the
# harness's port, build/mod_drover.so loaded), stopped by its own PID.
#
#     use Drover::Test;
#     use Drover::Test::Apache;
#     my $t = Drover::Test->new->has(qw(droverd kit))->has_apache;
#     $t->write_conf(...)->run;
#     $t->write_apache_conf(<<'EOF')->run_apache;
#     <Location />
#         DroverPass unix:%%DIR%%/kit.sock
#     </Location>
#     EOF
#     my $r = $t->http(GET => '/params');
#     $t->apache_done;     # stops Apache, checks its log, then done()

use strict;
use warnings;

use Carp qw(croak);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;

our $APACHE = '/usr/sbin/apache2';
our $APACHE_MODULES = '/usr/lib/apache2/modules';

my @apaches;

END {
    my $status = $?;
    $_->stop_apache(quiet => 1) for grep { defined } @apaches;
    $? = $status;
}

sub apache_module { "$_[0]{build}/mod_drover.so" }

# skip the file unless Apache and the module are there
sub has_apache {
    my ($self) = @_;

    plan(skip_all => 'apache2 is not installed')
        unless -x $APACHE && -r "$APACHE_MODULES/mod_mpm_event.so";
    plan(skip_all => 'mod_drover.so is not built (run make)')
        unless -r $self->apache_module;

    return $self;
}

# Write DIR/apache.conf: what the harness needs, then $body (placeholders
# expanded) at the server level.  threads => N per child (25), servers =>
# N children (2); mpm => 'prefork' runs prefork with servers children of
# one request each instead of mpm_event.
sub write_apache_conf {
    my ($self, $body, %opt) = @_;

    my $dir = $self->{dir};
    mkdir "$dir/htdocs";
    mkdir "$dir/apache-run";

    my $threads = $opt{threads} || 25;
    my $servers = $opt{servers} || 2;
    my $max = $threads * $servers;
    my $mods = $APACHE_MODULES;
    my $port = $self->port;
    my $module = $self->apache_module;
    my $user = is_root() ? "User nobody\nGroup nogroup\n" : '';
    my $mpm = ($opt{mpm} || 'event') eq 'prefork'
        ? "LoadModule mpm_prefork_module $mods/mod_mpm_prefork.so\n"
          . "StartServers $servers\nMinSpareServers $servers\nMaxSpareServers $servers\n"
          . "ServerLimit $servers\nMaxRequestWorkers $servers\n"
        : "LoadModule mpm_event_module $mods/mod_mpm_event.so\n"
          . "StartServers $servers\nServerLimit $servers\nThreadsPerChild $threads\n"
          . "ThreadLimit $threads\nMaxRequestWorkers $max\nMinSpareThreads 1\n"
          . "MaxSpareThreads $max\n";

    # a sanitizer build of the module needs libasan in Apache (run_apache)
    $self->{apache_san} = $self->sanitized ? 1 : 0;

    my $conf = <<"CONF" . $self->expand($body) . "\n";
ServerRoot $dir
PidFile $dir/apache.pid
ErrorLog $dir/apache-error.log
LogLevel notice
DefaultRuntimeDir $dir/apache-run
Mutex file:$dir/apache-run default
Listen 127.0.0.1:$port
ServerName localhost
DocumentRoot $dir/htdocs
$user
${mpm}LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule drover_module $module

KeepAlive On
Timeout 30

LogFormat "%h \\"%r\\" %>s %b" plain
CustomLog $dir/apache-access.log plain

<Directory />
    Require all granted
</Directory>

CONF

    $self->write_file('apache.conf', $conf);
    return $self;
}

# start Apache in the foreground, wait for its port and its children
sub run_apache {
    my ($self, %opt) = @_;

    my $dir = $self->{dir};
    my %env = $self->{apache_san} ? $self->sanitizer_env : ();

    # Apache's children run as nobody: their reports go to a directory
    # they can write
    if (%env) {
        mkdir "$dir/apache-san";
        chmod 0777, "$dir/apache-san";
        s{log_path=[^:]*}{log_path=$dir/apache-san/sanitizer} for values %env;
    }

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        # a group of its own: prefork's master stops its children with
        # killpg() of its process group, which must not be the test's
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/apache-error.log" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        @ENV{keys %env} = values %env;
        exec $APACHE, '-d', $dir, '-f', "$dir/apache.conf", '-DFOREGROUND'
            or POSIX::_exit(127);
    }

    $self->{apache_pid} = $pid;
    push @apaches, $self;

    my $exited = 0;
    my $up = $self->wait_for(sub {
        return $exited = 1 if waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->port,
                                      Proto => 'tcp');
        return $s && $self->apache_children ? 1 : 0;
    }, $opt{timeout} || 15);
    $up = 0 if $exited;

    unless ($up) {
        diag("apache2 did not start; error log:\n" . $self->apache_log);
        $self->{apache_pid} = undef if $exited;
    }

    return $self;
}

sub apache_pid { $_[0]{apache_pid} }

sub apache_children {
    my ($self) = @_;

    my $master = $self->{apache_pid} or return ();
    return map { $_->[0] } $self->descendants($master);
}

# a check that Apache runs; when it does not, the rest cannot run
sub apache_started {
    my ($self, $what) = @_;

    return 1 if ok($self->apache_pid, 'apache2 started' . (defined $what ? " $what" : ''));

    $self->apache_done;
    exit 1;
}

sub apache_log { $_[0]->read_file('apache-error.log') }

sub apache_log_mark { length $_[0]->apache_log }

sub apache_log_since {
    my ($self, $mark) = @_;

    my $log = $self->apache_log;
    return length $log > $mark ? substr($log, $mark) : '';
}

# Wait up to $timeout (2 s) for a line matching $re after $mark; the lines
sub wait_apache_log {
    my ($self, $re, $mark, $timeout) = @_;

    my @lines;
    $self->wait_for(sub {
        @lines = grep { /$re/ } split /\n/, $self->apache_log_since($mark || 0);
        return scalar @lines;
    }, defined $timeout ? $timeout : 2);

    return @lines;
}

# SIGTERM to the master (its children stop with it), SIGKILL after the
# deadline
sub stop_apache {
    my ($self, %opt) = @_;

    my $pid = $self->{apache_pid} or return;
    my @family = $self->descendants($pid);

    kill 'TERM', $pid;

    my $gone = $self->wait_for(sub { waitpid($pid, WNOHANG) != 0 }, $opt{timeout} || 10);
    unless ($gone) {
        diag("apache2 $pid ignored SIGTERM; sending SIGKILL") unless $opt{quiet};
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }

    $self->{apache_pid} = undef;
    $self->_reap_family(\@family, $opt{quiet});
}

# the Apache log checks: no [emerg] or [alert], no child that died of a
# signal, no sanitizer report
sub check_apache_log {
    my ($self) = @_;

    my @lines = split /\n/, $self->apache_log;

    my @bad = grep { /\[(?:[\w]+:)?(emerg|alert)\]/ } @lines;
    ok(!@bad, 'apache: no [emerg] or [alert] in its log') or diag(join "\n", @bad);

    my @died = grep { /exit signal|seg fault|AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:/ }
        @lines, map { split /\n/, $self->read_file($_) }
            glob("$self->{dir}/sanitizer.* $self->{dir}/apache-san/sanitizer.*");
    ok(!@died, 'apache: no child crashed, no sanitizer output') or diag(join "\n", @died);
}

# stop Apache, check its log, then the usual done (droverd and its checks)
sub apache_done {
    my ($self) = @_;

    $self->stop_apache;
    $self->check_apache_log;

    diag("---- apache-error.log\n" . $self->apache_log)
        if $ENV{DROVER_TEST_VERBOSE} && !Test::More->builder->is_passing;

    $self->done;
}

1;
