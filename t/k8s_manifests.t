#!/usr/bin/perl
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# conf.d/k8s/ checked offline (no cluster here): every manifest validated
# against the Kubernetes API's JSON schemas that the npm package
# kubernetes-models bundles (scripts/k8s-validate.mjs), a manifest with a
# wrong type refused by the same check, the Containerfile linted with
# dockerfilelint (npm), and the ConfigMap's droverd.conf and nginx.conf
# checked by droverd -t and nginx -t.  The npm tools come from
# `make k8s-tools` (into build/k8s-tools; make test runs it); without them
# their checks skip and say so.

use strict;
use warnings;

use Cwd qw(abs_path);
use FindBin;
use Test::More;

use Drover::Test;

my $t = Drover::Test->new->has(qw(droverd hello));
my $top = abs_path("$FindBin::Bin/..");
my $k8s = "$top/conf.d/k8s";

ok(-d $k8s, 'conf.d/k8s exists');
my @yaml = sort glob "$k8s/*.yaml";
cmp_ok(scalar @yaml, '>=', 4, 'manifests: ' . join ' ', map { s{.*/}{}r } @yaml);

my $tools = $ENV{DROVER_K8S_TOOLS} || "$top/build/k8s-tools";
my $node = (grep { -x } '/usr/bin/node', '/usr/bin/nodejs')[0];

SKIP: {
    skip 'no node (apt-get install nodejs npm)', 5 unless $node;
    skip "no kubernetes-models and js-yaml in $tools (make k8s-tools: npm)", 5
        unless -d "$tools/node_modules/kubernetes-models" && -d "$tools/node_modules/js-yaml";

    my ($code, $out) = $t->run_cmd([$node, "$top/scripts/k8s-validate.mjs", $tools, @yaml], 60);
    is($code, 0, 'every manifest validates against the Kubernetes schemas') or diag($out);
    like($out, qr/^(\d+) valid, 0 invalid$/m, ($out =~ /^(\d+ valid, 0 invalid)$/m)[0] // 'a count');
    like($out, qr/Deployment hello: valid apps\/v1/, 'the Deployment among them');

    # the check bites: a port that is not a number
    my $bad = $t->write_file('bad.yaml', <<'EOF');
apiVersion: apps/v1
kind: Deployment
metadata: { name: bad }
spec:
  selector: { matchLabels: { a: b } }
  template:
    metadata: { labels: { a: b } }
    spec:
      containers:
        - { name: c, image: i, ports: [ { containerPort: "eighty" } ] }
EOF
    ($code, $out) = $t->run_cmd([$node, "$top/scripts/k8s-validate.mjs", $tools, $bad], 60);
    isnt($code, 0, 'a Deployment with a string containerPort is refused');
    like($out, qr/containerPort must be integer/, '... saying why');
}

SKIP: {
    skip "no dockerfilelint in $tools (make k8s-tools: npm)", 1
        unless -x "$tools/node_modules/.bin/dockerfilelint";

    my ($code, $out) = $t->run_cmd(["$tools/node_modules/.bin/dockerfilelint", "$k8s/Containerfile"], 60);
    is($code, 0, 'the Containerfile passes dockerfilelint') or diag($out);
}

# ---- the configs in the ConfigMap ----

my $cm = $t->read_file("$k8s/configmap.yaml");
my %file;
while ($cm =~ /^  ([\w.]+): \|\n((?:    .*\n|\n)+)/mg) {
    my ($name, $body) = ($1, $2);
    $body =~ s/^    //mg;
    $file{$name} = $body;
}

ok($file{'droverd.conf'} && $file{'nginx.conf'}, 'the ConfigMap holds droverd.conf and nginx.conf');

{
    my $dir = $t->dir;
    my $conf = $file{'droverd.conf'} // '';
    $conf =~ s{/run/drover/}{$dir/}g;
    $conf =~ s{/usr/lib/drover/apps/}{$t->build . '/apps/'}ge;
    $conf =~ s{user\s+drover;}{Drover::Test::is_root() ? 'user nobody;' : ''}e;
    my $path = $t->write_file("$dir/k8s-droverd.conf", $conf);
    my ($code, $out) = $t->run_cmd([$t->droverd, '-t', '-c', $path]);
    is($code, 0, "the pod's droverd.conf passes droverd -t (paths moved here)") or diag($out);
}

SKIP: {
    skip 'no nginx or module', 1 unless $t->can_do('nginx') && $t->can_do('module');

    my $dir = $t->dir;
    my $conf = $file{'nginx.conf'} // '';
    my $mod = $t->module;
    $conf =~ s{/tmp/}{$dir/}g;
    $conf =~ s{/usr/lib/nginx/modules/ngx_http_drover_module.so}{$mod};
    $conf =~ s{listen 8080;}{'listen 127.0.0.1:' . $t->port . ';'}e;
    my $path = $t->write_file("$dir/k8s-nginx.conf", $conf);
    # a sanitizer build of the module needs its runtimes in nginx
    my %env = $t->sanitized ? $t->sanitizer_env : ();
    local @ENV{keys %env} = values %env;
    my ($code, $out) = $t->run_cmd(['nginx', '-t', '-p', "$dir/", '-c', $path, '-e', "$dir/k8s-nginx-error.log"]);
    is($code, 0, "the pod's nginx.conf passes nginx -t") or diag($out);
}

done_testing();
