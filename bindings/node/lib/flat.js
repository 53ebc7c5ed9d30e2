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

// A table of ASCII only (the usual case: names, peers, keys, numbers and
// short texts) is read without splitting it: its byte offsets are then
// also its character offsets, so each string is cut out of the decoded
// table when first asked for (String.prototype.substring, no call into
// C++), and a value, asked for once, is never stored. Splitting made a
// string of every entry up front, about twice the cost per event.
const { isAscii } = require('node:buffer');

// A batch that breaks the layout (not made by the library): its events
// are dropped and the binding says so (lib/telepathine.js).
class MalformedBatch extends Error {}

function malformed(what) {
  return new MalformedBatch(`not a valid flat event batch: ${what}`);
}

// Views of an ArrayBuffer: the addon hands every batch of an engine over
// in the same ArrayBuffer (while batches fit it), so they are made once.
const views = new WeakMap();

function viewsOf(ab) {
  let v = views.get(ab);
  if (v === undefined) {
    const words = ab.byteLength >>> 2;
    v = { u8: new Uint8Array(ab), u32: new Uint32Array(ab, 0, words), i32: new Int32Array(ab, 0, words) };
    views.set(ab, v);
  }
  return v;
}

// One batch: the first len bytes of ab (all of it by default). Accessors
// take the event's index (0 <= i < n). Valid until the next batch is
// written into ab: what it returns is copied out (strings, Buffers), never
// a view.
class FlatBatch {
  constructor(ab, len = ab && ab.byteLength) {
    if (!(ab instanceof ArrayBuffer) || !(len >= HEADER_SIZE && len <= ab.byteLength)) throw malformed('shorter than its header');
    const { u8, u32, i32 } = viewsOf(ab);
    const n = u32[0];
    const nstr = u32[1];
    const tableLen = u32[2];
    const dataLen = u32[3];
    const tableAt = HEADER_SIZE + 4 * nstr;
    const colAt = (tableAt + tableLen + 7) & ~7;
    const dataAt = len - dataLen;
    if (nstr < 1 || tableAt + tableLen > len || colAt + n * EVENT_BYTES > dataAt) {
      throw malformed(`${n} events, ${nstr} strings, ${tableLen} table bytes and ${dataLen} data bytes in ${len} bytes`);
    }
    this.n = n;
    this.bytes = u8;
    this.u32 = u32;
    this.i32 = i32;
    this.nstr = nstr;
    this.tableAt = tableAt;
    this.tableEnd = tableAt + tableLen;
    const tableBytes = u8.subarray(tableAt, tableAt + tableLen);
    this.table = decoder.decode(tableBytes);
    if (isAscii(tableBytes)) {
      // Cut out on demand (ascii, above): strings[i] once asked for. The
      // table's shape is checked at both ends here (string 0 empty, the
      // last one ending at the table's end), each string when cut.
      this.ascii = true;
      this.strings = new Array(nstr);
      this.strings[0] = '';
      if (this.u32[HEADER_SIZE >>> 2] !== 0 || this.table.charCodeAt(0) !== 0) throw malformed('string 0 is not empty');
      this.cut(nstr - 1);
    } else {
      // Strings hold no 0 byte: the table splits into nstr + 1 pieces,
      // the last one empty.
      this.ascii = false;
      this.strings = this.table.split('\0');
      if (this.strings.length !== nstr + 1 || this.strings[0] !== '') throw malformed(`${this.strings.length - 1} strings, ${nstr} announced`);
    }
    // Strings decoded on their own, by index (see SLICED_MIN): an array,
    // not a Map, because a flood asks for the same few (the peer's name is
    // 13 characters or more) once per event.
    this.owned = null;
    // Column starts, in 32-bit words (colAt is a multiple of 8).
    const w = colAt >>> 2;
    this.expiresW = w; // int64 as (low, high) word pairs
    this.askIdsW = w + 2 * n;
    this.namesW = w + 4 * n;
    this.peersW = w + 5 * n;
    this.keysW = w + 6 * n;
    this.valsW = w + 7 * n;
    this.lensW = w + 8 * n;
    this.kindsB = colAt + 36 * n; // bytes
    this.encsB = colAt + 37 * n;
    this.flagsB = colAt + 38 * n;
    this.dataAt = dataAt;
    this.dataLen = dataLen;
  }

  // String i of an ASCII table, cut out of it (a view of the table when
  // SLICED_MIN characters or longer: string() copies those).
  // Its bounds are checked as splitting would: the string runs from its
  // offset to the first 0 byte, which is the byte before the next offset.
  cut(i) {
    if (!(i < this.nstr)) throw malformed(`string ${i} of ${this.nstr}`);
    const offsets = HEADER_SIZE >>> 2;
    const start = this.u32[offsets + i];
    const end = i + 1 < this.nstr ? this.u32[offsets + i + 1] - 1 : this.table.length - 1;
    if (!(start <= end) || this.table.indexOf('\0', start) !== end) throw malformed(`string ${i} at ${start}..${end}`);
    return this.table.substring(start, end);
  }

  // String i of the table, safe to keep (see SLICED_MIN).
  string(i) {
    let s = this.strings[i];
    if (s === undefined) {
      if (!this.ascii || !(i < this.nstr)) throw malformed(`string ${i} of ${this.nstr}`);
      s = this.strings[i] = this.cut(i);
    }
    if (s.length < SLICED_MIN) return s;
    if (this.owned === null) this.owned = new Array(this.nstr);
    let own = this.owned[i];
    if (own === undefined) {
      const offsets = HEADER_SIZE >>> 2;
      const start = this.tableAt + this.u32[offsets + i];
      const end = i + 1 < this.nstr ? this.tableAt + this.u32[offsets + i + 1] - 1 : this.tableEnd - 1;
      if (!(start <= end && end < this.tableEnd)) throw malformed(`string ${i} at ${start}..${end}`);
      own = decoder.decode(this.bytes.subarray(start, end));
      this.owned[i] = own;
    }
    return own;
  }

  name(i) {
    return this.string(this.u32[this.namesW + i]);
  }

  peer(i) {
    return this.string(this.u32[this.peersW + i]);
  }

  key(i) {
    return this.string(this.u32[this.keysW + i]);
  }

  kind(i) {
    return this.bytes[this.kindsB + i];
  }

  // Unix milliseconds (0: none). Exact: times in milliseconds stay far
  // below 2^53.
  expiresAt(i) {
    const at = this.expiresW + 2 * i;
    return this.i32[at + 1] * 4294967296 + this.u32[at];
  }

  askId(i) {
    const at = this.askIdsW + 2 * i;
    return (BigInt(this.u32[at + 1]) << 32n) | BigInt(this.u32[at]);
  }

  // The value as the type it was set as: string (text), Buffer (raw, a
  // copy), or the parsed JSON.
  value(i) {
    const enc = this.bytes[this.encsB + i];
    const v = this.u32[this.valsW + i];
    if (this.bytes[this.flagsB + i] & VALUE_STRING) {
      if (enc === JSON_) {
        const s = this.ascii ? this.cut(v) : this.strings[v];
        if (s === undefined || v >= this.nstr) throw malformed(`value string ${v}`);
        return JSON.parse(s);
      }
      // A value's string is its own (never shared with another field nor
      // event): an ASCII one short enough to be a copy is cut and not kept.
      let s;
      if (this.ascii) {
        s = this.cut(v);
        if (s.length >= SLICED_MIN) s = this.string(v);
      } else {
        s = this.string(v);
      }
      return enc === RAW ? Buffer.from(s, 'utf8') : s;
    }
    const len = this.u32[this.lensW + i];
    if (v + len > this.dataLen) throw malformed(`value of ${len} bytes at ${v} in ${this.dataLen}`);
    const bytes = this.bytes.subarray(this.dataAt + v, this.dataAt + v + len);
    if (enc === TEXT) return decoder.decode(bytes);
    if (enc === JSON_) return JSON.parse(decoder.decode(bytes));
    return Buffer.from(bytes);
  }
}

module.exports = { FlatBatch, MalformedBatch, KIND, HEADER_SIZE, EVENT_BYTES, VALUE_STRING };
