// Type declarations of the Node binding of Telepathine (lib/telepathine.js).
// Checked by `tsc --noEmit -p tests/types` (make test-node).

/// <reference types="node" />

import { EventEmitter2 } from 'eventemitter2';
import type { Config } from './gen/telepathine/api/v1/api_pb.js';

/**
 * A value as JS sees it. Set: a string is sent as UTF-8 text, a Buffer,
 * Uint8Array or other ArrayBuffer view as raw bytes, anything else that
 * JSON can write (or asJSON(x)) as a JSON document. Read back, on any peer
 * and in any language: text -> string, raw -> Buffer, JSON -> the parsed value.
 */
export type Value = string | Buffer | JSONValue | null | number | boolean | object;

/** What a peer reads back: string, Buffer, or a parsed JSON value. */
export type ReceivedValue = any;

/** A field of the generated Config as an option takes it: 64-bit numbers as number or bigint. */
type OptionOf<T> = T extends bigint ? number | bigint : T;

/**
 * Every field of telepathine.api.v1.Config in camelCase, typed from the
 * generated schema (gen/telepathine/api/v1/api_pb.d.ts): a field added to
 * the proto is an option with no change here. A zero or absent field takes
 * the preset's default (engine/config.go documents each).
 */
export type ConfigFields = {
  [K in Exclude<keyof Config, '$typeName' | '$unknown' | 'preset' | 'transportMode' | 'addressMap'>]?: OptionOf<Config[K]>;
};

/** The configuration: the fields of telepathine.api.v1.Config in camelCase, plus the binding's own. */
export interface Options extends ConfigFields {
  /** Host to bind (and advertise): default '127.0.0.1'. */
  address?: string;
  /** Timing defaults for the fields left out: 'lan' (default), 'wan', 'local' (tests, demos: 10x faster). */
  preset?: 'lan' | 'wan' | 'local';
  /** 'udp' (UDP up to the MTU, TCP above; default) or 'tcp' (TCP only). */
  transportMode?: 'udp' | 'tcp' | 'udp-preferred' | 'tcp-only';
  /** Events waiting for the JS thread at most (default 262144, at most 1048576: larger values are taken as that); beyond, dropped and counted. */
  eventQueue?: number;
  /** Translates addresses when sending: { 'host:port seen': 'host:port to use' } (NAT, port forwarding). */
  addressMap?: Record<string, string> | Map<string, string>;
  /** Cluster keys, 32 bytes each (AES-256); the first is the primary. Default none: plain mode (CRC-32C). */
  keys?: Uint8Array[];
  /** A passphrase from which the primary key is derived (argon2id, salted with the cluster name). */
  networkKey?: string;
  /** Keep accepting plaintext although keys are set (upgrade stages 1-2). */
  acceptPlaintext?: boolean;
  /** Keep sending plaintext although keys are set (upgrade stage 1). */
  sendPlaintext?: boolean;
  /** A directory where the last generation is kept, so a restart always wins. */
  stateDir?: string;

  // The reference library's names (lib/reference.js), with their meaning.
  /** = gossipIntervalMs. */
  gossipIntervalMS?: number;
  /** = heartbeatIntervalMs. */
  heartbeatIntervalMS?: number;
  /** = heartbeatIntervalMs (the reference's examples spell it so). */
  heartBeatIntervalMS?: number;
  /** false: TCP only (transportMode 'tcp'); true: the default 'udp'. */
  udp?: boolean;
  /** = networkKey: a passphrase for the cluster's keyring. */
  network?: string;
  /** Every heartbeat seen from another peer also fires 'set' (peer, '__heartbeat__', n) and 'set:__heartbeat__' (peer, n). */
  emitValueOnHeartBeat?: boolean;
}

/** One peer's answer to an ask. */
export interface Reply {
  peer: string;
  value: ReceivedValue;
}

/** What the failure detector knows of another peer. */
export interface PeerInfo {
  name: string;
  addr: string;
  state: 'alive' | 'dead' | 'unknown';
  phi: number;
  generation: bigint;
  heartbeat: number;
  version: number;
}

/** The identity of the local peer. */
export interface EngineInfo {
  name: string;
  addr: string;
  generation: bigint;
  running: boolean;
  cluster: string;
}

/** The engine's counters (telepathine.api.v1.Stats, numbers). */
export interface Stats {
  rounds: number;
  sets: number;
  says: number;
  packetsSent: Record<string, number>;
  packetsReceived: Record<string, number>;
  /** Events lost to full queues (among them those of this peer's events waiting for the JS thread: options.eventQueue). */
  eventsDropped: number;
  /** Events the binding took from the engine's queue and has not delivered yet (one or two batches at most; those still in the engine's queue are not counted). */
  eventsQueued: number;
  handlerPanics: number;
  foreignCluster: number;
  deaths: number;
  peers: number;
  livePeers: number;
  deadPeers: number;
  keys: number;
  transport: Record<string, number>;
  /** Incoming packets dropped, by cause ('malformed', 'foreign_cluster', ...). */
  drops: Record<string, number>;
  [counter: string]: number | Record<string, number>;
}

/** Answers an ask (the third argument of a hear handler, for asks only). */
export type ReplyFn = (value?: Value) => void;

/** A hear handler: `this` is the peer, `this.event` the event name without 'say:'. */
export type HearHandler = (this: Telepathine, data: ReceivedValue, fromPeer: string, reply?: ReplyFn) => unknown;

/** A know handler: `this` is the peer, `this.event` the key. */
export type KnowHandler = (this: Telepathine, peer: string, value: ReceivedValue) => unknown;

/** A library status turned into an exception. */
export declare class TelepathineError extends Error {
  constructor(message: string, code: string, status: number);
  /** The status name of cgo/telepathine.h: 'TP_ERR_CLOSED', 'TP_ERR_INVALID_KEY', ... */
  readonly code: string;
  /** Its number (negative). */
  readonly status: number;
}

/** Forces JSON encoding (asJSON('x') is the JSON document "x", not text). */
export declare class JSONValue {
  constructor(value: unknown);
  readonly value: unknown;
}
export declare function asJSON(value: unknown): JSONValue;

/** The C ABI version of the library loaded. */
export declare function abiVersion(): { major: number; minor: number };
/** Where the library was loaded from. */
export declare function libraryPath(): string;

/**
 * One peer. An EventEmitter2 with wildcards and ':' as delimiter; its events:
 *   'start', 'stop'            (peer)
 *   'set'                      (peer_name, key, value, expiresAt)
 *   'set:KEY'                  (peer_name, value, expiresAt)
 *   'delete'                   (peer_name, key, lastValue)
 *   'delete:KEY'               (peer_name, lastValue)
 *   'key:expired'              (peer_name, key, value, expiresAt)
 *   'say:EVENT'                (data, fromPeer, reply?)
 *   'peer:new', 'peer:start', 'peer:stop'   (peer_name)
 *   'error'                    (error, eventName): a handler threw
 */
export declare class Telepathine extends EventEmitter2 {
  /** port 0: any free port; seeds: 'host:port' or ':port' (127.0.0.1). */
  constructor(port?: number, seeds?: Array<string | number>, options?: Options);

  /** The peer's name ('host:port' unless options.name); undefined before the first start when not known yet. */
  readonly peer_name: string;
  /** The bound port (0 before the first start when port 0 was asked). */
  readonly port: number;
  /** The advertised host. */
  readonly address: string | undefined;
  /** Between start() and stop(). */
  readonly running: boolean;
  /** Set inside handlers: the event's name. */
  event: string | string[];

  start(callback?: (this: Telepathine, peer: Telepathine) => unknown): this;
  stop(): this;
  close(): void;
  after(ms: number, fn: (this: Telepathine) => unknown): this;
  started(): Promise<this>;
  stopped(): Promise<this>;
  info(): EngineInfo;
  stats(): Stats;

  set(key: string, value: Value, expiresAt?: number | Date): this;
  get(key: string): ReceivedValue | undefined;
  getRemote(peer: string, key: string): ReceivedValue | undefined;
  getRemoteKeys(peer: string): string[];
  delete(key: string): boolean;

  /** Installs an accepted cluster key (32 bytes). TelepathineError TP_ERR_KEY_MATERIAL otherwise. */
  installKey(key: Uint8Array): this;
  /** Makes an installed key the primary (TP_ERR_KEY_NOT_INSTALLED otherwise). */
  useKey(key: Uint8Array): this;
  /** Removes an installed key; never the primary (TP_ERR_PRIMARY_KEY). */
  removeKey(key: Uint8Array): this;
  /** The installed cluster keys, primary first; [] in plain mode. */
  clusterKeys(): Buffer[];
  /** The staged upgrade to encryption: stage 1 {true, true}, stage 2 {true, false}, stage 3 {false, false}. */
  setPlaintext(stages: { accept: boolean; send: boolean }): this;

  allPeers(): string[];
  livePeers(): string[];
  deadPeers(): string[];
  peerInfo(): PeerInfo[];

  say(event: string, data?: Value, durationMs?: number, buffer?: boolean): this;
  ask(event: string, data?: Value, timeoutMs?: number): Promise<Reply[]>;
  hear(pattern: string, handler: HearHandler): this;
  hearOnce(pattern: string, handler: HearHandler): this;
  know(key: string, handler: KnowHandler): this;

  on(event: 'start' | 'stop', listener: (this: Telepathine, peer: Telepathine) => unknown): this;
  on(event: 'set', listener: (this: Telepathine, peer: string, key: string, value: ReceivedValue, expiresAt: number) => unknown): this;
  on(event: 'key:expired', listener: (this: Telepathine, peer: string, key: string, value: ReceivedValue, expiresAt: number) => unknown): this;
  on(event: 'peer:new' | 'peer:start' | 'peer:stop', listener: (this: Telepathine, peer: string) => unknown): this;
  on(event: 'error', listener: (this: Telepathine, error: unknown, eventName: string) => unknown): this;
  on(event: string | string[], listener: (this: Telepathine, ...args: any[]) => unknown): this;
}
