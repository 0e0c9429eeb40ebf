// Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
// Validate Kubernetes manifests offline against the API's JSON schemas, as
// the npm package kubernetes-models bundles them (no cluster, no network):
//     node scripts/k8s-validate.mjs TOOLS_DIR FILE.yaml...
// TOOLS_DIR holds node_modules with kubernetes-models and js-yaml (make
// k8s-tools).  Prints one line per object; exits 1 at the first invalid one.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [tools, ...files] = process.argv.slice(2);

if (!tools || files.length === 0) {
    console.error('usage: k8s-validate.mjs TOOLS_DIR FILE.yaml...');
    process.exit(2);
}

const require = createRequire(path.join(path.resolve(tools), 'node_modules', 'x.js'));
const yaml = require('js-yaml');
const models = path.join(path.resolve(tools), 'node_modules', 'kubernetes-models');

// apiVersion "apps/v1" -> apps/v1/KIND.js; "v1" -> v1/KIND.js
function modelPath(apiVersion, kind) {
    return path.join(models, ...apiVersion.split('/'), kind + '.js');
}

let n = 0;
let bad = 0;

for (const file of files) {
    const docs = yaml.loadAll(readFileSync(file, 'utf8')).filter((d) => d != null);

    for (const doc of docs) {
        const what = `${file}: ${doc.kind || '?'} ${doc.metadata?.name || '?'}`;

        if (!doc.apiVersion || !doc.kind) {
            console.log(`${what}: no apiVersion or kind`);
            bad++;
            continue;
        }

        let Model;
        try {
            Model = (await import(pathToFileURL(modelPath(doc.apiVersion, doc.kind))))[doc.kind];
        } catch (e) {
            console.log(`${what}: unknown apiVersion/kind ${doc.apiVersion} ${doc.kind}`);
            bad++;
            continue;
        }

        try {
            new Model(doc).validate();
            console.log(`${what}: valid ${doc.apiVersion}`);
            n++;
        } catch (e) {
            console.log(`${what}: INVALID: ${e.message}`);
            bad++;
        }
    }
}

console.log(`${n} valid, ${bad} invalid`);
process.exit(bad ? 1 : 0);
