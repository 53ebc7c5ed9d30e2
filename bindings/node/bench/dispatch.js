#!/usr/bin/env node
// The JS side of event delivery alone (not run by make): batches of 1,024
// say events, as the addon hands them over ([u32 LE length][api.v1.Event]
// ...), fed straight to the binding's dispatch function, into one hear()
// handler. No network, no library thread: what the JS thread spends per
// event (decoding, EventEmitter2, the handler call), for A/B comparisons
// of lib/ changes.
//
// usage: node bench/dispatch.js [ROUNDS]
'use strict';

const native = require('../lib/native');

// Capture the dispatch function lib/telepathine.js registers at load.
let dispatch;
const load = native.load;
native.load = (fn) => {
  dispatch = dispatch || fn;
  return load(fn);
};
const { Telepathine } = require('..');
const { create, toBinary } = require('@bufbuild/protobuf');
const api = require('../gen/telepathine/api/v1/api_pb.js');

const rounds = Number(process.argv[2] || 300);
const n = 1024;
const parts = [];
for (let i = 0; i < n; i++) {
  const ev = create(api.EventSchema, {
    name: 'say:bench',
    peer: '127.0.0.1:9999',
    kind: { case: 'say', value: { event: 'bench', data: { data: Buffer.from(String(i)), encoding: 1 }, expiresAtMs: 1700000000000n } },
  });
  const b = Buffer.from(toBinary(api.EventSchema, ev));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  parts.push(len, b);
}
const batch = Buffer.concat(parts);

const p = new Telepathine(0, [], { preset: 'local', cluster: `dispatch-${process.pid}` });
let heard = 0;
p.hear('bench', () => heard++);
// The engine handle is not exposed: the first that delivers is this peer's.
let handle = 0;
for (let h = 1; h < 1 << 16 && !handle; h++) {
  dispatch(h, batch.subarray(0, 4 + batch.readUInt32LE(0)));
  if (heard) handle = h;
}
for (let r = 0; r < 50; r++) dispatch(handle, batch); // warm up
heard = 0;
const t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) dispatch(handle, batch);
const ns = Number(process.hrtime.bigint() - t0) / (rounds * n);
if (heard !== rounds * n) throw new Error(`heard ${heard} of ${rounds * n}`);
console.log(`JS side of delivery: ${ns.toFixed(0)} ns/event (${(1e9 / ns).toLocaleString('en', { maximumFractionDigits: 0 })} events/s into a hear() handler)`);
p.close();
