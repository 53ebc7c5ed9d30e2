'use strict';
// The reference's two examples (examples/), run as written in a child
// process, with assertions on what they print. They use fixed ports (9000
// and up) and never stop, so each runs in a network namespace of its own
// (`unshare -n`, root: its ports cannot collide with anything) and is
// killed once its output is complete or a deadline passed. Where network
// namespaces are not available (not root), a copy with the ports moved to a
// free range runs instead.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const dgram = require('node:dgram');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

// TP_EXAMPLES_DIR: run the copies there instead (make test-packages runs
// them against the installed npm package).
const examples = process.env.TP_EXAMPLES_DIR || path.join(__dirname, '..', 'examples');

// TP_EXAMPLES_NO_NETNS=1 forces the fallback (to test it).
function netnsAvailable() {
  if (process.env.TP_EXAMPLES_NO_NETNS === '1') return false;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' });
  return r.status === 0;
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => {
      const sock = dgram.createSocket('udp4');
      sock.once('error', () => srv.close(() => resolve(false)));
      sock.bind(port, '127.0.0.1', () => sock.close(() => srv.close(() => resolve(true))));
    });
  });
}

// n consecutive ports free on TCP and UDP.
async function freeRange(n) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error('no free port range');
}

// Runs an example until done(stdout, base) or the deadline; returns its
// output and base, the port its "9000" became.
async function runExample(file, done, timeoutMs = 30000) {
  let argv;
  let base = 9000;
  let tmp = null;
  if (netnsAvailable()) {
    argv = ['unshare', '-n', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" "${path.join(examples, file)}"`];
  } else {
    base = await freeRange(10);
    const src = fs.readFileSync(path.join(examples, file), 'utf8').replace(/\b900(\d)\b/g, (_, d) => String(base + Number(d)));
    tmp = path.join(examples, `.ports-${process.pid}-${file}`);
    fs.writeFileSync(tmp, src);
    argv = [process.execPath, tmp];
  }
  try {
    const stdout = await new Promise((resolve) => {
      const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      let out = '';
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      };
      const timer = setTimeout(finish, timeoutMs);
      child.stdout.on('data', (d) => {
        out += d;
        if (done(out, base)) finish();
      });
      child.on('exit', () => {
        finish();
        resolve(out);
      });
    });
    return { stdout, base };
  } finally {
    if (tmp) fs.rmSync(tmp, { force: true });
  }
}

// What the shared-memory example must print: the setter is the peer on
// 9001; the seeded chain 9001 -> 9002 -> ... -> 9005 makes the four knowing
// peers (9000, the "seed", is seeded by nobody and learns nothing).
function sharedMemoryLines(base) {
  const setter = `127.0.0.1:${base + 1}`;
  const lines = [];
  for (let i = 2; i <= 5; i++) {
    const me = `127.0.0.1:${base + i}`;
    lines.push(
      `${me} knows via on('set'.. that peer ${setter} set somekey=somevalue`,
      `${me} knows via know('somekey'.. that peer ${setter} set somekey=somevalue`,
      `${me} knows via know('*'.. that peer ${setter} set somekey=somevalue`,
      `${me} knows via on('set'.. that peer ${setter} set somekey2=somevalue`,
      `${me} knows via know('*'.. that peer ${setter} set somekey2=somevalue`,
    );
  }
  return lines;
}

test('the Distributed Shared Memory example: every peer learns somekey and somekey2', async () => {
  const { stdout, base } = await runExample('shared-memory.js', (out, b) => sharedMemoryLines(b).every((l) => out.includes(l)));
  const lines = stdout.split('\n').filter(Boolean);
  for (const l of sharedMemoryLines(base)) assert.ok(lines.includes(l), `missing: ${l}\n--- output:\n${stdout}`);
  assert.equal(lines.length, 20, 'nothing else: the seed and the setter print nothing');
});

function eventBusLines(base) {
  return [
    `a received eventname= eventdata from 127.0.0.1:${base + 1}`,
    `a received  eventname = eventdata from 127.0.0.1:${base + 1}`,
    `b received reply= null  from  127.0.0.1:${base}`,
  ];
}

test('the Distributed Event Bus example: a hears eventname, b hears the reply', async () => {
  const { stdout, base } = await runExample('event-bus.js', (out, b) => eventBusLines(b).every((l) => out.includes(l)));
  const lines = stdout.split('\n').filter(Boolean);
  for (const l of eventBusLines(base)) assert.ok(lines.includes(l), `missing: ${l}\n--- output:\n${stdout}`);
  assert.equal(lines.length, 3, 'hearOnce hears once; a does not hear its own reply');
});
