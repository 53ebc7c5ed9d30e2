'use strict';
// The dispatch of flat batches to hear() and know() handlers, fed straight
// to the binding's dispatch function (as bench/dispatch.js does): names
// that alternate within a batch each reach the handler stripped of their
// prefix (the listener remembers the last name stripped), and each handler
// gets the arguments of its kind (two for a say, three for an ask or a
// set), whatever came before.
const test = require('node:test');
const assert = require('node:assert/strict');

const native = require('../lib/native');

let dispatch;
const load = native.load;
native.load = (fn) => {
  dispatch = dispatch || fn;
  return load(fn);
};
const { Telepathine } = require('..');
const { encodeFlat } = require('./flatenc');
const { KIND } = require('../lib/flat');

// The engine handle is not exposed: the first that delivers is p's.
function handleOf(p, probe) {
  for (let h = 1; h < 1 << 16; h++) {
    dispatch(h, probe);
    if (p._probed) return h;
  }
  throw new Error('no handle delivered the probe');
}

test('alternating names reach hear() and know() handlers stripped, with the arguments of their kind', () => {
  const p = new Telepathine(0, [], { preset: 'local', cluster: `dispatch-${process.pid}` });
  try {
    p.hear('probe', () => {
      p._probed = true;
    });
    const h = handleOf(p, encodeFlat([{ kind: KIND.SAY, name: 'say:probe', peer: 'x:1', key: 'probe', value: { data: '', encoding: 1 } }]));
    const heard = [];
    const known = [];
    p.hear('chat:*', function (...args) {
      heard.push([this.event, args.length, args[0], args[1], typeof args[2]]);
    });
    p.know('*', function (...args) {
      known.push([this.event, ...args]);
    });
    const say = (key, data) => ({ kind: KIND.SAY, name: `say:${key}`, peer: 'peer-with-a-long-name:9000', key, value: { data, encoding: 1 } });
    dispatch(h, encodeFlat([
      say('chat:a', '1'),
      say('chat:b', '2'),
      { kind: KIND.ASK, name: 'say:chat:b', peer: 'q:2', key: 'chat:b', value: { data: '3', encoding: 1 }, askId: 9n },
      { kind: KIND.SET, name: 'set:color', peer: 'q:2', key: 'color', value: { data: 'blue', encoding: 1 }, expiresAt: 5n },
      say('chat:a', '4'),
      { kind: KIND.SET, name: 'set:size', peer: 'q:2', key: 'size', value: { data: 'xl', encoding: 1 } },
      say('chat:a', '5'),
    ]));
    assert.deepEqual(heard, [
      ['chat:a', 2, '1', 'peer-with-a-long-name:9000', 'undefined'],
      ['chat:b', 2, '2', 'peer-with-a-long-name:9000', 'undefined'],
      ['chat:b', 3, '3', 'q:2', 'function'],
      ['chat:a', 2, '4', 'peer-with-a-long-name:9000', 'undefined'],
      ['chat:a', 2, '5', 'peer-with-a-long-name:9000', 'undefined'],
    ]);
    assert.deepEqual(known, [
      ['color', 'q:2', 'blue', 5],
      ['size', 'q:2', 'xl', 0],
    ]);
  } finally {
    p.close();
  }
});

// The listeners of the name last fired are remembered (a flood repeats
// one name): a listener added or removed by a handler in the middle of a
// batch, or by an onAny listener, still counts from the next event on.
test('listeners changed during a batch take effect at the next event', () => {
  const p = new Telepathine(0, [], { preset: 'local', cluster: `dispatch-${process.pid}-changes` });
  try {
    p.hear('probe', () => {
      p._probed = true;
    });
    const h = handleOf(p, encodeFlat([{ kind: KIND.SAY, name: 'say:probe', peer: 'x:1', key: 'probe', value: { data: '', encoding: 1 } }]));
    const calls = [];
    const second = (data) => calls.push(['second', data]);
    p.hear('x', (data) => {
      calls.push(['first', data]);
      if (data === '1') p.hear('x', second);
      if (data === '2') p.off('say:x', second);
    });
    p.onAny(function (name, data, peer) {
      calls.push(['any', name, data, peer, arguments.length]);
      if (data === '3') p.offAny();
    });
    const say = (data) => ({ kind: KIND.SAY, name: 'say:x', peer: 'p:1', key: 'x', value: { data, encoding: 1 } });
    dispatch(h, encodeFlat([say('1'), say('2'), say('3'), say('4')]));
    assert.deepEqual(calls, [
      ['any', 'say:x', '1', 'p:1', 3],
      ['first', '1'],
      ['any', 'say:x', '2', 'p:1', 3],
      ['first', '2'],
      ['second', '2'],
      ['any', 'say:x', '3', 'p:1', 3],
      ['first', '3'],
      ['first', '4'],
    ]);
  } finally {
    p.close();
  }
});
