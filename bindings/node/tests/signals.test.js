'use strict';
// Signals: Node installs its handlers without SA_ONSTACK, which the Go
// runtime needs of a host; see src/addon.c for what the binding does about
// it. The stress test runs peers exchanging events while their process
// spawns children (SIGCHLD) and is hit by SIGUSR2 and SIGWINCH, calling
// into the library from the main thread all along; repeated in separate
// processes, it must never crash. Without the binding's measures
// (TELEPATHINE_UNSAFE_SIGNALS=1 node tests/fixtures/signal-stress.js) most
// runs die with "fatal error: traceback did not unwind completely",
// "fatal error: fault", "unknown caller pc" or SIGSEGV.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');

const RUNS = Number(process.env.STRESS_RUNS || 4);
const STRESS_MS = Number(process.env.STRESS_MS || 3000);

test('signal handlers get SA_ONSTACK, those installed later too', () => {
  const { Telepathine } = require('..'); // loads the library
  const addon = require('../build/Release/telepathine.node');
  assert.ok(Telepathine);
  const SIGCHLD = require('node:os').constants.signals.SIGCHLD;
  const SIGUSR2 = require('node:os').constants.signals.SIGUSR2;
  assert.equal(addon.signalOnStack(SIGCHLD), true, "libuv's SIGCHLD handler, kept installed");
  const handler = () => {};
  process.on('SIGUSR2', handler);
  try {
    assert.equal(addon.signalOnStack(SIGUSR2), true, 'a handler Node installs after the load');
  } finally {
    process.off('SIGUSR2', handler);
  }
});

function stressRun() {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'signal-stress.js')], {
      env: { ...process.env, STRESS_MS: String(STRESS_MS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), STRESS_MS + 30000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test(`${RUNS} stress runs of ${STRESS_MS} ms: signals and child processes while events flow, no crash`, async (t) => {
  for (let i = 0; i < RUNS; i++) {
    const r = await stressRun();
    const head = r.stderr.split('\n').slice(0, 5).join('\n');
    assert.equal(r.signal, null, `run ${i} killed by ${r.signal}: ${head}`);
    assert.equal(r.code, 0, `run ${i} exited ${r.code}: ${head}`);
    assert.doesNotMatch(r.stderr, /fatal error|SIGSEGV|panic/);
    const counts = JSON.parse(r.stdout.trim());
    t.diagnostic(`run ${i}: ${r.stdout.trim()}`);
    assert.ok(counts.usr2 > 100 && counts.winch > 100, 'signals were delivered');
    assert.ok(counts.children > 20, 'children came and went');
    assert.ok(counts.heard > 20, 'events flowed');
    assert.ok(counts.sets > 1000, 'the main thread called into the library');
  }
});
