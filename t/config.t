#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# droverd -t: a good config passes; each kind of mistake is reported as
# "FILE:LINE: message" with exit code 1.  droverd -v prints the version.

use strict;
use warnings;

use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd hello cc));

# the line of the first line of $text matching $re, from 1
sub line_of {
    my ($text, $re) = @_;

    my @lines = split /\n/, $text;
    for my $i (0 .. $#lines) {
        return $i + 1 if $lines[$i] =~ $re;
    }

    die "no line matching $re";
}

# -t on a config; returns (exit code, output, path, text as written)
sub check_conf {
    my ($name, $text) = @_;

    $t->write_conf($text, $name);
    my ($code, $out) = $t->droverd_cmd('-t', '-c', $t->conf_path);

    return ($code, $out, $t->conf_path, $t->read_file($name));
}

# a config error: exit 1, and FILE:LINE at the line matching $re
sub conf_error {
    my ($what, $text, $re, %opt) = @_;

    (my $name = "$what.conf") =~ s/\W+/-/g;
    my ($code, $out, $path, $written) = check_conf($name, $text);

    $path = $opt{file} if $opt{file};
    $written = $t->read_file($path) if $opt{file};
    my $line = line_of($written, $re);

    is($code, 1, "$what: exit code 1") or diag($out);
    like($out, qr/^\Q$path\E:$line: \S/m, "$what: $path:$line: message")
        or diag($out);
    unlike($out, qr/\[(alert|emerg)\]|Sanitizer/, "$what: no crash");
}

my $hello = $t->app('hello');

# ---- a good config ----

my ($code, $out) = check_conf('good.conf', <<'EOF');
log_level notice;

pool hello {
    app        %%APPS%%/hello.so;
    app_param  greeting hi;
    listen     unix:%%DIR%%/hello.sock mode=0660;
    workers    2;
    preload    on;
    log_level  info;
    io_timeout 5s;
}

pool more {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/more.sock;
    workers auto;
    preload off;
}
EOF
is($code, 0, 'good config: exit 0') or diag($out);
ok(!-e $t->dir . '/hello.sock', 'good config: -t creates no socket');

# an included pool file is checked too
mkdir $t->dir . '/conf.d';
$t->write_file('conf.d/a.conf', $t->add_default_user($t->expand(<<'EOF')));
pool inc {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/inc.sock;
}
EOF
($code, $out) = check_conf('include.conf', "include %%DIR%%/conf.d/*.conf;\n");
is($code, 0, 'include: exit 0') or diag($out);

# ---- each kind of mistake ----

conf_error('unknown directive', <<'EOF', qr/frobnicate/);
pool a {
    app        %%APPS%%/hello.so;
    frobnicate yes;
    listen     unix:%%DIR%%/a.sock;
}
EOF

conf_error('unknown main directive', <<'EOF', qr/frobnicate/);
log_level notice;
frobnicate yes;
EOF

conf_error('bad workers', <<'EOF', qr/workers/);
pool a {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/a.sock;
    workers lots;
}
EOF

conf_error('zero workers', <<'EOF', qr/workers/);
pool a {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/a.sock;
    workers 0;
}
EOF

conf_error('missing app', <<'EOF', qr/\bapp\b/);
pool a {
    listen  unix:%%DIR%%/a.sock;
    app     %%DIR%%/no-such-app.so;
}
EOF

# a shared object without the drover_app symbol
$t->write_file('noapp.c', "int not_an_app(void) { return 42; }\n");
my ($cc, $ccout) = $t->run_cmd(['cc', '-shared', '-fPIC', '-o', $t->dir . '/noapp.so',
                                $t->dir . '/noapp.c'], 60);
is($cc, 0, 'built a .so without drover_app') or diag($ccout);
chmod 0755, $t->dir . '/noapp.so';

# reported at the app directive or at its pool
{
    my ($c, $o, $path, $written) = check_conf('noapp.conf', <<'EOF');
pool a {
    listen  unix:%%DIR%%/a.sock;
    app     %%DIR%%/noapp.so;
}
EOF
    my $app = line_of($written, qr/noapp\.so/);
    is($c, 1, 'app without drover_app: exit 1');
    like($o, qr/^\Q$path\E:(1|$app): .*noapp\.so.*drover_app/m,
         'app without drover_app: FILE:LINE naming the file and the symbol')
        or diag($o);
}

# an app built for another ABI version is refused, saying to rebuild it
$t->write_file('oldabi.c', <<'EOF');
#include <drover.h>
static int h(drover_req_t *r, void *s) { (void) r; (void) s; return 0; }
__attribute__((visibility("default"))) const drover_app_t drover_app = {
    .abi_version = DROVER_ABI_VERSION + 1,
    .struct_size = sizeof(drover_app_t),
    .handle = h,
};
EOF
($cc, $ccout) = $t->run_cmd(['cc', '-shared', '-fPIC', '-Iworker_host/include',
                             '-o', $t->dir . '/oldabi.so',
                             $t->dir . '/oldabi.c'], 60);
is($cc, 0, 'built a .so for another ABI version') or diag($ccout);
chmod 0755, $t->dir . '/oldabi.so';

{
    my ($c, $o) = check_conf('oldabi.conf', <<'EOF');
pool a {
    listen  unix:%%DIR%%/a.sock;
    app     %%DIR%%/oldabi.so;
}
EOF
    is($c, 1, 'app for another ABI: exit 1');
    like($o, qr/oldabi\.so was built for Drover ABI \d+, this droverd speaks ABI \d+: rebuild/,
         'app for another ABI: names both versions and says to rebuild')
        or diag($o);
}

# the duplicate is reported where it is declared: the second "pool a"
{
    my ($c, $o, $path, $written) = check_conf('dup-pool-2.conf', <<'EOF');
pool a {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/a.sock;
}
pool a {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/a2.sock;
}
EOF
    my @lines = split /\n/, $written;
    my ($second) = grep { $lines[$_ - 1] =~ /^pool a/ } 2 .. @lines;
    is($c, 1, 'duplicate pool: exit 1');
    like($o, qr/^\Q$path\E:$second: .*\ba\b/m, "duplicate pool: reported at the second one (line $second)")
        or diag($o);
}

{
    my ($c, $o, $path, $written) = check_conf('dup-socket.conf', <<'EOF');
pool a {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/same.sock;
}
pool b {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/same.sock;
}
EOF
    my @lines = split /\n/, $written;
    my ($second) = reverse grep { $lines[$_ - 1] =~ /same\.sock/ } 1 .. @lines;
    is($c, 1, 'duplicate socket: exit 1');
    like($o, qr/^\Q$path\E:$second: .*same\.sock/m,
         "duplicate socket: reported at the second listen (line $second), naming the path")
        or diag($o);
}

# a slot path of one pool is the shared path of another: "x.sock.0"
conf_error('socket clash with a slot', <<'EOF', qr/x\.sock\.0/);
pool a {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/x.sock;
    workers 2;
}
pool b {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/x.sock.0;
}
EOF

conf_error('missing semicolon', <<'EOF', qr/workers/);
pool a {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/a.sock;
    workers 2
}
EOF

conf_error('bad log_level', <<'EOF', qr/log_level/);
log_level loud;
EOF

# an error inside an included file names that file
$t->write_file('conf.d/b.conf', $t->add_default_user($t->expand(<<'EOF')));
pool incbad {
    app     %%APPS%%/hello.so;
    listen  unix:%%DIR%%/incbad.sock;
    workers many;
}
EOF
conf_error('error in an included file', "include %%DIR%%/conf.d/*.conf;\n",
           qr/workers many/, file => $t->dir . '/conf.d/b.conf');

# ---- -v ----

($code, $out) = $t->droverd_cmd('-v');
is($code, 0, '-v: exit 0');
like($out, qr/droverd.*\d+\.\d+/i, '-v: names droverd and a version') or diag($out);

($code, $out) = $t->droverd_cmd('--version');
is($code, 0, '--version: exit 0');
like($out, qr/droverd.*\d+\.\d+/i, '--version: the same line') or diag($out);

($code, $out) = $t->droverd_cmd('--help');
is($code, 0, '--help: exit 0');
like($out, qr/usage: droverd.*-c FILE/s, '--help: the usage') or diag($out);

($code, $out) = $t->droverd_cmd('--worker');
is($code, 2, 'an internal role without its arguments: exit 2');
like($out, qr/--worker is for droverd's own use/, 'and says so') or diag($out);

# ---- no config file ----

($code, $out) = $t->droverd_cmd('-t', '-c', $t->dir . '/absent.conf');
is($code, 1, 'absent config: exit 1');
like($out, qr/absent\.conf/, 'absent config: names the file') or diag($out);

$t->done;
