#!/usr/bin/env node
// node-driver runs one Telepathine peer through the Node binding
// (bindings/node), commanded over stdin/stdout as described in
// ffi_tests/PROTOCOL.md: one JSON request per line in, one response per
// request (in request order) and unrequested event lines out. Values are
// turned into the binding's natural JS types (string, parsed JSON, Buffer)
// before the call, and reported from the type the binding returns.
// Diagnostics go to stderr; stdout carries protocol lines only.
'use strict';

const path = require('node:path');
const readline = require('node:readline');
const { Telepathine, asJSON } = require(path.join(__dirname, '..', '..', '..', 'bindings', 'node'));

function write(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Protocol value -> the JS value the binding takes.
function toJS(v) {
  if (!v || typeof v !== 'object') throw new Error('missing value');
  switch (v.encoding) {
    case 'text':
      return v.text === undefined ? '' : v.text;
    case 'json':
      // A JSON string would otherwise be sent as text.
      return typeof v.json === 'string' ? asJSON(v.json) : v.json === undefined ? null : v.json;
    case 'raw':
      return Buffer.from(v.base64 || '', 'base64');
    default:
      throw new Error(`unknown encoding ${JSON.stringify(v.encoding)}`);
  }
}

// A value the binding returned -> its protocol form, by its JS type.
function fromJS(x) {
  if (typeof x === 'string') return { encoding: 'text', text: x };
  if (Buffer.isBuffer(x)) return { encoding: 'raw', base64: x.toString('base64') };
  return { encoding: 'json', json: x };
}

// An event as the binding emitted it (this.event and its arguments) ->
// { name, peer, key, value }. The arguments depend on the event, as in the
// reference: see lib/telepathine.js.
function describe(p, name, args) {
  const [kind, ...rest] = name.split(':');
  const suffix = rest.join(':');
  if (name === 'set' || name === 'delete') return { name, peer: args[0], key: args[1], value: fromJS(args[2]) };
  if (name === 'key:expired') return { name, peer: args[0], key: args[1], value: fromJS(args[2]) };
  if (kind === 'set' || kind === 'delete') return { name, peer: args[0], key: suffix, value: fromJS(args[1]) };
  if (kind === 'say') return { name, peer: args[1], key: suffix, value: fromJS(args[0]) };
  if (kind === 'peer') return { name, peer: args[0], key: '' };
  return { name, peer: p.peer_name, key: '' }; // start, stop
}

let peer = null;

async function handle(r) {
  if (r.cmd !== 'start' && !peer) throw new Error('not started');
  switch (r.cmd) {
    case 'start': {
      if (!peer) {
        const options = { preset: 'local', cluster: r.cluster || undefined };
        if (r.name) options.name = r.name;
        // The keyring (base64 keys, a passphrase, the plaintext stages).
        if (r.keys && r.keys.length) options.keys = r.keys.map((k) => Buffer.from(k, 'base64'));
        if (r.network_key) options.networkKey = r.network_key;
        if (r.accept_plaintext) options.acceptPlaintext = true;
        if (r.send_plaintext) options.sendPlaintext = true;
        peer = new Telepathine(0, r.seeds || [], options);
        peer.on('error', (e, name) => process.stderr.write(`node-driver: a '${name}' handler threw: ${e && e.stack}\n`));
      }
      peer.start();
      await peer.started();
      return { name: peer.peer_name, addr: peer.info().addr };
    }
    case 'set':
      peer.set(r.key, toJS(r.value), r.expires_at || 0);
      return {};
    case 'get': {
      const v = peer.getRemote(r.peer || '', r.key);
      return v === undefined ? { found: false } : { found: true, value: fromJS(v) };
    }
    case 'keys':
      return { keys: peer.getRemoteKeys(r.peer || '') };
    case 'del':
      return { deleted: peer.delete(r.key) };
    case 'say':
      peer.say(r.event, toJS(r.value), r.for_ms || 0, Boolean(r.buffered));
      return {};
    case 'say_burst': {
      // count says, data '0' .. 'count-1' as text
      const count = r.count || 0;
      for (let i = 0; i < count; i++) peer.say(r.event, String(i), r.for_ms || 0, Boolean(r.buffered));
      return { said: count };
    }
    case 'stats': {
      const s = peer.stats();
      return {
        stats: {
          foreign_cluster: s.foreignCluster,
          events_dropped: s.eventsDropped,
          sets: s.sets,
          says: s.says,
          live_peers: s.livePeers,
          drops: s.drops,
        },
      };
    }
    case 'keyring': {
      if (r.op !== 'list') {
        const key = Buffer.from(r.cluster_key || '', 'base64');
        if (r.op === 'install') peer.installKey(key);
        else if (r.op === 'use') peer.useKey(key);
        else if (r.op === 'remove') peer.removeKey(key);
        else throw new Error(`unknown keyring op ${JSON.stringify(r.op)}`);
      }
      return { keys: peer.clusterKeys().map((k) => k.toString('base64')) };
    }
    case 'ask': {
      const replies = await peer.ask(r.event, toJS(r.value), r.timeout_ms);
      return { replies: replies.map((x) => ({ peer: x.peer, value: fromJS(x.value) })) };
    }
    case 'hear': {
      const pattern = r.pattern;
      const reply = r.reply ? toJS(r.reply) : undefined;
      peer.hear(pattern, function (data, from, replyFn) {
        if (reply !== undefined && replyFn) replyFn(reply);
        write({ event: { name: 'say:' + this.event, peer: from, key: this.event, value: fromJS(data), sub: pattern } });
      });
      return {};
    }
    case 'on': {
      const pattern = r.pattern;
      peer.on(pattern, function (...args) {
        write({ event: { ...describe(peer, this.event, args), sub: pattern } });
      });
      return {};
    }
    case 'peers': {
      const which = r.which === 'live' ? peer.livePeers() : r.which === 'dead' ? peer.deadPeers() : peer.allPeers();
      return { peers: which };
    }
    case 'stop':
      peer.stop();
      await peer.stopped();
      return {};
    default:
      throw new Error(`unknown command ${JSON.stringify(r.cmd)}`);
  }
}

function exit() {
  if (peer) peer.close();
  write({ ok: true, exited: true });
  process.exit(0);
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let r;
    try {
      r = JSON.parse(line);
    } catch (e) {
      write({ ok: false, error: 'bad request: ' + e.message });
      continue;
    }
    if (r.cmd === 'exit') exit();
    let res;
    try {
      res = { ...(await handle(r)), id: r.id, ok: true };
    } catch (e) {
      process.stderr.write(`node-driver: ${r.cmd}: ${e && e.stack}\n`);
      res = { id: r.id, ok: false, error: e && e.code ? `${e.code}: ${e.message}` : String(e && e.message) };
    }
    write(res);
  }
  exit();
}

main();
