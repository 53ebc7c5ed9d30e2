'use strict';
// A Go peer for the Node tests and benchmark: the interop Go driver
// (ffi_tests/drivers/go) run as a child process and commanded with the JSON
// lines of ffi_tests/PROTOCOL.md, the driver and protocol of every
// cross-language test. Values cross as the Node driver converts them: a
// string is text, a Buffer raw bytes, anything else JSON.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const REPO = path.resolve(__dirname, '..', '..', '..');

// build(dir): builds the Go driver into dir and returns its path.
function build(dir) {
  if (!fs.existsSync(path.join(REPO, 'ffi_tests', 'drivers', 'go'))) throw new Error('outside the repository: no Go driver');
  const out = path.join(dir, 'go-driver');
  execFileSync(process.env.GO || 'go', ['build', '-o', out, './ffi_tests/drivers/go'], { cwd: REPO, stdio: 'inherit' });
  return out;
}

function toProtocol(x) {
  if (typeof x === 'string') return { encoding: 'text', text: x };
  if (Buffer.isBuffer(x) || x instanceof Uint8Array) return { encoding: 'raw', base64: Buffer.from(x).toString('base64') };
  return { encoding: 'json', json: x === undefined ? null : x };
}

function fromProtocol(v) {
  switch (v.encoding) {
    case 'text':
      return v.text ?? '';
    case 'raw':
      return Buffer.from(v.base64 ?? '', 'base64');
    case 'json':
      return v.json;
  }
  throw new Error(`unknown encoding ${JSON.stringify(v.encoding)}`);
}

class GoDriver {
  // GoDriver.start(binary, cluster, seeds): a started Go peer.
  static async start(binary, cluster, seeds = [], timeout = 30000) {
    const d = new GoDriver(binary, timeout);
    try {
      const r = await d.call('start', { cluster, seeds });
      d.name = r.name;
      d.addr = r.addr;
    } catch (e) {
      await d.close();
      throw e;
    }
    return d;
  }

  constructor(binary, timeout) {
    this.timeout = timeout;
    this.events = [];
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.nextId = 0;
    this.waiting = new Map();
    this.exited = new Promise((resolve) => this.child.on('exit', resolve));
    this.child.on('error', (e) => this.#fail(e));
    this.child.stdin.on('error', () => {}); // a gone driver: calls fail below
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      if (m.event) {
        this.events.push(m.event);
        return;
      }
      const w = this.waiting.get(m.id);
      if (w) {
        this.waiting.delete(m.id);
        w(m);
      }
    });
    this.child.stdout.on('close', () => this.#fail(new Error('the Go driver is gone')));
  }

  #fail(err) {
    this.gone = err;
    for (const w of this.waiting.values()) w({ ok: false, error: err.message });
    this.waiting.clear();
  }

  // call(cmd, fields, timeout): the response's fields; rejects on ok:false,
  // no answer within timeout, or a gone driver.
  call(cmd, fields = {}, timeout = this.timeout) {
    if (this.gone) return Promise.reject(new Error(`${cmd}: ${this.gone.message}`));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${cmd}: no answer in ${timeout} ms`));
      }, timeout);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        if (m.ok) resolve(m);
        else reject(new Error(`${cmd}: ${m.error}`));
      });
      this.child.stdin.write(JSON.stringify({ ...fields, id, cmd }) + '\n');
    });
  }

  set(key, value) {
    return this.call('set', { key, value: toProtocol(value) });
  }

  // The driver's replica of peer's key, or undefined.
  async get(peer, key) {
    const r = await this.call('get', { peer, key });
    return r.found ? fromProtocol(r.value) : undefined;
  }

  say(event, data, buffered = false) {
    return this.call('say', { event, value: toProtocol(data), buffered });
  }

  // count says of event, data '0' .. 'count-1' (text).
  sayBurst(event, count, buffered = true) {
    return this.call('say_burst', { event, count, buffered }, Math.max(this.timeout, 120000));
  }

  // Replies as [{ peer, value }].
  async ask(event, data, timeoutMs) {
    const r = await this.call('ask', { event, value: toProtocol(data), timeout_ms: timeoutMs }, timeoutMs + this.timeout);
    return r.replies.map((x) => ({ peer: x.peer, value: fromProtocol(x.value) }));
  }

  // Subscribes to says matching pattern; asks are answered with reply
  // unless it is undefined.
  hear(pattern, reply) {
    return this.call('hear', reply === undefined ? { pattern } : { pattern, reply: toProtocol(reply) });
  }

  async livePeers() {
    return (await this.call('peers', { which: 'live' })).peers;
  }

  async stats() {
    return (await this.call('stats')).stats;
  }

  // Asks the driver to exit, then kills it if it has not in 10 s.
  async close() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin.end('{"cmd":"exit"}\n');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

module.exports = { GoDriver, build, toProtocol, fromProtocol };
