'use strict';
// Events as the reference emits them, the event bus (say, hear, hearOnce,
// ask), wildcards, and the engine's event-bus scenarios.
const test = require('node:test');
const assert = require('node:assert/strict');
const { cluster, peer, eventually, record, rounds, uniqueCluster } = require('./helpers');

test("'start' and the start callback get the peer, `this` is the peer", async (t) => {
  const a = peer(t);
  const calls = [];
  a.on('start', function (p) {
    calls.push(['on', this === a, p === a]);
  });
  a.start(function (p) {
    calls.push(['cb', this === a, p === a]);
  });
  const got = await a.started();
  assert.equal(got, a);
  assert.deepEqual(calls, [['cb', true, true], ['on', true, true]]);
  const stops = record(a, 'stop');
  assert.equal(a.stop(), a, 'stop() returns the peer');
  await a.stopped();
  assert.equal(stops.length, 1);
  assert.equal(stops[0].args[0], a);
});

test("set events carry owner, key, value; 'set:*' is one segment; know() strips 'set:'", async (t) => {
  const [a, b] = await cluster(t, 2);
  const all = record(b, 'set');
  const one = record(b, 'set:color');
  const wild = record(b, 'set:*');
  const known = [];
  b.know('color', function (p, v) {
    known.push([this.event, p, v]);
  });
  const knownAny = [];
  b.know('*', function (p, v) {
    knownAny.push(this.event);
  });
  const mine = record(a, 'set');
  a.set('color', 'blue');
  a.set('ui:theme', 'dark', 0);
  await eventually(() => all.length === 2 && known.length === 1, { message: 'set events' });
  await rounds(b, 3);
  assert.deepEqual(all.map((c) => c.args.slice(0, 3)), [[a.peer_name, 'color', 'blue'], [a.peer_name, 'ui:theme', 'dark']]);
  assert.equal(all[0].event, 'set');
  assert.equal(one.length, 1);
  assert.equal(one[0].event, 'set:color');
  assert.deepEqual(one[0].args.slice(0, 2), [a.peer_name, 'blue']);
  assert.equal(wild.length, 1, "'set:*' does not match 'set:ui:theme'");
  assert.deepEqual(known, [['color', a.peer_name, 'blue']], 'this.event is the key in know handlers');
  assert.deepEqual(knownAny, ['color']);
  assert.equal(mine.length, 0, 'a peer gets no set events for its own sets');
});

test('say/hear: every other peer hears once, never the sender; this.event is the name', async (t) => {
  const peers = await cluster(t, 3);
  const heard = peers.map((p) => {
    const calls = [];
    p.hear('chat:*', function (data, from) {
      calls.push([this.event, data, from]);
    });
    return calls;
  });
  peers[0].say('chat:hello', { text: 'hi' });
  await eventually(() => heard[1].length === 1 && heard[2].length === 1, { message: 'heard by the others' });
  await rounds(peers[0], 5);
  assert.deepEqual(heard[0], [], 'the sender does not hear itself');
  for (const h of heard.slice(1)) assert.deepEqual(h, [['chat:hello', { text: 'hi' }, peers[0].peer_name]]);
});

test("say without data delivers null; 'say:EVENT' listeners get (data, fromPeer)", async (t) => {
  const [a, b] = await cluster(t, 2);
  const got = record(b, 'say:ping');
  a.say('ping');
  await eventually(() => got.length === 1, { message: 'ping' });
  assert.deepEqual(got[0].args, [null, a.peer_name]);
  assert.equal(got[0].event, 'say:ping');
});

test('hearOnce hears the first only; off() removes a hear handler', async (t) => {
  const [a, b] = await cluster(t, 2);
  let once = 0;
  let many = 0;
  const counter = () => many++;
  b.hearOnce('tick', () => once++);
  b.hear('tick', counter);
  for (let i = 0; i < 3; i++) a.say('tick', i);
  await eventually(() => many === 3, { message: 'three ticks' });
  assert.equal(once, 1);
  b.off('say:tick', counter);
  a.say('tick', 'after');
  await rounds(b, 5);
  assert.equal(many, 3, 'no delivery after off()');
});

test('wildcard matrix (as the Go engine test)', async (t) => {
  const [a, b] = await cluster(t, 2);
  const patterns = ['chat', 'chat:*', 'chat:**', '*', '**', 'chat:room1', 'chat:*:msg', 'chat:room1:msg', '*:room1:*', '**:msg'];
  const recs = {};
  for (const p of patterns) {
    recs[p] = [];
    b.hear(p, function (data) {
      recs[p].push([this.event, data]);
    });
  }
  const all = record(b, 'say:**');
  const names = ['chat', 'chat:room1', 'chat:room1:msg', 'other'];
  for (const n of names) a.say(n, n);
  await eventually(() => all.length === names.length, { message: 'events' });
  const want = {
    chat: ['chat'],
    'chat:*': ['chat:room1'],
    'chat:**': ['chat', 'chat:room1', 'chat:room1:msg'],
    '*': ['chat', 'other'],
    '**': ['chat', 'chat:room1', 'chat:room1:msg', 'other'],
    'chat:room1': ['chat:room1'],
    'chat:*:msg': ['chat:room1:msg'],
    'chat:room1:msg': ['chat:room1:msg'],
    '*:room1:*': ['chat:room1:msg'],
    '**:msg': ['chat:room1:msg'],
  };
  for (const [p, list] of Object.entries(want)) {
    assert.deepEqual(recs[p].map(([e]) => e), list, `pattern ${p}`);
    for (const [e, data] of recs[p]) assert.equal(e, data, "event names keep their ':'");
  }
});

test('onAny sees every event with its name', async (t) => {
  const [a, b] = await cluster(t, 2);
  const seen = [];
  b.onAny(function (name, ...args) {
    seen.push([name, this.event, args[0]]);
  });
  a.say('x', 'y');
  await eventually(() => seen.some(([n]) => n === 'say:x'), { message: 'onAny' });
  assert.deepEqual(seen.find(([n]) => n === 'say:x'), ['say:x', 'say:x', 'y']);
});

test('peer events: peer:new and peer:start with the peer name', async (t) => {
  const a = peer(t, [], { cluster: uniqueCluster() });
  const news = record(a, 'peer:new');
  const starts = record(a, 'peer:start');
  await a.start().started();
  const b = peer(t, [a.peer_name], { cluster: a.info().cluster }).start();
  await eventually(() => news.length === 1 && starts.length === 1, { message: 'peer events' });
  assert.deepEqual(news[0].args, [b.peer_name]);
  assert.deepEqual(starts[0].args, [b.peer_name]);
  assert.deepEqual(a.allPeers(), [b.peer_name]);
  const info = a.peerInfo();
  assert.equal(info.length, 1);
  assert.equal(info[0].name, b.peer_name);
  assert.equal(info[0].state, 'alive');
});

test('ask collects replies and tolerates silence', async (t) => {
  const peers = await cluster(t, 5);
  const [asker, ...others] = peers;
  others.forEach((p, i) => {
    if (i % 2 === 0) {
      p.hear('whoami', function (data, from, reply) {
        assert.equal(typeof reply, 'function', 'asks come with a reply function');
        reply('I am ' + this.peer_name);
        reply('a second reply is ignored');
      });
    }
  });
  const start = Date.now();
  const replies = await asker.ask('whoami', '?', 500);
  assert.ok(Date.now() - start >= 450, 'silent peers make it wait for the timeout');
  replies.sort((x, y) => (x.peer < y.peer ? -1 : 1));
  const want = [others[0], others[2]].map((p) => ({ peer: p.peer_name, value: 'I am ' + p.peer_name }));
  want.sort((x, y) => (x.peer < y.peer ? -1 : 1));
  assert.deepEqual(replies, want);
});

test('ask returns early when everyone replied; replies keep their types', async (t) => {
  const peers = await cluster(t, 4);
  peers.slice(1).forEach((p, i) => p.hear('ping', (data, from, reply) => reply({ pong: i, data })));
  const start = Date.now();
  const replies = await peers[0].ask('ping', [1, 2], 10000);
  assert.ok(Date.now() - start < 5000);
  assert.equal(replies.length, 3);
  for (const r of replies) assert.deepEqual(r.value.data, [1, 2]);
  assert.deepEqual(replies.map((r) => r.value.pong).sort(), [0, 1, 2]);
});

test('a plain say comes without a reply function; ask of a stopped peer rejects', async (t) => {
  const [a, b] = await cluster(t, 2);
  const got = record(b, 'say:plain');
  a.say('plain', 1);
  await eventually(() => got.length === 1, { message: 'plain say' });
  assert.equal(got[0].args.length, 2);
  a.stop();
  await assert.rejects(a.ask('q', 1, 100), { name: 'TelepathineError', code: 'TP_ERR_NOT_RUNNING' });
});

test('buffered say waits for the gossip round, then arrives', async (t) => {
  const [a, b] = await cluster(t, 2, { gossipIntervalMs: 300 });
  const got = record(b, 'say:batched');
  const pushes = a.stats().packetsSent.push || 0;
  a.say('batched', 'x', 0, true);
  assert.equal(a.stats().packetsSent.push || 0, pushes, 'nothing pushed at once');
  await eventually(() => got.length === 1, { message: 'buffered event' });
});

test('many events arrive exactly once and in order per sender', async (t) => {
  const peers = await cluster(t, 4, { handlerQueue: 20000, sayDurationMs: 60000 });
  const senders = [peers[0], peers[2]];
  const n = 1000;
  const got = peers.map(() => new Map());
  peers.forEach((p, i) => {
    p.hear('load:*', (data, from) => {
      if (!got[i].has(from)) got[i].set(from, []);
      got[i].get(from).push(data);
    });
  });
  for (let k = 0; k < n; k++) for (const s of senders) s.say(`load:${k % 7}`, k);
  const total = () => got.reduce((sum, m) => sum + [...m.values()].reduce((x, l) => x + l.length, 0), 0);
  const want = senders.length * n * (peers.length - 1);
  await eventually(() => total() === want, { timeout: 30000, message: `all events heard (${total()} of ${want})` });
  await rounds(peers[1], 10);
  assert.equal(total(), want, 'no event heard twice');
  peers.forEach((p, r) => {
    for (const s of senders) {
      const seq = got[r].get(s.peer_name) || [];
      if (p === s) {
        assert.equal(seq.length, 0, 'a sender never hears itself');
        continue;
      }
      assert.equal(seq.length, n);
      assert.deepEqual(seq, [...seq].sort((x, y) => x - y), 'in order');
    }
  });
  for (const p of peers) assert.equal(p.stats().eventsDropped, 0);
});

test('a late joiner hears only events still running', async (t) => {
  const peers = await cluster(t, 3);
  peers[0].say('long', 'still on', 60000);
  peers[0].say('short', 'over soon', 200);
  await new Promise((r) => setTimeout(r, 300)); // the duration itself is what is tested
  const late = peer(t, [peers[0].peer_name], { cluster: peers[0].info().cluster });
  const heard = record(late, 'say:*');
  late.start();
  await eventually(() => heard.length >= 1, { message: 'late joiner hears the long event' });
  await rounds(late, 10);
  assert.deepEqual(heard.map((h) => h.event), ['say:long']);
});

test('a peer that subscribes before it starts hears events said before it joined', async (t) => {
  const peers = await cluster(t, 2);
  peers[0].say('hello', 'x');
  const p = peer(t, [peers[0].peer_name], { cluster: peers[0].info().cluster });
  const froms = [];
  p.hear('hello', (data, from) => froms.push(from));
  p.start();
  await eventually(() => froms.length === 1, { message: 'heard the event said before joining' });
  assert.deepEqual(froms, [peers[0].peer_name]);
});

test('after(ms, fn) runs fn with this = peer, ms after the start', async (t) => {
  const a = peer(t);
  let ran = null;
  const t0 = Date.now();
  assert.equal(a.after(100, function () {
    ran = { self: this === a, at: Date.now() - t0 };
  }), a);
  a.start();
  await eventually(() => ran !== null, { message: 'after' });
  assert.ok(ran.self);
  assert.ok(ran.at >= 95, `ran after ${ran.at} ms`);
  // Once started, after() counts from now.
  let again = false;
  a.after(10, () => (again = true));
  await eventually(() => again, { message: 'after, once started' });
});

test('async handlers: a rejected promise is reported like a throw', async (t) => {
  const [a, b] = await cluster(t, 2);
  const errors = [];
  b.on('error', (e, name) => errors.push([e.message, name]));
  b.hear('boom', async () => {
    throw new Error('async boom');
  });
  a.say('boom', 1);
  await eventually(() => errors.length === 1, { message: 'error event' });
  assert.deepEqual(errors[0], ['async boom', 'say:boom']);
});

test('listeners looked up once per name still follow every change: on, once, many, off, removeListener, onAny, offAny, removeAllListeners', async (t) => {
  const [a, b] = await cluster(t, 2);
  const seen = [];
  const tag = (name) => function () {
    seen.push(name);
  };
  let round = 0;
  // say one event and wait until the marker listener (always there) got it
  async function say() {
    round++;
    seen.length = 0;
    a.say('c', round);
    await eventually(() => seen.includes('marker'), { message: `round ${round}` });
    return [...seen].filter((s) => s !== 'marker').sort();
  }
  b.hear('c', tag('marker'));
  const one = tag('one');
  const any = tag('any');
  b.on('say:c', one);
  assert.deepEqual(await say(), ['one']);
  b.once('say:*', tag('once'));
  b.many('say:c', 2, tag('many'));
  assert.deepEqual(await say(), ['many', 'once', 'one']);
  assert.deepEqual(await say(), ['many', 'one']);
  assert.deepEqual(await say(), ['one']);
  b.off('say:c', one);
  assert.deepEqual(await say(), []);
  b.addListener('say:**', one);
  b.onAny(any);
  assert.deepEqual(await say(), ['any', 'one']);
  b.removeListener('say:**', one);
  b.offAny(any);
  assert.deepEqual(await say(), []);
  b.prependListener('say:c', one);
  assert.deepEqual(await say(), ['one']);
  b.removeAllListeners('say:c'); // the marker too: watch through onAny now
  b.onAny(tag('marker'));
  assert.deepEqual(await say(), []);
});
