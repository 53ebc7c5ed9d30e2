'use strict';
// Identity mode through the binding: the options come from the protobuf
// descriptor like every other; peers with their own key pairs converge, and
// a junk key is refused at construction.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Telepathine, TelepathineError } = require('..');
const { peer, uniqueCluster, eventually } = require('./helpers');

test('identity peers converge', async (t) => {
  const cluster = uniqueCluster();
  const a = peer(t, [], { cluster, identityKey: Buffer.alloc(32, 1), tofu: true }).start();
  await a.started();
  const b = peer(t, [a.peer_name], { cluster, identityKey: Buffer.alloc(32, 2), tofu: true }).start();
  await b.started();
  a.set('k', 'signed');
  await eventually(() => b.getRemote(a.peer_name, 'k') === 'signed', { message: 'b reading a signed value' });
});

test('identity: a junk key is refused', () => {
  assert.throws(
    () => new Telepathine(0, [], { preset: 'local', cluster: uniqueCluster(), identityKey: Buffer.from('junk'), tofu: true }),
    (e) => e instanceof TelepathineError && /identity/.test(e.message),
  );
});
