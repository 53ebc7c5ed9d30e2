'use strict';
// Membership: convergence, failure detection, restarts, cluster isolation
// (the Go engine's scenarios, on loopback).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Telepathine, cluster, peer, eventually, record, rounds, uniqueCluster } = require('./helpers');

test('two peers converge on loopback', async (t) => {
  const [a, b] = await cluster(t, 2);
  b.set('k', Buffer.from([0, 1, 2]));
  await eventually(() => {
    const v = a.getRemote(b.peer_name, 'k');
    return v !== undefined && v.equals(Buffer.from([0, 1, 2]));
  }, { message: 'value' });
  assert.deepEqual(a.livePeers(), [b.peer_name]);
  assert.deepEqual(a.deadPeers(), []);
  assert.deepEqual(a.allPeers(), [b.peer_name]);
});

test('a stopped peer is declared dead everywhere (peer:stop), then its restart wins', async (t) => {
  const peers = await cluster(t, 5);
  const victim = peers[3];
  const others = peers.filter((p) => p !== victim);
  victim.set('v', 'before');
  await eventually(() => others.every((p) => p.getRemote(victim.peer_name, 'v') === 'before'), { message: 'value before' });
  const deaths = others.map((p) => record(p, 'peer:stop'));
  const oldGen = victim.info().generation;
  victim.stop();
  await victim.stopped();
  await eventually(() => others.every((p) => p.deadPeers().includes(victim.peer_name)), {
    message: 'stopped peer not declared dead by all',
  });
  // The state says dead at once; the events reach JS a moment later.
  const stops = (d) => d.filter((c) => c.args[0] === victim.peer_name).length;
  await eventually(() => deaths.every((d) => stops(d) >= 1), { message: 'peer:stop delivered everywhere' });
  for (const d of deaths) assert.equal(stops(d), 1);
  for (const p of others) assert.ok(!p.livePeers().includes(victim.peer_name));
  // Restart the same peer: a new generation, its new value wins.
  const alive = others.map((p) => record(p, 'peer:start'));
  victim.set('v', 'after');
  await victim.start().started();
  assert.ok(victim.info().generation > oldGen);
  await eventually(() => others.every((p) => p.livePeers().includes(victim.peer_name) && p.getRemote(victim.peer_name, 'v') === 'after'), {
    message: 'restarted peer not alive everywhere with its new value',
  });
  await eventually(() => alive.every((a) => a.some((c) => c.args[0] === victim.peer_name)), { message: 'peer:start again' });
});

test('a new process on the same address: its new generation wins', async (t) => {
  const peers = await cluster(t, 3);
  const old = peers[2];
  for (let i = 0; i < 20; i++) old.set('k', `old-${i}`);
  const name = old.peer_name;
  const port = old.port;
  await eventually(() => peers[0].getRemote(name, 'k') === 'old-19', { message: 'old value' });
  old.close();
  const fresh = new Telepathine(port, [peers[0].peer_name], { preset: 'local', cluster: peers[0].info().cluster });
  t.after(() => fresh.close());
  fresh.set('k', 'new');
  await fresh.start().started();
  assert.equal(fresh.peer_name, name);
  await eventually(() => peers[0].getRemote(name, 'k') === 'new', { message: 'new generation did not win' });
});

test('peers of another cluster never merge', async (t) => {
  const blue = await cluster(t, 2, { cluster: uniqueCluster('blue') });
  const green = peer(t, [blue[0].peer_name], { cluster: uniqueCluster('green') });
  green.set('secret', 'green');
  await green.start().started();
  await eventually(() => blue[0].stats().foreignCluster > 0, { message: 'foreign packets counted' });
  await rounds(blue[0], 10);
  for (const p of blue) assert.ok(!p.allPeers().includes(green.peer_name));
  assert.deepEqual(green.allPeers(), []);
  assert.equal(blue[0].getRemote(green.peer_name, 'secret'), undefined);
});

test('custom peer names survive restarts', async (t) => {
  const cl = uniqueCluster();
  const a = peer(t, [], { cluster: cl, name: 'alpha' }).start();
  await a.started();
  const b = peer(t, [a.address + ':' + a.port], { cluster: cl, name: 'beta' }).start();
  await eventually(() => a.livePeers().includes('beta') && b.livePeers().includes('alpha'), { message: 'named peers' });
  assert.equal(a.peer_name, 'alpha');
  b.stop();
  await b.stopped();
  await b.start().started();
  assert.equal(b.peer_name, 'beta');
});
