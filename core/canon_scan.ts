/**
 * `canon_entry.json` without building it: the WebAssembly walk
 * (`scanCanon` in wasm/assembly/jsonl_validate.ts) checks every entry as
 * `fastCanonEntryCheck` would and finds where each entry is, then
 * `packKeys` checks the keys (none twice, none that JSON.parse treats apart)
 * and lays them end to end; this module copies that out as
 * {@link CanonTexts} (the entries' keys and compact JSON texts in one buffer)
 * and parses the rest of the file. It answers only when sure; `undefined`
 * sends the file to the exact path (parse, then checks), which decides and
 * words any error.
 *
 * A worker hands canon entries to the hub as packed text anyway
 * (core/canon_texts.ts); this skips parsing them and writing them back, and
 * makes no string per entry.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { PacketError } from "./errors.ts";
import { parseJson } from "./json.ts";
import { _wasmNamesSize, _withWasm, MAX_TRACKED_DEPTH } from "./jsonl_validate.ts";
import { type CanonTexts, makeCanonTexts } from "./canon_texts.ts";

/** What {@link scanCanonFile} gives. */
export interface ScannedCanon {
  /** The file's top-level object, parsed, with `entries` empty. */
  top: Record<string, unknown>;
  /** The entries: their keys and compact JSON texts (the file's own spelling, white space removed). */
  canon: CanonTexts;
}

const decoder = new TextDecoder();
/** A key that may be an array index, which Object.keys lists before the others (up to 2^32 - 2). */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;

/**
 * Check `canon_entry.json`'s entries and cut them into texts, when sure. The
 * rest of the file comes back parsed (`top`) but not checked: the caller
 * checks it as it checks any parsed file (readPacket uses `fastCanonFileCheck`).
 * @param bytes the file
 * @param maxDepth the deepest nesting accepted
 * @param maxEntries the most entries accepted: past it, the scan stops
 * @returns the scanned file; `"too many"` when `entries` holds more than
 *   `maxEntries` members (whatever the rest of the file holds); or undefined
 *   for the exact path to decide
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanCanonFile } from "./canon_scan.ts";
 * const file = '{"environmentId": "E", "entries": {"s1": {"rev": 2, "lineage": ["p1"]}}}';
 * const scanned = scanCanonFile(new TextEncoder().encode(file), 64)!;
 * const text = new TextDecoder().decode(scanned.canon.bytes.subarray(0, scanned.canon.ends[0]));
 * assert.equal(text, '{"rev":2,"lineage":["p1"]}');
 * assert.equal(scanned.top.environmentId, "E");
 * assert.equal(scanCanonFile(new TextEncoder().encode('{"entries": {"s1": {"rev": -1}}}'), 64), undefined);
 * ```
 */
export function scanCanonFile(bytes: Uint8Array, maxDepth: number): ScannedCanon | undefined;
export function scanCanonFile(
  bytes: Uint8Array,
  maxDepth: number,
  maxEntries: number,
): ScannedCanon | "too many" | undefined;
export function scanCanonFile(
  bytes: Uint8Array,
  maxDepth: number,
  maxEntries: number = Infinity,
): ScannedCanon | "too many" | undefined {
  if (!(maxDepth >= 1) || !isUtf8(bytes)) return undefined;
  // Room for an entry per 64 bytes first (real entries are longer), then per 5 bytes (`"":{}`,
  // the shortest), both within the limit: a scan that runs out of room at the limit has found
  // an entry past it.
  for (const perEntry of [64, 5]) {
    const room = Math.floor(bytes.length / perEntry) + 1;
    const result = scan(bytes, maxDepth, Math.min(room, maxEntries));
    if (result !== "no room") return result;
    if (room >= maxEntries) return "too many";
  }
  return undefined;
}

function scan(
  bytes: Uint8Array,
  maxDepth: number,
  maxEntries: number,
): ScannedCanon | undefined | "no room" {
  const n = bytes.length;
  const depthLimit = Math.min(maxDepth, MAX_TRACKED_DEPTH);
  // Layout from the base: the bytes and 16 zero bytes; the walk's per-depth state; a header of
  // two i32 then ten i32 per entry; the entries' compact copies (never longer than the file); the
  // keys back to back (never longer either); two i32 of offsets per entry; packKeys's table.
  const stack = align(n + 16);
  const header = align(stack + (depthLimit + 2) * 10 + 16);
  const out = header + 8;
  const dst = align(out + maxEntries * 40);
  const keysAt = align(dst + n + 16);
  const endsAt = align(keysAt + n);
  const tableAt = align(endsAt + maxEntries * 8);
  const namesAt = align(tableAt + 4 * tableSlots(maxEntries));
  const size = namesAt + _wasmNamesSize(depthLimit, n);
  return _withWasm(size, undefined, ({ memory, base, scanCanon, packKeys }) => {
    const heap = new Uint8Array(memory.buffer, base);
    heap.set(bytes, 0);
    heap.fill(0, n, n + 16);
    const count = scanCanon(
      base,
      n,
      depthLimit,
      base + stack,
      base + out,
      maxEntries,
      base + dst,
      base + namesAt,
    );
    if (count === -2) return "no room" as const;
    if (count < 0) return undefined;
    const bits = Math.log2(tableSlots(count));
    const keyBytes = packKeys(
      base + out,
      count,
      base + dst,
      base + keysAt,
      base + endsAt,
      base + tableAt,
      bits,
    );
    if (keyBytes === -1) return undefined;
    // Addresses in the records are absolute; below, offsets are from the base.
    const records = new Int32Array(memory.buffer, base + out, count * 10);
    // The compact copies run back to back: they end where the last one ends.
    const textBytes = count === 0 ? 0 : records[(count - 1) * 10 + 6] - base - dst;
    const original = (start: number, stop: number) => decoder.decode(heap.subarray(start, stop));
    const renamed: [number, string][] = [];
    for (let e = 0; e < count; e++) {
      // A signatureId string that is escaped or not the key: read it.
      if (records[e * 10 + 4] & 4) {
        const r = e * 10;
        const text = original(records[r + 5] - base, records[r + 6] - base);
        const id = (parseJson(text) as { signatureId?: unknown }).signatureId;
        if (typeof id === "string" && (keyBytes === -3 || id !== keyOf(heap, records, e, base))) {
          renamed.push([e, id]);
        }
      }
    }
    let canon: CanonTexts | undefined;
    if (keyBytes === -3) {
      // A key holds an escape: decode them all here and check them as packKeys does.
      canon = withEscapedKeys(heap, records, count, base, renamed);
      if (canon === undefined) return undefined;
    } else {
      const packed = new Uint8Array(textBytes + keyBytes);
      packed.set(heap.subarray(dst, dst + textBytes), 0);
      packed.set(heap.subarray(keysAt, keysAt + keyBytes), textBytes);
      const ends = new Int32Array(memory.buffer, base + endsAt, 2 * count).slice();
      canon = { bytes: packed, ends, renamed };
    }
    const [entriesStart, entriesEnd] = new Int32Array(memory.buffer, base + header, 2);
    const before = original(0, entriesStart - base);
    const after = original(entriesEnd - base, n);
    let top: unknown;
    try {
      top = parseJson(`${before}{}${after}`, { maxDepth, file: "canon_entry.json" });
    } catch (error) {
      if (error instanceof PacketError) return undefined;
      throw error;
    }
    return { top: top as Record<string, unknown>, canon };
  });
}

/** Slots in packKeys's table for `count` keys: a power of two, at most half full. */
function tableSlots(count: number): number {
  return 2 ** Math.max(4, Math.ceil(Math.log2(2 * count + 1)));
}

/** Entry `e`'s key as written (escapes not decoded). */
function keyOf(heap: Uint8Array, records: Int32Array, e: number, base: number): string {
  return decoder.decode(heap.subarray(records[e * 10] - base, records[e * 10 + 1] - base));
}

/**
 * The entries of a file where some key holds an escape: every key decoded and
 * checked as packKeys checks them (undefined when it would refuse).
 */
function withEscapedKeys(
  heap: Uint8Array,
  records: Int32Array,
  count: number,
  base: number,
  renamed: [number, string][],
): CanonTexts | undefined {
  const keys: string[] = [];
  const texts: string[] = [];
  const seen = new Set<string>();
  for (let e = 0; e < count; e++) {
    const r = e * 10;
    const raw = keyOf(heap, records, e, base);
    const key = records[r + 4] & 1 ? JSON.parse(`"${raw}"`) as string : raw;
    // Object.keys would put an array index first, and "__proto__" is the schema's to judge.
    if (key === "__proto__" || ARRAY_INDEX.test(key) || seen.has(key)) return undefined;
    seen.add(key);
    keys.push(key);
    texts.push(decoder.decode(heap.subarray(records[r + 5] - base, records[r + 6] - base)));
  }
  return makeCanonTexts(keys, texts, renamed.filter(([e, id]) => id !== keys[e]));
}

function align(offset: number): number {
  return Math.ceil(offset / 16) * 16;
}

/**
 * Count the members of `canon_entry.json`'s `entries` (of every top-level
 * member named `entries`, should there be two) without parsing the file, so
 * that a file with too many is refused before any entry is built. It reads
 * only the structure (strings, brackets, colons): on malformed JSON the count
 * may be anything, and the parse that follows refuses the file.
 * @param bytes the file
 * @param stopAfter stop counting once the count passes this
 * @returns the count, or `stopAfter + 1` when it passes `stopAfter`
 * @example
 * ```ts
 * import { countCanonEntries } from "./canon_scan.ts";
 * import assert from "node:assert/strict";
 * const file = new TextEncoder().encode('{"entries": {"a": {"x": {"y": 1}}, "b": {}}, "k": {"c": 1}}');
 * assert.equal(countCanonEntries(file, 10), 2);
 * assert.equal(countCanonEntries(file, 1), 2);
 * ```
 */
export function countCanonEntries(bytes: Uint8Array, stopAfter: number): number {
  const n = bytes.length;
  let depth = 0;
  let count = 0;
  /** The last member name read at depth 1 was `entries`. */
  let named = false;
  /** The object open at depth 2 is the value of `entries`. */
  let inEntries = false;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === 0x22) {
      const start = i + 1;
      let escaped = false;
      for (i = start; i < n; i++) {
        const d = bytes[i];
        if (d === 0x22) break;
        if (d === 0x5c) {
          escaped = true;
          i++;
        }
      }
      // A string followed by a colon is a member name.
      let j = i + 1;
      while (
        j < n && (bytes[j] === 0x20 || bytes[j] === 0x0a || bytes[j] === 0x0d || bytes[j] === 0x09)
      ) j++;
      if (bytes[j] !== 0x3a) continue;
      if (depth === 1) {
        named = nameIsEntries(bytes, start, i, escaped);
      } else if (depth === 2 && inEntries && ++count > stopAfter) {
        return count;
      }
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 2) inEntries = c === 0x7b && named;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 2) inEntries = false;
      depth--;
    }
  }
  return count;
}

const ENTRIES = new TextEncoder().encode("entries");

/** Whether the member name at [start, end) is `entries`, escapes decoded. */
function nameIsEntries(bytes: Uint8Array, start: number, end: number, escaped: boolean): boolean {
  if (escaped) {
    try {
      return JSON.parse(decoder.decode(bytes.subarray(start - 1, end + 1))) === "entries";
    } catch {
      return false;
    }
  }
  if (end - start !== ENTRIES.length) return false;
  for (let k = 0; k < ENTRIES.length; k++) if (bytes[start + k] !== ENTRIES[k]) return false;
  return true;
}
