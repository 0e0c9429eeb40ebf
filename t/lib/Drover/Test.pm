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
# Environment: DROVER_BUILD (default ./build) holds droverd and apps/*.so;
# DROVER_TEST_VERBOSE=1 prints the logs when a test failed;
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
);

sub has {
    my ($self, @want) = @_;

    for my $f (@want) {
        my $check = $features{$f} or croak "unknown feature \"$f\"";
        next if $check->($self);

        plan(skip_all => "$f is not available ("
            . ($f =~ /^(droverd|hello|kit|model)$/ ? 'run make' : 'not installed')
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

# placeholders in config texts: %%DIR%%, %%BUILD%%, %%APPS%%, %%PORT%%
sub expand {
    my ($self, $text) = @_;

    $text =~ s/%%DIR%%/$self->{dir}/g;
    $text =~ s/%%BUILD%%/$self->{build}/g;
    $text =~ s/%%APPS%%/$self->{build}\/apps/g;
    $text =~ s/%%PORT%%/$self->port/ge;

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

    my $log = $self->log . $self->read_file('nginx-error.log');

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

# a free TCP port on 127.0.0.1, the same one for the life of the object
sub port {
    my ($self) = @_;

    return $self->{port} if $self->{port};

    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or croak "no free port: $!";
    $self->{port} = $s->sockport;
    close $s;

    return $self->{port};
}

# Write DIR/nginx.conf: the main context the harness needs (foreground,
# pid and logs and temp paths in DIR), with $http (placeholders expanded)
# inside http { }.  listen 127.0.0.1:%%PORT%% in it.
sub write_nginx_conf {
    my ($self, $http) = @_;

    my $dir = $self->{dir};
    mkdir "$dir/nginx-tmp";

    # as root, nginx's workers would run as nobody; they must reach the
    # droverd socket, which is 0660 and owned by root
    my $user = is_root() ? "user root;\n" : '';

    my $conf = <<"EOF" . $self->expand($http) . "}\n";
${user}daemon off;
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

    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/nginx-error.log" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec $NGINX, '-p', "$dir/", '-c', "$dir/nginx.conf", '-e', "$dir/nginx-error.log"
            or POSIX::_exit(127);
    }

    $self->{nginx_pid} = $pid;

    my $up = $self->wait_for(sub {
        return 0 if waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->port,
                                      Proto => 'tcp');
        return $s ? 1 : 0;
    }, $opt{timeout} || 10);

    unless ($up) {
        diag("nginx did not start; error log:\n" . $self->read_file('nginx-error.log'));
        $self->{nginx_pid} = undef if !kill 0, $pid;
    }

    return $self;
}

sub nginx_pid { $_[0]{nginx_pid} }

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

    my $c = $self->http_connect or return { error => "connect: $@" };
    my $r = $c->request($method, $uri, %opt, close => 1);
    $c->close;

    return $r;
}


# ---- Pss ----

# Pss of $pid in bytes, from /proc/PID/smaps_rollup; undef if unreadable
sub pss {
    my ($self, $pid) = @_;

    my $text = $self->read_file("/proc/$pid/smaps_rollup");
    return $text =~ /^Pss:\s+(\d+) kB/m ? $1 * 1024 : undef;
}


package Drover::Test::HTTP;

# A small HTTP/1.1 client: Content-Length and chunked responses, keepalive,
# a deadline on every read.

use strict;
use warnings;

use IO::Socket::INET;
use Time::HiRes qw(time);

sub new {
    my ($class, $host, $port, %opt) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5)
        or return undef;
    binmode $sock;

    return bless { sock => $sock, rbuf => '', host => $host, port => $port,
                   timeout => $opt{timeout} || 10 }, $class;
}

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
}

# wait for more bytes until $deadline; 0 on EOF or timeout
sub _fill {
    my ($self, $deadline) = @_;

    my $left = $deadline - time;
    return 0 if $left <= 0;

    my $rin = '';
    vec($rin, fileno $self->{sock}, 1) = 1;
    return 0 unless select(my $rout = $rin, undef, undef, $left) > 0;

    my $n = sysread($self->{sock}, $self->{rbuf}, 65536, length $self->{rbuf});
    return $n ? 1 : 0;
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

# request($method, $uri, body => ..., headers => {...}, close => 1):
# {status, headers (lower-case names), body, error}
sub request {
    my ($self, $method, $uri, %opt) = @_;

    my $body = defined $opt{body} ? $opt{body} : '';
    my %h = (Host => 'localhost', %{ $opt{headers} || {} });
    $h{'Content-Length'} = length $body if length $body || $method eq 'POST';
    $h{Connection} = 'close' if $opt{close};

    my $req = "$method $uri HTTP/1.1\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n" . $body;

    my $deadline = time + ($opt{timeout} || $self->{timeout});

    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($self->{sock}, $req, length($req) - $off, $off);
        return { error => "write: $!" } unless $n;
        $off += $n;
    }

    return $self->read_response($deadline, $method eq 'HEAD');
}

sub read_response {
    my ($self, $deadline, $head) = @_;

    my $status_line = $self->_line($deadline);
    return { error => 'no status line' } unless defined $status_line;

    my ($status) = $status_line =~ m{^HTTP/1\.[01] (\d{3})}
        or return { error => "bad status line: $status_line" };

    my %headers;
    for (;;) {
        my $line = $self->_line($deadline);
        return { error => 'eof in headers', status => $status } unless defined $line;
        last if $line eq '';

        my ($name, $value) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        $headers{lc $name} = $value;
    }

    my $r = { status => $status, headers => \%headers, body => '' };
    return $r if $head || $status == 204 || $status == 304 || $status < 200;

    if (($headers{'transfer-encoding'} || '') =~ /chunked/i) {
        for (;;) {
            my $size = $self->_line($deadline);
            return { %$r, error => 'eof in chunk size' } unless defined $size;
            $size = hex($size =~ s/;.*//r);
            last if $size == 0;

            return { %$r, error => 'eof in chunk' } unless $self->_need($size + 2, $deadline);
            $r->{body} .= substr($self->{rbuf}, 0, $size);
            substr($self->{rbuf}, 0, $size + 2, '');
        }

        # trailers, up to the empty line
        while (defined(my $line = $self->_line($deadline))) {
            last if $line eq '';
        }

    } elsif (defined $headers{'content-length'}) {
        my $len = $headers{'content-length'};
        return { %$r, error => 'eof in body' } unless $self->_need($len, $deadline);
        $r->{body} = substr($self->{rbuf}, 0, $len, '');

    } else {
        1 while $self->_fill($deadline);
        $r->{body} = $self->{rbuf};
        $self->{rbuf} = '';
    }

    return $r;
}

1;
