'use strict';
// The addon's event poller (one thread per engine, src/addon.c) against
// its teardown: stop and close must stop and join it, and free the batch
// it holds, whatever it is doing: blocked in a poll, waiting for the JS
// thread to take a batch, or with a batch queued for the JS thread. Run
// under the flood of another peer, many times over.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Telepathine, _openEngines } = require('..');
const { uniqueCluster, eventually, peer, converged } = require('./helpers');

// A peer saying 'flood' events (buffered, so batches form) until stopped.
function flooder(p) {
  let on = true;
  let said = 0;
  (async () => {
    while (on) {
      for (let i = 0; i < 200 && on; i++, said++) p.say('flood', said, 60000, true);
      await new Promise((r) => setImmediate(r));
    }
  })();
  return { stop: () => { on = false; }, said: () => said };
}

test('start/stop cycles while a neighbour floods: events keep coming, nothing leaks', async (t) => {
  const cluster = uniqueCluster('teardown');
  const a = peer(t, [], { cluster, handlerQueue: 1 << 16 }).start();
  await a.started();
  const b = peer(t, [a.peer_name], { cluster, handlerQueue: 1 << 16 });
  let heard = 0;
  b.hear('flood', () => heard++);
  const flood = flooder(a);
  t.after(() => flood.stop());
  for (let cycle = 0; cycle < 15; cycle++) {
    b.start();
    await b.started();
    const before = heard;
    await eventually(() => heard > before, { message: `events in cycle ${cycle}` });
    b.stop();
    await b.stopped();
  }
  flood.stop();
  assert.ok(heard > 0);
  assert.equal(b.stats().eventsQueued, 0);
});

test('close while flooded, from outside and from inside a handler, many times', async (t) => {
  const cluster = uniqueCluster('teardown-close');
  const a = peer(t, [], { cluster, handlerQueue: 1 << 16 }).start();
  await a.started();
  const flood = flooder(a);
  t.after(() => flood.stop());
  const openBefore = _openEngines();
  for (let round = 0; round < 12; round++) {
    const fromHandler = round % 2 === 1;
    const b = new Telepathine(0, [a.peer_name], { preset: 'local', cluster, eventQueue: 1000 + round * 5000 });
    let heard = 0;
    let afterClose = 0;
    let closed = false;
    b.hear('flood', () => {
      if (closed) afterClose++;
      heard++;
      if (fromHandler && heard === 50) {
        b.close(); // inside dispatch: the batch being dispatched is the last
        closed = true;
      }
    });
    b.start();
    await eventually(() => heard >= 50, { message: `round ${round}: events heard` });
    if (!fromHandler) {
      b.close();
      closed = true;
    }
    const heardAtClose = heard;
    // Give queued wake-ups of the JS thread their turn: none may deliver.
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(afterClose, 0, `round ${round}: handlers called after close()`);
    assert.equal(heard, heardAtClose);
    assert.throws(() => b.stats(), { code: 'TP_ERR_CLOSED' });
  }
  flood.stop();
  assert.equal(_openEngines(), openBefore);
});

test('a flood beyond eventQueue is dropped and counted, and the JS thread catches up', async (t) => {
  const cluster = uniqueCluster('teardown-drop');
  const a = peer(t, [], { cluster }).start();
  const b = peer(t, [a.peer_name], { cluster, eventQueue: 100 }).start();
  await converged([a, b]);
  let heard = 0;
  b.hear('burst', () => heard++);
  // Hold the JS thread (nothing is dispatched) while 5,000 events arrive,
  // until the engine drops some: at most eventQueue wait in the engine,
  // plus the batches the binding holds.
  for (let i = 0; i < 5000; i++) a.say('burst', i, 60000, true);
  const until = Date.now() + 30000;
  while (b.stats().eventsDropped === 0 && Date.now() < until);
  assert.ok(b.stats().eventsDropped > 0, 'some events dropped');
  // Other events (peers') may be dropped too: at least the says are counted.
  await eventually(() => heard + b.stats().eventsDropped >= 5000, { message: 'every event heard or counted as dropped' });
  assert.ok(heard < 5000 && heard > 0, `heard ${heard}`);
});
