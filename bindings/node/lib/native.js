'use strict';
// Loads the addon and, through it, libtelepathine.so (the addon dlopen()s
// the library with asynchronous signals blocked: see src/addon.c).
//
// The addon is found by node-gyp-build: build/Release (built here by
// `npm run build`) first, else the prebuilt one of this platform in
// prebuilds/<platform>-<arch>/ (what the published package ships). The
// library: TELEPATHINE_LIB, else the one beside the addon (prebuilds ship
// it there), else native/ (built by scripts/build.js).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const gypBuild = require('node-gyp-build');
const { TelepathineError } = require('./errors');

const pkg = path.resolve(__dirname, '..');

// locate() -> { ok: true, addon, lib } or { ok: false, reason }.
function locate() {
  let addonFile;
  try {
    addonFile = gypBuild.resolve(pkg);
  } catch (e) {
    return { ok: false, reason: `no addon built nor prebuilt for this platform (${e.message.split('\n')[0]})` };
  }
  const candidates = process.env.TELEPATHINE_LIB
    ? [process.env.TELEPATHINE_LIB]
    : [path.join(path.dirname(addonFile), 'libtelepathine.so'), path.join(pkg, 'native', 'libtelepathine.so')];
  const lib = candidates.find((f) => fs.existsSync(f));
  if (!lib) return { ok: false, reason: `libtelepathine.so missing (looked for ${candidates.join(', ')})` };
  return { ok: true, addon: addonFile, lib };
}

function libraryPath() {
  const found = locate();
  return found.ok ? found.lib : undefined;
}

let addon = null;
let abi = 0;

// load(dispatch) -> the addon, with the library loaded; dispatch(handle,
// batch) receives every engine's events on the JS thread.
function load(dispatch) {
  if (addon) return addon;
  const found = locate();
  if (!found.ok) {
    throw new Error(`telepathine: ${found.reason}: run \`npm run build\` in ${pkg} (needs Go), or set TELEPATHINE_LIB`);
  }
  const a = require(found.addon);
  abi = a.load(found.lib, dispatch, TelepathineError);
  protectSignals(a);
  addon = a;
  return addon;
}

// Go threads keep SIGCHLD (and SIGPROF, SIGURG) unblocked whatever mask they
// inherited, so a handler Node installs for them can run on a Go thread: it
// must have SA_ONSTACK, which Node does not set. protectSignals() adds it
// to every handler installed now; the 'newListener' hook, to each one Node
// installs later for a process.on(signal) (Node's own hook, registered at
// bootstrap, runs before this one and has installed it). libuv installs
// and removes its SIGCHLD handler with child processes: listening to
// SIGCHLD here keeps one installed, protected, for good (signal listeners
// do not keep the process alive).
function protectSignals(a) {
  if (process.env.TELEPATHINE_UNSAFE_SIGNALS === '1') return; // the stress test's control run
  const signals = new Set(Object.keys(os.constants.signals));
  process.on('newListener', (event) => {
    if (typeof event === 'string' && signals.has(event)) a.protectSignals();
  });
  process.on('SIGCHLD', () => {});
  a.protectSignals();
}

// The C ABI version of the library loaded: { major, minor }.
function abiVersion() {
  return { major: abi >>> 16, minor: abi & 0xffff };
}

module.exports = { load, locate, libraryPath, abiVersion };
