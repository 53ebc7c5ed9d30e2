'use strict';
// The process around the peers: a running peer keeps it alive, it exits by
// itself once every peer is stopped, process.exit() is safe, the garbage
// collector closes forgotten engines, and worker threads clean up.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { cluster, eventually, record } = require('./helpers');

const fixture = path.join(__dirname, 'fixtures', 'lifecycle.js');

// Runs the fixture's scenario; resolves with its outcome, or with
// { timedOut: true } (the process killed) after timeoutMs.
function run(scenario, { timeoutMs = 20000, nodeArgs = [] } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [...nodeArgs, fixture, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, timedOut: signal === 'SIGKILL', ended: Date.now() });
    });
  });
}

test('the process exits by itself once every peer is stopped', async () => {
  const r = await run('stop');
  assert.equal(r.timedOut, false, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /joined/);
  const stoppedAt = Number(/stopped (\d+)/.exec(r.stdout)[1]);
  assert.ok(r.ended - stoppedAt < 1500, `exited ${r.ended - stoppedAt} ms after stop()`);
});

test('a running peer keeps the process alive', async () => {
  // The 2 s count from the peer's start, not from the spawn: a loaded
  // machine may take longer than that to load node and the library.
  const child = spawn(process.execPath, [fixture, 'run'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    await eventually(() => /started/.test(stdout) || child.exitCode !== null, { timeout: 20000, message: 'the peer started' });
    assert.match(stdout, /started/, stderr);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(child.exitCode, null, `still running 2 s after start: ${stderr}`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
});

test('a peer never started does not keep the process alive', async () => {
  const r = await run('idle');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /made/);
  assert.ok(r.ms < 5000);
});

test('process.exit() while peers run and events flow', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await run('exit');
    assert.equal(r.code, 3, r.stderr);
    assert.doesNotMatch(r.stderr, /fatal|panic|Segmentation/);
  }
});

test('the garbage collector closes the engines of forgotten stopped peers', async () => {
  const r = await run('gc', { nodeArgs: ['--expose-gc'] });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /engines 40 -> 0/);
});

test('a peer in a worker thread joins, answers, and leaves when the worker ends', async (t) => {
  const [main] = await cluster(t, 1);
  const hello = record(main, 'say:hello');
  const deaths = record(main, 'peer:stop');
  const worker = new Worker(path.join(__dirname, 'fixtures', 'worker.js'), {
    workerData: { seed: main.peer_name, cluster: main.info().cluster },
  });
  const name = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await eventually(() => hello.length === 1, { message: 'hello from the worker' });
  assert.deepEqual(hello[0].args, ['from worker', name]);
  const replies = await main.ask('ping', null, 5000);
  assert.deepEqual(replies, [{ peer: name, value: 'pong from worker' }]);
  // Ending the worker tears its environment down: the cleanup hook closes
  // its engine, which the main thread then sees die.
  await worker.terminate();
  await eventually(() => deaths.some((d) => d.args[0] === name), { message: 'the worker peer declared dead' });
});
