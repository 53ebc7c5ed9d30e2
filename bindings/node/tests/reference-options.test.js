'use strict';
// The reference library's options (lib/reference.js): accepted with their
// meaning, checked like the binding's own, unknown keys still a TypeError.
const test = require('node:test');
const assert = require('node:assert/strict');
const { fromBinary } = require('@bufbuild/protobuf');
const { ConfigSchema, TransportMode } = require('../gen/telepathine/api/v1/api_pb.js');
const { buildConfig } = require('../lib/config');
const { Telepathine, peer, eventually, uniqueCluster } = require('./helpers');

function config(options) {
  return fromBinary(ConfigSchema, buildConfig(0, [], options).bytes);
}

function typeError(code) {
  return (e) => e instanceof TypeError && (code === undefined || e.code === code);
}

test("the reference examples' intervals: gossipIntervalMS, heartbeatIntervalMS and heartBeatIntervalMS", () => {
  let c = config({ gossipIntervalMS: 2500, heartBeatIntervalMS: 2400 });
  assert.equal(c.gossipIntervalMs, 2500n);
  assert.equal(c.heartbeatIntervalMs, 2400n);
  c = config({ heartbeatIntervalMS: 1500 });
  assert.equal(c.heartbeatIntervalMs, 1500n);
  // Both spellings, or both names, must agree.
  assert.equal(config({ heartbeatIntervalMS: 700, heartBeatIntervalMS: 700, heartbeatIntervalMs: 700 }).heartbeatIntervalMs, 700n);
  assert.throws(() => config({ heartbeatIntervalMS: 700, heartBeatIntervalMS: 800 }), typeError('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => config({ gossipIntervalMS: 100, gossipIntervalMs: 200 }), /disagree/);
  // Checked as the binding's own field.
  assert.throws(() => config({ gossipIntervalMS: 'fast' }), typeError('ERR_INVALID_ARG_TYPE'));
  // The exact object of the reference's examples builds a peer.
  const p = new Telepathine(0, [], { gossipIntervalMS: 2500, heartBeatIntervalMS: 2500 });
  p.close();
});

test('udp: false is TCP only, true the default UDP-preferred', () => {
  assert.equal(config({ udp: false }).transportMode, TransportMode.TCP_ONLY);
  assert.equal(config({ udp: true }).transportMode, TransportMode.UDP_PREFERRED);
  assert.equal(config({ udp: false, transportMode: 'tcp' }).transportMode, TransportMode.TCP_ONLY);
  assert.throws(() => config({ udp: false, transportMode: 'udp' }), /disagree/);
  assert.throws(() => config({ udp: 'no' }), typeError('ERR_INVALID_ARG_TYPE'));
});

test('network: the keyring passphrase, mapped to networkKey', (t) => {
  assert.equal(config({ network: 'secret' }).networkKey, 'secret');
  assert.equal(config({ network: 'secret', networkKey: 'secret' }).networkKey, 'secret');
  assert.throws(() => config({ network: 'a', networkKey: 'b' }), /disagree/);
  assert.throws(() => config({ network: 42 }), typeError('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => config({ network: '' }), typeError('ERR_INVALID_ARG_TYPE'));
  // The engine derives the primary key from it.
  const p = peer(t, [], { network: 'correct horse battery staple' });
  const keys = p.clusterKeys();
  assert.equal(keys.length, 1);
  assert.equal(keys[0].length, 32);
});

test('addressMap: an object or Map of host:port, into Config.address_map', () => {
  assert.deepEqual(config({ addressMap: { '10.0.0.1:9000': '203.0.113.7:19000' } }).addressMap, { '10.0.0.1:9000': '203.0.113.7:19000' });
  assert.deepEqual(config({ addressMap: new Map([['[::1]:9000', '127.0.0.1:9001']]) }).addressMap, { '[::1]:9000': '127.0.0.1:9001' });
  assert.throws(() => config({ addressMap: { '10.0.0.1': '127.0.0.1:1' } }), /is not 'host:port'/);
  assert.throws(() => config({ addressMap: { '10.0.0.1:1': 5 } }), typeError('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => config({ addressMap: ['10.0.0.1:1'] }), typeError('ERR_INVALID_ARG_TYPE'));
});

test('unknown keys stay a TypeError', () => {
  assert.throws(() => config({ gossipIntervalMz: 10 }), (e) => e instanceof TypeError && /is not an option/.test(e.message));
  assert.throws(() => config({ emitValueOnHeartBeat: 'yes' }), typeError('ERR_INVALID_ARG_TYPE'));
});

test('addressMap: a peer known under an unreachable address is reached through the map', async (t) => {
  const cluster = uniqueCluster();
  const a = peer(t, [], { cluster }).start();
  await a.started();
  // TEST-NET-1: nobody answers there; only the translation joins b to a.
  const unreachable = '192.0.2.1:7946';
  const b = peer(t, [unreachable], { cluster, addressMap: { [unreachable]: a.peer_name } }).start();
  a.set('k', 'v');
  await eventually(() => b.getRemote(a.peer_name, 'k') === 'v', { message: 'b reads a through the address map' });
});

test("emitValueOnHeartBeat: every other peer's heartbeat fires set and set:__heartbeat__", async (t) => {
  const cluster = uniqueCluster();
  const a = peer(t, [], { cluster }).start();
  await a.started();
  const b = peer(t, [a.peer_name], { cluster, emitValueOnHeartBeat: true }).start();
  const viaSet = [];
  const viaKnow = [];
  b.on('set', function (name, key, value) {
    if (key === '__heartbeat__') viaSet.push([name, value, this.event]);
  });
  b.know('__heartbeat__', function (name, value) {
    viaKnow.push([name, value, this.event]);
  });
  await eventually(() => viaKnow.length >= 3 && viaSet.length >= 3, { message: 'three heartbeats seen' });
  for (const [name, value, event] of viaKnow) {
    assert.equal(name, a.peer_name);
    assert.equal(typeof value, 'number');
    assert.equal(event, '__heartbeat__');
  }
  const beats = viaKnow.map(([, v]) => v);
  assert.deepEqual([...beats].sort((x, y) => x - y), beats, 'heartbeats only grow');
  assert.equal(new Set(beats).size, beats.length, 'each heartbeat once');
  assert.equal(viaSet[0][2], 'set');
  // Without the option, nothing of the kind.
  const quiet = [];
  a.know('__heartbeat__', (name, value) => quiet.push(value));
  await eventually(() => a.livePeers().includes(b.peer_name), { message: 'a sees b' });
  await new Promise((r) => setTimeout(r, 300)); // three heartbeat intervals of the Local preset
  assert.deepEqual(quiet, []);
  // A stopped peer stops reporting.
  b.stop();
  await b.stopped();
  const n = viaKnow.length;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(viaKnow.length, n);
});
