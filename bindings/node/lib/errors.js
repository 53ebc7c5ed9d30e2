'use strict';
// Errors of the binding. Two kinds, as in Node itself:
//   - TypeError (code ERR_INVALID_ARG_TYPE or ERR_INVALID_ARG_VALUE) for an
//     argument the binding rejects before calling the library;
//   - TelepathineError for a status of the library: `code` is the status
//     name of cgo/telepathine.h ("TP_ERR_CLOSED", ...), `status` its number.

class TelepathineError extends Error {
  constructor(message, code, status) {
    super(message);
    this.name = 'TelepathineError';
    this.code = code;
    this.status = status;
  }
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an instance of ${value.constructor ? value.constructor.name : 'Object'}`;
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)})`;
  return `${typeof value} (${String(value)})`;
}

// argType('key', 'a string', 42) -> TypeError: key must be a string, got number (42)
function argType(name, expected, got) {
  const e = new TypeError(`${name} must be ${expected}, got ${describe(got)}`);
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

function argValue(name, reason) {
  const e = new TypeError(`${name} ${reason}`);
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

module.exports = { TelepathineError, argType, argValue };
