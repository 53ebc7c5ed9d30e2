'use strict';
// Values cross the C ABI as bytes with an encoding tag, so each language
// gets back the type that was set:
//
//   set from JS                      encoding   read back in JS
//   string                           TEXT       string
//   Buffer, Uint8Array, other views  RAW        Buffer
//   anything else JSON can write     JSON       the parsed value
//   asJSON(x) (a string, say)        JSON       the parsed value
//
// Data of say/ask/reply may be left out: it travels as JSON null.

const { argType, argValue } = require('./errors');

const RAW = 0;
const TEXT = 1;
const JSON_ = 2;

// Forces JSON encoding whatever the JS type: asJSON('x') is the JSON
// document "x" (a plain 'x' would be text).
class JSONValue {
  constructor(value) {
    this.value = value;
  }
}

function asJSON(value) {
  return new JSONValue(value);
}

const WANT = 'a string, a Buffer, a Uint8Array or a JSON-serialisable value';

// encode(value, name, optional) -> [string | Uint8Array, encoding]. Strings
// go to the addon as they are (it writes UTF-8 straight into the call).
function encode(value, name, optional) {
  if (typeof value === 'string') return [value, TEXT];
  if (ArrayBuffer.isView(value)) return [value, RAW];
  if (value instanceof ArrayBuffer) return [new Uint8Array(value), RAW];
  let v = value;
  if (value instanceof JSONValue) {
    v = value.value;
  } else if (value === undefined) {
    if (!optional) throw argType(name, WANT, value);
    v = null;
  }
  let text;
  try {
    text = JSON.stringify(v);
  } catch (e) {
    throw argValue(name, `is not JSON-serialisable: ${e.message}`);
  }
  if (text === undefined) throw argType(name, WANT, value);
  return [text, JSON_];
}

function utf8(u8) {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('utf8');
}

// decode(api.v1.Value) -> the JS value. RAW bytes are copied: the source is
// a view of a larger buffer (a batch of events, a whole KeyValue).
function decode(v) {
  if (!v) return undefined;
  switch (v.encoding) {
    case TEXT:
      return utf8(v.data);
    case JSON_:
      return JSON.parse(utf8(v.data));
    default:
      return Buffer.from(v.data);
  }
}

module.exports = { RAW, TEXT, JSON: JSON_, JSONValue, asJSON, encode, decode };
