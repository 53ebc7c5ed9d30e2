'use strict';
// new Telepathine(port, seeds, options) -> a serialized api.v1.Config.
//
// options keys are the Config fields in camelCase (gossipIntervalMs,
// cluster, name, ...: schema/proto/telepathine/api/v1/api.proto; a zero or
// absent field takes the preset's default), read from the generated schema
// (ConfigSchema.fields): a field added to the proto is an option as soon as
// the code is regenerated, its type checked from the schema. Enum fields take
// the value's name without the enum's prefix, any case, '-' or '_'
// ('local' for PRESET_LOCAL, 'tcp-only'), map fields an object or a Map of
// strings. Plus the binding's own:
//   address        host to bind, default '127.0.0.1' (port comes first)
//   eventQueue     events waiting for the JS thread at most (default 262144;
//                  at most 1048576, the engine's limit: larger values are
//                  taken as that): the queue of the engine's event stream
//                  for this peer, which the addon's poller empties a batch
//                  at a time; beyond, events are dropped and counted in
//                  stats().eventsDropped
// The reference library's option names are accepted too (lib/reference.js).
// An unknown key is a TypeError, so a typo does not go unnoticed.

const { create, toBinary, ScalarType } = require('@bufbuild/protobuf');
const { ConfigSchema, TransportMode } = require('../gen/telepathine/api/v1/api_pb.js');
const { argType, argValue } = require('./errors');
const reference = require('./reference');

// Short names some enum values also go by.
const ENUM_ALIASES = { transportMode: { udp: TransportMode.UDP_PREFERRED, tcp: TransportMode.TCP_ONLY } };
const DEFAULT_EVENT_QUEUE = 262144;
const BINDING_KEYS = ['address', 'eventQueue'];

function isPlainObject(x) {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

// A seed: 'host:port', ':port' (127.0.0.1) or a port number (127.0.0.1).
function seedAddr(s, i) {
  const name = `seeds[${i}]`;
  if (typeof s === 'number') {
    if (!Number.isInteger(s) || s < 1 || s > 65535) throw argValue(name, `must be a port from 1 to 65535, got ${s}`);
    return `127.0.0.1:${s}`;
  }
  if (typeof s !== 'string') throw argType(name, "a string 'host:port' or ':port'", s);
  if (s.startsWith(':')) return '127.0.0.1' + s;
  if (!/:\d+$/.test(s)) throw argValue(name, `must be 'host:port' or ':port', got ${JSON.stringify(s)}`);
  return s;
}

function hostPort(host, port) {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function scalar(field, key, v) {
  const name = `options.${key}`;
  switch (field.scalar) {
    case ScalarType.STRING:
      if (typeof v !== 'string') throw argType(name, 'a string', v);
      return v;
    case ScalarType.BOOL:
      if (typeof v !== 'boolean') throw argType(name, 'a boolean', v);
      return v;
    case ScalarType.BYTES:
      // keys: cluster keys; the engine checks their length.
      if (!(v instanceof Uint8Array)) throw argType(name, 'a Buffer or Uint8Array', v);
      return new Uint8Array(v);
    case ScalarType.DOUBLE:
      if (typeof v !== 'number' || !Number.isFinite(v)) throw argType(name, 'a finite number', v);
      return v;
    case ScalarType.UINT32:
      if (typeof v !== 'number' || !Number.isInteger(v)) throw argType(name, 'an integer', v);
      if (v < 0 || v > 0xffffffff) throw argValue(name, `must be from 0 to 4294967295, got ${v}`);
      return v;
    case ScalarType.UINT64:
      if (typeof v === 'bigint') {
        if (v < 0n || v >= 1n << 64n) throw argValue(name, `must be from 0 to 2^64-1, got ${v}`);
        return v;
      }
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw argType(name, 'a safe integer or a BigInt', v);
      if (v < 0) throw argValue(name, `must not be negative, got ${v}`);
      return BigInt(v);
    default:
      throw argValue(name, 'has a type this binding does not know');
  }
}

// The names an enum field takes: each value's name without the enum's
// prefix, lower-case with '-' ('udp-preferred' for
// TRANSPORT_MODE_UDP_PREFERRED), then the aliases; never the zero value.
function enumTable(field, key) {
  const table = {};
  for (const v of field.enum.values) {
    if (v.number !== 0) table[v.localName.toLowerCase().replace(/_/g, '-')] = v.number;
  }
  return { ...table, ...(ENUM_ALIASES[key] || {}) };
}

function enumValue(field, key, v) {
  const table = enumTable(field, key);
  const name = typeof v === 'string' ? v.toLowerCase().replace(/_/g, '-') : undefined;
  if (name !== undefined && Object.prototype.hasOwnProperty.call(table, name)) return table[name];
  throw argValue(`options.${key}`, `must be one of ${Object.keys(table).map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(v)}`);
}

// A map field of strings: an object or a Map.
function mapValue(field, key, m) {
  const name = `options.${key}`;
  const entries = m instanceof Map ? [...m.entries()] : isPlainObject(m) ? Object.entries(m) : null;
  if (!entries) throw argType(name, 'an object or a Map of strings', m);
  if (field.mapKey !== ScalarType.STRING || field.mapKind !== 'scalar' || field.scalar !== ScalarType.STRING) {
    throw argValue(name, 'has a type this binding does not know');
  }
  const out = {};
  for (const [k, v] of entries) {
    if (typeof k !== 'string' || typeof v !== 'string') throw argValue(name, `must map strings to strings, got ${JSON.stringify(k)} -> ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

// configBuilder(schema) -> buildConfig for that Config schema (tests give a
// newer one to show that a field added to the proto is taken).
function configBuilder(schema) {
  const fields = new Map(schema.fields.map((f) => [f.localName, f]));
  return (port, seeds, options) => build(schema, fields, port, seeds, options);
}

// buildConfig(port, seeds, options) -> { bytes, eventQueue, address }
function build(schema, fields, port, seeds, options) {
  if (port === undefined || port === null) port = 0;
  if (typeof port !== 'number') throw argType('port', 'a number (0: any free port)', port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw argValue('port', `must be an integer from 0 to 65535, got ${port}`);
  if (seeds === undefined || seeds === null) seeds = [];
  if (!Array.isArray(seeds)) throw argType('seeds', "an array of 'host:port' strings", seeds);
  if (options === undefined || options === null) options = {};
  if (!isPlainObject(options)) throw argType('options', 'an object', options);

  let address = '127.0.0.1';
  if (options.address !== undefined) {
    if (typeof options.address !== 'string' || options.address === '') throw argType('options.address', 'a host name or IP address', options.address);
    address = options.address.replace(/^\[(.*)\]$/, '$1');
  }
  let eventQueue = DEFAULT_EVENT_QUEUE;
  if (options.eventQueue !== undefined) {
    const q = options.eventQueue;
    if (typeof q !== 'number' || !Number.isInteger(q) || q < 1 || q > 0x7fffffff) throw argValue('options.eventQueue', `must be a positive integer, got ${q}`);
    eventQueue = q;
  }

  const init = { bindAddr: hostPort(address, port), seeds: seeds.map(seedAddr) };
  options = reference.translate(options, init, fields); // the reference library's options (lib/reference.js)
  for (const key of Object.keys(options)) {
    const v = options[key];
    if (BINDING_KEYS.includes(key) || v === undefined) continue;
    const field = fields.get(key);
    if (!field) {
      throw argValue(`options.${key}`, `is not an option (known: ${[...BINDING_KEYS, ...fields.keys()].join(', ')})`);
    }
    if (key === 'seeds') {
      if (!Array.isArray(v)) throw argType('options.seeds', "an array of 'host:port' strings", v);
      init.seeds = init.seeds.concat(v.map(seedAddr));
      continue;
    }
    switch (field.fieldKind) {
      case 'enum':
        init[key] = enumValue(field, key, v);
        break;
      case 'map':
        init[key] = mapValue(field, key, v);
        break;
      case 'list':
        if (!Array.isArray(v)) throw argType(`options.${key}`, 'an array', v);
        init[key] = v.map((x, i) => scalar(field, `${key}[${i}]`, x));
        break;
      default:
        init[key] = scalar(field, key, v);
    }
  }
  return { bytes: toBinary(schema, create(schema, init)), eventQueue, address, port };
}

const buildConfig = configBuilder(ConfigSchema);

module.exports = { buildConfig, configBuilder, hostPort };
