'use strict';
// Telepathine for Node.js: the reference API (README of the original
// Node library: start, stop, set, get, getRemote, getRemoteKeys, allPeers,
// livePeers, deadPeers, say, hear, hearOnce, know, on, after, peer_name, and
// its events) over the Go engine, plus delete, ask, close and Promise forms.
//
// How events flow: the addon subscribes each engine to "**"; library
// threads batch the events and wake this thread (napi_threadsafe_function);
// dispatch() decodes each api.v1.Event and fires it on the peer, an
// EventEmitter2 with wildcards and ':' as delimiter, as the reference did:
//   'start', 'stop'                (peer)
//   'set', 'set:KEY'               (peer_name, key, value, expiresAt) / (peer_name, value, expiresAt)
//   'delete', 'delete:KEY'         (peer_name, key, lastValue) / (peer_name, lastValue)
//   'key:expired'                  (peer_name, key, value, expiresAt)
//   'say:EVENT'                    (data, fromPeer[, reply])   reply: a function, for asks only
//   'peer:new', 'peer:start', 'peer:stop'   (peer_name)
// Handlers run with `this` bound to the peer and `this.event` set to the
// event's name (in hear/know handlers: the name without 'say:'/'set:').
//
// A handler that throws (or whose promise rejects) does not stop the other
// handlers nor crash the process: the error is emitted as 'error' when the
// peer has an 'error' listener, else printed with console.error.

const { EventEmitter2 } = require('eventemitter2');
const { fromBinary } = require('@bufbuild/protobuf');
const api = require('../gen/telepathine/api/v1/api_pb.js');
const native = require('./native');
const { TelepathineError, argType, argValue } = require('./errors');
const { encode, decode, asJSON, JSONValue } = require('./values');
const { buildConfig, hostPort } = require('./config');
const { decodeKeyValue } = require('./wire');
const { FlatBatch, KIND } = require('./flat');
const reference = require('./reference');

// The engines of this thread, by handle. Weak: a stopped peer that nobody
// holds is collected, and the collector closes its engine.
const peers = new Map();
// Running peers are held strongly: `new Telepathine(9000).start()` whose
// result is dropped must go on running.
const running = new Set();
let receive; // (peer, batch, length): set by the class's static block

// dispatch(handle, buffer, length): a flat batch of the engine's events,
// the first length bytes of buffer (an ArrayBuffer the addon reuses).
function dispatch(handle, batch, length) {
  const ref = peers.get(handle);
  const peer = ref && ref.deref();
  if (peer) receive(peer, batch, length);
}

const addon = native.load(dispatch);

const collector = new FinalizationRegistry((handle) => {
  peers.delete(handle);
  try {
    addon.engineClose(handle);
  } catch {
    // closed already
  }
});

// At exit (natural or process.exit()), close every engine so that no
// library thread is left calling into a Node that is going away.
process.on('exit', () => {
  for (const handle of peers.keys()) {
    try {
      addon.engineClose(handle);
    } catch {
      // closed already
    }
  }
});

// The event names whose listeners the cache of a peer holds at most.
const LISTENER_CACHE_NAMES = 4096;

// How long stop() waits for the engine's 'stop' event before it lets the
// process exit anyway (it normally comes within milliseconds).
const STOP_EVENT_GRACE_MS = 2000;

function duration(name, v, { allowZero }) {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number') throw argType(name, 'a number of milliseconds', v);
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw argValue(name, `must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${v}`);
  }
  return Math.ceil(v);
}

function expiry(v) {
  if (v === undefined || v === null || v === 0) return 0;
  if (v instanceof Date) v = v.getTime();
  if (typeof v !== 'number') throw argType('expiresAt', 'a Unix time in milliseconds or a Date', v);
  if (!Number.isFinite(v) || v < 0) throw argValue('expiresAt', `must be a Unix time in milliseconds, got ${v}`);
  return Math.floor(v);
}

function checkName(name, v) {
  if (typeof v !== 'string') throw argType(name, 'a string', v);
}

function checkHandler(v) {
  if (typeof v !== 'function') throw argType('handler', 'a function', v);
}

// A cluster key: bytes only (a string would be taken as its UTF-8, a
// likely mistake for base64 or hex text).
function keyBytes(v) {
  if (!(v instanceof Uint8Array)) throw argType('key', 'a Buffer or Uint8Array of 32 bytes', v);
  return v;
}

// Plain numbers for the protobuf-es messages of stats (uint64 -> bigint).
function plain(msg) {
  if (typeof msg === 'bigint') return Number(msg);
  if (msg === null || typeof msg !== 'object' || msg instanceof Uint8Array) return msg;
  const out = {};
  for (const [k, v] of Object.entries(msg)) {
    if (k !== '$typeName') out[k] = plain(v);
  }
  return out;
}

const PEER_STATES = { [api.PeerState.ALIVE]: 'alive', [api.PeerState.DEAD]: 'dead' };

class Telepathine extends EventEmitter2 {
  #h; // the engine handle (a Number below 2^53)
  #running = false; // between start() and stop()
  #started = false; // the engine's 'start' event came (and no 'stop' since)
  #closed = false;
  #name = undefined; // peer_name, once the engine has one
  #guessName; // peer_name before the first start, when it can be told
  #startCallbacks = [];
  #afters = []; // after() calls waiting for the next start
  #timers = new Set(); // after() timers scheduled
  #startWaiters = [];
  #stopWaiters = [];
  #stopGrace = null;
  #malformed = 0; // events dropped because their batch could not be read

  static {
    receive = (peer, batch, length) => peer.#receive(batch, length);
  }

  /**
   * new Telepathine(port, seeds, options): one peer. port 0 picks a free
   * port (read it back from peer_name/port once started); seeds are
   * 'host:port' or ':port' (127.0.0.1); options: see lib/config.js.
   */
  constructor(port, seeds, options) {
    super({ wildcard: true, delimiter: ':' });
    const cfg = buildConfig(port, seeds, options);
    this.#h = addon.engineNew(cfg.bytes);
    peers.set(this.#h, new WeakRef(this));
    collector.register(this, this.#h, this);
    reference.heartbeats(this, options, (name, args) => this.#fireArgs(name, args)); // emitValueOnHeartBeat
    if (cfg.port !== 0 && cfg.address !== '0.0.0.0' && cfg.address !== '::') {
      this.#guessName = hostPort(cfg.address, cfg.port);
    }
    try {
      addon.subscribe(this.#h, '**', cfg.eventQueue);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  // ------------------------------------------------------------ lifecycle

  /** Starts the peer; callback(peer) and the 'start' event follow. Returns the peer. */
  start(callback) {
    if (callback !== undefined && callback !== null && typeof callback !== 'function') {
      throw argType('callback', 'a function', callback);
    }
    addon.engineStart(this.#h); // binds now: TP_ERR_IO (address in use), TP_ERR_RUNNING, TP_ERR_CLOSED
    this.#running = true;
    this.#started = false;
    running.add(this);
    clearTimeout(this.#stopGrace);
    addon.eventsRef(this.#h, true); // a running peer keeps the process alive
    if (callback) this.#startCallbacks.push(callback);
    return this;
  }

  /** Stops the peer (it can be started again); the 'stop' event follows. Returns the peer. */
  stop() {
    if (!this.#running) return this; // never started, stopped already, or closed
    addon.engineStop(this.#h);
    this.#running = false;
    running.delete(this);
    this.#clearTimers();
    // The process may exit once the engine's 'stop' event, which follows
    // every event before it, has been delivered; or after a grace period
    // should it never come.
    this.#stopGrace = setTimeout(() => this.#letProcessExit(), STOP_EVENT_GRACE_MS).unref();
    return this;
  }

  /**
   * Releases the engine for good (stopping it first): any later call
   * throws TelepathineError TP_ERR_CLOSED. Idempotent. A stopped peer that
   * is no longer referenced is closed by the garbage collector anyway.
   */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    const wasStarted = this.#started;
    this.#running = false;
    this.#started = false;
    running.delete(this);
    this.#clearTimers();
    clearTimeout(this.#stopGrace);
    collector.unregister(this);
    peers.delete(this.#h); // events still queued for this engine are dropped
    try {
      addon.engineClose(this.#h);
    } finally {
      const closedError = new TelepathineError('the peer was closed before it started', 'TP_ERR_CLOSED', -4);
      for (const [, reject] of this.#startWaiters.splice(0)) reject(closedError);
      const stopWaiters = this.#stopWaiters.splice(0);
      process.nextTick(() => {
        if (wasStarted) this.#fire('stop', 1, this);
        for (const resolve of stopWaiters) resolve(this);
      });
    }
  }

  /** after(ms, fn): calls fn (this = peer) ms after the peer started. Returns the peer. */
  after(ms, fn) {
    const delay = duration('ms', ms, { allowZero: true });
    if (typeof fn !== 'function') throw argType('fn', 'a function', fn);
    if (this.#started) this.#schedule(delay, fn);
    else this.#afters.push([delay, fn]);
    return this;
  }

  /** Resolves with the peer once it runs (its 'start' event came). */
  started() {
    if (this.#started) return Promise.resolve(this);
    if (this.#closed) return Promise.reject(new TelepathineError('the peer is closed', 'TP_ERR_CLOSED', -4));
    return new Promise((resolve, reject) => this.#startWaiters.push([resolve, reject]));
  }

  /** Resolves with the peer once it stopped (its 'stop' event came); at once if it is not running. */
  stopped() {
    if (!this.#running && !this.#started) return Promise.resolve(this);
    return new Promise((resolve) => this.#stopWaiters.push(resolve));
  }

  /** Whether the peer is started (between start() and stop()). */
  get running() {
    return this.#running;
  }

  /** The peer's name in the cluster (its advertised 'host:port' unless options.name). */
  get peer_name() {
    if (this.#name) return this.#name;
    try {
      const name = this.info().name;
      if (name) {
        this.#name = name;
        return name;
      }
    } catch {
      // closed
    }
    return this.#guessName;
  }

  /** The port the peer is bound to (0 before the first start when it asked for any port). */
  get port() {
    const addr = this.#addr();
    const m = addr && /:(\d+)$/.exec(addr);
    return m ? Number(m[1]) : 0;
  }

  /** The advertised host. */
  get address() {
    const addr = this.#addr();
    return addr ? addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1') : undefined;
  }

  /** { name, addr, generation (BigInt), running, cluster } */
  info() {
    const i = fromBinary(api.EngineInfoSchema, addon.engineInfo(this.#h));
    return { name: i.name, addr: i.addr, generation: i.generation, running: i.running, cluster: i.cluster };
  }

  /**
   * The engine's counters (api.v1.Stats as plain numbers). eventsDropped
   * includes the events dropped because the JS thread fell behind (the
   * engine's queue of this peer's events, options.eventQueue, was full);
   * eventsQueued is how many events the binding has taken from that queue
   * and not yet delivered (one or two batches at most: those still in the
   * engine's queue are not counted).
   */
  stats() {
    const s = plain(fromBinary(api.StatsSchema, addon.engineStats(this.#h)));
    const [queued] = addon.eventsCounters(this.#h);
    s.eventsDropped += this.#malformed;
    s.eventsQueued = queued;
    return s;
  }

  // ------------------------------------------------------------ key/value

  /** Sets a local key, spread to every peer. expiresAt: Unix ms or a Date (0: never). Returns the peer. */
  set(key, value, expiresAt) {
    checkName('key', key);
    const [data, encoding] = encode(value, 'value', false);
    addon.set(this.#h, key, data, encoding, expiry(expiresAt));
    return this;
  }

  /** The local value of key, or undefined. */
  get(key) {
    checkName('key', key);
    const kv = addon.get(this.#h, key);
    return kv === undefined ? undefined : decode(decodeKeyValue(kv).value);
  }

  /** The value of key held for peer (a peer name), or undefined. */
  getRemote(peer, key) {
    checkName('peer', peer);
    checkName('key', key);
    const kv = addon.getRemote(this.#h, peer, key);
    return kv === undefined ? undefined : decode(decodeKeyValue(kv).value);
  }

  /** The keys held for peer, sorted ([] for an unknown peer). */
  getRemoteKeys(peer) {
    checkName('peer', peer);
    return fromBinary(api.KeyListSchema, addon.getRemoteKeys(this.#h, peer)).keys;
  }

  /** Deletes a local key everywhere; true if it held a live value. */
  delete(key) {
    checkName('key', key);
    return addon.del(this.#h, key);
  }

  // ------------------------------------------------------ cluster keyring
  // AES-256 keys of 32 bytes: the primary seals what this peer sends, every
  // installed key opens what it receives. Rotation without downtime:
  // installKey(new) on every peer, then useKey(new), then removeKey(old).
  // The engine checks the keys: TelepathineError TP_ERR_KEY_MATERIAL (not
  // 32 bytes), TP_ERR_PRIMARY_KEY, TP_ERR_KEY_NOT_INSTALLED.

  /** Installs an accepted key (the first of an empty keyring becomes the primary). Returns the peer. */
  installKey(key) {
    addon.installKey(this.#h, keyBytes(key));
    return this;
  }

  /** Makes an installed key the primary. Returns the peer. */
  useKey(key) {
    addon.useKey(this.#h, keyBytes(key));
    return this;
  }

  /** Removes an installed key other than the primary. Returns the peer. */
  removeKey(key) {
    addon.removeKey(this.#h, keyBytes(key));
    return this;
  }

  /** The installed keys as Buffers, primary first ([] in plain mode). (getRemoteKeys is the state's keys.) */
  clusterKeys() {
    return fromBinary(api.KeyringSchema, addon.engineKeys(this.#h)).keys.map((k) => Buffer.from(k));
  }

  /** The staged upgrade to encryption: { accept, send } plaintext, both booleans. Returns the peer. */
  setPlaintext(stages) {
    if (stages === null || typeof stages !== 'object') throw argType('setPlaintext()', 'an object { accept, send }', stages);
    const { accept, send } = stages;
    if (typeof accept !== 'boolean') throw argType('accept', 'a boolean', accept);
    if (typeof send !== 'boolean') throw argType('send', 'a boolean', send);
    addon.setPlaintext(this.#h, accept, send);
    return this;
  }

  // ---------------------------------------------------------------- peers

  /** Names of the other peers known. */
  allPeers() {
    return this.#peers(addon.allPeers).map((p) => p.name);
  }

  /** Names of the other peers that seem alive. */
  livePeers() {
    return this.#peers(addon.livePeers).map((p) => p.name);
  }

  /** Names of the other peers that seem dead. */
  deadPeers() {
    return this.#peers(addon.deadPeers).map((p) => p.name);
  }

  /** What the failure detector knows of the other peers: [{ name, addr, state, phi, generation, heartbeat, version }]. */
  peerInfo() {
    return this.#peers(addon.allPeers).map((p) => ({
      name: p.name,
      addr: p.addr,
      state: PEER_STATES[p.state] || 'unknown',
      phi: p.phi,
      generation: p.generation,
      heartbeat: Number(p.heartbeat),
      version: Number(p.version),
    }));
  }

  // ---------------------------------------------------------- say and ask

  /**
   * say(event, data, durationMs, buffer): every other peer's 'say:EVENT'
   * handlers get (data, this.peer_name) once, during durationMs (default:
   * the engine's, 20 s); buffer waits for the next gossip round. Returns the peer.
   */
  say(event, data, durationMs, buffer) {
    checkName('event', event);
    const [bytes, encoding] = encode(data, 'data', true);
    const ms = duration('durationMs', durationMs, { allowZero: true });
    addon.say(this.#h, event, bytes, encoding, ms, buffer ? 1 : 0);
    return this;
  }

  /**
   * ask(event, data, timeoutMs = 1000) -> Promise<[{ peer, value }]>: says
   * an ask and collects the replies of the other peers' hear handlers
   * (their third argument, reply(value)), until every live peer answered
   * or the timeout passed.
   */
  ask(event, data, timeoutMs) {
    try {
      checkName('event', event);
      const [bytes, encoding] = encode(data, 'data', true);
      const ms = timeoutMs === undefined ? 1000 : duration('timeoutMs', timeoutMs, { allowZero: false });
      return addon.ask(this.#h, event, bytes, encoding, ms).then((buf) =>
        fromBinary(api.AskRepliesSchema, buf).replies.map((r) => ({ peer: r.peer, value: decode(r.value) })));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** hear(pattern, handler(data, fromPeer, reply)): 'say:PATTERN' events (wildcards allowed). Returns the peer. */
  hear(pattern, handler) {
    checkName('pattern', pattern);
    checkHandler(handler);
    this.on('say:' + pattern, stripped(handler, 4));
    return this;
  }

  /** hearOnce(pattern, handler): the first matching say only. Returns the peer. */
  hearOnce(pattern, handler) {
    checkName('pattern', pattern);
    checkHandler(handler);
    this.#onOnce('say:' + pattern, stripped(handler, 4));
    return this;
  }

  /** know(key, handler(peer, value)): 'set:KEY' events (wildcards allowed). Returns the peer. */
  know(key, handler) {
    checkName('key', key);
    checkHandler(handler);
    this.on('set:' + key, stripped(handler, 4));
    return this;
  }

  // ------------------------------------------------------------ internals

  #onOnce(name, listener) {
    const self = this;
    function once(...args) {
      self.off(name, once);
      return listener.apply(this, args);
    }
    once._origin = listener._origin;
    this.on(name, once);
  }

  #addr() {
    try {
      return this.info().addr;
    } catch {
      return undefined;
    }
  }

  #peers(fn) {
    return fromBinary(api.PeerListSchema, fn(this.#h)).peers;
  }

  #schedule(delay, fn) {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.#call(fn, 'after', 0);
    }, delay);
    this.#timers.add(t);
  }

  #clearTimers() {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #letProcessExit() {
    clearTimeout(this.#stopGrace);
    if (!this.#running && !this.#closed) addon.eventsRef(this.#h, false);
  }

  // A batch from the addon: a flat batch (lib/flat.js), the first length
  // bytes of an ArrayBuffer. Events of a batch the reader refuses, or that cannot be
  // read (neither can come from the library), are dropped, counted in
  // stats().eventsDropped and reported once per batch.
  #receive(ab, length) {
    let b;
    try {
      b = new FlatBatch(ab, length);
    } catch (e) {
      const n = ab instanceof ArrayBuffer && ab.byteLength >= 4 ? new Uint32Array(ab, 0, 1)[0] : 1;
      this.#malformed += n;
      console.error('telepathine: an event batch was dropped (a bug of the binding):', e);
      return;
    }
    let failed = null;
    for (let i = 0; i < b.n && !this.#closed; i++) {
      try {
        this.#event(b, i);
      } catch (e) {
        this.#malformed++;
        failed = failed || e;
      }
    }
    if (failed) console.error('telepathine: cannot deliver an event (a bug of the binding):', failed);
  }

  // Event i of batch b, fired as the reference did.
  #event(b, i) {
    switch (b.kind(i)) {
      case KIND.START: {
        if (!this.#running) return; // a start already undone by stop()
        this.#started = true;
        for (const cb of this.#startCallbacks.splice(0)) this.#call(cb, 'start', 1, this);
        this.#fire('start', 1, this);
        for (const [delay, fn] of this.#afters.splice(0)) this.#schedule(delay, fn);
        for (const [resolve] of this.#startWaiters.splice(0)) resolve(this);
        return;
      }
      case KIND.STOP: {
        this.#started = false;
        if (!this.#running) this.#letProcessExit();
        this.#fire('stop', 1, this);
        if (!this.#running) for (const resolve of this.#stopWaiters.splice(0)) resolve(this);
        return;
      }
      case KIND.SET: {
        const peer = b.peer(i);
        const key = b.key(i);
        const v = b.value(i);
        const at = b.expiresAt(i);
        this.#fire('set', 4, peer, key, v, at);
        this.#fire(b.name(i), 3, peer, v, at); // 'set:' + key
        return;
      }
      case KIND.DELETE: {
        const peer = b.peer(i);
        const v = b.value(i);
        this.#fire('delete', 3, peer, b.key(i), v);
        this.#fire(b.name(i), 2, peer, v); // 'delete:' + key
        return;
      }
      case KIND.EXPIRED:
        this.#fire('key:expired', 4, b.peer(i), b.key(i), b.value(i), b.expiresAt(i));
        return;
      case KIND.SAY:
        this.#fire(b.name(i), 2, b.value(i), b.peer(i)); // 'say:' + the event said
        return;
      case KIND.ASK: {
        const h = this.#h;
        const askId = b.askId(i);
        const reply = (value) => {
          const [bytes, encoding] = encode(value, 'reply', true);
          addon.reply(h, askId, bytes, encoding);
        };
        this.#fire(b.name(i), 3, b.value(i), b.peer(i), reply);
        return;
      }
      case KIND.PEER_NEW:
        this.#fire('peer:new', 1, b.peer(i));
        return;
      case KIND.PEER_ALIVE:
        this.#fire('peer:start', 1, b.peer(i));
        return;
      case KIND.PEER_DEAD:
        this.#fire('peer:stop', 1, b.peer(i));
        return;
      default:
        // A kind added to the C ABI after this binding: ignored.
        return;
    }
  }

  // Emits like EventEmitter2 (onAny listeners, then those whose pattern
  // matches), except that each handler is isolated from the others' errors.
  // The listeners of each name are looked up once and cached (EventEmitter2
  // walks its wildcard tree on every emit: most of an event's cost in a
  // flood); any change of listeners, through any method, empties the cache
  // (the overrides below). The n arguments (at most 4) are passed as such:
  // no array per event, and a handler sees exactly n (arguments.length).
  #fire(name, n, a, b, c, d) {
    const gen = this._tpListenersGen;
    let cache = this._tpListeners;
    if (cache === undefined || cache.gen !== gen) {
      cache = this._tpListeners = new ListenerCache(gen, this.listenersAny().slice());
    }
    const any = cache.any;
    if (any.length > 0) {
      for (let i = 0; i < any.length; i++) {
        this.event = name;
        this.#call(any[i], name, n + 1, name, a, b, c, d);
      }
      // An onAny listener may have changed the listeners: look again then.
      if (this._tpListenersGen !== gen) {
        for (const fn of this.listeners(name)) {
          this.event = name;
          this.#call(fn, name, n, a, b, c, d);
        }
        return;
      }
    }
    let fns;
    if (name === cache.lastName) {
      fns = cache.lastFns; // a flood repeats one name
    } else {
      fns = cache.byName.get(name);
      if (fns === undefined) {
        if (cache.byName.size >= LISTENER_CACHE_NAMES) cache.byName.clear(); // names such as 'set:KEY' are unbounded
        fns = this.listeners(name);
        cache.byName.set(name, fns);
      }
      cache.lastName = name;
      cache.lastFns = fns;
    }
    for (let i = 0; i < fns.length; i++) {
      this.event = name;
      this.#call(fns[i], name, n, a, b, c, d);
    }
  }

  // #fire with the arguments in an array (reference.js's heartbeats).
  #fireArgs(name, args) {
    if (args.length > 4) throw new RangeError(`${args.length} arguments for '${name}'`);
    this.#fire(name, args.length, args[0], args[1], args[2], args[3]);
  }

  // Every way EventEmitter2 adds or removes a listener goes through one of
  // these (on, once, many, prepend*, addListener and listenTo through _on;
  // onAny, prependAny through _onAny; removeListener is off's alias in
  // EventEmitter2, so it is overridden too).
  _on(...a) {
    try {
      return super._on(...a);
    } finally {
      this.#listenersChanged();
    }
  }

  _onAny(...a) {
    try {
      return super._onAny(...a);
    } finally {
      this.#listenersChanged();
    }
  }

  off(...a) {
    try {
      return super.off(...a);
    } finally {
      this.#listenersChanged();
    }
  }

  removeListener(...a) {
    return this.off(...a);
  }

  offAny(...a) {
    try {
      return super.offAny(...a);
    } finally {
      this.#listenersChanged();
    }
  }

  removeAllListeners(...a) {
    try {
      return super.removeAllListeners(...a);
    } finally {
      this.#listenersChanged();
    }
  }

  #listenersChanged() {
    this._tpListenersGen = (this._tpListenersGen || 0) + 1;
  }

  // Calls fn with this = the peer and the first n arguments of a, b, c, d, x.
  #call(fn, name, n, a, b, c, d, x) {
    try {
      let r;
      switch (n) {
        case 0:
          r = fn.call(this);
          break;
        case 1:
          r = fn.call(this, a);
          break;
        case 2:
          r = fn.call(this, a, b);
          break;
        case 3:
          r = fn.call(this, a, b, c);
          break;
        case 4:
          r = fn.call(this, a, b, c, d);
          break;
        default:
          r = fn.call(this, a, b, c, d, x);
      }
      if (r && typeof r.then === 'function') r.then(undefined, (e) => this.#handlerError(e, name));
    } catch (e) {
      this.#handlerError(e, name);
    }
  }

  #handlerError(err, name) {
    if (name !== 'error' && this.listeners('error').length > 0) {
      try {
        this.emit('error', err, name);
        return;
      } catch (e) {
        err = e;
      }
    }
    console.error(`telepathine: a '${name}' handler of ${this.peer_name} threw:`, err);
  }
}

// The listeners of a peer by event name (#fire), for one generation of its
// listeners.
class ListenerCache {
  constructor(gen, any) {
    this.gen = gen;
    this.any = any; // onAny listeners
    this.byName = new Map();
    this.lastName = undefined; // the name looked up last, and its listeners
    this.lastFns = undefined;
  }
}

// Wraps a hear/know handler so that this.event is the name without its
// 'say:'/'set:' prefix, as in the reference; off(pattern, handler) still
// finds it (EventEmitter2 matches _origin).
// A flood repeats one name: the name last stripped is remembered, so that
// each event does not slice (allocate) the same string again. The events
// handed over carry two or three arguments (#event): passed as such, with
// no rest array per call.
function stripped(handler, prefix) {
  let lastName = '';
  let lastStripped = '';
  function listener(a, b, c) {
    const name = this.event;
    if (typeof name === 'string') {
      if (name !== lastName) {
        lastName = name;
        lastStripped = name.slice(prefix);
      }
      this.event = lastStripped;
    }
    switch (arguments.length) {
      case 2:
        return handler.call(this, a, b);
      case 3:
        return handler.call(this, a, b, c);
      default:
        return handler.apply(this, arguments);
    }
  }
  listener._origin = handler;
  return listener;
}

// How many engines of this thread are not closed yet (for tests: unreferenced
// stopped peers are closed by the garbage collector).
function openEngines() {
  return peers.size;
}

module.exports = {
  Telepathine,
  TelepathineError,
  asJSON,
  JSONValue,
  abiVersion: native.abiVersion,
  libraryPath: () => addon.libraryPath(),
  _openEngines: openEngines,
};
