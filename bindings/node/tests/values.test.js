'use strict';
// Key/value state: each JS type comes back as itself, locally and on other
// peers; metadata; delete; expiry.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Telepathine, asJSON } = require('..');
const { cluster, peer, eventually, record, rounds } = require('./helpers');

const values = {
  text: 'hello ✓ \u{1F600}',
  empty: '',
  object: { n: [1, 2.5, true, null], nested: { k: 'v' } },
  array: ['a', 1, { b: false }],
  number: 42.5,
  boolean: false,
  null: null,
  buffer: Buffer.from([0, 1, 2, 0xfe, 0xff]),
};

test('values keep their type locally and on every peer', async (t) => {
  const [a, b] = await cluster(t, 2);
  for (const [k, v] of Object.entries(values)) a.set(k, v);
  a.set('u8', new Uint8Array([9, 8, 7]));
  a.set('jsonString', asJSON('a JSON string, not text'));
  for (const [k, v] of Object.entries(values)) assert.deepEqual(a.get(k), v, k);
  await eventually(() => b.getRemote(a.peer_name, 'jsonString') !== undefined, { message: 'values spread' });
  for (const [k, v] of Object.entries(values)) {
    assert.deepEqual(b.getRemote(a.peer_name, k), v, k);
  }
  assert.ok(Buffer.isBuffer(b.getRemote(a.peer_name, 'buffer')), 'raw bytes come back as a Buffer');
  assert.deepEqual(b.getRemote(a.peer_name, 'u8'), Buffer.from([9, 8, 7]));
  assert.equal(b.getRemote(a.peer_name, 'jsonString'), 'a JSON string, not text');
  assert.deepEqual(b.getRemoteKeys(a.peer_name), [...Object.keys(values), 'jsonString', 'u8'].sort());
  assert.deepEqual(a.getRemoteKeys(''), b.getRemoteKeys(a.peer_name), "'' is the local peer");
  assert.deepEqual(b.getRemoteKeys('127.0.0.1:1'), [], 'unknown peer: no keys');
  assert.equal(b.getRemote(a.peer_name, 'missing'), undefined);
  assert.equal(a.get('missing'), undefined);
});

test('a one-megabyte value crosses (UDP for small packets, TCP for it)', async (t) => {
  const [a, b] = await cluster(t, 2);
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  a.set('blob', big);
  await eventually(() => {
    const v = b.getRemote(a.peer_name, 'blob');
    return v !== undefined && v.equals(big);
  }, { message: '1 MiB value' });
  const st = b.stats().transport;
  assert.ok(st.udpPacketsReceived > 0);
  assert.ok(st.tcpFramesReceived > 0);
});

test('set before start, state kept across stop and start', async (t) => {
  const a = peer(t);
  a.set('early', 'before start');
  assert.equal(a.get('early'), 'before start');
  await a.start().started();
  assert.equal(a.get('early'), 'before start');
  a.stop();
  await a.stopped();
  a.set('late', 'while stopped');
  await a.start().started();
  assert.equal(a.get('late'), 'while stopped');
});

test('delete: gone everywhere, with delete events', async (t) => {
  const [a, b] = await cluster(t, 2);
  const dels = record(b, 'delete');
  const delKey = record(b, 'delete:doomed');
  a.set('doomed', { x: 1 });
  await eventually(() => b.getRemote(a.peer_name, 'doomed') !== undefined, { message: 'value spread' });
  assert.equal(a.delete('doomed'), true);
  assert.equal(a.delete('doomed'), false, 'nothing left to delete');
  assert.equal(a.get('doomed'), undefined);
  await eventually(() => b.getRemote(a.peer_name, 'doomed') === undefined, { message: 'delete spread' });
  await eventually(() => dels.length === 1 && delKey.length === 1, { message: 'delete events' });
  assert.deepEqual(dels[0].args, [a.peer_name, 'doomed', { x: 1 }]);
  assert.deepEqual(delKey[0].args, [a.peer_name, { x: 1 }]);
});

test('expiry: key:expired once on every replica, the value gone', async (t) => {
  const peers = await cluster(t, 4);
  const recs = peers.map((p) => record(p, 'key:expired'));
  const owner = peers[1];
  const at = Date.now() + 800;
  owner.set('lease', 'holder-1', at);
  await eventually(() => peers.every((p) => p.getRemote(owner.peer_name, 'lease') === 'holder-1'), {
    message: 'value did not spread before expiring',
  });
  await eventually(() => recs.every((r) => r.length >= 1), { message: 'expiry seen everywhere' });
  await rounds(peers[0], 5);
  recs.forEach((r, i) => {
    assert.equal(r.length, 1, `peer ${i} saw the expiry once`);
    assert.deepEqual(r[0].args, [owner.peer_name, 'lease', 'holder-1', at], 'owner, key, value, expiresAt');
    assert.equal(peers[i].getRemote(owner.peer_name, 'lease'), undefined);
  });
  // A Date works as expiresAt too.
  owner.set('lease2', 'x', new Date(Date.now() + 60000));
  assert.equal(owner.get('lease2'), 'x');
});

test('thirty-two peers converge and read identical values', async (t) => {
  const peers = await cluster(t, 32);
  peers.forEach((p, i) => {
    p.set('info', { peer: i, tags: ['a', 'b'] });
    p.set('name', `peer-${i}`);
  });
  await eventually(() => peers.every((p) => peers.every((q, j) => p.getRemote(q.peer_name, 'name') === `peer-${j}`)), {
    timeout: 30000,
    message: 'values did not converge',
  });
  for (const p of peers) assert.deepEqual(p.getRemote(peers[5].peer_name, 'info'), { peer: 5, tags: ['a', 'b'] });
});

test('TCP-only mode', async (t) => {
  const peers = await cluster(t, 3, { transportMode: 'tcp' });
  peers[2].set('k', 'v');
  await eventually(() => peers[0].getRemote(peers[2].peer_name, 'k') === 'v', { message: 'tcp-only cluster' });
  assert.equal(peers[0].stats().transport.udpPacketsSent, 0);
});

test('IPv6 loopback', async (t) => {
  const peers = await cluster(t, 2, { address: '::1' });
  assert.match(peers[0].peer_name, /^\[::1\]:\d+$/);
  assert.equal(peers[0].address, '::1');
  peers[1].set('v6', 'yes');
  await eventually(() => peers[0].getRemote(peers[1].peer_name, 'v6') === 'yes', { message: 'IPv6 cluster' });
});

test('port 0 is read back; a fixed port is the peer name', async (t) => {
  const a = peer(t).start();
  await a.started();
  const port = a.port;
  assert.ok(port > 0);
  assert.equal(a.peer_name, `127.0.0.1:${port}`);
  a.close();
  assert.equal(a.peer_name, `127.0.0.1:${port}`, 'the name outlives close()');
  // The port is free again: a peer can be made on it, its name known before start.
  const b = new Telepathine(port, [], { preset: 'local' });
  t.after(() => b.close());
  assert.equal(b.peer_name, `127.0.0.1:${port}`);
  await b.start().started();
  assert.equal(b.peer_name, `127.0.0.1:${port}`);
  assert.equal(b.port, port);
});
