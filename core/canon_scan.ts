/**
 * `canon_entry.json` without building it: the WebAssembly walk
 * (`scanCanon` in wasm/assembly/jsonl_validate.ts) checks every entry as
 * `fastCanonEntryCheck` would and finds where each entry is; this module
 * turns that into the entries' keys and compact JSON texts, and the rest of
 * the file parsed. It answers only when sure; `undefined` sends the file to
 * the exact path (parse, then checks), which decides and words any error.
 *
 * A worker hands canon entries to the hub as text anyway (core/gate.ts,
 * `CanonTexts`); this skips parsing them and writing them back.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { PacketError } from "./errors.ts";
import { parseJson } from "./json.ts";
import { _withWasm, MAX_TRACKED_DEPTH } from "./jsonl_validate.ts";

/** What {@link scanCanonFile} gives. */
export interface ScannedCanon {
  /** The file's top-level object, parsed, with `entries` empty. */
  top: Record<string, unknown>;
  /** The keys of `entries`, in order. */
  keys: string[];
  /** Each entry as compact JSON text (the file's own spelling, white space removed). */
  texts: string[];
  /** `[index, signatureId]` for the entries whose `signatureId` is a string other than their key. */
  renamed: [number, string][];
}

const decoder = new TextDecoder();
/** Up to this size a file of very short entries is scanned again with room for them all. */
const SMALL_FILE = 1024 * 1024;
/** A key that may be an array index, which Object.keys lists before the others (up to 2^32 - 2). */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;

/**
 * Check `canon_entry.json`'s entries and cut them into texts, when sure. The
 * rest of the file comes back parsed (`top`) but not checked: the caller
 * checks it as it checks any parsed file (readPacket uses `fastCanonFileCheck`).
 * @param bytes the file
 * @param maxDepth the deepest nesting accepted
 * @returns the scanned file, or undefined for the exact path to decide
 * @example
 * ```ts
 * import { scanCanonFile } from "./canon_scan.ts";
 * const file = '{"environmentId": "E", "entries": {"s1": {"rev": 2, "lineage": ["p1"]}}}';
 * const scanned = scanCanonFile(new TextEncoder().encode(file), 64)!;
 * console.assert(scanned.texts[0] === '{"rev":2,"lineage":["p1"]}' && scanned.top.environmentId === "E");
 * console.assert(scanCanonFile(new TextEncoder().encode('{"entries": {"s1": {"rev": -1}}}'), 64) === undefined);
 * ```
 */
export function scanCanonFile(bytes: Uint8Array, maxDepth: number): ScannedCanon | undefined {
  if (!(maxDepth >= 1) || !isUtf8(bytes)) return undefined;
  // Room for an entry per 64 bytes first (real entries are longer), then, for a file small
  // enough that 40 bytes per 5 of its bytes is no burden, per 5 bytes (`"":{}`).
  for (const perEntry of bytes.length <= SMALL_FILE ? [64, 5] : [64]) {
    const result = scan(bytes, maxDepth, perEntry);
    if (result !== "no room") return result;
  }
  return undefined;
}

function scan(
  bytes: Uint8Array,
  maxDepth: number,
  perEntry: number,
): ScannedCanon | undefined | "no room" {
  const n = bytes.length;
  const depthLimit = Math.min(maxDepth, MAX_TRACKED_DEPTH);
  const maxEntries = Math.floor(n / perEntry) + 1;
  // Layout from the base: the bytes and 16 zero bytes; the walk's per-depth state; a header of
  // two i32 then ten i32 per entry; the entries' compact copies (never longer than the file).
  const stack = align(n + 16);
  const header = align(stack + (depthLimit + 2) * 10 + 16);
  const out = header + 8;
  const dst = align(out + maxEntries * 40);
  return _withWasm(dst + n + 16, undefined, ({ memory, base, scanCanon }) => {
    const heap = new Uint8Array(memory.buffer, base);
    heap.set(bytes, 0);
    heap.fill(0, n, n + 16);
    const count = scanCanon(base, n, depthLimit, base + stack, base + out, maxEntries, base + dst);
    if (count === -2) return "no room" as const;
    if (count < 0) return undefined;
    // Addresses in the records are absolute; below, offsets are from the base.
    const records = new Int32Array(memory.buffer, base + out, count * 10);
    // The compact copies run back to back: they end where the last one ends.
    const end = count === 0 ? dst : records[(count - 1) * 10 + 6] - base;
    const [entriesStart, entriesEnd] = new Int32Array(memory.buffer, base + header, 2);
    const text = decoder.decode(heap.subarray(0, n));
    const compact = decoder.decode(heap.subarray(dst, end));
    // Byte offsets are string offsets when every byte is ASCII; otherwise decode each piece.
    const ascii = text.length === n && compact.length === end - dst;
    const original = (start: number, stop: number) =>
      ascii ? text.slice(start, stop) : decoder.decode(heap.subarray(start, stop));
    const compacted = (start: number, stop: number) =>
      ascii ? compact.slice(start - dst, stop - dst) : decoder.decode(heap.subarray(start, stop));
    const keys: string[] = [];
    const texts: string[] = [];
    const renamed: [number, string][] = [];
    const seen = new Set<string>();
    for (let e = 0; e < count; e++) {
      const r = e * 10;
      const flags = records[r + 4];
      const raw = original(records[r] - base, records[r + 1] - base);
      const key = flags & 1 ? JSON.parse(`"${raw}"`) as string : raw;
      // Object.keys would put an array index first, and "__proto__" is the schema's to judge.
      if (key === "__proto__" || ARRAY_INDEX.test(key) || seen.has(key)) return undefined;
      seen.add(key);
      keys.push(key);
      const entry = compacted(records[r + 5] - base, records[r + 6] - base);
      texts.push(entry);
      // A signatureId string that is escaped or not the key: read it.
      if (flags & 4) {
        const id = (parseJson(entry) as { signatureId?: unknown }).signatureId;
        if (typeof id === "string" && id !== key) renamed.push([e, id]);
      }
    }
    const before = original(0, entriesStart - base);
    const after = original(entriesEnd - base, n);
    let top: unknown;
    try {
      top = parseJson(`${before}{}${after}`, { maxDepth, file: "canon_entry.json" });
    } catch (error) {
      if (error instanceof PacketError) return undefined;
      throw error;
    }
    return { top: top as Record<string, unknown>, keys, texts, renamed };
  });
}

function align(offset: number): number {
  return Math.ceil(offset / 16) * 16;
}
