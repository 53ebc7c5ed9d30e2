'use strict';
// Reader of the flat event batches of tp_events_poll_flat (C ABI 1.2; the
// layout is documented in cgo/telepathine.h): a header, a table of strings,
// then one column per field (expiry, ask id, name, peer, key, value,
// value length, kind, encoding, flags), then the raw value bytes. The
// addon hands each batch over as one ArrayBuffer; the columns are read
// with typed arrays (one indexed load a field, no parsing per event) and
// the string table is decoded once a batch: a flood repeats a few names,
// peers and keys, each decoded once per batch instead of once per event.

const { RAW, TEXT, JSON: JSON_ } = require('./values');

const HEADER_SIZE = 32; // TP_FLAT_HEADER_SIZE
const EVENT_BYTES = 8 + 8 + 5 * 4 + 3; // column bytes per event
const VALUE_STRING = 1; // TP_FLAT_VALUE_STRING

// TP_EVENT_*: the kinds of a flat batch.
const KIND = Object.freeze({
  START: 1,
  STOP: 2,
  SET: 3,
  DELETE: 4,
  EXPIRED: 5,
  SAY: 6,
  ASK: 7,
  PEER_NEW: 8,
  PEER_ALIVE: 9,
  PEER_DEAD: 10,
});

// V8 returns a substring of 13 characters or more (SlicedString's minimum)
// as a view of its parent string, which it keeps alive. The table is
// decoded as one string and split, so a name, peer, key or text value
// handed to user code as such a view would hold the whole table (up to a
// few MiB) for as long as the user keeps it. Those strings are decoded
// again on their own (a fresh string) when first handed out; shorter ones
// are copies already, and JSON values are parsed (JSON.parse copies).
const SLICED_MIN = 13;

const decoder = new TextDecoder('utf-8');

// A batch that breaks the layout (not made by the library): its events
// are dropped and the binding says so (lib/telepathine.js).
class MalformedBatch extends Error {}

function malformed(what) {
  return new MalformedBatch(`not a valid flat event batch: ${what}`);
}

// One batch. Accessors take the event's index (0 <= i < n).
class FlatBatch {
  constructor(ab) {
    if (!(ab instanceof ArrayBuffer) || ab.byteLength < HEADER_SIZE) throw malformed('shorter than its header');
    const head = new Uint32Array(ab, 0, 4);
    const n = head[0];
    const nstr = head[1];
    const tableLen = head[2];
    const dataLen = head[3];
    const tableAt = HEADER_SIZE + 4 * nstr;
    const colAt = (tableAt + tableLen + 7) & ~7;
    const dataAt = ab.byteLength - dataLen;
    if (nstr < 1 || tableAt + tableLen > ab.byteLength || colAt + n * EVENT_BYTES > dataAt) {
      throw malformed(`${n} events, ${nstr} strings, ${tableLen} table bytes and ${dataLen} data bytes in ${ab.byteLength} bytes`);
    }
    this.n = n;
    this.bytes = new Uint8Array(ab);
    this.offsets = new Uint32Array(ab, HEADER_SIZE, nstr);
    this.tableAt = tableAt;
    this.tableEnd = tableAt + tableLen;
    // Strings hold no 0 byte: the table splits into nstr + 1 pieces, the
    // last one empty.
    this.strings = decoder.decode(new Uint8Array(ab, tableAt, tableLen)).split('\0');
    if (this.strings.length !== nstr + 1 || this.strings[0] !== '') throw malformed(`${this.strings.length - 1} strings, ${nstr} announced`);
    this.owned = null; // strings decoded on their own, by index (see SLICED_MIN)
    this.expires = new Int32Array(ab, colAt, 2 * n); // int64 as (low, high) pairs
    this.askIds = new Uint32Array(ab, colAt + 8 * n, 2 * n);
    this.names = new Uint32Array(ab, colAt + 16 * n, n);
    this.peers = new Uint32Array(ab, colAt + 20 * n, n);
    this.keys = new Uint32Array(ab, colAt + 24 * n, n);
    this.vals = new Uint32Array(ab, colAt + 28 * n, n);
    this.lens = new Uint32Array(ab, colAt + 32 * n, n);
    this.kinds = new Uint8Array(ab, colAt + 36 * n, n);
    this.encs = new Uint8Array(ab, colAt + 37 * n, n);
    this.flags = new Uint8Array(ab, colAt + 38 * n, n);
    this.dataAt = dataAt;
    this.dataLen = dataLen;
  }

  // String i of the table, safe to keep (see SLICED_MIN).
  string(i) {
    const s = this.strings[i];
    if (s === undefined || i >= this.offsets.length) throw malformed(`string ${i} of ${this.offsets.length}`);
    if (s.length < SLICED_MIN) return s;
    if (this.owned === null) this.owned = new Map();
    let own = this.owned.get(i);
    if (own === undefined) {
      const start = this.tableAt + this.offsets[i];
      const end = i + 1 < this.offsets.length ? this.tableAt + this.offsets[i + 1] - 1 : this.tableEnd - 1;
      own = decoder.decode(this.bytes.subarray(start, end));
      this.owned.set(i, own);
    }
    return own;
  }

  name(i) {
    return this.string(this.names[i]);
  }

  peer(i) {
    return this.string(this.peers[i]);
  }

  key(i) {
    return this.string(this.keys[i]);
  }

  kind(i) {
    return this.kinds[i];
  }

  // Unix milliseconds (0: none). Exact: times in milliseconds stay far
  // below 2^53.
  expiresAt(i) {
    return this.expires[2 * i + 1] * 4294967296 + (this.expires[2 * i] >>> 0);
  }

  askId(i) {
    return (BigInt(this.askIds[2 * i + 1]) << 32n) | BigInt(this.askIds[2 * i]);
  }

  // The value as the type it was set as: string (text), Buffer (raw, a
  // copy: the batch is not kept), or the parsed JSON.
  value(i) {
    const enc = this.encs[i];
    if (this.flags[i] & VALUE_STRING) {
      if (enc === JSON_) {
        const s = this.strings[this.vals[i]];
        if (s === undefined) throw malformed(`value string ${this.vals[i]}`);
        return JSON.parse(s);
      }
      const s = this.string(this.vals[i]);
      return enc === RAW ? Buffer.from(s, 'utf8') : s;
    }
    const off = this.vals[i];
    const len = this.lens[i];
    if (off + len > this.dataLen) throw malformed(`value of ${len} bytes at ${off} in ${this.dataLen}`);
    const bytes = this.bytes.subarray(this.dataAt + off, this.dataAt + off + len);
    if (enc === TEXT) return decoder.decode(bytes);
    if (enc === JSON_) return JSON.parse(decoder.decode(bytes));
    return Buffer.from(bytes);
  }
}

module.exports = { FlatBatch, MalformedBatch, KIND, HEADER_SIZE, EVENT_BYTES, VALUE_STRING };
