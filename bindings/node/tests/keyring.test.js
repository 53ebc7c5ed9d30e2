'use strict';
// The cluster keyring through the binding: options, rotation calls, the
// engine's rules as TelepathineErrors, and bad arguments as TypeErrors.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Telepathine, TelepathineError } = require('..');
const { peer, uniqueCluster } = require('./helpers');

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);
const K3 = Buffer.alloc(32, 3);
const badType = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };

test('keys option: primary first; install, use, remove', (t) => {
  const p = peer(t, [], { cluster: uniqueCluster(), keys: [K1, new Uint8Array(K2)] });
  assert.deepEqual(p.clusterKeys(), [K1, K2]);
  assert.ok(Buffer.isBuffer(p.clusterKeys()[0]));
  assert.equal(p.installKey(K3), p, 'chains');
  p.installKey(K3); // twice: harmless
  p.useKey(K3);
  assert.deepEqual(p.clusterKeys()[0], K3);
  p.removeKey(K1);
  assert.deepEqual(p.clusterKeys(), [K3, K2]);
  assert.equal(p.setPlaintext({ accept: true, send: true }), p);
  p.setPlaintext({ accept: false, send: false });
});

test('a plain peer has no keys; its first installed key is the primary', (t) => {
  const p = peer(t);
  assert.deepEqual(p.clusterKeys(), []);
  p.installKey(K1);
  assert.deepEqual(p.clusterKeys(), [K1]);
});

test('networkKey: a derived primary before the configured keys', (t) => {
  const p = peer(t, [], { cluster: uniqueCluster(), networkKey: 'correct horse battery staple', keys: [K1] });
  const ks = p.clusterKeys();
  assert.equal(ks.length, 2);
  assert.equal(ks[0].length, 32);
  assert.notDeepEqual(ks[0], K1);
  assert.deepEqual(ks[1], K1);
});

test("the engine's rules: TelepathineError with the status name", (t) => {
  const p = peer(t, [], { keys: [K1] });
  for (const bad of [Buffer.alloc(0), Buffer.alloc(31), Buffer.alloc(33), Buffer.alloc(4096)]) {
    for (const call of [() => p.installKey(bad), () => p.useKey(bad), () => p.removeKey(bad)]) {
      assert.throws(call, (e) => e instanceof TelepathineError && e.code === 'TP_ERR_KEY_MATERIAL' && e.status === -13);
    }
  }
  assert.throws(() => p.removeKey(K1), { name: 'TelepathineError', code: 'TP_ERR_PRIMARY_KEY', status: -14 });
  assert.throws(() => p.useKey(K2), { name: 'TelepathineError', code: 'TP_ERR_KEY_NOT_INSTALLED', status: -15 });
  assert.throws(() => p.removeKey(K2), { code: 'TP_ERR_KEY_NOT_INSTALLED' });
  assert.deepEqual(p.clusterKeys(), [K1], 'failed calls change nothing');
});

test('bad arguments are TypeErrors before the library is called', (t) => {
  const p = peer(t, [], { keys: [K1] });
  for (const bad of ['0'.repeat(32), 32, null, undefined, [K1], {}]) {
    assert.throws(() => p.installKey(bad), badType);
    assert.throws(() => p.useKey(bad), badType);
    assert.throws(() => p.removeKey(bad), badType);
  }
  assert.throws(() => p.setPlaintext(), badType);
  assert.throws(() => p.setPlaintext(true, false), badType);
  assert.throws(() => p.setPlaintext({ accept: 1, send: 0 }), badType);
  assert.throws(() => p.setPlaintext({ accept: true }), badType);
  assert.deepEqual(p.clusterKeys(), [K1]);
  // Options.
  assert.throws(() => new Telepathine(0, [], { keys: K1 }), badType);
  assert.throws(() => new Telepathine(0, [], { keys: ['a'.repeat(32)] }), badType);
  assert.throws(() => new Telepathine(0, [], { networkKey: 42 }), badType);
  assert.throws(() => new Telepathine(0, [], { acceptPlaintext: 'yes' }), badType);
  assert.throws(() => new Telepathine(0, [], { sendPlaintext: 1 }), badType);
  assert.throws(() => new Telepathine(0, [], { stateDir: 5 }), badType);
});

test('stats carry the drop causes', (t) => {
  const p = peer(t, [], { keys: [K1] });
  const { drops } = p.stats();
  assert.equal(typeof drops.malformed, 'number');
  assert.equal(typeof drops.foreign_cluster, 'number');
});
