/**
 * Byte-exact canonical JSON, the bytes that signatures are computed over.
 *
 * - `deepsigma-v1`, the reference form: the bytes of Python's
 *   `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`
 *   after Python's `json.loads` of the source. Keys sorted by code point,
 *   everything outside ASCII 0x20..0x7E escaped per UTF-16 code unit, integers
 *   exact at any size, floats in Python's `repr`.
 * - `jcs`: RFC 8785, the JSON Canonicalization Scheme.
 *
 * To reproduce the reference bytes a number must keep its source spelling
 * (`1.0` is a float, `1` an integer, `12345678901234567890` is exact), so
 * manifests are read with {@linkcode parseLossless}, which yields
 * {@linkcode JsonNumber}s.
 *
 * @module
 */

import type { JsonParseOptions } from "./json.ts";
import { _decodeJson, _error, _maxDepth, _parseDocument } from "./json.ts";
import type { _Place } from "./json.ts";

/** The byte forms a signature can be computed over. */
export type CanonicalForm = "deepsigma-v1" | "jcs";

const _JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * A JSON number kept with its source spelling, as {@linkcode parseLossless}
 * yields it.
 *
 * @example
 * ```ts
 * import { JsonNumber } from "./canonical_json.ts";
 * import assert from "node:assert/strict";
 *
 * const n = new JsonNumber("1.0");
 * assert.equal(n.source, "1.0");
 * assert.equal(n.isInteger, false);
 * assert.equal(n.valueOf(), 1);
 * assert.equal(JSON.stringify({ n }), '{"n":1.0}');
 * assert.equal(new JsonNumber("12345678901234567890").isInteger, true);
 * ```
 */
export class JsonNumber {
  /** The number exactly as the JSON text spells it, e.g. `1e-07`. */
  readonly source: string;

  /**
   * Keep a number with its spelling.
   * @param source a JSON number literal, e.g. `-0.0` or `12345678901234567890`
   * @throws {TypeError} when `source` is not a JSON number literal
   */
  constructor(source: string) {
    if (!_JSON_NUMBER.test(source)) {
      throw new TypeError(`Cannot make a JsonNumber from "${source}": not a JSON number`);
    }
    this.source = source;
  }

  /**
   * Whether the number is spelled as an integer (without `.`, `e` or `E`), so
   * that Python reads it as an exact `int`.
   * @returns true for `42` or `-0`, false for `42.0` or `1e3`
   */
  get isInteger(): boolean {
    return !/[.eE]/.test(this.source);
  }

  /**
   * The nearest double; a large integer loses precision, and one beyond the
   * double range gives `Infinity`.
   * @returns the number as a JavaScript number
   */
  valueOf(): number {
    return Number(this.source);
  }

  /**
   * What `JSON.stringify` writes: the number in its original spelling, so a
   * manifest written back keeps `1.0` a float and a large integer exact.
   * @returns a raw JSON value holding the source text
   */
  toJSON(): unknown {
    return (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON(this.source);
  }
}

/**
 * Parse JSON text keeping every number as a {@linkcode JsonNumber}.
 *
 * Gets the checks of `parseJson` in `json.ts` (strict UTF-8, no byte order
 * mark, nesting at most `maxDepth`), except that an integer too large for a
 * double is kept exactly, as Python keeps it; a non-integer that overflows to
 * `Infinity` (such as `1e400`) is `JSON_NON_FINITE`.
 *
 * @param text the JSON document, as a string or UTF-8 bytes
 * @param options `maxDepth` (default 64) and the `file` name for messages
 * @returns the parsed value, with a JsonNumber in place of every number
 * @throws {PacketError} `JSON_INVALID`, `JSON_NON_FINITE` or `LIMIT_JSON_DEPTH`
 *
 * @example
 * ```ts
 * import { JsonNumber, parseLossless } from "./canonical_json.ts";
 * import assert from "node:assert/strict";
 *
 * const value = parseLossless('{"ratio": 1.0, "id": 12345678901234567890}') as {
 *   ratio: JsonNumber;
 *   id: JsonNumber;
 * };
 * assert.ok(value.ratio instanceof JsonNumber);
 * assert.equal(value.ratio.source, "1.0");
 * assert.equal(value.id.source, "12345678901234567890");
 * ```
 */
export function parseLossless(text: string | Uint8Array, options: JsonParseOptions = {}): unknown {
  const maxDepth = _maxDepth(options);
  const place: _Place = { file: options.file };
  const source = _decodeJson(text, options.file);
  const read = (spelling: string): JsonNumber => {
    const number = new JsonNumber(spelling);
    if (!number.isInteger && !Number.isFinite(number.valueOf())) {
      const shown = spelling.length > 40 ? `${spelling.slice(0, 40)}…` : spelling;
      throw _error("JSON_NON_FINITE", place, `the number ${shown} overflows to Infinity`);
    }
    return number;
  };
  return _parseDocument(source, place, maxDepth, source.includes("\\"), {
    reviver: (_key, value, context) => {
      if (typeof value !== "number") return value;
      if (context?.source === undefined) throw new TypeError("JSON.parse gave no number source");
      return read(context.source);
    },
    read,
    leaf: JsonNumber,
  });
}

/**
 * The canonical bytes of a value.
 *
 * Accepts what `parseJson` and {@linkcode parseLossless} yield: plain objects
 * and arrays, strings, booleans, null, {@linkcode JsonNumber}s and numbers
 * (in `deepsigma-v1` an integer-valued number is written as an integer, any
 * other as a float), and bigints (exact integers in `deepsigma-v1`). In `jcs`
 * every number, bigint and integer JsonNumber is written as its double. An
 * object property whose value is `undefined` is left out, as `JSON.stringify`
 * leaves it out.
 *
 * @param value the value to write
 * @param form `deepsigma-v1` (the default) or `jcs`
 * @returns the canonical UTF-8 bytes
 * @throws {TypeError} for NaN, Infinity, `undefined` outside an object
 *   property, functions, symbols, non-plain objects (Date, Map, class
 *   instances) and circular structures; the message gives the path, e.g.
 *   `$.files[2]`
 *
 * @example
 * ```ts
 * import { canonicalize, parseLossless } from "./canonical_json.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = canonicalize(parseLossless('{"b": 1.0, "a": "é"}'));
 * assert.equal(new TextDecoder().decode(bytes), '{"a":"\\u00e9","b":1.0}');
 * ```
 */
export function canonicalize(
  value: unknown,
  form: CanonicalForm = "deepsigma-v1",
): Uint8Array<ArrayBuffer> {
  return _utf8.encode(canonicalString(value, form));
}

/**
 * The canonical text of a value: {@linkcode canonicalize} before UTF-8
 * encoding.
 *
 * @param value the value to write
 * @param form `deepsigma-v1` (the default) or `jcs`
 * @returns the canonical text
 * @throws {TypeError} as {@linkcode canonicalize} does
 *
 * @example
 * ```ts
 * import { canonicalString, parseLossless } from "./canonical_json.ts";
 * import assert from "node:assert/strict";
 *
 * const value = parseLossless('{"small": 1e-7, "big": 1e16, "n": 10}');
 * assert.equal(canonicalString(value), '{"big":1e+16,"n":10,"small":1e-07}');
 * assert.equal(canonicalString(value, "jcs"), '{"big":10000000000000000,"n":10,"small":1e-7}');
 * ```
 */
export function canonicalString(value: unknown, form: CanonicalForm = "deepsigma-v1"): string {
  if (form !== "deepsigma-v1" && form !== "jcs") {
    throw new TypeError(
      `Cannot canonicalize with form "${form}": expected "deepsigma-v1" or "jcs"`,
    );
  }
  if (form === "jcs") {
    // Plain data whose keys are all in order already is what JSON.stringify writes.
    if (_inJcsOrder(value, 0)) return JSON.stringify(value);
    const fast = _jcsPlain(value, 0);
    if (fast !== undefined) return fast;
  }
  return _canonicalStringGeneral(value, form);
}

/** {@linkcode canonicalString} by the general walk only. Internal; exported for tests. */
export function _canonicalStringGeneral(value: unknown, form: CanonicalForm): string {
  return _write(value, form === "jcs" ? _JCS : _DEEPSIGMA, { path: [], open: new Set() });
}

/**
 * Whether JSON.stringify writes `value` exactly as JCS does: plain JSON data
 * (as {@linkcode _jcsPlain} takes it) in which every object's keys already
 * come in JCS order (by UTF-16 code units, as `<` compares strings), and no
 * `toJSON` on the prototypes JSON.stringify would ask. Checking costs far less
 * than writing, and JSON.stringify then writes natively; evidence built with
 * its keys in order (the built-in detectors') takes this path.
 */
function _inJcsOrder(value: unknown, depth: number): boolean {
  if (depth === 0 && (_hasToJson(Object.prototype) || _hasToJson(Array.prototype))) return false;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth >= _PLAIN_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!_inJcsOrder(value[i], depth + 1)) return false;
    }
    return true;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && !(keys[i - 1] < keys[i])) return false;
    if (!_inJcsOrder(record[keys[i]], depth + 1)) return false;
  }
  return true;
}

function _hasToJson(prototype: object): boolean {
  return "toJSON" in prototype;
}

/** Nesting beyond which {@linkcode _jcsPlain} gives up (and so never meets a cycle it cannot see). */
const _PLAIN_DEPTH = 32;

/**
 * JCS of plain JSON data without the general walk's bookkeeping: strings,
 * booleans, null, finite numbers, arrays and plain objects, nested at most
 * {@linkcode _PLAIN_DEPTH} deep. Anything else (a JsonNumber, a bigint,
 * `undefined`, a non-finite number, a non-plain object, deeper nesting) gives
 * `undefined`, and `_write` decides and words the error; where it answers,
 * the text is the one `_write` gives with `_JCS`.
 */
function _jcsPlain(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return Number.isFinite(value) ? String(value) : undefined;
    case "object":
      break;
    default:
      return undefined;
  }
  if (value === null) return "null";
  if (depth >= _PLAIN_DEPTH) return undefined;
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      const item = _jcsPlain(value[i], depth + 1);
      if (item === undefined) return undefined;
      out += i === 0 ? item : "," + item;
    }
    return out + "]";
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const child = _jcsPlain(record[keys[i]], depth + 1);
    if (child === undefined) return undefined;
    out += (i === 0 ? "" : ",") + JSON.stringify(keys[i]) + ":" + child;
  }
  return out + "}";
}

const _utf8 = new TextEncoder();

/** How one canonical form writes the parts that differ between forms. */
interface _Form {
  string(value: string): string;
  /** A finite JavaScript number, integer-valued or not. */
  number(value: number): string;
  /** A finite double read from a number spelled as a float (`1.0`, `1e5`). */
  float(value: number): string;
  /** Whether integers (spelled so, or bigints) are written exactly, not as doubles. */
  exactIntegers: boolean;
  sortKeys(keys: string[]): string[];
}

/** The walk's state: the path for messages, the containers being written (for cycles). */
interface _Walk {
  path: (string | number)[];
  open: Set<object>;
}

const _DEEPSIGMA: _Form = {
  string: _pythonString,
  number: (value) =>
    Number.isInteger(value)
      ? (Number.isSafeInteger(value) ? String(value) : BigInt(value).toString())
      : _pythonFloat(value),
  float: _pythonFloat,
  exactIntegers: true,
  sortKeys: _sortByCodePoint,
};

const _JCS: _Form = {
  string: (value) => JSON.stringify(value),
  // ECMAScript Number::toString, as RFC 8785 requires; String(-0) is "0".
  number: String,
  float: String,
  exactIntegers: false,
  sortKeys: (keys) => keys.sort(),
};

function _write(value: unknown, form: _Form, walk: _Walk): string {
  switch (typeof value) {
    case "string":
      return form.string(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw _unsupported(String(value), walk);
      return form.number(value);
    case "bigint": {
      if (form.exactIntegers) return value.toString();
      const number = Number(value);
      if (!Number.isFinite(number)) throw _unsupported("a bigint beyond the double range", walk);
      return form.number(number);
    }
    case "object":
      break;
    default:
      throw _unsupported(typeof value, walk);
  }
  if (value === null) return "null";
  if (value instanceof JsonNumber) {
    const integer = value.isInteger;
    // Python's int("-0") is 0; JSON allows no other non-canonical integer spelling.
    if (integer && form.exactIntegers) return value.source === "-0" ? "0" : value.source;
    const number = value.valueOf();
    if (!Number.isFinite(number)) throw _unsupported(`the number ${value.source}`, walk);
    return integer ? form.number(number) : form.float(number);
  }
  if (walk.open.has(value)) throw _unsupported("a circular structure", walk);
  if (Array.isArray(value)) {
    walk.open.add(value);
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      walk.path.push(i);
      out += (i === 0 ? "" : ",") + _write(value[i], form, walk);
      walk.path.pop();
    }
    walk.open.delete(value);
    return out + "]";
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    throw _unsupported(`a ${prototype?.constructor?.name ?? "non-plain"} object`, walk);
  }
  walk.open.add(value);
  const record = value as Record<string, unknown>;
  const keys = form.sortKeys(Object.keys(record));
  let out = "{";
  let first = true;
  for (const key of keys) {
    const child = record[key];
    // Skipped as JSON.stringify skips it, so signed bytes match written bytes.
    if (child === undefined) continue;
    walk.path.push(key);
    out += (first ? "" : ",") + form.string(key) + ":" + _write(child, form, walk);
    walk.path.pop();
    first = false;
  }
  walk.open.delete(value);
  return out + "}";
}

function _unsupported(what: string, walk: _Walk): TypeError {
  let path = "$";
  for (const step of walk.path) {
    path += typeof step === "number"
      ? `[${step}]`
      : /^[A-Za-z_$][\w$]*$/.test(step)
      ? `.${step}`
      : `[${JSON.stringify(step)}]`;
  }
  return new TypeError(`Cannot canonicalize ${what} at ${path}: it has no JSON form`);
}

/** Characters Python's `ensure_ascii` writes as they are: 0x20..0x7E but `"` and `\`. */
const _PYTHON_PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A string as Python's `json.dumps(..., ensure_ascii=True)` writes it. */
function _pythonString(value: string): string {
  if (_PYTHON_PLAIN.test(value)) return `"${value}"`;
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += "\\\\";
      else out += value[i];
    } else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    // Per UTF-16 code unit: an astral character becomes its surrogate pair,
    // and a lone surrogate is written as it is, as Python does.
    else out += "\\u" + c.toString(16).padStart(4, "0");
  }
  return out + '"';
}

/**
 * A finite double as Python's `repr(float)` writes it: the shortest digits
 * that round-trip (the digits `toExponential()` gives), in exponent form when
 * the decimal exponent is below -4 or at least 16, else in fixed notation
 * with at least one digit after the point.
 */
function _pythonFloat(value: number): string {
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const scientific = value.toExponential();
  const e = scientific.indexOf("e");
  const exponent = Number(scientific.slice(e + 1));
  const sign = value < 0 ? "-" : "";
  const digits = scientific.slice(sign.length, e).replace(".", "");
  if (exponent < -4 || exponent >= 16) {
    const mantissa = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    const magnitude = Math.abs(exponent);
    return `${sign}${mantissa}e${exponent < 0 ? "-" : "+"}${magnitude < 10 ? "0" : ""}${magnitude}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const integerDigits = exponent + 1;
  if (digits.length <= integerDigits) {
    return `${sign}${digits}${"0".repeat(integerDigits - digits.length)}.0`;
  }
  return `${sign}${digits.slice(0, integerDigits)}.${digits.slice(integerDigits)}`;
}

/** Code units from U+D800 on: only then can code unit and code point order differ. */
const _MAY_DIFFER = /[\ud800-\uffff]/;

/** Sort keys by Unicode code point, as Python sorts `str`. */
function _sortByCodePoint(keys: string[]): string[] {
  keys.sort();
  if (keys.some((key) => _MAY_DIFFER.test(key))) keys.sort(_compareCodePoints);
  return keys;
}

function _compareCodePoints(a: string, b: string): number {
  const shorter = Math.min(a.length, b.length);
  let i = 0;
  while (i < shorter && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === shorter) return a.length - b.length;
  // A low surrogate after a shared high one: compare the whole characters,
  // since one side may be a pair (>= U+10000) and the other a lone surrogate.
  if (i > 0 && (_isLow(a.charCodeAt(i)) || _isLow(b.charCodeAt(i)))) {
    const before = a.charCodeAt(i - 1);
    if (before >= 0xd800 && before <= 0xdbff) i--;
  }
  return a.codePointAt(i)! - b.codePointAt(i)!;
}

function _isLow(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
