# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
package Drover::Test::Python;

# What the Python app tests share: Debian's /usr/bin/python3 with the
# frameworks (never the python3 first in PATH), the python pool's runtime
# (skipped with its reason while droverd lacks it), a peer server (uvicorn,
# gunicorn) started on a port the test picks and stopped by its pid,
# responses compared header by header, and memory read from /proc.

use strict;
use warnings;

use Carp qw(croak);
use Exporter 'import';
use File::Copy qw(copy);
use JSON::PP ();
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time);

our @EXPORT_OK = qw(python_needs python_runtime app_dir start_peer stop_peer compare
                    proc_kb peer_pids python_pool_conf leave_stream);

our $PYTHON = '/usr/bin/python3';

my %peers;      # pid => 1 while it runs

END {
    my $status = $?;
    stop_peer($_) for keys %peers;
    $? = $status;
}

# skip the file unless Debian's python3 imports @modules
sub python_needs {
    my ($t, @modules) = @_;

    plan(skip_all => "$PYTHON is not installed") unless -x $PYTHON;
    my ($code, $out) = $t->run_cmd([$PYTHON, '-c', 'import ' . join(', ', @modules)], 30);
    plan(skip_all => "$PYTHON cannot import @modules (apt-get install the python3-* packages;"
                   . " make deps): " . (split /\n/, $out)[-1]) if $code != 0;
}

# undef when droverd runs python pools, else why not (droverd -t's answer)
sub python_runtime {
    my ($t) = @_;

    my $dir = $t->dir;
    my $user = $> == 0 ? "    user nobody;\n" : '';
    # a real app, should -t ever import it
    mkdir "$dir/probe";
    chmod 0755, "$dir/probe";
    $t->write_file('probe/probe.py', "async def app(scope, receive, send):\n    pass\n", 0644);
    $t->write_file('python-probe.conf', "pool probe {\n    python probe:app;\n"
                   . "    python_path $dir/probe;\n"
                   . "    listen unix:$dir/probe.sock;\n$user}\n");
    my ($code, $out) = $t->droverd_cmd('-t', '-c', "$dir/python-probe.conf");
    return undef if $code == 0;

    my ($first) = grep { /\S/ } split /\n/, $out;
    $first =~ s{^\S*python-probe\.conf:}{line } if defined $first;
    return 'droverd has no python pools yet (droverd -t: ' . ($first // "exit $code") . ')';
}

# the test apps copied to DIR/app (readable by the pool's user, and no
# __pycache__ in the source tree): the directory
sub app_dir {
    my ($t) = @_;

    my $dir = $t->dir . '/app';
    mkdir $dir;
    chmod 0755, $dir;
    for my $f (glob('t/apps/python/*.py')) {
        (my $name = $f) =~ s{.*/}{};
        copy($f, "$dir/$name") or croak "copy $f: $!";
        chmod 0644, "$dir/$name";
    }

    return $dir;
}

# a droverd pool running MODULE:ATTR from app_dir, `name`, `workers` (2),
# `extra` directives
sub python_pool_conf {
    my ($t, $app, %o) = @_;

    my $name = $o{name} || 'api';
    my $workers = $o{workers} || 2;
    my $extra = $o{extra} || '';
    my $dir = $t->dir;

    return <<"EOF";
pool $name {
    python       $app;
    python_path  $dir/app;
    listen       unix:$dir/$name.sock;
    workers      $workers;
    preload      on;
$extra}
EOF
}

# Start @$argv (a python server) in app_dir with its output in DIR/NAME.log,
# and wait up to $timeout s for GET / on 127.0.0.1:$port to answer.  The
# pid, or undef (diagnosed) when it did not come up.
sub start_peer {
    my ($t, $name, $argv, $port, $timeout) = @_;

    my $dir = $t->dir;
    my $pid = fork;
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        chdir "$dir/app" or POSIX::_exit(127);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/$name.log" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        delete $ENV{PYTHONPATH};
        $ENV{PYTHONDONTWRITEBYTECODE} = 1;
        exec @$argv or POSIX::_exit(127);
    }

    $peers{$pid} = 1;

    my $exited = 0;
    my $up = $t->wait_for(sub {
        return $exited = 1 if waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1) or return 0;
        print $s "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        my $line = <$s>;
        return defined $line && $line =~ m{^HTTP/1\.\d 200};
    }, $timeout || 30, 0.05);

    if (!$up || $exited) {
        diag("$name did not start: " . $t->read_file("$name.log"));
        delete $peers{$pid} if $exited;
        return undef;
    }

    return $pid;
}

# SIGTERM, up to 10 s, then SIGKILL; reaped
sub stop_peer {
    my ($pid) = @_;

    return unless $pid && delete $peers{$pid};
    kill 'TERM', $pid;

    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        select undef, undef, undef, 0.02;
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# the pid and its descendants (a server's master and workers)
sub peer_pids {
    my ($t, $pid) = @_;
    return ($pid, map { $_->[0] } $t->descendants($pid));
}

# a field of /proc/PID/status or smaps_rollup in kB (VmRSS, VmHWM, Pss,
# Private_Dirty, ...), undef when gone
sub proc_kb {
    my ($t, $pid, $field) = @_;

    my $file = $field =~ /^Vm/ ? 'status' : 'smaps_rollup';
    my $text = $t->read_file("/proc/$pid/$file");
    return $text =~ /^$field:\s+(\d+) kB/m ? $1 : undef;
}

# headers worth comparing between two servers: what the app set, not what
# the server or the front end adds (date, server, connection, framing)
my @COMPARED = qw(content-type etag location set-cookie cache-control www-authenticate allow
                  content-encoding last-modified x-custom x-head x-length);

# Compare response $got (the Drover side) with $want (the peer's) for
# $label: status, whether it came whole, the headers above, Content-Length
# when both sent one, and the body (unless body => 0).  One test each.
sub compare {
    my ($label, $got, $want, %o) = @_;

    my @diff;
    push @diff, "status $got->{status} vs $want->{status}"
        if ($got->{status} // '') ne ($want->{status} // '');

    for my $h (@COMPARED) {
        my ($g, $w) = ($got->{headers}{$h}, $want->{headers}{$h});
        # Werkzeug lists a route's methods in its process's hash order
        ($g, $w) = map { defined ? join(', ', sort split /,\s*/) : undef } $g, $w if $h eq 'allow';
        push @diff, "$h: " . ($g // '(none)') . ' vs ' . ($w // '(none)')
            if ($g // '') ne ($w // '');
    }

    push @diff, 'complete ' . ($got->{complete} ? 'yes' : 'no') . ' vs ' . ($want->{complete} ? 'yes' : 'no')
        if !$got->{complete} != !$want->{complete};

    my ($gl, $wl) = ($got->{headers}{'content-length'}, $want->{headers}{'content-length'});
    push @diff, "content-length $gl vs $wl" if defined $gl && defined $wl && $gl ne $wl;

    if (!defined $o{body} || $o{body}) {
        my ($gb, $wb) = ($got->{body} // '', $want->{body} // '');
        push @diff, sprintf('body (%d bytes) %s vs (%d bytes) %s', length $gb,
                            _short($gb), length $wb, _short($wb)) if $gb ne $wb;
    }

    ok(!@diff, "$label: the same answer as the peer") or diag(join "\n", @diff);
    return !@diff;
}

sub _short {
    my ($s) = @_;
    $s = substr($s, 0, 160) . '...' if length $s > 160;
    $s =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return "\"$s\"";
}

# A client that leaves mid-stream: GET /slowstream?id=ID (the test apps'
# 400 pieces 50 ms apart), read the head and the first piece, close; then
# ask GET /streams/ID until the process that streamed (its X-Pid) says the
# state is no longer "running", for up to 18 s (the stream would end by
# itself after 20).  %o goes to http_connect (port => P, or tls => 1);
# asks => 2 sends two asks at once: through drover_pass one at a time
# would always go to the other worker, once it served an ask after the
# streaming worker was freed (the worker freed last is taken first).
# Returns (pid, state): state '' if that process never answered.
sub leave_stream {
    my ($t, $id, %o) = @_;

    my $asks = delete $o{asks} || 1;

    my $c = $t->http_connect(%o);
    $c->send_raw("GET /slowstream?id=$id&n=400&ms=50 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    eval { $c->read_response(time + 10, 0, sink => sub { die "enough\n" }) };
    my ($pid) = $c->received =~ /^x-pid:\s*(\d+)/mi;
    $c->close;

    return (undef, '') unless $pid;

    my $state = '';
    $t->wait_for(sub {
        my @c = grep { $_ } map { $t->http_connect(%o) } 1 .. $asks;
        $_->send_raw("GET /streams/$id HTTP/1.1\r\nHost: localhost\r\n"
                     . "Connection: close\r\n\r\n") for @c;
        for my $a (@c) {
            my $s = eval { $a->read_response(time + 10, 0) } || {};
            $a->close;
            my ($p) = ($s->{head} // '') =~ /^x-pid:\s*(\d+)/mi;
            next unless $p && $p == $pid;
            my $st = eval { JSON::PP->new->decode($s->{body} || '{}') } || {};
            $state = $st->{state} // '';
        }
        return $state ne '' && $state ne 'running';
    }, 18, 0.1);

    return ($pid, $state);
}

1;
