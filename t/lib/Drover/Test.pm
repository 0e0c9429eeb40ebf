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


# ---- nginx ----

# a free TCP port on 127.0.0.1, the same one for the life of the object;
# port('plain') and the like are further ports, one per name
sub port {
    my ($self, $name) = @_;

    if (defined $name && $name ne '') {
        return $self->{ports}{$name} ||= _free_port(values %{ $self->{ports} }, $self->port);
    }

    return $self->{port} ||= _free_port(values %{ $self->{ports} });
}

# a port the kernel hands out, other than @taken
sub _free_port {
    my (@taken) = @_;

    for (1 .. 20) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or croak "no free port: $!";
        my $port = $s->sockport;
        close $s;
        return $port unless grep { defined && $_ == $port } @taken;
    }

    croak 'no free port after 20 tries';
}

# Write DIR/nginx.conf: the main context the harness needs (foreground,
# pid and logs and temp paths in DIR), with $http (placeholders expanded)
# inside http { }.  listen 127.0.0.1:%%PORT%% in it.  module => 1 loads
# ngx_http_drover_module first.
sub write_nginx_conf {
    my ($self, $http, %opt) = @_;

    my $dir = $self->{dir};
    mkdir "$dir/nginx-tmp";

    # as root, nginx's workers would run as nobody; they must reach the
    # droverd socket, which is 0660 and owned by root
    my $user = is_root() ? "user root;\n" : '';
    my $load = $opt{module} ? 'load_module ' . $self->module . ";\n" : '';

    # a sanitizer build of the module needs libasan in nginx (see run_nginx)
    $self->{nginx_san} = $opt{module} && $self->sanitized ? 1 : 0;

    my $conf = <<"EOF" . $self->expand($http) . "}\n";
${load}${user}daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log notice;

events {
    worker_connections 256;
}

http {
    access_log $dir/nginx-access.log;
    client_body_temp_path $dir/nginx-tmp/body;
    fastcgi_temp_path $dir/nginx-tmp/fastcgi;
    proxy_temp_path $dir/nginx-tmp/proxy;
    uwsgi_temp_path $dir/nginx-tmp/uwsgi;
    scgi_temp_path $dir/nginx-tmp/scgi;

EOF

    $self->write_file('nginx.conf', $conf);
    return $self;
}

# start nginx in the background and wait for its port
sub run_nginx {
    my ($self, %opt) = @_;

    my $dir = $self->{dir};

    my %env = $self->{nginx_san} ? $self->sanitizer_env : ();

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/nginx-error.log" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        @ENV{keys %env} = values %env;
        exec $NGINX, '-p', "$dir/", '-c', "$dir/nginx.conf", '-e', "$dir/nginx-error.log"
            or POSIX::_exit(127);
    }

    $self->{nginx_pid} = $pid;
    $self->{nginx_ran} = 1;

    # nginx that exits (a config error) ends the wait at once; the port
    # accepts as soon as the master bound it, before any worker is forked,
    # so a worker process must be there too
    my $exited = 0;
    my $up = $self->wait_for(sub {
        return $exited = 1 if waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->port,
                                      Proto => 'tcp');
        return $s && $self->nginx_workers ? 1 : 0;
    }, $opt{timeout} || 10);
    $up = 0 if $exited;

    unless ($up) {
        diag("nginx did not start; error log:\n" . $self->read_file('nginx-error.log'));
        $self->{nginx_pid} = undef if !kill 0, $pid;
    }

    return $self;
}

sub nginx_pid { $_[0]{nginx_pid} }

# The environment that lets the stock (uninstrumented) nginx load a module
# built with -fsanitize=address,undefined: the runtimes preloaded, leak
# checks off (nginx keeps its memory until exit by design), reports into
# DIR/sanitizer.PID, which check_logs reads along with the error log.
sub sanitizer_env {
    my ($self) = @_;

    my @libs;
    for my $name (qw(libasan.so libubsan.so)) {
        my ($code, $path) = $self->run_cmd(['gcc', "-print-file-name=$name"], 10);
        $path =~ s/\s+$//;
        croak "gcc does not know where $name is" unless $code == 0 && $path =~ m{^/} && -e $path;
        push @libs, $path;
    }

    my $log = "$self->{dir}/sanitizer";

    return (
        LD_PRELOAD    => join(' ', @libs),
        ASAN_OPTIONS  => "detect_leaks=0:abort_on_error=0:log_path=$log",
        UBSAN_OPTIONS => "print_stacktrace=1:log_path=$log",
    );
}

# Write nginx.conf for a module test: load_module, and a TLS server on
# 127.0.0.1:%%PORT%% (server_name localhost, the run's self-signed
# certificate) holding $server (locations and server-level directives).
# servers => { NAME => TEXT, ... } adds a TLS server per name on the same
# port (a request picks one with its Host header); http => TEXT adds to the
# http level, e.g. a plain server on %%PORT_PLAIN%%.
#
# DROVER_TEST_STANDIN=fastcgi writes stock fastcgi_* directives instead of
# the module's and does not load it: to check what the tests expect
# against nginx's own FastCGI module (some checks fail there by design:
# keepalive without an upstream block, the params it does not set).
sub write_module_conf {
    my ($self, $server, %opt) = @_;

    $self->make_cert;

    my $http = $opt{http} || '';
    my $servers = $opt{servers} || {};

    $http .= $self->_tls_server('localhost', $server);
    $http .= $self->_tls_server($_, $servers->{$_}) for sort keys %$servers;

    my $standin = ($ENV{DROVER_TEST_STANDIN} || '') eq 'fastcgi';
    $http = _fastcgi_standin($http) if $standin;

    return $self->write_nginx_conf($http, module => !$standin);
}

sub _tls_server {
    my ($self, $name, $body) = @_;

    return <<"EOF";
    server {
        listen 127.0.0.1:%%PORT%% ssl;
        server_name $name;

        ssl_certificate     %%DIR%%/cert.pem;
        ssl_certificate_key %%DIR%%/key.pem;
        ssl_protocols       TLSv1.2 TLSv1.3;

$body
    }

EOF
}

sub _fastcgi_standin {
    my ($text) = @_;

    $text =~ s{\bdrover_pass\s+([^;]+);}{include /etc/nginx/fastcgi_params; fastcgi_param HTTPS \$https if_not_empty; fastcgi_keep_conn on; fastcgi_pass $1;}g;
    $text =~ s{\bdrover_param\b}{fastcgi_param}g;
    $text =~ s{\bdrover_(connect_timeout|send_timeout|read_timeout|buffering|request_buffering)\b}{fastcgi_$1}g;

    return $text;
}

# a self-signed certificate for localhost and 127.0.0.1, once per run:
# DIR/cert.pem and DIR/key.pem
sub make_cert {
    my ($self) = @_;

    my $dir = $self->{dir};
    return $self if -s "$dir/cert.pem" && -s "$dir/key.pem";

    my ($code, $out) = $self->run_cmd([
        'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', "$dir/key.pem", '-out', "$dir/cert.pem"], 60);

    croak "openssl req failed ($code): $out" unless $code == 0 && -s "$dir/cert.pem";
    return $self;
}

# the worker processes of the nginx we started (children of its master)
sub nginx_workers {
    my ($self) = @_;

    my $master = $self->{nginx_pid} or return ();
    return map { $_->[0] } grep {
        $self->read_file("/proc/$_->[0]/cmdline") =~ /^nginx: worker process/
    } $self->descendants($master);
}

# a field of /proc/PID/status in bytes (VmRSS, VmHWM, ...), undef if gone
sub proc_status {
    my ($self, $pid, $field) = @_;

    my $text = $self->read_file("/proc/$pid/status");
    return $text =~ /^\Q$field\E:\s+(\d+) kB/m ? $1 * 1024 : undef;
}

sub nginx_log { $_[0]->read_file('nginx-error.log') }

# A check that nginx runs; when it does not (the module failed to load,
# say), the rest of the file cannot run: the log checks, and exit.
sub nginx_started {
    my ($self, $what) = @_;

    return 1 if ok($self->nginx_pid, 'nginx started' . (defined $what ? " $what" : ''));

    $self->done;
    exit 1;
}

# a mark in nginx's error log: nginx_log_since($mark) is what came after
sub nginx_log_mark { length $_[0]->nginx_log }

sub nginx_log_since {
    my ($self, $mark) = @_;

    my $log = $self->nginx_log;
    return length $log > $mark ? substr($log, $mark) : '';
}

# the lines at [error] or worse that nginx logged since $mark
sub nginx_errors_since {
    my ($self, $mark) = @_;

    return grep { /\[(error|crit|alert|emerg)\]/ }
        split /\n/, $self->nginx_log_since($mark);
}

# Wait up to $timeout (2 s) for at least $n (1) lines at [error] or worse
# since $mark; returns them all.  nginx logs a failure before it answers,
# but a connection it closes may be logged a moment after.
sub wait_nginx_errors {
    my ($self, $mark, $n, $timeout) = @_;

    $n = 1 unless defined $n;
    my @lines;
    $self->wait_for(sub { (@lines = $self->nginx_errors_since($mark)) >= $n },
                    defined $timeout ? $timeout : 2);
    return @lines;
}

# SIGQUIT (graceful) to the nginx we started, SIGKILL after the deadline
sub stop_nginx {
    my ($self, %opt) = @_;

    my $pid = $self->{nginx_pid} or return;
    my @family = $self->descendants($pid);

    kill 'QUIT', $pid;

    my $gone = $self->wait_for(sub { waitpid($pid, WNOHANG) != 0 }, $opt{timeout} || 10);
    unless ($gone) {
        diag("nginx $pid ignored SIGQUIT; sending SIGKILL") unless $opt{quiet};
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }

    $self->{nginx_pid} = undef;
    $self->_reap_family(\@family, $opt{quiet});
}

# a keepalive-capable HTTP/1.1 connection to the nginx port
sub http_connect {
    my ($self, %opt) = @_;
    return Drover::Test::HTTP->new('127.0.0.1', $opt{port} || $self->port, %opt);
}

# one request on its own connection
sub http {
    my ($self, $method, $uri, %opt) = @_;

    my $c = $self->http_connect(%opt) or return { error => "connect: $@" };
    my $r = $c->request($method, $uri, %opt, close => 1);
    $c->close;

    return $r;
}

# the same over TLS (the server of write_module_conf)
sub https_connect {
    my ($self, %opt) = @_;
    return $self->http_connect(%opt, tls => 1);
}

sub https {
    my ($self, $method, $uri, %opt) = @_;
    return $self->http($method, $uri, %opt, tls => 1);
}


# ---- Pss ----

# Pss of $pid in bytes, from /proc/PID/smaps_rollup; undef if unreadable
sub pss {
    my ($self, $pid) = @_;

    my $text = $self->read_file("/proc/$pid/smaps_rollup");
    return $text =~ /^Pss:\s+(\d+) kB/m ? $1 * 1024 : undef;
}


# ---- the status page: fake control sockets, promtool, a headless browser ----

# the fake control sockets still running, for the END block below
my @fake_controls;

END {
    my $status = $?;
    kill 'KILL', $_->{pid} for grep { $_->{pid} } @fake_controls;
    waitpid($_->{pid}, 0) for grep { $_->{pid} } @fake_controls;
    $? = $status;
}

# A stand-in for droverd's control socket at DIR/NAME.sock, in a process of
# its own, for what droverd never does.  On each connection, one at a
# time, it reads one request line and appends it to DIR/NAME.requests,
# writes reply => BYTES (nothing when undef) split => N bytes at a time
# with delay => S between the pieces, keeps the connection for hold => S
# seconds or until the client closes it, and closes it.  Returns a handle
# for fake_control_requests() and stop_fake_control().
sub fake_control {
    my ($self, $name, %opt) = @_;

    my $fake = {
        path     => "$self->{dir}/$name.sock",
        requests => "$self->{dir}/$name.requests",
        pid      => undef,
    };

    unlink $fake->{path};
    my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $fake->{path},
                                       Listen => 16)
        or croak "fake control socket: listen on $fake->{path}: $!";
    $self->write_file($fake->{requests}, '');

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        _fake_control_loop($listen, $fake, getppid, %opt);
        POSIX::_exit(0);
    }

    close $listen;
    $fake->{pid} = $pid;
    push @fake_controls, $fake;

    return $fake;
}

sub _fake_control_loop {
    my ($listen, $fake, $parent, %opt) = @_;

    my $deadline = time + 300;      # a fake never outlives a test run

    while (time < $deadline && getppid == $parent) {
        my $rin = '';
        vec($rin, fileno $listen, 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.5) > 0;

        my $c = $listen->accept or next;
        binmode $c;

        my $line = '';
        my $until = time + 5;
        while ($line !~ /\n/ && time < $until) {
            my $cin = '';
            vec($cin, fileno $c, 1) = 1;
            next unless select(my $cout = $cin, undef, undef, 0.1) > 0;
            last unless sysread($c, $line, 4096, length $line);
        }

        if (open my $fh, '>>', $fake->{requests}) {
            print $fh $line;
            close $fh;
        }

        local $SIG{PIPE} = 'IGNORE';
        my $reply = defined $opt{reply} ? $opt{reply} : '';
        my $piece = $opt{split} || length($reply) || 1;

        for (my $off = 0; $off < length $reply; $off += $piece) {
            last unless defined syswrite($c, $reply, $piece, $off);
            sleep $opt{delay} if $opt{delay} && $off + $piece < length $reply;
        }

        # hold: until the client closes, or for hold => S seconds
        my $hold = time + ($opt{hold} || 0);
        while (time < $hold) {
            my $cin = '';
            vec($cin, fileno $c, 1) = 1;
            next unless select(my $cout = $cin, undef, undef, 0.1) > 0;
            last unless sysread($c, my $buf, 4096);
        }

        close $c;
    }
}

# the request lines the fake got, in order
sub fake_control_requests {
    my ($self, $fake) = @_;
    return split /(?<=\n)/, $self->read_file($fake->{requests});
}

sub stop_fake_control {
    my ($self, $fake) = @_;

    return unless $fake->{pid};

    kill 'TERM', $fake->{pid};
    my $gone = $self->wait_for(sub { waitpid($fake->{pid}, WNOHANG) != 0 }, 5);
    unless ($gone) {
        kill 'KILL', $fake->{pid};
        waitpid($fake->{pid}, 0);
    }

    $fake->{pid} = undef;
}

# `promtool check metrics` on $text: (exit code, what it printed)
sub promtool_check {
    my ($self, $text) = @_;

    my $file = $self->write_file('metrics.' . ++$self->{cmd_seq} . '.txt', $text);
    return $self->run_cmd(['promtool', 'check', 'metrics'], 30, stdin => $file);
}

# Headless Chromium on $url with @args (--screenshot=..., --dump-dom):
# (exit code or -signal, stdout, stderr).  It runs in a process group of
# its own, so that its renderer and helper processes go with it: after
# $timeout seconds (60) the whole group gets SIGKILL.
sub chromium {
    my ($self, $url, $args, $timeout) = @_;

    $timeout ||= 60;

    my $seq = ++$self->{cmd_seq};
    my $out = "$self->{dir}/chromium.$seq.out";
    my $err = "$self->{dir}/chromium.$seq.err";
    my $profile = "$self->{dir}/chromium-profile.$seq";
    mkdir $profile;

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>', $err or POSIX::_exit(127);
        $ENV{HOME} = $profile;
        exec 'chromium', '--headless', '--no-sandbox', '--disable-gpu',
            '--disable-dev-shm-usage', '--no-first-run',
            '--disable-background-networking', '--disable-component-update',
            '--disable-sync', "--user-data-dir=$profile",
            '--window-size=412,900', @$args, $url
            or POSIX::_exit(127);
    }

    # the group exists once the child made it; a kill before that is
    # aimed at the child alone
    POSIX::setpgid($pid, $pid);

    my $status;
    my $done = $self->wait_for(sub {
        my $r = waitpid($pid, WNOHANG);
        $status = $? if $r == $pid;
        return $r == $pid;
    }, $timeout, 0.05);

    unless ($done) {
        diag("chromium $pid: still running after ${timeout}s; killing its group");
        kill 'KILL', -$pid;
        waitpid($pid, 0);
        $status = $?;
    }

    # helpers that outlived the browser itself
    kill 'KILL', -$pid if kill 0, -$pid;

    my $code = WIFEXITED($status) ? WEXITSTATUS($status) : -WTERMSIG($status);
    return ($code, $self->read_file($out), $self->read_file($err));
}


package Drover::Test::HTTP;

# A small HTTP/1.1 client over TCP or TLS (IO::Socket::SSL, tls => 1):
# Content-Length and chunked bodies both ways, keepalive, HEAD, headers in
# the order given (also repeated, or with names nginx calls invalid), raw
# requests, and a deadline on every read and write.  The socket is
# non-blocking: a request body is written while the response is read, so
# an echo of a big body never deadlocks on full socket buffers.
#
# Every byte received is kept in received() (unless record => 0), so a test
# can check that something never reached the client.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Socket::INET;
use Time::HiRes qw(time);

# bytes per write: a TLS record, and a size a non-blocking SSL_write
# can be retried with unchanged
use constant PIECE => 16384;

# new($host, $port, tls => 1, sni => NAME, timeout => S, record => 0):
# undef and $@ on failure
sub new {
    my ($class, $host, $port, %opt) = @_;

    my $sock;

    if ($opt{tls}) {
        require IO::Socket::SSL;
        $sock = IO::Socket::SSL->new(
            PeerAddr        => $host,
            PeerPort        => $port,
            Timeout         => 5,
            SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
            SSL_hostname    => defined $opt{sni} ? $opt{sni} : 'localhost',
        );
        $@ = 'TLS connect: ' . (IO::Socket::SSL::errstr() || $!) unless $sock;
    } else {
        $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                      Proto => 'tcp', Timeout => 5);
        $@ = "connect: $!" unless $sock;
    }

    return undef unless $sock;

    binmode $sock;
    $sock->blocking(0);

    return bless {
        sock     => $sock,
        tls      => $opt{tls} ? 1 : 0,
        rbuf     => '',
        eof      => 0,
        error    => undef,
        received => '',
        record   => defined $opt{record} ? $opt{record} : 1,
        host     => $host,
        port     => $port,
        timeout  => $opt{timeout} || 10,
    }, $class;
}

sub socket   { $_[0]{sock} }
sub received { $_[0]{received} }
sub eof      { $_[0]{eof} }

# the client's own port: REMOTE_PORT as the server sees it
sub local_port { $_[0]{sock} ? $_[0]{sock}->sockport : undef }

# what TLS negotiated: (protocol, cipher), e.g. ('TLSv1.3', 'TLS_AES_256_GCM_SHA384')
sub tls_info {
    my ($self) = @_;

    return () unless $self->{tls} && $self->{sock};

    # IO::Socket::SSL says TLSv1_2 where nginx's $ssl_protocol says TLSv1.2
    my $version = $self->{sock}->get_sslversion;
    $version =~ s/_/./g if defined $version;

    return ($version, $self->{sock}->get_cipher);
}

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
}

# One read of what is there, without waiting: 1 when bytes came, 0 at EOF
# (eof set), undef when nothing is there yet.
sub _read_some {
    my ($self) = @_;

    return 0 if $self->{eof} || !$self->{sock};

    my $n = sysread($self->{sock}, my $buf, 65536);

    if (!defined $n) {
        # IO::Socket::SSL says EAGAIN for SSL_WANT_READ (half a record)
        return undef if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        $self->{error} = "read: $!";
        $self->{eof} = 1;       # ECONNRESET and the like end the stream too
        return 0;
    }

    if ($n == 0) {
        $self->{eof} = 1;
        return 0;
    }

    $self->{rbuf} .= $buf;
    $self->{received} .= $buf if $self->{record};
    return 1;
}

# bytes already decrypted inside the TLS layer, which select() cannot see
sub _pending {
    my ($self) = @_;
    return $self->{tls} && $self->{sock} && $self->{sock}->pending;
}

# wait for more bytes until $deadline; 0 on EOF or timeout
sub _fill {
    my ($self, $deadline) = @_;

    for (;;) {
        return 0 if $self->{eof} || !$self->{sock};

        unless ($self->_pending) {
            my $left = $deadline - time;
            return 0 if $left <= 0;

            my $rin = '';
            vec($rin, fileno $self->{sock}, 1) = 1;
            next unless select(my $rout = $rin, undef, undef, $left) > 0;
        }

        my $r = $self->_read_some;
        return $r if defined $r;
    }
}

# read until $self->{rbuf} has $len bytes
sub _need {
    my ($self, $len, $deadline) = @_;

    while (length $self->{rbuf} < $len) {
        return 0 unless $self->_fill($deadline);
    }

    return 1;
}

# read a line ending in CRLF; undef at EOF or timeout
sub _line {
    my ($self, $deadline) = @_;

    for (;;) {
        my $i = index $self->{rbuf}, "\r\n";
        return substr($self->{rbuf}, 0, $i + 2, '') =~ s/\r\n$//r if $i >= 0;
        return undef unless $self->_fill($deadline);
    }
}

# Write all of $data before $deadline, reading what the server sends
# meanwhile.  split => N writes N bytes at a time and delay => S waits S
# seconds between pieces (still reading).  1, or 0 with {error} set.
sub send_raw {
    my ($self, $data, %opt) = @_;

    my $deadline = time + ($opt{timeout} || $self->{timeout});
    my $piece = $opt{split} || PIECE;
    $piece = PIECE if $piece > PIECE;

    local $SIG{PIPE} = 'IGNORE';

    for (my $off = 0; $off < length $data; ) {
        return 0 unless $self->{sock};

        my $left = $deadline - time;
        if ($left <= 0) {
            $self->{error} = 'timeout writing';
            return 0;
        }

        my ($rin, $win) = ('', '');
        vec($rin, fileno $self->{sock}, 1) = 1 unless $self->{eof};
        vec($win, fileno $self->{sock}, 1) = 1;
        select(my $rout = $rin, my $wout = $win, undef, $left);

        $self->_read_some if !$self->{eof} && (vec($rout, fileno $self->{sock}, 1) || $self->_pending);
        next unless vec($wout, fileno $self->{sock}, 1);

        my $len = length($data) - $off;
        $len = $piece if $len > $piece;
        my $n = syswrite($self->{sock}, $data, $len, $off);

        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $self->{error} = "write: $!";
            return 0;
        }

        $off += $n;

        if ($opt{delay} && $off < length $data) {
            my $until = time + $opt{delay};
            $self->_fill($until) while !$self->{eof} && time < $until;
            select(undef, undef, undef, $until - time) if time < $until;
        }
    }

    return 1;
}

# the request's bytes: request line, headers, body (Content-Length, or
# chunked => N: chunks of N bytes, or chunked => [sizes] cycled)
sub request_bytes {
    my ($self, $method, $uri, %opt) = @_;

    my $body = defined $opt{body} ? $opt{body} : '';

    # headers: a hash (sent sorted) or a list of [name, value] pairs or
    # name, value, ... in the order given
    my @h;
    if (ref $opt{headers} eq 'ARRAY') {
        my @kv = @{ $opt{headers} };
        @h = ref $kv[0] eq 'ARRAY' ? @kv : map { [@kv[2 * $_, 2 * $_ + 1]] } 0 .. $#kv / 2;
    } elsif ($opt{headers}) {
        @h = map { [$_, $opt{headers}{$_}] } sort keys %{ $opt{headers} };
    }

    my %have = map { (lc $_->[0] => 1) } @h;
    unshift @h, ['Host', 'localhost'] unless $have{host};

    if ($opt{chunked}) {
        push @h, ['Transfer-Encoding', 'chunked'] unless $have{'transfer-encoding'};
        $body = _chunk($body, $opt{chunked});
    } elsif ((length $body || $method eq 'POST') && !$have{'content-length'}) {
        push @h, ['Content-Length', length $body];
    }

    push @h, ['Connection', 'close'] if $opt{close} && !$have{connection};

    return "$method $uri HTTP/1.1\r\n"
        . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n" . $body;
}

sub _chunk {
    my ($body, $how) = @_;

    my @sizes = ref $how ? @$how : ($how > 1 ? $how : 4096);
    my ($out, $off, $i) = ('', 0, 0);

    while ($off < length $body) {
        my $n = $sizes[$i++ % @sizes] || 1;
        my $piece = substr($body, $off, $n);
        $out .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
        $off += length $piece;
    }

    return $out . "0\r\n\r\n";
}

# request($method, $uri, body => ..., headers => {...} or [...],
#         chunked => N, close => 1, split/delay => (see send_raw),
#         sink => sub { piece }, timeout => S)
# or request(raw => BYTES, method => 'HEAD' when it is one).
# Returns see read_response; write_error when the request could not be
# sent whole (the server may have answered early, e.g. 413).
sub request {
    my ($self, $method, $uri, %opt) = @_;

    my $bytes = defined $opt{raw} ? $opt{raw} : $self->request_bytes($method, $uri, %opt);
    my $deadline = time + ($opt{timeout} || $self->{timeout});

    my $sent = $self->send_raw($bytes, split => $opt{split}, delay => $opt{delay},
                               timeout => $opt{timeout});
    my $error = $sent ? undef : $self->{error};

    # an early answer is already in rbuf; give it a moment otherwise
    $deadline = time + 2 if !$sent && $deadline > time + 2;

    my $r = $self->read_response($deadline, ($method || '') eq 'HEAD', sink => $opt{sink});
    $r->{write_error} = $error if defined $error;
    return $r;
}

# read_response($deadline, $is_head, sink => CODE) reads one response:
# {status, reason, version, head (raw text), headers (lower-case names, a
# repeated one joined with ", "), header_list ([name, value] pairs as
# sent), body (or sink gets it piece by piece), body_length, complete (the
# framing was satisfied: all of Content-Length, the last chunk, or EOF of
# a close-delimited body), error}
sub read_response {
    my ($self, $deadline, $head, %opt) = @_;

    my ($status_line, $status);

    # skip 1xx interim responses
    for (1 .. 5) {
        $status_line = $self->_line($deadline);
        return { error => $self->{eof} ? 'eof before the status line' : 'no status line',
                 complete => 0, body => '', body_length => 0, headers => {}, header_list => [] }
            unless defined $status_line;

        $status = $status_line =~ m{^HTTP/(1\.[01]) (\d{3})} ? $2 : undef;
        return { error => "bad status line: $status_line", complete => 0, body => '',
                 body_length => 0, headers => {}, header_list => [] }
            unless defined $status;

        last unless $status >= 100 && $status < 200;

        for (;;) {
            my $line = $self->_line($deadline);
            last unless defined $line && $line ne '';
        }
    }

    my ($version, $reason) = $status_line =~ m{^HTTP/(1\.[01]) \d{3} ?(.*)$};
    my $r = { status => $status, reason => $reason, version => $version,
              head => "$status_line\r\n", headers => {}, header_list => [],
              body => '', body_length => 0, complete => 0 };

    for (;;) {
        my $line = $self->_line($deadline);
        return { %$r, error => 'eof in headers' } unless defined $line;
        $r->{head} .= "$line\r\n";
        last if $line eq '';

        my ($name, $value) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        push @{ $r->{header_list} }, [$name, $value];
        my $lc = lc $name;
        $r->{headers}{$lc} = exists $r->{headers}{$lc} ? "$r->{headers}{$lc}, $value" : $value;
    }

    if ($head || $status == 204 || $status == 304) {
        $r->{complete} = 1;
        return $r;
    }

    my $sink = $opt{sink} || sub { $r->{body} .= $_[0] };
    my $take = sub {
        my ($n) = @_;
        my $piece = substr($self->{rbuf}, 0, $n, '');
        $r->{body_length} += length $piece;
        $sink->($piece);
    };

    my $h = $r->{headers};

    if (($h->{'transfer-encoding'} || '') =~ /chunked/i) {
        for (;;) {
            my $size = $self->_line($deadline);
            return { %$r, error => 'eof in chunk size' } unless defined $size;
            return { %$r, error => "bad chunk size: $size" } unless $size =~ /^([0-9a-fA-F]+)/;
            $size = hex $1;
            last if $size == 0;

            while ($size > 0) {
                return { %$r, error => 'eof in chunk' }
                    unless length $self->{rbuf} || $self->_fill($deadline);
                my $n = $size < length $self->{rbuf} ? $size : length $self->{rbuf};
                $take->($n);
                $size -= $n;
            }

            return { %$r, error => 'eof after chunk' } unless $self->_need(2, $deadline);
            return { %$r, error => 'no CRLF after chunk' }
                unless substr($self->{rbuf}, 0, 2, '') eq "\r\n";
        }

        # trailers, up to the empty line
        for (;;) {
            my $line = $self->_line($deadline);
            return { %$r, error => 'eof in trailers' } unless defined $line;
            last if $line eq '';
        }

    } elsif (defined $h->{'content-length'}) {
        my $len = $h->{'content-length'};

        while ($len > 0) {
            return { %$r, error => 'eof in body' }
                unless length $self->{rbuf} || $self->_fill($deadline);
            my $n = $len < length $self->{rbuf} ? $len : length $self->{rbuf};
            $take->($n);
            $len -= $n;
        }

    } else {
        for (;;) {
            $take->(length $self->{rbuf}) if length $self->{rbuf};
            last unless $self->_fill($deadline);
        }
        return { %$r, error => $self->{error} || 'timeout in a close-delimited body' }
            unless $self->{eof} && !$self->{error};
    }

    $r->{complete} = 1;
    return $r;
}

# 1 when the server closes the connection within $timeout seconds (what
# arrives first is read and kept in received()), 0 otherwise
sub wait_closed {
    my ($self, $timeout) = @_;

    my $deadline = time + $timeout;

    while (!$self->{eof}) {
        return 0 if time >= $deadline;
        $self->_fill($deadline);
        $self->{rbuf} = '';
    }

    return 1;
}

1;
