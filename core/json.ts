/**
 * Safe parsing of untrusted JSON and JSON-lines bytes.
 *
 * Parsing is `JSON.parse` (which handles deep nesting without recursion and
 * stores `"__proto__"` and `"constructor"` keys as plain own data properties),
 * followed by one iterative walk that enforces the nesting limit and rejects
 * numbers that overflow to `Infinity`.
 *
 * V8's `JSON.parse` (in Deno 2.9) can return the wrong key for an escaped key
 * (`"\t"`, `"\u0000"`) when an object parsed earlier, in this text or in any
 * earlier `JSON.parse` call, had the same preceding keys and then a key ending
 * in a backslash: it returns that earlier key. The wrong key always holds a
 * backslash, so when the text holds one and a parsed key does too, the text
 * is parsed again by a slower parser of our own that has no such cache.
 *
 * I-JSON (RFC 7493), as the spec requires: an object with two members of the
 * same name (at any depth) is `JSON_DUPLICATE_KEY`, and a string (a member
 * name or a value) holding a lone surrogate, which only a `\uD800`-style
 * escape can spell in UTF-8 text, is `JSON_LONE_SURROGATE`; `JSON.parse`
 * would keep the last of two members and turn the surrogate into whatever
 * the next reader makes of it. `JSON.parse` drops a duplicate silently, so
 * the walk after it counts: every member has one colon outside strings, so
 * the colons of the text, less those inside the parsed strings, equal the
 * parsed members unless some were dropped. Only a text where they differ (or
 * that holds a surrogate escape) is read again by the slow parser, which
 * finds and names the member.
 *
 * Decisions the spec leaves open:
 * - Bytes are decoded as strict UTF-8: a malformed sequence is `JSON_INVALID`.
 * - A leading byte order mark (U+FEFF) is rejected as `JSON_INVALID`, never
 *   stripped: RFC 8259 forbids adding one, and a reader that silently strips
 *   it would accept bytes that a strict reader refuses.
 * - Depth counts containers: `1` has depth 0, `[]` depth 1, `{"a":[1]}`
 *   depth 2. A value deeper than `maxDepth` is `LIMIT_JSON_DEPTH`.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { PacketError } from "./errors.ts";
import type { ViolationCode } from "./errors.ts";

/** Options of {@linkcode parseJson} and {@linkcode parseJsonLines}. */
export interface JsonParseOptions {
  /** The deepest nesting of arrays and objects accepted; 64 by default. */
  maxDepth?: number;
  /** The entry or file name that error messages name. */
  file?: string;
}

/** The nesting limit used when the options give none. */
const DEFAULT_MAX_DEPTH = 64;

/** One strict decoder for every call: `ignoreBOM` keeps a BOM so it can be rejected. */
// Validity is checked by node:buffer's isUtf8 (native, SIMD), then a non-fatal
// decoder does the decoding: together 3-4x faster than a fatal TextDecoder.
const _utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** Where a parse error happened, for its message. Internal. */
export interface _Place {
  /** The file or entry name. */
  file?: string;
  /** The 1-based line, in JSON lines. */
  line?: number;
}

/**
 * Parse UTF-8 bytes (or a string) holding one JSON document into plain values.
 *
 * @param bytes the document, as UTF-8 bytes or as a string
 * @param options `maxDepth` (default 64) and the `file` name for messages
 * @returns the parsed value: objects, arrays, strings, numbers, booleans, null
 * @throws {PacketError} `JSON_INVALID` for malformed UTF-8, a leading byte
 *   order mark or malformed JSON; `JSON_NON_FINITE` for a number that
 *   overflows to `Infinity` (such as `1e400`); `LIMIT_JSON_DEPTH` for nesting
 *   deeper than `maxDepth`; `JSON_DUPLICATE_KEY` for an object with two
 *   members of one name; `JSON_LONE_SURROGATE` for a string holding a lone
 *   surrogate
 *
 * @example
 * ```ts
 * import { parseJson } from "./json.ts";
 * import { PacketError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const value = parseJson(new TextEncoder().encode('{"part": 1}'));
 * assert.deepEqual(value, { part: 1 });
 *
 * assert.throws(
 *   () => parseJson("[[1]]", { maxDepth: 1, file: "manifest.json" }),
 *   (err) => err instanceof PacketError && err.violation.code === "LIMIT_JSON_DEPTH",
 * );
 * assert.throws(
 *   () => parseJson('{"a": {"b": 1, "b": 2}}', { file: "x.json" }),
 *   (err) => err instanceof PacketError && err.violation.code === "JSON_DUPLICATE_KEY",
 * );
 * assert.throws(
 *   () => parseJson('["sig:\\ud800"]'),
 *   (err) => err instanceof PacketError && err.violation.code === "JSON_LONE_SURROGATE",
 * );
 * ```
 */
export function parseJson(bytes: Uint8Array | string, options: JsonParseOptions = {}): unknown {
  const maxDepth = _maxDepth(options);
  const place: _Place = { file: options.file };
  const text = _decodeJson(bytes, options.file);
  return _parseDocument(text, place, maxDepth, text.includes("\\"));
}

/**
 * Parse JSON lines: each line that is not blank is one JSON document.
 *
 * Lines end at `\n`; a `\r` before it is white space, so CRLF files parse. A
 * line of only spaces, tabs and `\r` is blank and skipped, including the one
 * after a trailing newline; an empty input gives `[]`. Each line gets the
 * checks of {@linkcode parseJson}, and an error names the file and the
 * 1-based line number.
 *
 * @param bytes the JSON-lines text, as UTF-8 bytes or as a string
 * @param options `maxDepth` (default 64, per line) and the `file` name for messages
 * @returns the parsed value of every non-blank line, in order
 * @throws {PacketError} as {@linkcode parseJson} does, naming the line
 *
 * @example
 * ```ts
 * import { parseJsonLines } from "./json.ts";
 * import { PacketError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseJsonLines('{"a":1}\n\n[2]\n'), [{ a: 1 }, [2]]);
 * assert.deepEqual(parseJsonLines(""), []);
 *
 * assert.throws(
 *   () => parseJsonLines('{"a":1}\n{oops}\n', { file: "drift_signal.jsonl" }),
 *   (err) =>
 *     err instanceof PacketError && err.violation.code === "JSON_INVALID" &&
 *     err.message.includes('line 2 of "drift_signal.jsonl"'),
 * );
 * ```
 */
export function parseJsonLines(
  bytes: Uint8Array | string,
  options: JsonParseOptions = {},
): unknown[] {
  const maxDepth = _maxDepth(options);
  const text = _decodeJson(bytes, options.file);
  const mayHoldEscapes = text.includes("\\");
  const values: unknown[] = [];
  const place: _Place = { file: options.file, line: 0 };
  let start = 0;
  let lineNumber = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    lineNumber++;
    if (!_isBlank(text, start, end)) {
      place.line = lineNumber;
      values.push(_parseDocument(text.slice(start, end), place, maxDepth, mayHoldEscapes));
    }
    start = end + 1;
  }
  return values;
}

/** True when `text[start..end)` holds only JSON white space other than `\n`. */
function _isBlank(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/**
 * Read and check the `maxDepth` option.
 * @param options the parse options
 * @returns the depth limit
 */
export function _maxDepth(options: JsonParseOptions): number {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!(maxDepth >= 0) || (maxDepth !== Infinity && !Number.isInteger(maxDepth))) {
    throw new RangeError(`Cannot use maxDepth ${maxDepth}: it must be an integer >= 0`);
  }
  return maxDepth;
}

/**
 * Decode bytes as strict UTF-8 and reject a leading byte order mark. Internal:
 * shared with `canonical_json.ts`, not part of the public API.
 * @param bytes UTF-8 bytes, or a string that is only checked for a BOM
 * @param file the name for messages
 * @returns the text
 */
export function _decodeJson(bytes: Uint8Array | string, file: string | undefined): string {
  let text: string;
  if (typeof bytes === "string") {
    text = bytes;
  } else {
    if (!isUtf8(bytes)) throw _error("JSON_INVALID", { file }, "the bytes are not valid UTF-8");
    text = _utf8.decode(bytes);
  }
  if (text.charCodeAt(0) === 0xfeff) {
    throw _error("JSON_INVALID", { file }, "it starts with a byte order mark (U+FEFF)");
  }
  return text;
}

/**
 * How a lossless parse reads numbers. Internal: used by `canonical_json.ts`.
 */
export interface _NumberReader {
  /** The `JSON.parse` reviver that turns each number into a leaf. */
  reviver: (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;
  /** The same for the slow parser, from the number's source text. */
  read(source: string): unknown;
  /** The class of the leaves the reviver makes. */
  leaf: abstract new (...args: never[]) => unknown;
}

/**
 * Parse one JSON text and check it, falling back to the slow parser when V8's
 * result may hold a wrong key (see the module doc), may have dropped a
 * duplicate member, or may hold a lone surrogate; the slow parser then
 * decides and names the problem. Internal: shared with `canonical_json.ts`.
 * @param text the JSON text
 * @param place where the text came from, for messages
 * @param maxDepth the deepest nesting accepted
 * @param mayHoldEscapes whether the text holds a backslash at all
 * @param numbers how to read numbers, for a lossless parse
 * @returns the parsed value
 */
export function _parseDocument(
  text: string,
  place: _Place,
  maxDepth: number,
  mayHoldEscapes: boolean,
  numbers?: _NumberReader,
): unknown {
  let value: unknown;
  // A string given by a caller may hold a raw lone surrogate; decoded UTF-8 never does.
  let fast = text.isWellFormed();
  if (fast) {
    try {
      value = JSON.parse(text, numbers?.reviver as Parameters<typeof JSON.parse>[1]);
    } catch (err) {
      if (err instanceof SyntaxError) throw _invalid(err, text, place);
      // With a reviver, anything but a verdict sends the text to the slow parser:
      // V8 applies a reviver recursively, so deep nesting exhausts the stack
      // (RangeError), and after misreading a key it gives no number source.
      if (numbers === undefined || err instanceof PacketError) throw err;
      fast = false;
    }
  }
  if (fast) {
    const members = _checkTree(value, maxDepth, place, numbers?.leaf, mayHoldEscapes);
    if (members >= 0 && _sureOfMembers(value, text, members, mayHoldEscapes, numbers?.leaf)) {
      return value;
    }
  }
  value = _parseSlow(text, place, numbers?.read ?? Number);
  _checkTree(value, maxDepth, place, numbers?.leaf, false);
  return value;
}

/** A `\u` escape of a surrogate (U+D800 to U+DFFF), paired or not. */
const _SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
/** A `\u` escape of a colon, which the colon count cannot see. */
const _COLON_ESCAPE = /\\u003[aA]/;

/**
 * Whether a tree that `JSON.parse` made from `text` is certainly the text's
 * own: no member dropped as a duplicate (see the module doc), no lone
 * surrogate from an escape.
 * @param value the parsed tree
 * @param text its text
 * @param members how many members the tree's objects hold
 * @param mayHoldEscapes whether the text holds a backslash at all
 * @param leaf a class whose instances are leaves
 * @returns false when the slow parser must decide
 */
function _sureOfMembers(
  value: unknown,
  text: string,
  members: number,
  mayHoldEscapes: boolean,
  leaf: (abstract new (...args: never[]) => unknown) | undefined,
): boolean {
  const colons = _countColons(text);
  const surrogates = mayHoldEscapes && _SURROGATE_ESCAPE.test(text);
  // Each member has its colon, so more colons than members means colons in strings, or dropped
  // members; the strings of the tree tell which.
  if (colons === members && !surrogates) return true;
  if (mayHoldEscapes && _COLON_ESCAPE.test(text)) return false;
  const inStrings = _tallyStrings(value, leaf, surrogates);
  return inStrings >= 0 && colons - inStrings === members;
}

/** How many `:` a text holds. */
function _countColons(text: string): number {
  let count = 0;
  for (let i = text.indexOf(":"); i !== -1; i = text.indexOf(":", i + 1)) count++;
  return count;
}

/** How many `:` a string holds. */
function _colonsIn(s: string): number {
  let count = 0;
  for (let i = s.indexOf(":"); i !== -1; i = s.indexOf(":", i + 1)) count++;
  return count;
}

/**
 * Count the colons in every string of a parsed tree (member names and
 * values), and look for lone surrogates.
 * @returns the count, or -1 when `surrogates` is set and a string holds a lone one
 */
function _tallyStrings(
  root: unknown,
  leaf: (abstract new (...args: never[]) => unknown) | undefined,
  surrogates: boolean,
): number {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === "string") {
      if (surrogates && !node.isWellFormed()) return -1;
      count += _colonsIn(node);
    } else if (typeof node === "object" && node !== null && !(leaf && node instanceof leaf)) {
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) stack.push(node[i]);
      } else {
        for (const key in node) {
          if (surrogates && !key.isWellFormed()) return -1;
          count += _colonsIn(key);
          stack.push((node as Record<string, unknown>)[key]);
        }
      }
    }
  }
  return count;
}

/**
 * Build the `JSON_INVALID` error for a `JSON.parse` SyntaxError. V8 words an
 * unexpected token as `Unexpected token 'x', "…source…" is not valid JSON`,
 * quoting untrusted and possibly long source and giving no position; then the
 * slow parser, which has the position, words the error instead.
 */
function _invalid(err: SyntaxError, text: string, place: _Place): PacketError {
  if (!/is not valid JSON$/.test(err.message)) return _syntaxError(err.message, text, place, err);
  try {
    _parseSlow(text, place, Number);
  } catch (slowErr) {
    if (!(slowErr instanceof PacketError)) throw slowErr;
    slowErr.cause = err;
    return slowErr;
  }
  return _error("JSON_INVALID", place, "Unexpected token", err);
}

/**
 * Build the `JSON_INVALID` error for a syntax error message that may end in
 * `at position N`: the position becomes a line and column.
 */
function _syntaxError(message: string, text: string, place: _Place, cause?: unknown): PacketError {
  const reason = message.replace(/ (?:in JSON )?at position \d+.*$/s, "");
  const position = /at position (\d+)/.exec(message);
  const where = position === null ? "" : _where(text, Number(position[1]), place);
  return _error("JSON_INVALID", place, `${reason}${where}`, cause);
}

/** ` at line L column C` of an offset in `text` (only the column in JSON lines: the line is named). */
function _where(text: string, offset: number, place: _Place): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  const column = offset - lineStart + 1;
  return place.line === undefined ? ` at line ${line} column ${column}` : ` at column ${column}`;
}

/** The longest member name or string a message quotes whole. */
const _SHOWN_LENGTH = 80;

/**
 * A string from a packet as a message quotes it: in double quotes, cut at
 * 80 code units, with `"` and `\` escaped and every control (C0, DEL, C1),
 * line or paragraph separator, bidirectional or other format control, and
 * lone surrogate written as `\u{XXXX}`, so it can neither break the line nor
 * move the text around it. Internal: for the JSON layer's messages.
 * @param s the string
 * @returns the quoted string
 */
export function _quoted(s: string): string {
  const cut = s.length > _SHOWN_LENGTH;
  const shown = (cut ? s.slice(0, _SHOWN_LENGTH) : s).replace(
    // deno-lint-ignore no-control-regex
    /["\\\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) =>
      c === '"' || c === "\\"
        ? `\\${c}`
        : `\\u{${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}}`,
  );
  return `"${shown}"${cut ? "…" : ""}`;
}

/**
 * Check nesting depth and that every number is finite, without recursion,
 * and count the members of the tree's objects.
 * Internal: shared with `canonical_json.ts`.
 * @param root the parsed value
 * @param maxDepth the deepest nesting accepted
 * @param place where the value came from, for messages
 * @param leaf a class whose instances are leaves, not containers
 * @param checkKeys whether to look for keys holding a backslash
 * @returns the number of members, or -1, at once, when `checkKeys` is set and a key holds a backslash
 */
export function _checkTree(
  root: unknown,
  maxDepth: number,
  place: _Place,
  leaf: (abstract new (...args: never[]) => unknown) | undefined,
  checkKeys: boolean,
): number {
  if (typeof root !== "object" || root === null || (leaf !== undefined && root instanceof leaf)) {
    if (typeof root === "number" && !Number.isFinite(root)) throw _nonFinite(place);
    return 0;
  }
  if (maxDepth < 1) throw _tooDeep(place, maxDepth);
  let members = 0;
  // Only containers go on the stack; leaves are checked where they are met.
  const containers: object[] = [root];
  const depths: number[] = [1];
  while (containers.length > 0) {
    const node = containers.pop()!;
    const childDepth = depths.pop()! + 1;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (typeof child === "object") {
          if (child === null || (leaf !== undefined && child instanceof leaf)) continue;
          if (childDepth > maxDepth) throw _tooDeep(place, maxDepth);
          containers.push(child);
          depths.push(childDepth);
        } else if (typeof child === "number" && !Number.isFinite(child)) {
          throw _nonFinite(place);
        }
      }
    } else {
      const record = node as Record<string, unknown>;
      // for-in allocates no key array; JSON.parse objects have only own enumerable keys.
      for (const key in record) {
        members++;
        if (checkKeys && key.includes("\\")) return -1;
        const child = record[key];
        if (typeof child === "object") {
          if (child === null || (leaf !== undefined && child instanceof leaf)) continue;
          if (childDepth > maxDepth) throw _tooDeep(place, maxDepth);
          containers.push(child);
          depths.push(childDepth);
        } else if (typeof child === "number" && !Number.isFinite(child)) {
          throw _nonFinite(place);
        }
      }
    }
  }
  return members;
}

const _NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const _ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/**
 * A plain iterative JSON parser, used only when V8's result may be wrong.
 * Gives what `JSON.parse` gives: the last of duplicate keys wins (in the
 * first one's place), `__proto__` is an own data property.
 */
function _parseSlow(text: string, place: _Place, readNumber: (source: string) => unknown): unknown {
  let at = 0;
  const fail = (reason: string): never => {
    throw _syntaxError(`${reason} at position ${at}`, text, place);
  };
  const skipSpace = () => {
    for (let c = text.charCodeAt(at); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;) {
      c = text.charCodeAt(++at);
    }
  };
  const readString = (isKey: boolean): string => {
    if (text.charCodeAt(at) !== 0x22) fail("Expected double-quoted string");
    const start = at++;
    let out = "";
    let runStart = at;
    for (;;) {
      const c = text.charCodeAt(at);
      if (c === 0x22) {
        out += text.slice(runStart, at++);
        if (!out.isWellFormed()) throw _loneSurrogate(out, isKey, text, start, place);
        return out;
      }
      if (c === 0x5c) {
        out += text.slice(runStart, at);
        const escape = text[at + 1];
        if (escape === "u") {
          const hex = text.slice(at + 2, at + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("Bad Unicode escape");
          out += String.fromCharCode(parseInt(hex, 16));
          at += 6;
        } else if (escape !== undefined && Object.hasOwn(_ESCAPES, escape)) {
          out += _ESCAPES[escape];
          at += 2;
        } else {
          fail("Bad escaped character");
        }
        runStart = at;
      } else if (c < 0x20) {
        fail("Bad control character in string literal");
      } else if (Number.isNaN(c)) {
        fail("Unterminated string");
      } else {
        at++;
      }
    }
  };
  const readKey = (container: Record<string, unknown>): string => {
    skipSpace();
    const start = at;
    const key = readString(true);
    // I-JSON: one name, one member; JSON.parse would keep the last silently.
    if (Object.hasOwn(container, key)) {
      throw _error(
        "JSON_DUPLICATE_KEY",
        place,
        `the member name ${_quoted(key)} appears twice in one object${_where(text, start, place)}`,
      );
    }
    skipSpace();
    if (text.charCodeAt(at) !== 0x3a) fail("Expected ':' after property name");
    at++;
    return key;
  };
  const containers: (Record<string, unknown> | unknown[])[] = [];
  const keys: string[] = [];
  for (;;) {
    let value: unknown;
    skipSpace();
    const c = text.charCodeAt(at);
    if (c === 0x7b) {
      at++;
      skipSpace();
      if (text.charCodeAt(at) === 0x7d) {
        at++;
        value = {};
      } else {
        const object = {};
        containers.push(object);
        keys.push(readKey(object));
        continue;
      }
    } else if (c === 0x5b) {
      at++;
      skipSpace();
      if (text.charCodeAt(at) === 0x5d) {
        at++;
        value = [];
      } else {
        containers.push([]);
        keys.push("");
        continue;
      }
    } else if (c === 0x22) {
      value = readString(false);
    } else if (text.startsWith("true", at)) {
      value = true;
      at += 4;
    } else if (text.startsWith("false", at)) {
      value = false;
      at += 5;
    } else if (text.startsWith("null", at)) {
      value = null;
      at += 4;
    } else {
      _NUMBER.lastIndex = at;
      const number = _NUMBER.exec(text);
      if (number === null) {
        fail(Number.isNaN(c) ? "Unexpected end of JSON input" : `Unexpected token ${_shown(c)}`);
      }
      value = readNumber(number![0]);
      at = _NUMBER.lastIndex;
    }
    // Put the value in its container, closing every container it completes.
    for (;;) {
      if (containers.length === 0) {
        skipSpace();
        if (at < text.length) fail("Unexpected non-whitespace character after JSON");
        return value;
      }
      const container = containers[containers.length - 1];
      if (Array.isArray(container)) container.push(value);
      else if (keys[keys.length - 1] === "__proto__") {
        Object.defineProperty(container, "__proto__", {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else container[keys[keys.length - 1]] = value;
      skipSpace();
      const next = text.charCodeAt(at++);
      if (next === 0x2c) {
        if (!Array.isArray(container)) keys[keys.length - 1] = readKey(container);
        break;
      }
      if (next !== (Array.isArray(container) ? 0x5d : 0x7d)) {
        at--;
        fail(Array.isArray(container) ? "Expected ',' or ']'" : "Expected ',' or '}'");
      }
      value = containers.pop();
      keys.pop();
    }
  }
}

/** The `JSON_LONE_SURROGATE` error of a string read from `text` at `start`. */
function _loneSurrogate(
  s: string,
  isKey: boolean,
  text: string,
  start: number,
  place: _Place,
): PacketError {
  let unit = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      unit = c;
      break;
    }
  }
  const hex = unit.toString(16).toUpperCase();
  return _error(
    "JSON_LONE_SURROGATE",
    place,
    `the ${isKey ? "member name" : "string"} ${_quoted(s)} holds a lone surrogate (U+${hex})${
      _where(text, start, place)
    }`,
  );
}

/** A character for a message: quoted when printable ASCII, else as U+XXXX. */
function _shown(unit: number): string {
  return unit > 0x20 && unit < 0x7f
    ? `'${String.fromCharCode(unit)}'`
    : `U+${unit.toString(16).toUpperCase().padStart(4, "0")}`;
}

function _tooDeep(place: _Place, maxDepth: number): PacketError {
  return _error(
    "LIMIT_JSON_DEPTH",
    place,
    `arrays and objects are nested deeper than ${maxDepth} levels`,
  );
}

function _nonFinite(place: _Place): PacketError {
  return _error("JSON_NON_FINITE", place, "a number is too large and overflows to Infinity");
}

/**
 * Build a PacketError whose message names the file and line.
 * Internal: shared with `canonical_json.ts`.
 * @param code the violation code
 * @param place the file and line, when known
 * @param reason what is wrong
 * @param cause the underlying error
 * @returns the error
 */
export function _error(
  code: ViolationCode,
  place: _Place,
  reason: string,
  cause?: unknown,
): PacketError {
  const line = place.line === undefined ? "" : `line ${place.line} of `;
  const subject = place.file === undefined
    ? (line === "" ? "JSON" : `${line}the input`)
    : `${line}"${place.file}"`;
  const error = new PacketError({
    code,
    message: `Cannot parse ${subject}: ${reason}`,
    ...(place.file === undefined ? {} : { entry: place.file }),
  });
  if (cause !== undefined) error.cause = cause;
  return error;
}
