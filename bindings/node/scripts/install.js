#!/usr/bin/env node
// The package's install script. When a prebuilt addon fits this platform
// (prebuilds/, found the way lib/native.js finds it, with the library
// beside it) there is nothing to do: no compiler, no node-gyp, no Go.
// Otherwise the binaries are built from the sources the package carries
// (scripts/build.js), which needs Go and a C compiler; without Go the
// install fails with a message that says so.
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');
const native = require('../lib/native');

const found = native.locate();
if (found.ok) {
  process.stderr.write(`telepathine: using ${path.relative(path.resolve(__dirname, '..'), found.addon)}\n`);
  process.exit(0);
}
process.stderr.write(`telepathine: ${found.reason}; building from source\n`);
const go = process.env.GO || 'go';
if (spawnSync(go, ['version'], { stdio: 'ignore' }).status !== 0) {
  process.stderr.write('telepathine: no prebuilt binary fits this platform and Go (https://go.dev/dl/) is not on PATH: ' +
    'install Go >= 1.26 and a C compiler, then `npm rebuild telepathine`\n');
  process.exit(1);
}
const r = spawnSync(process.execPath, [path.join(__dirname, 'build.js')], { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
