/**
 * An allocation-free check of JSON-lines bytes, for files whose records are
 * checked and then never read.
 *
 * {@linkcode validateJsonLines} walks the bytes once and decides what
 * `parseJsonLines` (json.ts) followed by a record check would decide, without
 * building a single value: grammar as V8's `JSON.parse` accepts it, nesting
 * depth as `_checkTree` counts it, numbers that overflow to `Infinity`, and
 * the types (and, for chosen fields, the values) of a record's top-level
 * fields, and I-JSON (no object with two members of one name, no lone
 * surrogate). It only ever says "valid" (the record count) or "not sure"
 * (`-1`): invalid input, and anything it cannot decide cheaply (a member name
 * holding an escape, an object of more than {@linkcode MAX_COMPARED_MEMBERS}
 * members, nesting deeper than {@linkcode MAX_TRACKED_DEPTH}), goes back to
 * the exact path, which decides and words the error.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { WASM_BASE64 } from "./jsonl_validate_wasm.ts";

/** Type code of a captured field that the record does not hold. */
export const T_ABSENT = 0;
/** Type code of a non-empty string. */
export const T_STRING = 1;
/** Type code of the empty string `""`. */
export const T_EMPTY_STRING = 2;
/** Type code of a number. */
export const T_NUMBER = 3;
/** Type code of `true`. */
export const T_TRUE = 4;
/** Type code of `false`. */
export const T_FALSE = 5;
/** Type code of `null`. */
export const T_NULL = 6;
/** Type code of an array. */
export const T_ARRAY = 7;
/** Type code of an object. */
export const T_OBJECT = 8;

/** The top-level fields of a record to capture the types of. */
export interface RecordShape {
  /** Field names (plain ASCII or UTF-8); `types[k]` is the type code of `fields[k]`. */
  readonly fields: readonly string[];
  /**
   * Per field, the type codes it may have, as a mask (see {@linkcode typeMask});
   * a record whose field has another type is refused. A missing mask accepts any.
   */
  readonly types?: readonly number[];
}

/** Every type code, absent included. */
const _ANY_TYPE = 0x1ff;

/**
 * A mask of type codes, for {@linkcode RecordShape.types}.
 * @param codes the accepted type codes (`T_ABSENT`, `T_STRING`, …)
 * @returns the mask
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { T_ABSENT, T_ARRAY, T_STRING, typeMask, validateJsonLines } from "./jsonl_validate.ts";
 * const shape = { fields: ["id", "tags"], types: [typeMask(T_STRING), typeMask(T_ABSENT, T_ARRAY)] };
 * const lines = (text: string) => validateJsonLines(new TextEncoder().encode(text), 64, shape);
 * assert.equal(lines('{"id":"a","tags":[]}\n{"id":"b"}\n'), 2);
 * assert.equal(lines('{"id":"a","tags":"x"}\n'), -1);
 * ```
 */
export function typeMask(...codes: number[]): number {
  let mask = 0;
  for (const code of codes) mask |= 1 << code;
  return mask & _ANY_TYPE;
}

/**
 * The type code of a parsed JSON value, as the walks classify it.
 * @param value the value (`undefined` for a field the record does not hold)
 * @returns its type code (`T_ABSENT` for `undefined`)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { T_EMPTY_STRING, T_OBJECT, typeCodeOf } from "./jsonl_validate.ts";
 * assert.equal(typeCodeOf(""), T_EMPTY_STRING);
 * assert.equal(typeCodeOf({}), T_OBJECT);
 * ```
 */
export function typeCodeOf(value: unknown): number {
  if (value === undefined) return T_ABSENT;
  if (typeof value === "string") return value === "" ? T_EMPTY_STRING : T_STRING;
  if (typeof value === "number") return T_NUMBER;
  if (value === true) return T_TRUE;
  if (value === false) return T_FALSE;
  if (value === null) return T_NULL;
  return Array.isArray(value) ? T_ARRAY : T_OBJECT;
}

/**
 * Whether a parsed record's own fields have the types a {@linkcode RecordShape}
 * allows: what the walks check of a record, for a record already parsed.
 * @param shape the fields and their type masks
 * @param record the parsed record
 * @returns true when every field's type is in its mask
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shapeAccepts, T_ABSENT, T_STRING, typeMask } from "./jsonl_validate.ts";
 * const shape = { fields: ["id", "note"], types: [typeMask(T_STRING), typeMask(T_ABSENT, T_STRING)] };
 * assert.equal(shapeAccepts(shape, { id: "a" }), true);
 * assert.equal(shapeAccepts(shape, { id: "a", note: 1 }), false);
 * ```
 */
export function shapeAccepts(shape: RecordShape, record: Record<string, unknown>): boolean {
  const { fields, types } = shape;
  for (let k = 0; k < fields.length; k++) {
    const mask = types?.[k] ?? _ANY_TYPE;
    const value = Object.hasOwn(record, fields[k]) ? record[fields[k]] : undefined;
    if (((mask >> typeCodeOf(value)) & 1) === 0) return false;
  }
  return true;
}

/**
 * Decides whether a record's captured field types are acceptable.
 * @param types the type code of each field of the {@linkcode RecordShape}, in its order
 * @returns true to accept the record
 */
export type RecordTypesCheck = (types: Uint8Array) => boolean;

/**
 * The deepest nesting the validator follows; deeper (but allowed) nesting
 * makes it answer "not sure".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_TRACKED_DEPTH, validateJsonLines } from "./jsonl_validate.ts";
 * const deep = "[".repeat(MAX_TRACKED_DEPTH + 1) + "]".repeat(MAX_TRACKED_DEPTH + 1);
 * assert.equal(validateJsonLines(new TextEncoder().encode(deep), Infinity), -1);
 * ```
 */
export const MAX_TRACKED_DEPTH = 4096;

/**
 * The most members of one object whose names the walks compare (each new
 * name with the object's earlier ones; a record's captured fields are not
 * counted, they are told apart by their types); a larger object makes them
 * answer "not sure", and the exact path, linear in any case, decides.
 *
 * @example
 * ```ts
 * import { MAX_COMPARED_MEMBERS, validateJsonLines } from "./jsonl_validate.ts";
 * import assert from "node:assert/strict";
 * const wide = (n: number) =>
 *   JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, k) => [`k${k}`, k])));
 * const lines = (text: string) => validateJsonLines(new TextEncoder().encode(text), 64);
 * assert.equal(lines(wide(MAX_COMPARED_MEMBERS)), 1);
 * assert.equal(lines(wide(MAX_COMPARED_MEMBERS + 1)), -1);
 * assert.equal(lines('{"a":1,"a":1}'), -1);
 * ```
 */
export const MAX_COMPARED_MEMBERS = 32;

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const ONE = 0x31;
const NINE = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** For each byte after a backslash: 1 for a one-letter escape, 2 for `u`, 0 for none. */
const _ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') _ESCAPE[c.charCodeAt(0)] = 1;
_ESCAPE[0x75] = 2;

/** 1 for an ASCII hex digit. */
const _HEX = new Uint8Array(256);
for (const c of "0123456789abcdefABCDEF") _HEX[c.charCodeAt(0)] = 1;

/** Number tokens are ASCII; decoding one is the only allocation, and a rare one. */
const _ascii = new TextDecoder();
const _encoder = new TextEncoder();

/** Whether the string last skipped by {@linkcode _skipString} held a backslash escape. */
let _escaped = false;

/**
 * Skip a `\\u` escape whose four hex digits are checked.
 * @param bytes the text
 * @param i the index of its backslash
 * @returns the index after it (and after the low half of a surrogate pair), or -1 for a lone
 *   surrogate, which I-JSON refuses
 */
function _skipUnicodeEscape(bytes: Uint8Array, i: number): number {
  if ((bytes[i + 2] | 0x20) !== 0x64) return i + 6; // not \\uD...: no surrogate
  const second = bytes[i + 3] | 0x20;
  if (second === 0x38 || second === 0x39 || second === 0x61 || second === 0x62) {
    // A high surrogate, D800 to DBFF: a low one, DC00 to DFFF, must follow at once.
    if (bytes[i + 6] !== BACKSLASH || bytes[i + 7] !== 0x75 || (bytes[i + 8] | 0x20) !== 0x64) {
      return -1;
    }
    const low = bytes[i + 9] | 0x20;
    if (!(low >= 0x63 && low <= 0x66) || _HEX[bytes[i + 10]] !== 1 || _HEX[bytes[i + 11]] !== 1) {
      return -1;
    }
    return i + 12;
  }
  return second >= 0x63 && second <= 0x66 ? -1 : i + 6; // DC00 to DFFF alone
}

/**
 * Skip a JSON string's body.
 * @param bytes the text
 * @param i the index just after the opening quote
 * @returns the index just after the closing quote, or -1 when the string is malformed or unterminated
 */
function _skipString(bytes: Uint8Array, i: number): number {
  _escaped = false;
  for (;;) {
    let c = bytes[i];
    // Out of bounds, `c` is undefined and every comparison is false, so the loop stops.
    while (c >= SPACE && c !== QUOTE && c !== BACKSLASH) c = bytes[++i];
    if (c === QUOTE) return i + 1;
    if (c !== BACKSLASH) return -1; // a control character, or the end of the bytes
    _escaped = true;
    const kind = _ESCAPE[bytes[i + 1]];
    if (kind === 1) {
      i += 2;
    } else if (
      kind === 2 && _HEX[bytes[i + 2]] === 1 && _HEX[bytes[i + 3]] === 1 &&
      _HEX[bytes[i + 4]] === 1 && _HEX[bytes[i + 5]] === 1
    ) {
      i = _skipUnicodeEscape(bytes, i);
      if (i < 0) return -1;
    } else {
      return -1;
    }
  }
}

/**
 * Check JSON-lines bytes without building any value: every line that is not
 * blank (`\n`-separated; blank means only spaces, tabs and `\r`) must be
 * exactly one JSON value nested at most `maxDepth` deep (`[]` has depth 1)
 * with no number that overflows to `Infinity`. With a `shape`, each line must
 * also be an object, and the types of its top-level `shape.fields` (the last
 * of duplicate keys, as `JSON.parse` keeps) must satisfy `accept`. With
 * `expected`, each named top-level field must be absent or a string equal to
 * the given value.
 *
 * It walks the bytes in WebAssembly, skipping string bodies 16 bytes at a
 * time ({@linkcode validateJsonLinesWasm}), or in JavaScript
 * ({@linkcode validateJsonLinesJs}) where WebAssembly with SIMD is missing or
 * busy; both give the same answers.
 *
 * The answer is exact when it is a count: `parseJsonLines` would accept the
 * bytes and give that many records, and the record checks would accept each.
 * `-1` means invalid or not sure: ask the exact path. The bytes may be
 * anything (including malformed UTF-8 or a byte order mark); nothing throws
 * and, but for a number with an exponent or more than 15 integer digits,
 * nothing is allocated per line or per token.
 *
 * @param bytes UTF-8 JSON lines
 * @param maxDepth the deepest nesting of arrays and objects accepted
 * @param shape top-level fields whose types are captured for `accept`
 * @param accept the check of each record's captured types
 * @param expected top-level fields that must be absent or equal to a string
 * @returns the number of records when all is valid and certain, else -1
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { T_STRING, validateJsonLines } from "./jsonl_validate.ts";
 * const bytes = new TextEncoder().encode('{"id":"a","env":"E"}\n\n{"id":"b"}\n');
 * const shape = { fields: ["id"] };
 * const hasId = (types: Uint8Array) => types[0] === T_STRING;
 * assert.equal(validateJsonLines(bytes, 64, shape, hasId, { env: "E" }), 2);
 * assert.equal(validateJsonLines(bytes, 64, shape, hasId, { env: "F" }), -1);
 * assert.equal(validateJsonLines(new TextEncoder().encode("[1e999]"), 64), -1);
 * ```
 */
export function validateJsonLines(
  bytes: Uint8Array,
  maxDepth: number,
  shape?: RecordShape,
  accept?: RecordTypesCheck,
  expected?: Readonly<Record<string, string>>,
): number {
  return validateJsonLinesWasm(bytes, maxDepth, shape, accept, expected) ??
    validateJsonLinesJs(bytes, maxDepth, shape, accept, expected);
}

/**
 * {@linkcode validateJsonLines} in plain JavaScript, one byte at a time: the
 * reference the WebAssembly walk is tested against, and the fallback where
 * WebAssembly (with SIMD) is not available. Same arguments, same answers.
 *
 * @param bytes UTF-8 JSON lines
 * @param maxDepth the deepest nesting of arrays and objects accepted
 * @param shape top-level fields whose types are captured for `accept`
 * @param accept the check of each record's captured types
 * @param expected top-level fields that must be absent or equal to a string
 * @returns the number of records when all is valid and certain, else -1
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateJsonLinesJs } from "./jsonl_validate.ts";
 * assert.equal(validateJsonLinesJs(new TextEncoder().encode('{"a":1}\n[2]\n'), 64), 2);
 * ```
 */
export function validateJsonLinesJs(
  bytes: Uint8Array,
  maxDepth: number,
  shape?: RecordShape,
  accept?: RecordTypesCheck,
  expected?: Readonly<Record<string, string>>,
): number {
  if (!_checkable(bytes, maxDepth)) return -1;
  // One element kind at every call site keeps the loops monomorphic (a Buffer is a subclass).
  if (bytes.constructor !== Uint8Array) {
    bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const { fieldCount, nameBytes, nameEnds, expectMode, expectedBytes, masks, records } = _fields(
    shape,
    expected,
  );
  const types = new Uint8Array(fieldCount);
  const matched = new Uint8Array(fieldCount);

  const depthLimit = Math.min(maxDepth, MAX_TRACKED_DEPTH);
  /** 1 when the container at that depth is an object. */
  const isObject = new Uint8Array(depthLimit + 1);
  const n = bytes.length;
  const names = _names(depthLimit, n);
  let i = 0;
  let count = 0;
  while (i < n) {
    let c = bytes[i];
    while (c === SPACE || c === TAB || c === CR) c = bytes[++i];
    if (i >= n) break;
    if (c === LF) {
      i++;
      continue;
    }
    if (records) {
      if (c !== OPEN_BRACE) return -1;
      for (let k = 0; k < fieldCount; k++) types[k] = T_ABSENT;
    }
    let depth = 0;
    /** The captured field the next value belongs to, or -1. */
    let field = -1;
    value: for (;;) {
      // `i` is at the first byte of a value.
      c = bytes[i];
      if (c === QUOTE) {
        const start = i + 1;
        i = _skipString(bytes, start);
        if (i < 0) return -1;
        if (field >= 0) {
          const length = i - 1 - start;
          types[field] = length === 0 ? T_EMPTY_STRING : T_STRING;
          const mode = expectMode[field];
          if (mode !== 0) {
            if (mode === 2 || _escaped) return -1;
            matched[field] = _sameBytes(bytes, start, length, expectedBytes[field]!) ? 1 : 0;
          }
        }
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (++depth > depthLimit) return -1;
        if (field >= 0) types[field] = c === OPEN_BRACE ? T_OBJECT : T_ARRAY;
        field = -1;
        const opener = c;
        c = bytes[++i];
        while (c === SPACE || c === TAB || c === CR) c = bytes[++i];
        if (opener === OPEN_BRACKET) {
          isObject[depth] = 0;
          if (c !== CLOSE_BRACKET) continue value;
          i++;
          depth--;
        } else {
          isObject[depth] = 1;
          if (c !== CLOSE_BRACE) {
            names.from[depth] = names.top;
            names.filters[depth] = 0;
            i = _member(bytes, i, depth === 1 ? fieldCount : 0, nameBytes, nameEnds, names, depth);
            if (i < 0) return -1;
            field = _field;
            if (field >= 0 && types[field] !== T_ABSENT) return -1; // a captured field twice
            continue value;
          }
          i++;
          depth--;
        }
      } else if (c === 0x74) { // true
        if (bytes[i + 1] !== 0x72 || bytes[i + 2] !== 0x75 || bytes[i + 3] !== 0x65) return -1;
        i += 4;
        if (field >= 0) types[field] = T_TRUE;
      } else if (c === 0x66) { // false
        if (
          bytes[i + 1] !== 0x61 || bytes[i + 2] !== 0x6c || bytes[i + 3] !== 0x73 ||
          bytes[i + 4] !== 0x65
        ) return -1;
        i += 5;
        if (field >= 0) types[field] = T_FALSE;
      } else if (c === 0x6e) { // null
        if (bytes[i + 1] !== 0x75 || bytes[i + 2] !== 0x6c || bytes[i + 3] !== 0x6c) return -1;
        i += 4;
        if (field >= 0) types[field] = T_NULL;
      } else {
        i = _skipNumber(bytes, i);
        if (i < 0) return -1;
        if (field >= 0) types[field] = T_NUMBER;
      }
      field = -1;
      // After a value: a separator, or closers until one is followed by a separator.
      for (;;) {
        c = bytes[i];
        while (c === SPACE || c === TAB || c === CR) c = bytes[++i];
        if (depth === 0) {
          if (c !== LF && i < n) return -1;
          i++;
          break value;
        }
        if (c === COMMA) {
          c = bytes[++i];
          while (c === SPACE || c === TAB || c === CR) c = bytes[++i];
          if (isObject[depth] === 1) {
            i = _member(bytes, i, depth === 1 ? fieldCount : 0, nameBytes, nameEnds, names, depth);
            if (i < 0) return -1;
            field = _field;
            if (field >= 0 && types[field] !== T_ABSENT) return -1; // a captured field twice
          }
          continue value;
        }
        if (c !== (isObject[depth] === 1 ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
        if (isObject[depth] === 1) names.top = names.from[depth];
        i++;
        depth--;
      }
    }
    count++;
    if (records) {
      for (let k = 0; k < fieldCount; k++) {
        if (expectMode[k] === 0 || types[k] === T_ABSENT) continue;
        if (matched[k] !== 1 || (types[k] !== T_STRING && types[k] !== T_EMPTY_STRING)) return -1;
      }
      for (let k = 0; k < fieldCount; k++) if (((masks[k] >> types[k]) & 1) === 0) return -1;
      if (accept !== undefined && !accept(types)) return -1;
    }
  }
  return count;
}

/** The captured field whose key {@linkcode _member} last read, or -1. */
let _field = -1;

/**
 * The member names of the open objects, for I-JSON's one name per member:
 * where each name starts and how long it is, the names of the object at
 * depth `d` from `from[d]` to `top` (or to the next object's `from`), and a
 * filter of them (`filters[d]`: one bit per name, picked by a hash) that
 * spares comparing a name whose bit is clear.
 */
interface _Names {
  starts: Int32Array;
  lengths: Int32Array;
  from: Int32Array;
  filters: Int32Array;
  top: number;
}

function _names(depthLimit: number, n: number): _Names {
  // At most MAX_COMPARED_MEMBERS per open object, and a member takes 4 bytes at least.
  const room = Math.min(depthLimit * MAX_COMPARED_MEMBERS, (n >> 2) + 2);
  return {
    starts: new Int32Array(room),
    lengths: new Int32Array(room),
    from: new Int32Array(depthLimit + 2),
    filters: new Int32Array(depthLimit + 2),
    top: 0,
  };
}

/**
 * Read an object member's key, the colon and the white space after it; set
 * {@linkcode _field} to the index of the captured field the key names.
 * @param bytes the text
 * @param i the index of the key's opening quote
 * @param fieldCount how many captured fields to match (0 below the top level)
 * @param names the captured fields' names as UTF-8
 * @param seen the names of the open objects
 * @param depth the depth of the key's object
 * @returns the index of the member's value, or -1 when malformed or when not sure that the key
 *   is the only one of its name in its object
 */
function _member(
  bytes: Uint8Array,
  i: number,
  fieldCount: number,
  names: Uint8Array,
  nameEnds: Int32Array,
  seen: _Names,
  depth: number,
): number {
  _field = -1;
  if (bytes[i] !== QUOTE) return -1;
  const start = i + 1;
  i = _skipString(bytes, start);
  if (i < 0) return -1;
  // An escaped key might equal another (or a captured field) once decoded.
  if (_escaped) return -1;
  const length = i - 1 - start;
  if (fieldCount > 0) {
    for (let k = 0, nameStart = 0; k < fieldCount; nameStart = nameEnds[k++]) {
      if (nameEnds[k] - nameStart !== length) continue;
      let same = 0;
      while (same < length && bytes[start + same] === names[nameStart + same]) same++;
      if (same === length) {
        _field = k;
        break;
      }
    }
  }
  // A captured field twice is found by its type, already set (see the callers); any other name
  // is compared with its object's earlier ones.
  if (_field < 0) {
    const { starts, lengths } = seen;
    const from = seen.from[depth];
    if (seen.top - from >= MAX_COMPARED_MEMBERS) return -1;
    const bit = 1 << ((length * 31 + bytes[start] * 7 + bytes[i - 2]) & 31);
    if ((seen.filters[depth] & bit) !== 0) {
      for (let k = from; k < seen.top; k++) {
        if (lengths[k] !== length) continue;
        const other = starts[k];
        let same = 0;
        while (same < length && bytes[start + same] === bytes[other + same]) same++;
        if (same === length) return -1; // a name twice: the exact path names it
      }
    }
    seen.filters[depth] |= bit;
    starts[seen.top] = start;
    lengths[seen.top++] = length;
  }
  let c = bytes[i];
  while (c === SPACE || c === TAB || c === CR) c = bytes[++i];
  if (c !== COLON) return -1;
  c = bytes[++i];
  while (c === SPACE || c === TAB || c === CR) c = bytes[++i];
  return i;
}

/** Whether `bytes[start..start+length)` equals `other`. */
function _sameBytes(bytes: Uint8Array, start: number, length: number, other: Uint8Array): boolean {
  if (other.length !== length) return false;
  for (let k = 0; k < length; k++) if (bytes[start + k] !== other[k]) return false;
  return true;
}

/**
 * Skip a number token and check that it is finite.
 * @param bytes the text
 * @param i the index of its first byte
 * @returns the index after it, or -1 when malformed or overflowing to `Infinity`
 */
function _skipNumber(bytes: Uint8Array, i: number): number {
  const start = i;
  let c = bytes[i];
  if (c === MINUS) c = bytes[++i];
  const integerStart = i;
  if (c === ZERO) {
    c = bytes[++i];
  } else if (c >= ONE && c <= NINE) {
    do c = bytes[++i]; while (c >= ZERO && c <= NINE);
  } else {
    return -1;
  }
  // Without an exponent, 15 digits are far below 1.8e308: only longer integers need a look.
  let mayOverflow = i - integerStart > 15;
  if (c === DOT) {
    c = bytes[++i];
    if (!(c >= ZERO && c <= NINE)) return -1;
    do c = bytes[++i]; while (c >= ZERO && c <= NINE);
  }
  if (c === 0x65 || c === 0x45) {
    mayOverflow = true;
    c = bytes[++i];
    if (c === PLUS || c === MINUS) c = bytes[++i];
    if (!(c >= ZERO && c <= NINE)) return -1;
    do c = bytes[++i]; while (c >= ZERO && c <= NINE);
  }
  // Number() reads the JSON number grammar as JSON.parse does, with the same rounding.
  if (mayOverflow && !Number.isFinite(Number(_ascii.decode(bytes.subarray(start, i))))) return -1;
  return i;
}

/** Whether the arguments can be walked at all: a sane depth, and well-formed UTF-8 bytes. */
function _checkable(bytes: Uint8Array, maxDepth: number): boolean {
  if (!(maxDepth >= 0) || (maxDepth !== Infinity && !Number.isInteger(maxDepth))) return false;
  return bytes instanceof Uint8Array && isUtf8(bytes);
}

/** The captured fields, laid out for a quick match by either walk. */
interface _Fields {
  fieldCount: number;
  /** The names' UTF-8 bytes end to end, `nameEnds[k]` after the k-th. */
  nameBytes: Uint8Array;
  nameEnds: Int32Array;
  /** Per field: 0 no expected value, 1 compare with `expectedBytes`, 2 any value is "not sure". */
  expectMode: Uint8Array;
  expectedBytes: (Uint8Array | undefined)[];
  /** Per field, the type codes it may have (a mask). */
  masks: Uint16Array;
  /** Whether each line must be an object whose fields are captured. */
  records: boolean;
}

function _fields(
  shape: RecordShape | undefined,
  expected: Readonly<Record<string, string>> | undefined,
): _Fields {
  // The captured fields: the shape's, then any expected field it lacks.
  const names = [...(shape?.fields ?? [])];
  for (const name of Object.keys(expected ?? {})) if (!names.includes(name)) names.push(name);
  const fieldCount = names.length;
  const encodedNames = names.map((name) => _encoder.encode(name));
  const nameEnds = new Int32Array(fieldCount);
  const nameBytes = new Uint8Array(encodedNames.reduce((sum, name) => sum + name.length, 0));
  for (let k = 0, end = 0; k < fieldCount; k++) {
    nameBytes.set(encodedNames[k], end);
    end += encodedNames[k].length;
    nameEnds[k] = end;
  }
  const expectMode = new Uint8Array(fieldCount);
  const expectedBytes: (Uint8Array | undefined)[] = names.map(() => undefined);
  for (const [name, value] of Object.entries(expected ?? {})) {
    const k = names.indexOf(name);
    // A lone surrogate has no UTF-8 bytes to compare with.
    if (value.isWellFormed()) {
      expectMode[k] = 1;
      expectedBytes[k] = _encoder.encode(value);
    } else {
      expectMode[k] = 2;
    }
  }
  const masks = new Uint16Array(fieldCount).fill(_ANY_TYPE);
  shape?.types?.forEach((mask, k) => {
    if (k < fieldCount && mask !== undefined) masks[k] = mask & _ANY_TYPE;
  });
  return {
    fieldCount,
    nameBytes,
    nameEnds,
    expectMode,
    expectedBytes,
    masks,
    records: fieldCount > 0 || shape !== undefined,
  };
}

// --- WebAssembly ---------------------------------------------------------------

/** The most captured fields the WebAssembly walk has room for (its layout holds 64). */
const _WASM_MAX_FIELDS = 64;
/** Inputs up to this size reuse one instance; a larger one gets its own, dropped after. */
const _WASM_KEPT_BYTES = 16 * 1024 * 1024;
/** Where the names start in the validator's layout, from its base (see wasm/assembly/). */
const _WASM_NAMES = 1152;
/** Where the per-field type masks (u16) start in the validator's layout. */
const _WASM_MASKS = 960;
const _WASM_PAGE = 65536;

type _WasmValidate = (
  data: number,
  n: number,
  depthLimit: number,
  stack: number,
  cfg: number,
  fieldCount: number,
  records: number,
  hasAccept: number,
  names: number,
) => number;

/**
 * The bytes the walks' member names take (see `uniqueName` in wasm/assembly/):
 * 16 bytes per depth, then 16 per name of the open objects. Internal.
 * @param depthLimit the deepest nesting walked
 * @param n the input's length
 * @returns the size, a multiple of 16
 */
export function _wasmNamesSize(depthLimit: number, n: number): number {
  const records = Math.min(depthLimit * MAX_COMPARED_MEMBERS, (n >> 2) + 2);
  return (depthLimit + 2) * 16 + records * 16;
}

/**
 * An instance of the walks in wasm/assembly/jsonl_validate.ts. Internal: for
 * this module and core/canon_scan.ts.
 */
export interface _WasmWalks {
  memory: WebAssembly.Memory;
  /** Where the host may lay out data: after the module's static data, on a 16-byte boundary. */
  base: number;
  validate: _WasmValidate;
  scanCanon(
    data: number,
    n: number,
    depthLimit: number,
    stack: number,
    out: number,
    maxEntries: number,
    dst: number,
    names: number,
  ): number;
  packKeys(
    out: number,
    count: number,
    dst: number,
    keys: number,
    ends: number,
    table: number,
    bits: number,
  ): number;
  scanGraph(
    data: number,
    n: number,
    depthLimit: number,
    stack: number,
    nodeCfg: number,
    edgeCfg: number,
    out: number,
    maxRecords: number,
    dst: number,
    keys: number,
    names: number,
    lines: number,
  ): number;
  hashKeys(
    keys: number,
    ends: number,
    count: number,
    out: number,
    k0Low: number,
    k0High: number,
    k1Low: number,
    k1High: number,
  ): void;
}

/** The compiled module; `null` once it is known not to compile here (no SIMD, no WebAssembly). */
let _wasmModule: WebAssembly.Module | null | undefined;
let _wasmKept: _WasmWalks | undefined;
/** The call in progress: what the host functions answer from. */
let _wasmCall:
  | { memory: WebAssembly.Memory; accept?: RecordTypesCheck; types?: Uint8Array }
  | undefined;

/**
 * Run `use` on an instance whose memory holds at least `size` bytes from its
 * base, with the host functions answering for this call. Internal.
 * @param size the bytes the call lays out from `base`
 * @param accept the record check the walk may ask for
 * @param use the call
 * @returns what `use` returns, or undefined when no instance can take the call
 *   (no WebAssembly with SIMD here, or a walk already in progress)
 */
export function _withWasm<T>(
  size: number,
  accept: RecordTypesCheck | undefined,
  use: (walks: _WasmWalks, call: { types?: Uint8Array }) => T,
): T | undefined {
  if (_wasmCall !== undefined) return undefined;
  const walks = _wasmInstance(size);
  if (walks === undefined) return undefined;
  const { memory, base } = walks;
  if (memory.buffer.byteLength < base + size) {
    try {
      memory.grow(Math.ceil((base + size - memory.buffer.byteLength) / _WASM_PAGE));
    } catch {
      return undefined; // more than WebAssembly memory can hold: the JavaScript path decides
    }
  }
  const call: { memory: WebAssembly.Memory; accept?: RecordTypesCheck; types?: Uint8Array } = {
    memory,
    accept,
  };
  _wasmCall = call;
  try {
    return use(walks, call);
  } finally {
    _wasmCall = undefined;
  }
}

function _wasmInstance(size: number): _WasmWalks | undefined {
  if (_wasmModule === undefined) {
    try {
      _wasmModule = new WebAssembly.Module(
        Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0)),
      );
    } catch {
      _wasmModule = null;
    }
  }
  if (_wasmModule === null) return undefined;
  if (size <= _WASM_KEPT_BYTES && _wasmKept) return _wasmKept;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(_wasmModule, {
      env: { finite: _hostFinite, accept: _hostAccept, canonicalNumber: _hostCanonicalNumber },
    });
  } catch {
    return undefined;
  }
  const exports = instance.exports as unknown as Omit<_WasmWalks, "base"> & {
    heapBase(): number;
  };
  const made: _WasmWalks = {
    memory: exports.memory,
    base: Math.ceil(exports.heapBase() / 16) * 16,
    validate: exports.validate,
    scanCanon: exports.scanCanon,
    packKeys: exports.packKeys,
    scanGraph: exports.scanGraph,
    hashKeys: exports.hashKeys,
  };
  if (size <= _WASM_KEPT_BYTES) _wasmKept = made;
  return made;
}

/** Whether the number token at [start, end) of the call's memory is finite. */
function _hostFinite(start: number, end: number): number {
  const token = new Uint8Array(_wasmCall!.memory.buffer, start, end - start);
  return Number.isFinite(Number(_ascii.decode(token))) ? 1 : 0;
}

/** Whether JSON.stringify writes the number token at [start, end) of the call's memory as it is. */
function _hostCanonicalNumber(start: number, end: number): number {
  const token = _ascii.decode(new Uint8Array(_wasmCall!.memory.buffer, start, end - start));
  return String(Number(token)) === token ? 1 : 0;
}

/** The call's `accept` on the record's captured types (at the start of the layout). */
function _hostAccept(): number {
  const call = _wasmCall!;
  return call.accept!(call.types!) ? 1 : 0;
}

/**
 * {@linkcode validateJsonLines} in WebAssembly with SIMD: the same walk as
 * {@linkcode validateJsonLinesJs} (and the same answers), string bodies
 * skipped 16 bytes at a time.
 *
 * @param bytes UTF-8 JSON lines
 * @param maxDepth the deepest nesting of arrays and objects accepted
 * @param shape top-level fields whose types are captured for `accept`
 * @param accept the check of each record's captured types
 * @param expected top-level fields that must be absent or equal to a string
 * @returns the answer, or `undefined` when WebAssembly cannot take this call
 *   (not available here, more than 64 captured fields, or called from within
 *   an `accept` of a walk in progress)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateJsonLinesWasm } from "./jsonl_validate.ts";
 * const bytes = new TextEncoder().encode('{"a":"x"}\n{"a":"y"}\n');
 * assert.equal(validateJsonLinesWasm(bytes, 64), 2);
 * ```
 */
export function validateJsonLinesWasm(
  bytes: Uint8Array,
  maxDepth: number,
  shape?: RecordShape,
  accept?: RecordTypesCheck,
  expected?: Readonly<Record<string, string>>,
): number | undefined {
  if (_wasmCall !== undefined) return undefined;
  if (!_checkable(bytes, maxDepth)) return -1;
  const fields = _fields(shape, expected);
  const { fieldCount } = fields;
  if (fieldCount > _WASM_MAX_FIELDS) return undefined;
  const depthLimit = Math.min(maxDepth, MAX_TRACKED_DEPTH);
  // Layout from the base: fields (names from 1152, then expected values), the bytes from a
  // 16-byte boundary followed by 16 zero bytes, then one byte per depth level.
  const expectedAt: number[] = [];
  let cursor = _WASM_NAMES + fields.nameBytes.length;
  for (const value of fields.expectedBytes) {
    expectedAt.push(cursor);
    cursor += value?.length ?? 0;
  }
  const data = Math.ceil(cursor / 16) * 16;
  const n = bytes.length;
  const stack = data + n + 16;
  const names = Math.ceil((stack + depthLimit + 2) / 16) * 16;
  const size = names + _wasmNamesSize(depthLimit, n);
  return _withWasm(size, accept, ({ memory, base, validate }, call) => {
    const heap = new Uint8Array(memory.buffer, base);
    const layout = new DataView(memory.buffer, base);
    heap.fill(0, 0, 192); // types, matched, expectMode
    heap.set(fields.expectMode, 128);
    for (let k = 0; k < fieldCount; k++) {
      layout.setInt32(192 + 4 * k, fields.nameEnds[k], true);
      const value = fields.expectedBytes[k];
      layout.setInt32(448 + 4 * k, base + expectedAt[k], true);
      layout.setInt32(704 + 4 * k, value?.length ?? 0, true);
      layout.setUint16(_WASM_MASKS + 2 * k, fields.masks[k], true);
      if (value) heap.set(value, expectedAt[k]);
    }
    heap.set(fields.nameBytes, _WASM_NAMES);
    heap.set(bytes, data);
    heap.fill(0, data + n, stack);
    // The memory does not grow during the walk, so one view of the types serves every record.
    call.types = heap.subarray(0, fieldCount);
    return validate(
      base + data,
      n,
      depthLimit,
      base + stack,
      base,
      fieldCount,
      fields.records ? 1 : 0,
      accept === undefined ? 0 : 1,
      base + names,
    );
  });
}
