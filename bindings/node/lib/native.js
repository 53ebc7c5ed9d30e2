'use strict';
// Loads the addon and, through it, libtelepathine.so (the addon dlopen()s
// the library with asynchronous signals blocked: see src/addon.c).
//
// Where the library is looked for: TELEPATHINE_LIB, else native/ in this
// package (built by `npm install` / scripts/build.js).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { TelepathineError } = require('./errors');

const pkg = path.resolve(__dirname, '..');

function libraryPath() {
  return process.env.TELEPATHINE_LIB || path.join(pkg, 'native', 'libtelepathine.so');
}

let addon = null;
let abi = 0;

// load(dispatch) -> the addon, with the library loaded; dispatch(handle,
// batch) receives every engine's events on the JS thread.
function load(dispatch) {
  if (addon) return addon;
  const file = path.join(pkg, 'build', 'Release', 'telepathine.node');
  if (!fs.existsSync(file)) {
    throw new Error(`telepathine: the addon is not built (${file} missing): run \`npm install\` or \`npm run build\` in ${pkg}`);
  }
  const a = require(file);
  const lib = libraryPath();
  if (!fs.existsSync(lib)) {
    throw new Error(`telepathine: ${lib} missing: run \`npm run build\` in ${pkg}, or set TELEPATHINE_LIB`);
  }
  abi = a.load(lib, dispatch, TelepathineError);
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

module.exports = { load, libraryPath, abiVersion };
