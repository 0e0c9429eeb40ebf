# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::Test;

# The harness for t/*.t, in core Perl.  One object per test file:
#
#     my $t = Drover::Test->new->has(qw(droverd kit));
#     $t->write_conf(<<'EOF')->run;
#     pool kit {
#         app     %%APPS%%/kit.so;
#         listen  unix:%%DIR%%/kit.sock;
#         workers 2;
#     }
#     EOF
#     is($t->get('/')->{body}, "hello\n", 'hello');
#     $t->done;     # stops everything, then the log checks, done_testing
#
# The harness picks the temp dir and the ports, runs droverd in the
# foreground with its stderr in DIR/droverd.log, and waits with deadlines,
# never with bare sleeps.  It only ever signals the PIDs it started.
#
# The nginx module's tests run Debian's nginx with the module loaded and a
# TLS server on the harness's port (a self-signed certificate per run):
#
#     my $t = Drover::Test->new->has(qw(droverd kit module https));
#     $t->write_conf(...)->run;
#     $t->write_module_conf(<<'EOF')->run_nginx;
#         location / {
#             drover_pass unix:%%DIR%%/kit.sock;
#         }
#     EOF
#     my $r = $t->https(GET => '/params');
#
# Environment: DROVER_BUILD (default ./build) holds droverd, apps/*.so and
# ngx_http_drover_module.so; when it ends in /asan (or DROVER_SAN=1) the
# module is a sanitizer build, and nginx runs with libasan and libubsan
# preloaded; DROVER_TEST_VERBOSE=1 prints the logs when a test failed;
# DROVER_TEST_KEEP=1 keeps the temp dir.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path getcwd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG WIFEXITED WEXITSTATUS WIFSIGNALED WTERMSIG);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(time sleep);

use Drover::FCGI;

# the rest of Drover::Test, by concern: the same package, files of their own
require Drover::Test::Nginx;
require Drover::Test::Status;
require Drover::Test::HTTP;       # Drover::Test::HTTP, the client http() uses

our $NGINX = '/usr/sbin/nginx';
our $FASTCGI_PARAMS = '/etc/nginx/fastcgi_params';

# a test that left something running must still clean up
my @live;

END {
    my $status = $?;
    $_->stop_all(quiet => 1) for grep { defined } @live;
    $? = $status;
}


# ---- setup ----

sub new {
    my ($class, %opt) = @_;

    my $build = $ENV{DROVER_BUILD} || 'build';
    $build = abs_path($build) || getcwd() . "/$build";

    my $dir = tempdir('drover-test-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{DROVER_TEST_KEEP});

    # droverd refuses root pools, so as root the pools run as nobody,
    # which must reach the temp dir and the apps
    chmod 0755, $dir or croak "chmod $dir: $!";

    my $self = bless {
        build      => $build,
        dir        => $dir,
        conf       => undef,
        conf_text  => '',
        pid        => undef,
        exit       => undef,
        killed     => 0,
        allowed    => [],
        nginx_pid  => undef,
        nginx_ran  => 0,
        nginx_san  => 0,
        ports      => {},
        children   => {},
    }, $class;

    push @live, $self;
    return $self;
}

sub dir      { $_[0]{dir} }
sub build    { $_[0]{build} }
sub droverd  { "$_[0]{build}/droverd" }
sub app      { "$_[0]{build}/apps/$_[1].so" }
sub log_path { "$_[0]{dir}/droverd.log" }
sub pid      { $_[0]{pid} }
sub module   { "$_[0]{build}/ngx_http_drover_module.so" }

# the module (and droverd) were built with -fsanitize=address,undefined
sub sanitized {
    my ($self) = @_;
    return 1 if $ENV{DROVER_SAN};
    return $self->{build} =~ m{/asan/?$} ? 1 : 0;
}

sub is_root { $> == 0 }

# what each feature needs; has() skips the whole file when one is absent
my %features = (
    droverd  => sub { -x $_[0]->droverd },
    hello    => sub { -r $_[0]->app('hello') },
    kit      => sub { -r $_[0]->app('kit') },
    model    => sub { -r $_[0]->app('model') },
    nginx    => sub { -x $NGINX && -r $FASTCGI_PARAMS },
    cgi_fcgi => sub { _which('cgi-fcgi') },
    wrk      => sub { _which('wrk') },
    cc       => sub { _which('cc') },
    smaps    => sub { -r "/proc/self/smaps_rollup" },
    module   => sub { -r $_[0]->module && -x $NGINX },
    https    => sub { _which('openssl') && eval { require IO::Socket::SSL; 1 } },
    promtool => sub { _which('promtool') },
    chromium => sub { _which('chromium') },
);

sub has {
    my ($self, @want) = @_;

    for my $f (@want) {
        my $check = $features{$f} or croak "unknown feature \"$f\"";
        next if $check->($self);

        plan(skip_all => "$f is not available ("
            . ($f =~ /^(droverd|hello|kit|model|module)$/ ? 'run make' : 'not installed')
            . ')');
    }

    $self->_apps_readable;
    return $self;
}

# true when feature $f is there, without skipping
sub can_do {
    my ($self, $f) = @_;

    my $check = $features{$f} or croak "unknown feature \"$f\"";
    return $check->($self) ? 1 : 0;
}

sub _which {
    my ($name) = @_;

    for my $d (split /:/, $ENV{PATH} || '/usr/bin:/bin') {
        return "$d/$name" if -x "$d/$name";
    }

    return undef;
}

# as root, pools run as nobody: the built apps must be readable for it
sub _apps_readable {
    my ($self) = @_;

    return unless is_root();

    for my $path (glob("$self->{build}/apps/*.so")) {
        my $mode = (stat $path)[2] & 07777;
        chmod $mode | 0555, $path if ($mode & 0555) != 0555;
    }
}

# placeholders in config texts: %%DIR%%, %%BUILD%%, %%APPS%%, %%MODULE%%,
# %%PORT%% and %%PORT_NAME%% (another free port, see port())
sub expand {
    my ($self, $text) = @_;

    $text =~ s/%%DIR%%/$self->{dir}/g;
    $text =~ s/%%BUILD%%/$self->{build}/g;
    $text =~ s/%%APPS%%/$self->{build}\/apps/g;
    $text =~ s/%%MODULE%%/$self->module/ge;
    $text =~ s/%%PORT%%/$self->port/ge;
    $text =~ s/%%PORT_(\w+)%%/$self->port(lc $1)/ge;

    return $text;
}

sub write_file {
    my ($self, $name, $content, $mode) = @_;

    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";

    open my $fh, '>', $path or croak "write $path: $!";
    binmode $fh;
    print $fh $content;
    close $fh or croak "close $path: $!";
    chmod $mode, $path if defined $mode;

    return $path;
}

sub read_file {
    my ($self, $path) = @_;

    $path = "$self->{dir}/$path" unless $path =~ m{^/};

    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $text = <$fh>;
    return defined $text ? $text : '';
}

# As root, every pool without its own `user` gets `user nobody;`, since
# droverd refuses pools that would run as root.
sub add_default_user {
    my ($self, $text) = @_;

    return $text unless is_root();

    $text =~ s{(\bpool\s+\S+\s*\{)([^{}]*)(\})}{
        my ($open, $body, $close) = ($1, $2, $3);
        $body =~ /^\s*user\s/m ? "$open$body$close"
                               : "$open\n    user nobody;$body$close"
    }ge;

    return $text;
}

# Write droverd's config (placeholders expanded, default user added).
# Returns $self; the path is $t->conf_path.
sub write_conf {
    my ($self, $text, $name) = @_;

    $name ||= 'droverd.conf';
    $text = $self->add_default_user($self->expand($text));

    $self->{conf} = $self->write_file($name, $text);
    $self->{conf_text} = $text;

    return $self;
}

sub conf_path { $_[0]{conf} }

# pools of the config text: [{ name, listen, workers }] with listen the
# shared socket path, for waiting on sockets and sending requests
sub pools {
    my ($self) = @_;

    my @pools;

    while ($self->{conf_text} =~ /\bpool\s+(\S+)\s*\{([^{}]*)\}/g) {
        my ($name, $body) = ($1, $2);
        my ($listen) = $body =~ /^\s*listen\s+unix:([^\s;]+)/m;
        my ($workers) = $body =~ /^\s*workers\s+([^\s;]+)/m;

        $workers = 1 unless defined $workers;
        $workers = _cores() if $workers eq 'auto';
        ($workers) = $body =~ /^\s*workers\s+ondemand\s+(\d+)/m if $workers eq 'ondemand';

        push @pools, { name => $name, listen => $listen, workers => $workers };
    }

    return @pools;
}

sub _cores {
    open my $fh, '<', '/proc/cpuinfo' or return 1;
    my $n = grep { /^processor\s*:/ } <$fh>;
    return $n || 1;
}

sub pool {
    my ($self, $name) = @_;

    my @pools = $self->pools;
    return $pools[0] unless defined $name;

    my ($p) = grep { $_->{name} eq $name } @pools;
    croak "no pool \"$name\" in the config" unless $p;
    return $p;
}

# the shared socket of a pool (the first by default)
sub socket_path {
    my ($self, $pool) = @_;
    return $self->pool($pool)->{listen};
}

sub slot_path {
    my ($self, $k, $pool) = @_;
    return $self->pool($pool)->{listen} . ".$k";
}


# ---- waiting ----

# Poll $cond every $step seconds until it returns true or $timeout seconds
# passed.  Returns what $cond returned last.
sub wait_for {
    my ($self, $cond, $timeout, $step) = @_;

    $timeout = 10 unless defined $timeout;
    $step ||= 0.01;

    my $deadline = time + $timeout;

    for (;;) {
        my $r = $cond->();
        return $r if $r;
        return $r if time >= $deadline;
        sleep $step;
    }
}


# ---- droverd ----

# Start `droverd -c CONF` in the foreground, stderr and stdout appended to
# DIR/droverd.log.  Then waits (unless wait => 0) for each pool's shared
# and slot sockets, and unless ready => 0 for an answer to "/" on each slot.
sub run {
    my ($self, %opt) = @_;

    croak 'write_conf before run' unless $self->{conf};
    croak 'droverd already running' if $self->{pid};

    $self->{exit} = undef;
    $self->{killed} = 0;

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $self->log_path or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec $self->droverd, @{ $opt{args} || [] }, '-c', $self->{conf}
            or POSIX::_exit(127);
    }

    $self->{pid} = $pid;
    return $self if defined $opt{wait} && !$opt{wait};

    my $timeout = $opt{timeout} || 20;

    unless ($self->wait_sockets($timeout)) {
        $self->_fail_start('its sockets did not appear');
        return $self;
    }

    if (!defined $opt{ready} || $opt{ready}) {
        $self->_fail_start('its workers did not answer "/"')
            unless $self->wait_ready($timeout);
    }

    return $self;
}

sub _fail_start {
    my ($self, $why) = @_;

    my $alive = $self->alive ? 'running' : 'exited: ' . $self->exit_text;
    diag("droverd did not start ($why); it is $alive; log:\n" . $self->log);
}

# every socket of every pool exists as a socket, droverd still alive
sub wait_sockets {
    my ($self, $timeout) = @_;

    my @paths;
    for my $p ($self->pools) {
        next unless defined $p->{listen};
        push @paths, $p->{listen}, map { "$p->{listen}.$_" } 0 .. $p->{workers} - 1;
    }

    return $self->wait_for(sub {
        return 0 unless $self->alive;
        return !grep { !-S $_ } @paths;
    }, $timeout);
}

# every slot of every pool answers "/" (any complete response)
sub wait_ready {
    my ($self, $timeout) = @_;

    my $deadline = time + ($timeout || 20);

    for my $p ($self->pools) {
        next unless defined $p->{listen};

        for my $k (0 .. $p->{workers} - 1) {
            my $ok = $self->wait_for(sub {
                return 0 unless $self->alive;
                my $r = Drover::FCGI::get("$p->{listen}.$k", uri => '/', timeout => 2);
                return $r->{complete};
            }, $deadline - time, 0.02);

            return 0 unless $ok;
        }
    }

    return 1;
}

# true while the droverd we started has not exited (reaps it when it has)
sub alive {
    my ($self) = @_;

    return 0 unless $self->{pid};
    return 1 if waitpid($self->{pid}, WNOHANG) == 0;

    $self->{exit} = $?;
    $self->{pid} = undef;
    return 0;
}

sub exit_status { $_[0]{exit} }

# "code 0", "signal 11", "still running"
sub exit_text {
    my ($self) = @_;

    my $s = $self->{exit};
    return 'still running' unless defined $s;
    return 'code ' . WEXITSTATUS($s) if WIFEXITED($s);
    return 'signal ' . WTERMSIG($s) if WIFSIGNALED($s);
    return "status $s";
}

sub exit_code {
    my ($self) = @_;
    my $s = $self->{exit};
    return defined $s && WIFEXITED($s) ? WEXITSTATUS($s) : undef;
}

# Wait up to $timeout for droverd to exit by itself; true when it did.
sub wait_exit {
    my ($self, $timeout) = @_;

    return 1 unless $self->{pid};
    return $self->wait_for(sub { !$self->alive }, $timeout);
}

# SIGTERM to droverd, wait up to $timeout (10 s), then SIGKILL.  Returns
# the wait status, undef when nothing was running.
sub stop {
    my ($self, %opt) = @_;

    return $self->{exit} unless $self->{pid};

    my $pid = $self->{pid};
    my @family = $self->descendants($pid);

    kill 'TERM', $pid;

    unless ($self->wait_exit($opt{timeout} || 10)) {
        diag("droverd $pid ignored SIGTERM; sending SIGKILL") unless $opt{quiet};
        kill 'KILL', $pid;
        $self->{killed} = 1;
        $self->wait_exit(5);
    }

    $self->_reap_family(\@family, $opt{quiet});
    return $self->{exit};
}

sub signal {
    my ($self, $sig) = @_;
    return $self->{pid} ? kill($sig, $self->{pid}) : 0;
}

# processes below $pid: [pid, start time] pairs from /proc
sub descendants {
    my ($self, $root) = @_;

    my (%kids, %start);

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh>;
        next unless defined $line && $line =~ /^(\d+) \(.*\) \S+ (\d+)((?: \S+){19})/s;
        my ($pid, $ppid, $rest) = ($1, $2, $3);
        push @{ $kids{$ppid} }, $pid;
        $start{$pid} = (split " ", $rest)[17];   # field 22, starttime
    }

    my @out;
    my @todo = ($root);

    while (@todo) {
        for my $kid (@{ $kids{ shift @todo } || [] }) {
            push @out, [$kid, $start{$kid}];
            push @todo, $kid;
        }
    }

    return @out;
}

# a [pid, start time] pair that still names the same process
sub _same_process {
    my ($entry) = @_;

    open my $fh, '<', "/proc/$entry->[0]/stat" or return 0;
    my $line = <$fh>;
    return 0 unless $line && $line =~ /^\d+ \(.*\) (\S+)((?: \S+){20})/s;
    return 0 if $1 eq 'Z';
    return (split ' ', $2)[18] eq $entry->[1];
}

# wait for droverd's former children to go; SIGKILL the ones that stay
sub _reap_family {
    my ($self, $family, $quiet) = @_;

    return unless @$family;

    my $gone = $self->wait_for(sub { !grep { _same_process($_) } @$family }, 5);
    return if $gone;

    for my $p (grep { _same_process($_) } @$family) {
        diag("process $p->[0] outlived droverd; sending SIGKILL") unless $quiet;
        kill 'KILL', $p->[0];
    }
}

# the processes droverd started that are still there: [pid, start] pairs
sub family {
    my ($self) = @_;
    return $self->{pid} ? $self->descendants($self->{pid}) : ();
}


# seconds since $pid started, from /proc (undef when it is gone)
sub process_age {
    my ($self, $pid) = @_;

    my $stat = $self->read_file("/proc/$pid/stat");
    my ($uptime) = split ' ', $self->read_file('/proc/uptime');
    return undef unless $stat =~ /^\d+ \(.*\) \S+((?: \S+){19})/s && defined $uptime;

    my $start = (split ' ', $1)[18];     # field 22, in clock ticks
    return $uptime - $start / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}


# ---- requests ----

# A FastCGI request (see Drover::FCGI::request) to the shared socket of the
# first pool, or to slot => K, pool => NAME, socket => PATH.
sub fcgi {
    my ($self, %a) = @_;

    my $path = delete $a{socket};
    my $slot = delete $a{slot};
    my $pool = delete $a{pool};

    $path = defined $slot ? $self->slot_path($slot, $pool) : $self->socket_path($pool)
        unless defined $path;

    return Drover::FCGI::get($path, %a);
}

# GET $uri, same routing options as fcgi()
sub get {
    my ($self, $uri, %a) = @_;
    return $self->fcgi(uri => $uri, %a);
}

# the pid answering kit's /pid on slot $k, or undef
# the pids of the up slots in the .slots file of $pool (the first pool's
# when undef), as droverd wrote it last: no request is sent
sub up_pids {
    my ($self, $pool) = @_;

    my $path = $self->socket_path($pool) . '.slots';
    return grep { $_ > 0 } map { /^\d+ up (\d+)$/ ? $1 : () }
        split /\n/, $self->read_file($path) // '';
}

sub slot_pid {
    my ($self, $k, %a) = @_;

    my $r = $self->get('/pid', slot => $k, %a);
    return $r->{complete} && $r->{body} =~ /^(\d+)\n$/ ? $1 : undef;
}

sub worker_pids {
    my ($self, %a) = @_;

    my $p = $self->pool($a{pool});
    return map { $self->slot_pid($_, %a) } 0 .. $p->{workers} - 1;
}


# ---- logs and checks ----

sub log {
    my ($self) = @_;
    return $self->read_file($self->log_path);
}

# log lines matching $re
sub log_grep {
    my ($self, $re) = @_;
    return grep { /$re/ } split /\n/, $self->log;
}

# an [alert] or [emerg] line matching $re does not fail the checks
sub allow_alert {
    my ($self, $re) = @_;

    push @{ $self->{allowed} }, $re;
    return $self;
}

my $SANITIZER = qr/AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer/;

# the checks that end every test file: three tests of their own
sub check_logs {
    my ($self) = @_;

    my $log = $self->log . $self->read_file('nginx-error.log')
        . join '', map { $self->read_file($_) } glob("$self->{dir}/sanitizer.*");

    my @alerts = grep {
        my $line = $_;
        /\[(alert|emerg)\]/ && !grep { $line =~ $_ } @{ $self->{allowed} };
    } split /\n/, $log;

    ok(!@alerts, 'no [alert] or [emerg] in the logs')
        or diag(join "\n", @alerts);

    my @san = grep { /$SANITIZER/ } split /\n/, $log;
    ok(!@san, 'no sanitizer output') or diag(join "\n", @san[0 .. ($#san < 20 ? $#san : 20)]);

    my $crash = $self->{killed} ? 'needed SIGKILL to stop'
        : defined $self->{exit} && WIFSIGNALED($self->{exit})
            ? 'died of signal ' . WTERMSIG($self->{exit})
        : '';
    ok(!$crash, 'droverd did not crash') or diag("droverd $crash");

    return unless $self->{nginx_ran};

    # a sanitizer turns a crash into "exited with code 1"
    my @died = grep { /worker process \d+ exited (on signal|with (fatal )?code [1-9])/ }
               split /\n/, $log;
    ok(!@died, 'no nginx worker exited on a signal or with an error') or diag(join "\n", @died);
}

# stop everything, run the log checks, done_testing
sub done {
    my ($self) = @_;

    $self->stop_all;
    $self->check_logs;
    done_testing();
    $self->_dump_on_failure;
}

sub _dump_on_failure {
    my ($self) = @_;

    return unless $ENV{DROVER_TEST_VERBOSE};
    return if Test::More->builder->is_passing;

    diag("---- $self->{dir}/droverd.log\n" . $self->log);
    my $ng = $self->read_file('nginx-error.log');
    diag("---- $self->{dir}/nginx-error.log\n$ng") if length $ng;

    for my $path (glob "$self->{dir}/sanitizer.*") {
        diag("---- $path\n" . $self->read_file($path));
    }
}

sub stop_all {
    my ($self, %opt) = @_;

    $self->stop_nginx(%opt);
    $self->stop(%opt);
}

sub DESTROY {
    my ($self) = @_;

    local ($?, $@, $!);
    $self->stop_all(quiet => 1);
}


# ---- supervision ----

# a mark in droverd's log: log_since($mark) is what came after
sub log_mark { length $_[0]->log }

sub log_since {
    my ($self, $mark) = @_;

    my $log = $self->log;
    return length $log > $mark ? substr($log, $mark) : '';
}

# Wait up to $timeout (10 s) for at least $n (1) log lines matching $re,
# after $mark when given.  Returns the matching lines (in scalar context
# their number), also when there are fewer than $n.
sub wait_log {
    my ($self, $re, $timeout, $n, $mark) = @_;

    $n = 1 unless defined $n;
    $mark ||= 0;

    my @lines;
    $self->wait_for(sub {
        @lines = grep { /$re/ } split /\n/, $self->log_since($mark);
        return @lines >= $n;
    }, defined $timeout ? $timeout : 10, 0.02);

    return @lines;
}

# SIGHUP to droverd, then wait up to timeout => S (20) for the outcome:
# "serves" once serves => N (1) pools logged "generation G serves",
# "failed" or "refused" at the first such line, '' on timeout
sub reload {
    my ($self, %opt) = @_;

    my $want = defined $opt{serves} ? $opt{serves} : 1;
    my $mark = $self->log_mark;
    my $outcome = '';

    $self->signal('HUP') or return '';

    $self->wait_for(sub {
        my $log = $self->log_since($mark);
        return $outcome = 'refused' if $log =~ /reload refused/;
        return $outcome = 'failed' if $log =~ /reload failed/;
        my $serves = () = $log =~ /: generation \d+ serves/g;
        return $outcome = 'serves' if $serves >= $want;
        return '';
    }, $opt{timeout} || 20, 0.02);

    return $outcome;
}

# SIGHUP n times, one a second (at most), each waiting for its rollover to
# end (a SIGHUP during one is folded into the next): the outcomes, as
# reload() gives them
sub reloads {
    my ($self, $n, %opt) = @_;

    my @outcomes;

    for (1 .. $n) {
        my $next = Time::HiRes::time() + 1;
        push @outcomes, $self->reload(serves => 1, timeout => $opt{timeout} || 5);
        $self->wait_for(sub { Time::HiRes::time() >= $next }, 2);
    }

    return @outcomes;
}

# wrk in the background: ARGS then URL, its output in DIR/NAME.out; the pid
sub wrk_start {
    my ($self, $name, @args) = @_;

    my $dir = $self->{dir};

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/$name.out" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec 'wrk', @args or POSIX::_exit(127);
    }

    return $pid;
}

# wait up to TIMEOUT s for a wrk_start() wrk, killed if it is still there:
# (finished, exit code, its output)
sub wrk_wait {
    my ($self, $name, $pid, $timeout) = @_;

    my $code;
    my $done = $self->wait_for(sub {
        return 0 unless waitpid($pid, WNOHANG) == $pid;
        $code = $? >> 8;
        return 1;
    }, $timeout);

    unless ($done) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }

    return ($done, $code, $self->read_file("$name.out") // '');
}

# the checks of a wrk run that must have lost nothing: over MIN requests
# (1000), no non-2xx answer (then nginx's access log lines that were not
# 200 are shown), no socket error
sub wrk_clean {
    my ($self, $name, $report, $min) = @_;

    $min //= 1000;

    my ($requests) = $report =~ /(\d+) requests in/;
    cmp_ok($requests || 0, '>', $min, "$name: more than $min requests") or diag($report);
    unlike($report, qr/Non-2xx or 3xx responses/, "$name: no non-2xx responses")
        or diag(join "\n", grep { !/" 200 / } split /\n/,
                           $self->read_file('nginx-access.log') // '');
    unlike($report, qr/Socket errors/, "$name: no socket errors") or diag($report);
}

# A droverd the test started itself (through `sh -c` for its environment,
# say): from now on the harness waits for it, signals it, stops it and
# checks its exit as if run() had started it.  Its output must go to
# log_path for the log checks.
sub adopt {
    my ($self, $pid) = @_;

    croak 'droverd already running' if $self->{pid};

    $self->{pid} = $pid;
    $self->{exit} = undef;
    $self->{killed} = 0;

    return $self;
}

# CPU seconds (user + system) $pid has used, from /proc; undef if gone
sub cpu_seconds {
    my ($self, $pid) = @_;

    my $stat = $self->read_file("/proc/$pid/stat");
    return undef unless $stat =~ /^\d+ \(.*\) (.*)$/s;

    my ($utime, $stime) = (split ' ', $1)[11, 12];     # fields 14 and 15
    return ($utime + $stime) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}


# ---- droverd -t and friends ----

# run droverd with @args, output collected; returns (exit code, output)
sub droverd_cmd {
    my ($self, @args) = @_;
    return $self->run_cmd([$self->droverd, @args], 20);
}

# run @$cmd with stdin from /dev/null (or $stdin), stdout+stderr captured,
# killed after $timeout seconds; returns (exit code or -signal, output)
sub run_cmd {
    my ($self, $cmd, $timeout, %opt) = @_;

    my $out = "$self->{dir}/cmd.out." . ++$self->{cmd_seq};

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        if (defined $opt{stdin}) {
            open STDIN, '<', $opt{stdin} or POSIX::_exit(127);
        } else {
            open STDIN, '<', '/dev/null';
        }
        %ENV = (%ENV, %{ $opt{env} }) if $opt{env};
        %ENV = %{ $opt{clean_env} } if $opt{clean_env};
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec @$cmd or POSIX::_exit(127);
    }

    my $status;
    my $done = $self->wait_for(sub {
        my $r = waitpid($pid, WNOHANG);
        $status = $? if $r == $pid;
        return $r == $pid;
    }, $timeout || 20);

    unless ($done) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $status = $?;
        diag("@$cmd: killed after ${timeout}s");
    }

    my $text = $self->read_file($out);
    my $code = WIFEXITED($status) ? WEXITSTATUS($status) : -WTERMSIG($status);

    return ($code, $text);
}


# ---- Pss ----

# Pss of $pid in bytes, from /proc/PID/smaps_rollup; undef if unreadable
sub pss {
    my ($self, $pid) = @_;

    my $text = $self->read_file("/proc/$pid/smaps_rollup");
    return $text =~ /^Pss:\s+(\d+) kB/m ? $1 * 1024 : undef;
}

1;
