'use strict';
// A Node peer in one cluster with a Go peer (the interop Go driver, a
// separate process: godriver.js): values keep their types across
// languages, says and asks cross both ways, a burst of says arrives whole
// and in order.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { GoDriver, build } = require('./godriver');
const { eventually, peer, uniqueCluster } = require('./helpers');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-go-driver-'));
let binary;
test.before(() => {
  binary = build(dir);
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function goAndNode(t, options = {}) {
  const cluster = uniqueCluster('node-go');
  const go = await GoDriver.start(binary, cluster);
  t.after(() => go.close());
  const p = peer(t, [go.addr], { cluster, ...options });
  return { go, p };
}

// ask retries: an early reply can be lost on a loaded machine (see
// ffi_tests/c/ffi_test.c).
async function askUntilAnswered(ask) {
  let replies = [];
  for (let i = 0; i < 3 && replies.length === 0; i++) replies = await ask();
  return replies;
}

test('Node and Go share state and events', async (t) => {
  const { go, p } = await goAndNode(t);
  await go.set('go-key', 'from-go');
  await go.set('go-json', { lang: 'go' });
  await go.set('go-raw', Buffer.from([0, 1, 0xff]));
  await go.hear('ping:*', 'pong');
  const heard = [];
  p.hear('chat:*', (data, from) => heard.push({ data, from }));
  p.hear('question', (data, from, reply) => reply(`node heard ${data}`));
  p.set('node-key', { from: 'node' });
  await p.start().started();
  await eventually(() => p.livePeers().includes(go.name), { message: 'the Go peer alive' });
  await eventually(async () => (await go.livePeers()).includes(p.peer_name), { message: 'Go seeing Node alive' });

  // The Go peer's values, with their types: text -> string, JSON -> object, raw -> Buffer.
  await eventually(() => p.getRemoteKeys(go.name).length === 3, { message: "the Go peer's keys" });
  assert.equal(p.getRemote(go.name, 'go-key'), 'from-go');
  assert.deepEqual(p.getRemote(go.name, 'go-json'), { lang: 'go' });
  assert.deepEqual(p.getRemote(go.name, 'go-raw'), Buffer.from([0, 1, 0xff]));
  await eventually(async () => (await go.get(p.peer_name, 'node-key'))?.from === 'node', { message: 'Go reading node-key' });

  // Go says, Node hears; Node asks, Go answers; Go asks, Node answers.
  await go.say('chat:hello', 'hi');
  await eventually(() => heard.length === 1, { message: 'the Go say' });
  assert.deepEqual(heard[0], { data: 'hi', from: go.name });
  const replies = await askUntilAnswered(() => p.ask('ping:x', 'hello', 5000));
  assert.deepEqual(replies, [{ peer: go.name, value: 'pong' }]);
  const goReplies = await askUntilAnswered(() => go.ask('question', 'what', 5000));
  assert.deepEqual(goReplies, [{ peer: p.peer_name, value: 'node heard what' }]);
});

test('Node takes a burst of Go says whole and in order', async (t) => {
  const n = 2000;
  const { go, p } = await goAndNode(t, { handlerQueue: 1 << 16 });
  const got = [];
  p.hear('burst', (data) => got.push(data));
  await p.start().started();
  await eventually(async () => (await go.livePeers()).includes(p.peer_name), { message: 'Go seeing Node alive' });
  await go.sayBurst('burst', n);
  await eventually(() => got.length === n, { timeout: 30000, message: `${n} events (got ${got.length})` });
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i)));
  assert.equal(p.stats().eventsDropped, 0);
  assert.equal((await go.stats()).says, n);
});
