'use strict';
// Shared by the tests: clusters of peers on loopback (port 0, the Local
// timing preset, a cluster name of their own), polling with deadlines
// (never a bare sleep as synchronisation), and cleanup.

const { Telepathine } = require('..');

let clusterSeq = 0;

// A cluster name no other test in this process uses.
function uniqueCluster(prefix = 'node-test') {
  clusterSeq++;
  return `${prefix}-${process.pid}-${clusterSeq}`;
}

// eventually(cond, { timeout, message }): polls cond until it returns
// true (or a promise of true), rejecting after the deadline.
async function eventually(cond, { timeout = 15000, interval = 10, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${message}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// A peer of the Local preset, closed when the test ends.
function peer(t, seeds = [], options = {}) {
  const p = new Telepathine(0, seeds, { preset: 'local', ...options });
  t.after(() => p.close());
  return p;
}

// cluster(t, n, options): n started peers seeded with the first, once every
// one sees every other alive.
async function cluster(t, n, options = {}) {
  const opts = { cluster: uniqueCluster(), ...options };
  const first = peer(t, [], opts).start();
  await first.started();
  const peers = [first];
  for (let i = 1; i < n; i++) peers.push(peer(t, [first.peer_name], opts).start());
  await Promise.all(peers.map((p) => p.started()));
  await converged(peers);
  return peers;
}

function converged(peers, timeout = 20000) {
  return eventually(() => peers.every((p) => p.livePeers().length === peers.length - 1), {
    timeout,
    message: `cluster of ${peers.length} did not form`,
  });
}

// record(peer, event): every call of a listener, with its `this.event` and arguments.
function record(p, event, how = 'on') {
  const calls = [];
  p[how](event, function (...args) {
    calls.push({ event: this.event, args });
  });
  return calls;
}

// Waits for some gossip rounds of p (to give a wrong event time to happen).
async function rounds(p, n = 10) {
  const start = p.stats().rounds;
  await eventually(() => p.stats().rounds > start + n, { message: `${n} gossip rounds` });
}

module.exports = { Telepathine, uniqueCluster, eventually, peer, cluster, converged, record, rounds };
