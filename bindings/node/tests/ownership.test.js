'use strict';
// The ownership model under attack: lifecycle misuse, use after close, bad
// arguments (TypeError before the library is called), library errors
// (TelepathineError with the status name), and handlers that throw.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Telepathine, TelepathineError, abiVersion, libraryPath } = require('..');
const { cluster, peer, eventually } = require('./helpers');

const closed = { name: 'TelepathineError', code: 'TP_ERR_CLOSED' };
const badType = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
const badValue = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };

test('the library loaded is the ABI this binding was written for', () => {
  assert.deepEqual(abiVersion(), { major: 1, minor: 2 });
  assert.match(libraryPath(), /libtelepathine\.so$/);
});

test('stop twice, stop before start, start twice', async (t) => {
  const a = peer(t);
  assert.equal(a.stop(), a, 'stop before start is a no-op');
  assert.equal(a.running, false);
  await a.start().started();
  assert.throws(() => a.start(), { name: 'TelepathineError', code: 'TP_ERR_RUNNING', status: -10 });
  assert.equal(a.running, true);
  a.stop();
  assert.equal(a.stop(), a, 'stop twice is a no-op');
  await a.stopped();
  await a.stopped(); // resolves at once when not running
  assert.throws(() => a.say('x', 'y'), { name: 'TelepathineError', code: 'TP_ERR_NOT_RUNNING' });
  assert.equal(a.get('nothing'), undefined, 'reads work on a stopped peer');
});

test('use after close: every call throws TP_ERR_CLOSED; close twice is fine', async (t) => {
  const a = peer(t).start();
  await a.started();
  const name = a.peer_name;
  const stops = [];
  a.on('stop', () => stops.push(1));
  a.close();
  a.close();
  await a.stopped();
  await eventually(() => stops.length === 1, { message: "close() of a running peer emits 'stop'" });
  assert.equal(a.peer_name, name);
  assert.equal(a.running, false);
  assert.equal(a.stop(), a);
  for (const call of [
    () => a.start(),
    () => a.set('k', 'v'),
    () => a.get('k'),
    () => a.getRemote(name, 'k'),
    () => a.getRemoteKeys(name),
    () => a.delete('k'),
    () => a.allPeers(),
    () => a.livePeers(),
    () => a.deadPeers(),
    () => a.say('e', 1),
    () => a.stats(),
    () => a.info(),
    () => a.installKey(Buffer.alloc(32)),
    () => a.useKey(Buffer.alloc(32)),
    () => a.removeKey(Buffer.alloc(32)),
    () => a.clusterKeys(),
    () => a.setPlaintext({ accept: true, send: false }),
  ]) {
    assert.throws(call, closed, call.toString());
  }
  await assert.rejects(a.ask('e', 1, 100), closed);
  await assert.rejects(a.started(), closed);
});

test('bad arguments are TypeErrors, thrown before the library is called', (t) => {
  assert.throws(() => new Telepathine('9000'), badType);
  assert.throws(() => new Telepathine(-1), badValue);
  assert.throws(() => new Telepathine(70000), badValue);
  assert.throws(() => new Telepathine(1.5), badValue);
  assert.throws(() => new Telepathine(0, 'seed:1'), badType);
  assert.throws(() => new Telepathine(0, [42.5]), badValue);
  assert.throws(() => new Telepathine(0, [{}]), badType);
  assert.throws(() => new Telepathine(0, ['no-port']), badValue);
  assert.throws(() => new Telepathine(0, [], 'local'), badType);
  assert.throws(() => new Telepathine(0, [], { presett: 'local' }), badValue, 'a typo in an option');
  assert.throws(() => new Telepathine(0, [], { preset: 'fast' }), badValue);
  assert.throws(() => new Telepathine(0, [], { transportMode: 'carrier-pigeon' }), badValue);
  assert.throws(() => new Telepathine(0, [], { gossipIntervalMs: -5 }), badValue);
  assert.throws(() => new Telepathine(0, [], { gossipIntervalMs: '50' }), badType);
  assert.throws(() => new Telepathine(0, [], { fanout: 2 ** 33 }), badValue);
  assert.throws(() => new Telepathine(0, [], { cluster: 7 }), badType);
  assert.throws(() => new Telepathine(0, [], { eventQueue: 0 }), badValue);

  const a = peer(t);
  assert.throws(() => a.set(1, 'v'), badType);
  assert.throws(() => a.set('k'), badType, 'a value is required');
  assert.throws(() => a.set('k', () => 1), badType);
  assert.throws(() => a.set('k', Symbol('s')), badType);
  assert.throws(() => a.set('k', 10n), badValue);
  const cyclic = {};
  cyclic.self = cyclic;
  assert.throws(() => a.set('k', cyclic), badValue);
  assert.throws(() => a.set('k', 'v', 'tomorrow'), badType);
  assert.throws(() => a.set('k', 'v', -1), badValue);
  assert.throws(() => a.set('k', 'v', NaN), badValue);
  assert.throws(() => a.get(), badType);
  assert.throws(() => a.getRemote('peer'), badType);
  assert.throws(() => a.getRemote(1, 'k'), badType);
  assert.throws(() => a.getRemoteKeys(null), badType);
  assert.throws(() => a.delete({}), badType);
  assert.throws(() => a.say(1, 'x'), badType);
  assert.throws(() => a.say('e', 'x', 'long'), badType);
  assert.throws(() => a.say('e', 'x', -1), badValue);
  assert.throws(() => a.hear('e', 'not a function'), badType);
  assert.throws(() => a.hear(1, () => {}), badType);
  assert.throws(() => a.hearOnce('e'), badType);
  assert.throws(() => a.know('k', 1), badType);
  assert.throws(() => a.after('soon', () => {}), badType);
  assert.throws(() => a.after(10, 'fn'), badType);
  assert.throws(() => a.start('cb'), badType);
  return Promise.all([
    assert.rejects(a.ask(1, 'x'), badType),
    assert.rejects(a.ask('e', 'x', 0), badValue),
    assert.rejects(a.ask('e', 'x', 'soon'), badType),
  ]);
});

test('library errors are TelepathineErrors with the status name', async (t) => {
  const a = peer(t, [], { maxValueSize: 1024, maxEventPayload: 512, maxEventName: 16 });
  const check = (fn, code) => {
    assert.throws(fn, (e) => {
      assert.ok(e instanceof TelepathineError);
      assert.ok(e instanceof Error);
      assert.equal(e.code, code);
      assert.equal(typeof e.status, 'number');
      assert.ok(e.status < 0);
      assert.ok(e.message.length > 0);
      return true;
    });
  };
  check(() => a.set('', 'v'), 'TP_ERR_INVALID_KEY');
  check(() => a.set('nul\0key', 'v'), 'TP_ERR_INVALID_KEY');
  check(() => a.set('k', Buffer.alloc(2048)), 'TP_ERR_VALUE_TOO_LARGE');
  await a.start().started();
  check(() => a.say('', 'x'), 'TP_ERR_INVALID_EVENT');
  check(() => a.say('a-very-long-event-name', 'x'), 'TP_ERR_INVALID_EVENT');
  check(() => a.say('e', Buffer.alloc(600)), 'TP_ERR_VALUE_TOO_LARGE');
  assert.throws(() => new Telepathine(0, [], { mtu: 10 }), { name: 'TelepathineError', code: 'TP_ERR_CONFIG' });
  // Binding a port in use.
  const b = new Telepathine(a.port, [], { preset: 'local' });
  t.after(() => b.close());
  assert.throws(() => b.start(), { name: 'TelepathineError', code: 'TP_ERR_IO' });
  assert.equal(b.running, false);
});

test('a throwing handler: the other handlers still run, the error goes to console.error', async (t) => {
  const [a, b] = await cluster(t, 2);
  const logged = [];
  t.mock.method(console, 'error', (...args) => logged.push(args));
  const calls = [];
  b.hear('boom', () => {
    calls.push('first');
    throw new Error('handler failure');
  });
  b.hear('boom', () => calls.push('second'));
  b.on('say:**', () => calls.push('third'));
  a.say('boom', 1);
  a.say('after', 2);
  await eventually(() => calls.length >= 3 && calls.includes('third'), { message: 'handlers' });
  assert.deepEqual(calls.slice(0, 3), ['first', 'second', 'third']);
  await eventually(() => logged.length === 1, { message: 'console.error' });
  assert.match(String(logged[0][0]), /'say:boom' handler/);
  assert.equal(logged[0][1].message, 'handler failure');
  // The peer goes on working.
  const later = [];
  b.hear('after2', (d) => later.push(d));
  a.say('after2', 3);
  await eventually(() => later.length === 1, { message: 'later events' });
});

test("a throwing handler with an 'error' listener: the error is emitted there", async (t) => {
  const [a, b] = await cluster(t, 2);
  const errors = [];
  b.on('error', function (e, name) {
    errors.push([this === b, e.message, name]);
  });
  b.know('k', () => {
    throw new Error('know failure');
  });
  a.set('k', 'v');
  await eventually(() => errors.length === 1, { message: 'error event' });
  assert.deepEqual(errors[0], [true, 'know failure', 'set:k']);
});

test('a throwing start callback or after() does not stop the peer', async (t) => {
  const a = peer(t);
  const logged = [];
  t.mock.method(console, 'error', (...args) => logged.push(args));
  let afterRan = false;
  a.after(0, () => {
    afterRan = true;
    throw new Error('after failure');
  });
  a.start(() => {
    throw new Error('callback failure');
  });
  await a.started();
  await eventually(() => afterRan && logged.length === 2, { message: 'both reported' });
  assert.equal(a.running, true);
});

test('reply() after the ask ended throws TP_ERR_UNKNOWN_ASK (reported, not fatal)', async (t) => {
  const [a, b] = await cluster(t, 2);
  let late = null;
  b.hear('slow', (data, from, reply) => {
    setTimeout(() => {
      try {
        reply('too late');
      } catch (e) {
        late = e;
      }
    }, 300);
  });
  const replies = await a.ask('slow', 1, 100);
  assert.deepEqual(replies, []);
  await eventually(() => late !== null, { message: 'late reply' });
  assert.equal(late.code, 'TP_ERR_UNKNOWN_ASK');
});
