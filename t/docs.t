#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# The documentation keeps up with the code: the man pages lint clean, every
# droverd.conf directive (the CONF_CMD table in worker_host/src/conf*.c) has
# its block in docs/droverd.conf.md and docs/droverd.conf.5, every module
# directive (ngx_command_t "drover_*" in ngx_module/*.c) its block in
# docs/module.md, and README.md stays a front door.

use strict;
use warnings;
use Test::More;
use FindBin;
use File::Spec;

my $top = File::Spec->rel2abs("$FindBin::Bin/..");

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "cannot open $path: $!\n";
    local $/;
    my $text = <$fh>;
    close($fh);
    return $text;
}

sub have {
    my ($cmd) = @_;
    for my $dir (split /:/, $ENV{PATH} // '/usr/bin:/bin') {
        return 1 if -x "$dir/$cmd";
    }
    return 0;
}

# groff (and mandoc, when installed) print nothing for a clean page
my @man = map { "$top/docs/$_" } qw(droverd.8 droverd.conf.5 droverctl.1);

for my $page (@man) {
    ok(-f $page, "$page exists");
}

SKIP: {
    skip 'groff is not installed (apt-get install groff)', scalar @man
        unless have('groff');
    for my $page (@man) {
        my $out = `groff -ww -z -man '$page' 2>&1`;
        is($out, '', "groff -ww -z -man $page prints nothing");
    }
}

SKIP: {
    skip 'mandoc is not installed (apt-get install mandoc)', scalar @man
        unless have('mandoc');
    for my $page (@man) {
        my $out = `mandoc -T lint '$page' 2>&1`;
        is($out, '', "mandoc -T lint $page prints nothing");
    }
}

# droverd's directive table, wherever conf.c's pieces live
my %conf;
for my $file (glob("$top/worker_host/src/conf*.c")) {
    my $c = slurp($file);
    $conf{$1} = 1 while $c =~ /\[CONF_CMD_\w+\]\s*=\s*\{\s*"(\w+)"/g;
}
cmp_ok(scalar keys %conf, '>=', 20,
       'the CONF_CMD directive table is found in worker_host/src/conf*.c');

my $conf_md = slurp("$top/docs/droverd.conf.md");
my $conf_5 = slurp("$top/docs/droverd.conf.5");
for my $name (sort keys %conf) {
    like($conf_md, qr/^### \Q$name\E$/m,
         "droverd.conf.md has a block for \"$name\"");
    like($conf_5, qr/^\.B \Q$name\E[ ;]/m,
         "droverd.conf.5 has an entry for \"$name\"");
}

# the module's directives, whichever ngx_module/*.c holds them
my %ngx;
for my $file (glob("$top/ngx_module/*.c")) {
    my $c = slurp($file);
    $ngx{$1} = 1
        while $c =~ /\{\s*ngx_string\("(drover_\w+)"\),\s*NGX_HTTP_/g;
}
cmp_ok(scalar keys %ngx, '>=', 20,
       'the module\'s ngx_command_t directives are found in ngx_module/*.c');

my $module_md = slurp("$top/docs/module.md");
for my $name (sort keys %ngx) {
    like($module_md, qr/^### \Q$name\E$/m, "module.md has a block for $name");
}

# README: the front door, with the two commands on its first screen
my @readme = split /\n/, slurp("$top/README.md");
cmp_ok(scalar @readme, '<', 400, 'README.md is under 400 lines');
my $first = join("\n", @readme[0 .. 39]);
like($first, qr/^make demo\b/m, 'make demo is in README.md\'s first 40 lines');
like($first, qr/^make test\b/m, 'make test is in README.md\'s first 40 lines');

done_testing();
