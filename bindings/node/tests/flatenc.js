'use strict';
// A writer of flat event batches in JavaScript, for the tests and
// bench/dispatch.js: the layout of tp_events_poll_flat
// (cgo/telepathine.h), written independently of the Go writer
// (cgo/bridge/flat.go) so that the reader (lib/flat.js) is held to the
// documented layout, not to one implementation. Events are
//   { kind, name, peer, key, value: { data: Buffer|string, encoding }, expiresAt: BigInt, askId: BigInt }
// and a value goes to the string table as the Go writer puts it: text
// without a 0 byte, and JSON.

const { HEADER_SIZE, EVENT_BYTES, VALUE_STRING } = require('../lib/flat');

const align8 = (n) => (n + 7) & ~7;

function encodeFlat(events) {
  const table = [];
  const offsets = [];
  const index = new Map();
  let tableLen = 0;
  const newString = (buf) => {
    offsets.push(tableLen);
    table.push(buf, Buffer.from([0]));
    tableLen += buf.length + 1;
    return offsets.length - 1;
  };
  const intern = (s) => {
    if (!index.has(s)) index.set(s, newString(Buffer.from(s, 'utf8')));
    return index.get(s);
  };
  intern('');
  const data = [];
  let dataLen = 0;
  const rows = events.map((e) => {
    const row = { key: e.key ? intern(e.key) : 0, val: 0, len: 0, enc: 0, flags: 0 };
    if (e.value) {
      const bytes = Buffer.from(e.value.data);
      row.enc = e.value.encoding;
      row.len = bytes.length;
      if ((e.value.encoding === 1 && !bytes.includes(0)) || e.value.encoding === 2) {
        row.flags = VALUE_STRING;
        row.val = newString(bytes);
      } else {
        row.val = dataLen;
        data.push(bytes);
        dataLen += bytes.length;
      }
    }
    row.name = intern(e.name);
    row.peer = intern(e.peer);
    return row;
  });
  const n = events.length;
  const colAt = align8(HEADER_SIZE + 4 * offsets.length + tableLen);
  const out = Buffer.alloc(colAt + align8(n * EVENT_BYTES) + dataLen);
  out.writeUInt32LE(n, 0);
  out.writeUInt32LE(offsets.length, 4);
  out.writeUInt32LE(tableLen, 8);
  out.writeUInt32LE(dataLen, 12);
  offsets.forEach((o, i) => out.writeUInt32LE(o, HEADER_SIZE + 4 * i));
  Buffer.concat(table).copy(out, HEADER_SIZE + 4 * offsets.length);
  events.forEach((e, i) => {
    out.writeBigInt64LE(BigInt(e.expiresAt || 0n), colAt + 8 * i);
    out.writeBigUInt64LE(BigInt(e.askId || 0n), colAt + 8 * n + 8 * i);
    const r = rows[i];
    [r.name, r.peer, r.key, r.val, r.len].forEach((v, c) => out.writeUInt32LE(v, colAt + (16 + 4 * c) * n + 4 * i));
    out[colAt + 36 * n + i] = e.kind;
    out[colAt + 37 * n + i] = r.enc;
    out[colAt + 38 * n + i] = r.flags;
  });
  Buffer.concat(data).copy(out, out.length - dataLen);
  // An ArrayBuffer of its own, as the addon hands over.
  const ab = new ArrayBuffer(out.length);
  new Uint8Array(ab).set(out);
  return ab;
}

module.exports = { encodeFlat };
