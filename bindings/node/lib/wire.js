'use strict';
// Fast decoding of the message on a hot path, telepathine.api.v1.KeyValue
// (every get): protobuf-es's reflective fromBinary takes microseconds, a
// hand-written reader a fraction of one. It returns exactly what
// fromBinary returns (the same fields and types, 64-bit integers as
// BigInt) minus $typeName; tests/wire.test.js holds it to that. Anything
// this reader does not know (a field appended to the schema later, an
// unexpected wire type) makes it hand the message to the generated code
// instead. (Events no longer come as protobuf: lib/flat.js.)

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
  // decodeKeyValue(Buffer) -> api.v1.KeyValue as fromBinary gives it.
  decodeKeyValue: withFallback(fastKeyValue, api.KeyValueSchema),
  // For the tests: the fast reader alone (throws on anything unknown).
  fastKeyValue,
};
