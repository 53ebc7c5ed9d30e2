#!/usr/bin/env node
// The JS side of event delivery alone (not run by make): flat batches of
// 1,024 say events, as the addon hands them over (an ArrayBuffer in the
// layout of tp_events_poll_flat, written by tests/flatenc.js), fed straight to the binding's dispatch function, into one hear()
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
const { encodeFlat } = require('../tests/flatenc');
const { KIND } = require('../lib/flat');

const rounds = Number(process.argv[2] || 300);
const n = 1024;
const events = [];
for (let i = 0; i < n; i++) {
  events.push({ kind: KIND.SAY, name: 'say:bench', peer: '127.0.0.1:9999', key: 'bench', value: { data: String(i), encoding: 1 }, expiresAt: 1700000000000n });
}
const batch = encodeFlat(events);
const one = encodeFlat(events.slice(0, 1));

const p = new Telepathine(0, [], { preset: 'local', cluster: `dispatch-${process.pid}` });
let heard = 0;
p.hear('bench', () => heard++);
// The engine handle is not exposed: the first that delivers is this peer's.
let handle = 0;
for (let h = 1; h < 1 << 16 && !handle; h++) {
  dispatch(h, one);
  if (heard) handle = h;
}
for (let r = 0; r < 50; r++) dispatch(handle, batch); // warm up
heard = 0;
// The JS thread's CPU time besides the clock: on a shared machine the
// clock also counts the time other jobs took the core.
const addon = native.load();
const cpu0 = addon.threadCpuNs();
const t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) dispatch(handle, batch);
const ns = Number(process.hrtime.bigint() - t0) / (rounds * n);
const cpuNs = (addon.threadCpuNs() - cpu0) / (rounds * n);
if (heard !== rounds * n) throw new Error(`heard ${heard} of ${rounds * n}`);
console.log(`JS side of delivery: ${ns.toFixed(0)} ns/event (${(1e9 / ns).toLocaleString('en', { maximumFractionDigits: 0 })} events/s into a hear() handler); ` +
  `${cpuNs.toFixed(0)} CPU-ns/event of the JS thread (${(1e9 / cpuNs).toLocaleString('en', { maximumFractionDigits: 0 })} per CPU-second)`);
p.close();
