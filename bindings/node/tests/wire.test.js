'use strict';
// lib/wire.js, the hand-written reader of KeyValue, must return
// exactly what the generated code (fromBinary) returns, and hand anything
// it does not know to the generated code.
const test = require('node:test');
const assert = require('node:assert/strict');
const { create, toBinary, fromBinary } = require('@bufbuild/protobuf');
const api = require('../gen/telepathine/api/v1/api_pb.js');
const { decodeKeyValue, fastKeyValue } = require('../lib/wire');

// fromBinary's message without $typeName, recursively.
function strip(m) {
  if (m === null || typeof m !== 'object' || m instanceof Uint8Array) return m;
  if (Array.isArray(m)) return m.map(strip);
  const out = {};
  for (const [k, v] of Object.entries(m)) if (k !== '$typeName') out[k] = strip(v);
  return out;
}

const strings = ['', 'k', 'say:chat:room1', 'héllo ✓ \u{1F600}', 'x'.repeat(300)];
const times = [0n, 1n, 1732840000000n, (1n << 53n) + 1n, (1n << 63n) - 1n, -1n, -(1n << 63n)];
const values = [
  undefined,
  { data: new Uint8Array(0), encoding: 0 },
  { data: Buffer.from('text ✓'), encoding: 1 },
  { data: Buffer.from('{"a":[1,2]}'), encoding: 2 },
  { data: Buffer.from([0, 255, 1, 254]), encoding: 0 },
  { data: Buffer.alloc(70000, 7), encoding: 0 },
];

test('decodeKeyValue agrees with fromBinary', () => {
  for (const s of strings) for (const at of times) for (const v of values) {
    for (const version of [0n, 5n, (1n << 64n) - 1n]) {
      const bytes = Buffer.from(toBinary(api.KeyValueSchema, create(api.KeyValueSchema, { peer: s, key: s, value: v, expiresAtMs: at, version })));
      assert.deepStrictEqual(fastKeyValue(bytes), strip(fromBinary(api.KeyValueSchema, bytes)));
    }
  }
});

test('what the fast reader does not know goes to the generated code', () => {
  const base = Buffer.from(toBinary(api.KeyValueSchema, create(api.KeyValueSchema, { peer: 'p', key: 'k', value: { data: Buffer.from('v'), encoding: 1 } })));
  // An unknown field 40 (varint 1), as a newer library could send.
  const extended = Buffer.concat([base, Buffer.from([40 << 3, 1])]);
  assert.throws(() => fastKeyValue(extended));
  const kv = decodeKeyValue(extended);
  assert.equal(kv.key, 'k');
  assert.equal(kv.peer, 'p');
  // Truncated input is an error either way.
  assert.throws(() => decodeKeyValue(Buffer.from([0x1a, 0x05, 0x0a])));
});
