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
//              buffered) and one JS peer counts them. Every event crosses
//              engine stream -> the addon's poller (tp_events_poll_flat)
//              -> threadsafe function -> one ArrayBuffer a batch -> column
//              reads (lib/flat.js) -> the listener cache -> handler. Two
//              runs:
//                flowing  the JS thread free all along: the rate from the
//                         first event heard to the last (what the whole
//                         chain delivers, Go sender included);
//                drain    the JS thread held busy while the flood arrives
//                         (until the packets that carry events, synack,
//                         ack and push, have stopped coming for 1.5 s: the
//                         engine's delivery between two processes, not the
//                         JS thread, sets the flowing rate), then timed
//                         while it empties the engine's queue: the JS
//                         side's own capacity, the counterpart of Go's
//                         BenchmarkEventDelivery.
//              Each also per CPU-second of the JS thread (its CPU time from
//              the first event to the last, CLOCK_THREAD_CPUTIME_ID): the
//              figure that holds on a loaded machine, where wall-clock
//              rates depend on what else runs; and the CPU time per event
//              of the addon's poller thread (tp_events_poll_flat: the
//              library taking events off the stream and writing batches).
//
// usage: node bench/bench.js PATH_TO_GO_DRIVER [SECONDS_FOR_SET] [EVENTS]
'use strict';

// The engine handle of the last batch dispatched: the poller's counters
// are read by handle (src/addon.c, eventsCounters).
const native = require('../lib/native');
let lastHandle = 0;
const load = native.load;
native.load = (dispatch) => load((handle, batch, length) => {
  lastHandle = handle;
  dispatch(handle, batch, length);
});
const { Telepathine } = require('..');
const { GoDriver } = require('../tests/godriver');
const addon = native.load(); // loaded already by the line above: the addon itself

const goDriverPath = process.argv[2];
const setSeconds = Number(process.argv[3] || 2);
const events = Number(process.argv[4] || 50000);

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

const cpuNs = () => addon.threadCpuNs();

// Packets that carry events (say deltas and pushes) received by p.
function carriers(p) {
  const r = p.stats().packetsReceived;
  return (r.synack || 0) + (r.ack || 0) + (r.push || 0);
}

async function benchEvents(drain) {
  const cluster = `bench-events-${process.pid}-${drain ? 'drain' : 'flow'}`;
  const go = await GoDriver.start(goDriverPath, cluster);
  const p = new Telepathine(0, [go.addr], opts(cluster, { eventQueue: events + 1000 })).start();
  let heard = 0;
  let first = 0n;
  let last = 0n;
  let cpuFirst = 0;
  let cpuLast = 0;
  let cpuHeard = 0; // events heard when cpuLast was read
  // The handler counts. Clocks are read every 1,024 events and at the
  // last one: a clock read is a call into C++ and a BigInt (about 85 ns,
  // 0.1-0.2 of an event's whole cost here), and the thread's CPU time a
  // system call, so reading them per event would measure them instead of
  // the binding.
  p.hear('bench', () => {
    if (heard === 0) {
      first = process.hrtime.bigint();
      cpuFirst = cpuNs();
    }
    heard++;
    if ((heard & 1023) === 0 || heard === events) {
      last = process.hrtime.bigint();
      cpuLast = cpuNs();
      cpuHeard = heard;
    }
  });
  for (const deadline = Date.now() + 30000; !(await go.livePeers()).includes(p.peer_name); ) {
    if (Date.now() > deadline) throw new Error('the Go peer never saw this one');
    await new Promise((r) => setTimeout(r, 10));
  }
  while (p.livePeers().length < 1) await new Promise((r) => setTimeout(r, 10));
  const t0 = Date.now();
  // Says that last 10 minutes: a flood delivered slowly (a loaded machine)
  // must not expire on its way.
  const burst = go.call('say_burst', { event: 'bench', count: events, buffered: true, for_ms: 600000 }, 600000);
  let holdMs = 0;
  if (drain) {
    // Hold the JS thread while the flood arrives, then time the drain.
    const start = Date.now();
    const deadline = start + 120000;
    let seen = carriers(p);
    let changed = Date.now();
    for (let next = 0; Date.now() < deadline && Date.now() - changed < 1500; ) {
      if (Date.now() < next) continue;
      next = Date.now() + 100;
      const c = carriers(p);
      if (c !== seen) {
        seen = c;
        changed = Date.now();
      }
    }
    holdMs = Date.now() - start;
    first = process.hrtime.bigint();
    cpuFirst = cpuNs();
  }
  await burst;
  const floodMs = Date.now() - t0;
  const deadline = Date.now() + 120000;
  while (heard < events && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const dropped = p.stats().eventsDropped;
  const counters = addon.eventsCounters(lastHandle); // this run's peer delivered last
  const pollerCpu = counters[3] / 1e9;
  const perBatch = counters[2] / Math.max(counters[1], 1);
  await go.close();
  p.close();
  const s = Number(last - first) / 1e9;
  const cpu = (cpuLast - cpuFirst) / 1e9;
  return { heard, dropped, floodMs, holdMs, seconds: s, perSecond: cpuHeard / s, usPerEvent: (s / cpuHeard) * 1e6, perCpuSecond: cpuHeard / cpu, cpuUsPerEvent: (cpu / cpuHeard) * 1e6, pollerUsPerEvent: (pollerCpu / heard) * 1e6, perBatch };
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
    console.log(`node events in JS   ${Math.round(ev.perSecond).toLocaleString('en')} events/s ${what} (${ev.usPerEvent.toFixed(2)} us/event; ` +
      `${Math.round(ev.perCpuSecond).toLocaleString('en')} per CPU-second of the JS thread, ${ev.cpuUsPerEvent.toFixed(2)} us; ` +
      `poller thread ${ev.pollerUsPerEvent.toFixed(2)} CPU-us/event; ${Math.round(ev.perBatch)} events/batch; ` +
      `${ev.heard} of ${events} heard from a Go peer, ${ev.dropped} dropped${drain ? `, held ${ev.holdMs} ms` : `; the Go flood took ${ev.floodMs} ms`})`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
