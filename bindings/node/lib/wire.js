'use strict';
// Fast decoding of the two messages on hot paths, telepathine.api.v1.Event
// (every event) and KeyValue (every get): protobuf-es's reflective
// fromBinary takes about 6 us for a 55-byte Event, a hand-written reader
// 0.3 us. Both return exactly what fromBinary returns (the same fields and
// types, 64-bit integers as BigInt) minus $typeName; tests/wire.test.js
// holds them to it on every kind of event. Anything this reader does not
// know (a field appended to the schema later, an unexpected wire type)
// makes it hand the message to the generated code instead.

const { fromBinary } = require('@bufbuild/protobuf');
const api = require('../gen/telepathine/api/v1/api_pb.js');

class Unknown extends Error {}
const UNKNOWN = new Unknown('not known to the fast reader');

class Reader {
  constructor(buf, start, end) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  // A varint as a Number (exact below 2^53) or, beyond 7 bytes, a BigInt.
  varint() {
    const buf = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw UNKNOWN;
      const b = buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    let big = BigInt(result);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (this.pos >= this.end) throw UNKNOWN;
      const b = buf[this.pos++];
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return big;
      shift += 7n;
    }
    throw UNKNOWN;
  }

  uint64() {
    return BigInt.asUintN(64, BigInt(this.varint()));
  }

  int64() {
    return BigInt.asIntN(64, BigInt(this.varint()));
  }

  length() {
    const n = this.varint();
    if (typeof n !== 'number' || this.pos + n > this.end) throw UNKNOWN;
    return n;
  }

  string() {
    const n = this.length();
    const s = this.buf.utf8Slice(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  bytes() {
    const n = this.length();
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  sub() {
    const n = this.length();
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  // The next field's tag (number << 3 | wire type), or null at the end.
  tag() {
    if (this.pos >= this.end) return null;
    const t = this.varint();
    if (typeof t !== 'number') throw UNKNOWN;
    return t;
  }
}

const VARINT = 0;
const LEN = 2;

// An enum (int32 on the wire; negative ones take 10 bytes).
function int32(v) {
  return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
}

function expect(tag, wire) {
  if ((tag & 7) !== wire) throw UNKNOWN;
}

function value(r) {
  const v = { data: new Uint8Array(0), encoding: 0 };
  for (let t; (t = r.tag()) !== null; ) {
    switch (t >>> 3) {
      case 1:
        expect(t, LEN);
        v.data = r.bytes();
        break;
      case 2:
        expect(t, VARINT);
        v.encoding = int32(r.varint());
        break;
      default:
        throw UNKNOWN;
    }
  }
  return v;
}

// KeyChange (set, delete, expired), Said (say), Asked (ask): one reader,
// the fields they share have the same numbers.
function detail(r, kind) {
  // Absent message fields are absent properties, as with fromBinary.
  const d = kind === 'say' || kind === 'ask' ? { event: '', expiresAtMs: 0n } : { key: '', expiresAtMs: 0n };
  if (kind === 'ask') d.askId = 0n;
  for (let t; (t = r.tag()) !== null; ) {
    const n = t >>> 3;
    if (n === 1) {
      expect(t, LEN);
      if (kind === 'say' || kind === 'ask') d.event = r.string();
      else d.key = r.string();
    } else if (n === 2) {
      expect(t, LEN);
      if (kind === 'say' || kind === 'ask') d.data = value(r.sub());
      else d.value = value(r.sub());
    } else if (n === 3) {
      expect(t, VARINT);
      d.expiresAtMs = r.int64();
    } else if (n === 4 && kind === 'ask') {
      expect(t, VARINT);
      d.askId = r.uint64();
    } else {
      throw UNKNOWN;
    }
  }
  return d;
}

// Event oneof field numbers -> protobuf-es case names.
const KINDS = {
  10: 'start', 11: 'stop', 12: 'set', 13: 'delete', 14: 'expired', 15: 'say', 16: 'ask', 17: 'peerNew', 18: 'peerAlive', 19: 'peerDead',
};
const EMPTY_KINDS = new Set(['start', 'stop', 'peerNew', 'peerAlive', 'peerDead']);

function fastEvent(buf) {
  const r = new Reader(buf, 0, buf.length);
  const ev = { name: '', peer: '', kind: { case: undefined } };
  for (let t; (t = r.tag()) !== null; ) {
    const n = t >>> 3;
    if (n === 1) {
      expect(t, LEN);
      ev.name = r.string();
    } else if (n === 2) {
      expect(t, LEN);
      ev.peer = r.string();
    } else if (KINDS[n]) {
      expect(t, LEN);
      const kind = KINDS[n];
      const sub = r.sub();
      if (EMPTY_KINDS.has(kind)) {
        if (sub.tag() !== null) throw UNKNOWN;
        ev.kind = { case: kind, value: {} };
      } else {
        ev.kind = { case: kind, value: detail(sub, kind) };
      }
    } else {
      throw UNKNOWN;
    }
  }
  return ev;
}

function fastKeyValue(buf) {
  const r = new Reader(buf, 0, buf.length);
  const kv = { peer: '', key: '', expiresAtMs: 0n, version: 0n };
  for (let t; (t = r.tag()) !== null; ) {
    switch (t >>> 3) {
      case 1:
        expect(t, LEN);
        kv.peer = r.string();
        break;
      case 2:
        expect(t, LEN);
        kv.key = r.string();
        break;
      case 3:
        expect(t, LEN);
        kv.value = value(r.sub());
        break;
      case 4:
        expect(t, VARINT);
        kv.expiresAtMs = r.int64();
        break;
      case 5:
        expect(t, VARINT);
        kv.version = r.uint64();
        break;
      default:
        throw UNKNOWN;
    }
  }
  return kv;
}

function withFallback(fast, schema) {
  return (buf) => {
    try {
      return fast(buf);
    } catch (e) {
      if (!(e instanceof Unknown)) throw e;
      return fromBinary(schema, buf);
    }
  };
}

module.exports = {
  // decodeEvent(Buffer) -> api.v1.Event as fromBinary gives it.
  decodeEvent: withFallback(fastEvent, api.EventSchema),
  // decodeKeyValue(Buffer) -> api.v1.KeyValue as fromBinary gives it.
  decodeKeyValue: withFallback(fastKeyValue, api.KeyValueSchema),
  // For the tests: the fast readers alone (throw on anything unknown).
  fastEvent,
  fastKeyValue,
};
