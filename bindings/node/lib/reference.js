'use strict';
// The reference Node library's options, accepted with their meaning so
// that code written for it runs unchanged. They are translated into this
// binding's options (lib/config.js) before those are checked:
//
//   gossipIntervalMS       -> gossipIntervalMs
//   heartbeatIntervalMS    -> heartbeatIntervalMs (also spelled heartBeatIntervalMS,
//                             as the reference's examples do)
//   address                the host to bind: the same key in both (lib/config.js)
//   udp                    true: transportMode 'udp' (the default); false: 'tcp' (TCP only)
//   network                a passphrase for the cluster's keyring -> networkKey (a key
//                          derived with argon2id, salted with the cluster name)
//   addressMap             { 'seen host:port': 'host:port to use' } (object or Map)
//                          -> addressMap: translated when sending (engine
//                          Config.AddressMap: NAT, port forwarding)
//   emitValueOnHeartBeat   true: every heartbeat seen from another peer also fires
//                          'set' (peer, '__heartbeat__', heartbeat) and
//                          'set:__heartbeat__' (peer, heartbeat), as the reference
//                          did; see heartbeats() below
//
// A key given both ways (gossipIntervalMS and gossipIntervalMs) must agree.

const { argType, argValue } = require('./errors');

const RENAMES = [
  ['gossipIntervalMS', 'gossipIntervalMs'],
  ['heartbeatIntervalMS', 'heartbeatIntervalMs'],
  ['heartBeatIntervalMS', 'heartbeatIntervalMs'],
];
const KEYS = ['gossipIntervalMS', 'heartbeatIntervalMS', 'heartBeatIntervalMS', 'udp', 'network', 'addressMap', 'emitValueOnHeartBeat'];

// The key under which the heartbeat is reported, as in the reference.
const HEARTBEAT_KEY = '__heartbeat__';
// Heartbeat intervals of the presets (engine/config.go), for polling.
const PRESET_HEARTBEAT_MS = { lan: 1000, wan: 2000, local: 100 };

function given(options, key) {
  return Object.prototype.hasOwnProperty.call(options, key) && options[key] !== undefined;
}

function setOnce(out, from, to, v) {
  if (given(out, to) && out[to] !== v) {
    throw argValue(`options.${from}`, `(${v}) and options.${to} (${out[to]}) disagree: give one of them`);
  }
  out[to] = v;
}

// translate(options, init, fields) -> the options without the reference's
// keys: renamed ones come back under this binding's names (and are checked
// as those), the others are written into init (the api.v1.Config being
// built). fields: the Config fields by camelCase name.
function translate(options, init, fields) {
  if (!KEYS.some((k) => given(options, k))) return options;
  const out = { ...options };
  for (const [from, to] of RENAMES) {
    if (given(out, from)) setOnce(out, from, to, out[from]);
    delete out[from];
  }
  if (given(out, 'udp')) {
    if (typeof out.udp !== 'boolean') throw argType('options.udp', 'a boolean (false: TCP only)', out.udp);
    const mode = out.udp ? 'udp' : 'tcp';
    if (given(out, 'transportMode') && !String(out.transportMode).toLowerCase().startsWith(mode)) {
      throw argValue('options.udp', `(${out.udp}) and options.transportMode (${JSON.stringify(out.transportMode)}) disagree: give one of them`);
    }
    out.transportMode = out.transportMode || mode;
  }
  delete out.udp;
  if (given(out, 'network')) {
    if (typeof out.network !== 'string' || out.network === '') throw argType('options.network', 'a non-empty passphrase string', out.network);
    setOnce(out, 'network', 'networkKey', out.network);
  }
  delete out.network;
  if (given(out, 'addressMap')) {
    init.addressMap = addressMap(out.addressMap);
  }
  delete out.addressMap;
  if (given(out, 'emitValueOnHeartBeat') && typeof out.emitValueOnHeartBeat !== 'boolean') {
    throw argType('options.emitValueOnHeartBeat', 'a boolean', out.emitValueOnHeartBeat);
  }
  delete out.emitValueOnHeartBeat;
  return out;
}

// { from: to } or a Map, every key and value a 'host:port' string.
function addressMap(m) {
  const entries = m instanceof Map ? [...m.entries()] : m !== null && typeof m === 'object' && !Array.isArray(m) ? Object.entries(m) : null;
  if (!entries) throw argType('options.addressMap', "an object or Map of 'host:port' -> 'host:port'", m);
  const out = {};
  for (const [from, to] of entries) {
    for (const [what, s] of [['key', from], ['value', to]]) {
      if (typeof s !== 'string' || !/^.+:\d+$/.test(s)) {
        throw argValue('options.addressMap', `${what} ${JSON.stringify(s)} is not 'host:port'`);
      }
    }
    out[from] = to;
  }
  return out;
}

// heartbeats(peer, options, fire): with options.emitValueOnHeartBeat, while
// the peer runs, reads the other peers' heartbeat counters (peerInfo) twice
// per heartbeat interval and fires fire('set', ...) and
// fire('set:__heartbeat__', ...) for each peer whose counter moved. Gossip
// delivers the latest heartbeat only (scuttlebutt sends the newest version
// of each peer, not every step), which is what the reference saw too.
// Polling keeps this in the binding: the engine reports no heartbeats.
function heartbeats(peer, options, fire) {
  if (!options || options.emitValueOnHeartBeat !== true) return;
  const preset = typeof options.preset === 'string' ? options.preset.toLowerCase() : 'lan';
  const every = Number(options.heartbeatIntervalMs ?? options.heartbeatIntervalMS ?? options.heartBeatIntervalMS ?? 0) ||
    PRESET_HEARTBEAT_MS[preset] || PRESET_HEARTBEAT_MS.lan;
  const seen = new Map();
  let timer = null;
  const poll = () => {
    let peers;
    try {
      peers = peer.peerInfo();
    } catch {
      return; // closed meanwhile
    }
    for (const p of peers) {
      if (p.state !== 'alive' || seen.get(p.name) === p.heartbeat) continue;
      seen.set(p.name, p.heartbeat);
      fire('set', [p.name, HEARTBEAT_KEY, p.heartbeat, 0]);
      fire('set:' + HEARTBEAT_KEY, [p.name, p.heartbeat, 0]);
    }
  };
  peer.on('start', () => {
    clearInterval(timer);
    timer = setInterval(poll, Math.max(10, Math.floor(every / 2))).unref();
  });
  peer.on('stop', () => {
    clearInterval(timer);
    timer = null;
  });
}

module.exports = { translate, heartbeats, HEARTBEAT_KEY };
