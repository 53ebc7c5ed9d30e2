'use strict';
// lib/flat.js, the reader of tp_events_poll_flat batches, against batches
// written from the documented layout (tests/flatenc.js): every kind, every
// value form, 64-bit fields, strings that are not ASCII or long, and
// batches that break the layout (refused, never read out of bounds).
const test = require('node:test');
const assert = require('node:assert/strict');
const { FlatBatch, MalformedBatch, KIND } = require('../lib/flat');
const { encodeFlat } = require('./flatenc');

const long = 'peer-with-a-long-name-' + 'x'.repeat(100) + ':9000';
const events = [
  { kind: KIND.START, name: 'start', peer: 'me:1' },
  { kind: KIND.SET, name: 'set:color', peer: long, key: 'color', value: { data: 'blue ✓', encoding: 1 }, expiresAt: 1732840000123n },
  { kind: KIND.SET, name: 'set:bin', peer: long, key: 'bin', value: { data: Buffer.from([0, 255, 1]), encoding: 0 } },
  { kind: KIND.SET, name: 'set:nul', peer: 'p:2', key: 'nul', value: { data: 'a\0b', encoding: 1 } },
  { kind: KIND.SET, name: 'set:json', peer: 'p:2', key: 'json', value: { data: '{"a":[1,2],"s":"héllo"}', encoding: 2 } },
  { kind: KIND.SET, name: 'set:empty', peer: 'p:2', key: 'empty', value: { data: Buffer.alloc(0), encoding: 0 } },
  { kind: KIND.DELETE, name: 'delete:color', peer: long, key: 'color', value: { data: 'blue ✓', encoding: 1 } },
  { kind: KIND.EXPIRED, name: 'key:expired', peer: 'p:2', key: 'k', value: { data: '"x"', encoding: 2 }, expiresAt: -5n },
  { kind: KIND.SAY, name: 'say:chat:héllo', peer: 'p:2', key: 'chat:héllo', value: { data: 'null', encoding: 2 }, expiresAt: 1n },
  { kind: KIND.ASK, name: 'say:who', peer: 'p:3', key: 'who', value: { data: 'q', encoding: 1 }, askId: (1n << 64n) - 1n },
  { kind: KIND.ASK, name: 'say:who', peer: 'p:3', key: 'who', value: { data: 'q', encoding: 1 }, askId: (1n << 32n) + 7n },
  { kind: KIND.PEER_NEW, name: 'peer:new', peer: 'p:3' },
  { kind: KIND.PEER_ALIVE, name: 'peer:start', peer: 'p:3' },
  { kind: KIND.PEER_DEAD, name: 'peer:stop', peer: 'p:3' },
  { kind: KIND.STOP, name: 'stop', peer: 'me:1' },
  { kind: KIND.SET, name: 'set:big', peer: 'p:2', key: 'big', value: { data: 't'.repeat(70000), encoding: 1 } },
];

test('every field of every kind reads back as written', () => {
  const b = new FlatBatch(encodeFlat(events));
  assert.equal(b.n, events.length);
  events.forEach((e, i) => {
    assert.equal(b.kind(i), e.kind, `kind of ${i}`);
    assert.equal(b.name(i), e.name);
    assert.equal(b.peer(i), e.peer);
    assert.equal(b.key(i), e.key || '');
    assert.equal(b.expiresAt(i), Number(e.expiresAt || 0n));
    assert.equal(b.askId(i), e.askId || 0n);
  });
  assert.equal(b.value(1), 'blue ✓');
  assert.deepEqual(b.value(2), Buffer.from([0, 255, 1]));
  assert.ok(Buffer.isBuffer(b.value(2)));
  assert.equal(b.value(3), 'a\0b'); // text with a 0 byte: from the data section
  assert.deepEqual(b.value(4), { a: [1, 2], s: 'héllo' });
  assert.deepEqual(b.value(5), Buffer.alloc(0));
  assert.equal(b.value(7), 'x');
  assert.equal(b.value(8), null);
  assert.equal(b.value(15), 't'.repeat(70000));
});

test('raw values are copies: the batch can go', () => {
  const ab = encodeFlat([events[2]]);
  const v = new FlatBatch(ab).value(0);
  new Uint8Array(ab).fill(9);
  assert.deepEqual(v, Buffer.from([0, 255, 1]));
});

test('batches that break the layout are refused', () => {
  const good = encodeFlat(events);
  const cut = (n) => good.slice(0, n);
  assert.throws(() => new FlatBatch(cut(16)), MalformedBatch); // no full header
  assert.throws(() => new FlatBatch(cut(good.byteLength - 80000)), MalformedBatch); // columns past the end
  const moreEvents = good.slice(0);
  new Uint32Array(moreEvents, 0, 1)[0] = 100000;
  assert.throws(() => new FlatBatch(moreEvents), MalformedBatch);
  const moreStrings = encodeFlat(events.slice(0, 2));
  new Uint32Array(moreStrings, 0, 2)[1] -= 1; // one string fewer announced than the table holds
  assert.throws(() => new FlatBatch(moreStrings), MalformedBatch);
  assert.throws(() => new FlatBatch(new Uint8Array(64)), MalformedBatch); // not an ArrayBuffer
  // A string index out of range and a raw value past the data section.
  const badIndex = encodeFlat([events[11]]);
  const b1 = new FlatBatch(badIndex);
  b1.u32[b1.peersW] = 999;
  assert.throws(() => b1.peer(0), MalformedBatch);
  const b2 = new FlatBatch(encodeFlat([events[2]]));
  b2.u32[b2.lensW] = 1000;
  assert.throws(() => b2.value(0), MalformedBatch);
});

// A table of ASCII only is read without splitting it (each string cut out
// when first asked for): the same fields, and the same refusals.
test('an ASCII table reads back and is checked as a split one', () => {
  const ascii = [
    { kind: KIND.SAY, name: 'say:n', peer: '127.0.0.1:45678', key: 'n', value: { data: '17', encoding: 1 } },
    { kind: KIND.SAY, name: 'say:n', peer: '127.0.0.1:45678', key: 'n', value: { data: 'a text of more than 13 characters', encoding: 1 } },
    { kind: KIND.SET, name: 'set:j', peer: long, key: 'j', value: { data: '{"a":1}', encoding: 2 } },
    { kind: KIND.SET, name: 'set:r', peer: 'p:2', key: 'r', value: { data: 'raw', encoding: 0 } },
  ];
  const b = new FlatBatch(encodeFlat(ascii));
  assert.equal(b.ascii, true);
  ascii.forEach((e, i) => {
    assert.equal(b.name(i), e.name);
    assert.equal(b.peer(i), e.peer);
    assert.equal(b.key(i), e.key);
  });
  assert.equal(b.value(0), '17');
  assert.equal(b.value(1), 'a text of more than 13 characters');
  assert.deepEqual(b.value(2), { a: 1 });
  assert.deepEqual(b.value(3), Buffer.from('raw'));
  assert.equal(new FlatBatch(encodeFlat(events)).ascii, false);

  const fewer = encodeFlat(ascii);
  new Uint32Array(fewer, 0, 2)[1] -= 1; // one string fewer announced than the table holds
  assert.throws(() => new FlatBatch(fewer), MalformedBatch);
  // A string whose offset points into another one, or past the table.
  for (const bad of [2, 100000]) {
    const b2 = new FlatBatch(encodeFlat(ascii));
    b2.u32[8 + 3] += bad; // offset of string 3 (after the 32-byte header)
    assert.throws(() => { for (let i = 0; i < ascii.length; i++) b2.value(i), b2.name(i), b2.peer(i), b2.key(i); }, MalformedBatch);
  }
});
