# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::Test;

# Drover::Test's nginx methods: ports, nginx.conf, run_nginx and stop_nginx,
# TLS servers and certificates, nginx's log, http() and https() clients.
# Loaded by Drover/Test.pm; tests call these as $t->method.

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

# set in Drover/Test.pm
our ($NGINX, $FASTCGI_PARAMS);


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

1;
