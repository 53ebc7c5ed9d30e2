#!/usr/bin/env node
// Benchmarks of the Node binding (make bench-node):
//
//   set() alone  calls per second on a started peer without neighbours,
//              one key, a 16-byte Buffer: the setup of Go's
//              BenchmarkEngineSet (cgo/bridge) and of the C benchmark.
//   set()      calls per second on a running peer with 3 live neighbours,
//              a 5-byte text value over 1,000 keys: the setup of Go's
//              BenchmarkSet (engine/bench_test.go), which make bench-node
//              runs next for the ratio.
//   events     events per second received by a hear() handler in JS. A Go
//              peer (the interop Go driver, through tests/godriver.js)
//              says EVENTS events as fast as it can ('say_burst',
//              buffered) and one JS peer counts them. Every
//              event crosses library thread -> batch -> threadsafe function
//              -> Event decode -> EventEmitter2 -> handler. Two figures:
//                flowing  the JS thread free all along: the rate from the
//                         first event heard to the last (what the whole
//                         chain delivers, Go sender included);
//                drain    the JS thread held busy until all the events wait
//                         for it (stats().eventsQueued), then timed while it
//                         empties the queue: the JS side's own capacity, the
//                         counterpart of the C benchmark's callback figure.
//
// usage: node bench/bench.js PATH_TO_GO_DRIVER [SECONDS_FOR_SET] [EVENTS]
'use strict';

const { Telepathine } = require('..');
const { GoDriver } = require('../tests/godriver');

const goDriverPath = process.argv[2];
const setSeconds = Number(process.argv[3] || 2);
const events = Number(process.argv[4] || 100000);

const opts = (cluster, extra = {}) => ({ preset: 'local', cluster, handlerQueue: 1 << 20, ...extra });

async function benchSetAlone() {
  const p = new Telepathine(0, [], opts(`bench-solo-${process.pid}`)).start();
  await p.started();
  const value = Buffer.from('0123456789abcdef');
  for (let i = 0; i < 100000; i++) p.set('bench', value); // warm up
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(setSeconds * 1e9);
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 1000; i++) p.set('bench', value);
    n += 1000;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  p.close();
  return { perSecond: n / s, nsPerOp: (s / n) * 1e9 };
}

async function benchSet() {
  const cluster = `bench-set-${process.pid}`;
  const p = new Telepathine(0, [], opts(cluster)).start();
  await p.started();
  const others = [1, 2, 3].map(() => new Telepathine(0, [p.peer_name], opts(cluster)).start());
  while (p.livePeers().length < 3) await new Promise((r) => setTimeout(r, 10));
  const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
  for (let i = 0; i < 100000; i++) p.set(keys[i % 1000], 'value'); // warm up
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(setSeconds * 1e9);
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 1000; i++) p.set(keys[i], 'value');
    n += 1000;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const q of [p, ...others]) q.close();
  return { perSecond: n / s, nsPerOp: (s / n) * 1e9 };
}

async function benchEvents(drain) {
  const cluster = `bench-events-${process.pid}-${drain ? 'drain' : 'flow'}`;
  const go = await GoDriver.start(goDriverPath, cluster);
  const p = new Telepathine(0, [go.addr], opts(cluster, { eventQueue: events + 1000 })).start();
  let heard = 0;
  let first = 0n;
  let last = 0n;
  p.hear('bench', () => {
    const now = process.hrtime.bigint();
    if (heard === 0) first = now;
    last = now;
    heard++;
  });
  for (const deadline = Date.now() + 30000; !(await go.livePeers()).includes(p.peer_name); ) {
    if (Date.now() > deadline) throw new Error('the Go peer never saw this one');
    await new Promise((r) => setTimeout(r, 10));
  }
  while (p.livePeers().length < 1) await new Promise((r) => setTimeout(r, 10));
  const burst = go.sayBurst('bench', events);
  if (drain) {
    // Hold the JS thread until every event waits for it, then time the drain.
    const deadline = Date.now() + 120000;
    while (p.stats().eventsQueued < events && Date.now() < deadline);
    first = process.hrtime.bigint();
  }
  await burst;
  const deadline = Date.now() + 120000;
  while (heard < events && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const dropped = p.stats().eventsDropped;
  await go.close();
  p.close();
  const s = Number(last - first) / 1e9;
  return { heard, dropped, perSecond: heard / s, usPerEvent: (s / heard) * 1e6 };
}

async function main() {
  if (!goDriverPath) {
    console.error('usage: node bench/bench.js PATH_TO_GO_DRIVER [SECONDS_FOR_SET] [EVENTS]');
    process.exit(2);
  }
  const solo = await benchSetAlone();
  console.log(`node set() alone    ${Math.round(solo.perSecond).toLocaleString('en')} calls/s  (${solo.nsPerOp.toFixed(0)} ns/call; one key, 16-byte Buffer)`);
  const set = await benchSet();
  console.log(`node set()          ${Math.round(set.perSecond).toLocaleString('en')} calls/s  (${set.nsPerOp.toFixed(0)} ns/call; running peer, 3 live neighbours)`);
  for (const drain of [false, true]) {
    const ev = await benchEvents(drain);
    const what = drain ? 'drain  ' : 'flowing';
    console.log(`node events in JS   ${Math.round(ev.perSecond).toLocaleString('en')} events/s ${what} (${ev.usPerEvent.toFixed(2)} us/event; ${ev.heard} of ${events} heard from a Go peer, ${ev.dropped} dropped)`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
