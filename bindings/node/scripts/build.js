#!/usr/bin/env node
// Builds what the package needs at run time, offline:
//
//   native/libtelepathine.so   the engine, `go build -buildmode=c-shared ./cgo`
//                              run at the repository root (found by walking
//                              up to its go.mod) or, in an installed package,
//                              in go/ (the Go sources the package carries);
//                              skipped when TELEPATHINE_LIB names a library
//                              already built.
//   build/Release/telepathine.node
//                              the addon, by node-gyp against the Node
//                              headers installed on this machine (--nodedir:
//                              node-gyp never downloads them); plain `cc` when
//                              node-gyp is not installed.
//
// Runs as `npm run build` (--force rebuilds the addon even when it looks up
// to date) and from scripts/install.js when no prebuilt binary fits.
// --prebuild (make node-prebuild) builds the addon and puts it, with
// TELEPATHINE_LIB beside it, in prebuilds/linux-x64/ where node-gyp-build
// finds them (lib/native.js loads the library next to the addon).
// Environment:
//   TELEPATHINE_LIB      a prebuilt libtelepathine.so to use instead (also read at run time)
//   TELEPATHINE_INCLUDE  the directory holding telepathine.h (default: <repo>/cgo)
//   npm_config_nodedir   where the Node headers are (default: /usr, then next to node)
//   GO                   the go command (default: go)
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const pkg = path.resolve(__dirname, '..');
const prebuild = process.argv.includes('--prebuild');
const force = prebuild || process.argv.includes('--force');

function log(msg) {
  process.stderr.write(`telepathine build: ${msg}\n`);
}

function fail(msg) {
  log(msg);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  log(`${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit', ...opts });
}

// The repository root: the nearest go.mod of the Telepathine module.
function repoRoot() {
  for (let dir = pkg; ; dir = path.dirname(dir)) {
    const mod = path.join(dir, 'go.mod');
    if (fs.existsSync(mod) && /^module\s+github\.com\/telepathine\/telepathine\s*$/m.test(fs.readFileSync(mod, 'utf8'))) {
      return dir;
    }
    if (path.dirname(dir) === dir) break;
  }
  // An installed package: the Go sources it carries (make node-prebuild puts them there).
  const bundled = path.join(pkg, 'go');
  return fs.existsSync(path.join(bundled, 'go.mod')) ? bundled : null;
}

// Node headers: never downloaded. npm_config_nodedir (set by npm from
// .npmrc or --nodedir) wins, then Debian's /usr, then the prefix of this node.
function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, '/usr', path.resolve(process.execPath, '..', '..')];
  for (const dir of candidates) {
    if (dir && fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return fail('no Node headers (include/node/node_api.h) found in ' +
    candidates.filter(Boolean).join(', ') +
    ': install them (Debian: libnode-dev, or the nodejs package of NodeSource) or set npm_config_nodedir');
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function buildLibrary(root) {
  if (process.env.TELEPATHINE_LIB) {
    if (!fs.existsSync(process.env.TELEPATHINE_LIB)) fail(`TELEPATHINE_LIB=${process.env.TELEPATHINE_LIB} does not exist`);
    log(`using TELEPATHINE_LIB=${process.env.TELEPATHINE_LIB}`);
    return;
  }
  if (!root) fail('no Go sources of the library (no go.mod above ' + pkg + ' nor in go/): set TELEPATHINE_LIB to a libtelepathine.so');
  const out = path.join(pkg, 'native', 'libtelepathine.so');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // go build is incremental: when nothing changed this takes about a second.
  run(process.env.GO || 'go', ['build', '-buildmode=c-shared', '-o', out, './cgo'], {
    cwd: root,
    env: { ...process.env, CGO_ENABLED: '1' },
  });
  // cgo writes its own header beside the library; ours (cgo/telepathine.h) is the contract.
  fs.rmSync(path.join(path.dirname(out), 'libtelepathine.h'), { force: true });
}

function buildAddon(root) {
  const include = process.env.TELEPATHINE_INCLUDE || (root && path.join(root, 'cgo'));
  if (!include || !fs.existsSync(path.join(include, 'telepathine.h'))) {
    fail('telepathine.h not found: set TELEPATHINE_INCLUDE to the directory that holds it');
  }
  const target = path.join(pkg, 'build', 'Release', 'telepathine.node');
  const inputs = [path.join(pkg, 'src', 'addon.c'), path.join(pkg, 'binding.gyp'), path.join(include, 'telepathine.h')];
  if (!force && mtime(target) > Math.max(...inputs.map(mtime))) {
    log('addon up to date');
    return;
  }
  const dir = nodeDir();
  let gyp = null;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [pkg] });
  } catch {
    gyp = process.env.npm_config_node_gyp || null; // the node-gyp npm itself carries
  }
  if (gyp && fs.existsSync(gyp)) {
    run(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`, `--tp_include=${include}`], { cwd: pkg });
    return;
  }
  // No node-gyp: the addon is one C file.
  fs.mkdirSync(path.dirname(target), { recursive: true });
  run(process.env.CC || 'cc', [
    '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-fPIC', '-shared', '-pthread',
    '-I', path.join(dir, 'include', 'node'), '-I', include,
    path.join(pkg, 'src', 'addon.c'), '-o', target, '-ldl',
  ]);
}

// The prebuilt binaries of this platform, as node-gyp-build names them: the
// addon is N-API (any Node >= 20) and the library needs glibc.
function copyPrebuild() {
  const lib = process.env.TELEPATHINE_LIB;
  if (!lib) fail('--prebuild needs TELEPATHINE_LIB: the library to ship');
  const dir = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(pkg, 'build', 'Release', 'telepathine.node'), path.join(dir, 'telepathine.napi.glibc.node'));
  fs.copyFileSync(lib, path.join(dir, 'libtelepathine.so'));
  log(`prebuilt binaries in ${path.relative(pkg, dir)}`);
}

const root = repoRoot();
try {
  buildLibrary(root);
  buildAddon(root);
  if (prebuild) copyPrebuild();
} catch (e) {
  fail(e.message);
}
log('done');
