/**
 * Canon entries as UTF-8 JSON text in one buffer ({@link CanonTexts}): how a
 * packet's `canon_entry.json` entries go from a worker to the hub (the buffer
 * is transferred, not copied, and no string is made on either side), and how
 * the hub holds a whole packet's entries until a later packet replaces them
 * or someone reads them.
 *
 * @module
 */

import { Buffer, isAscii } from "node:buffer";

/**
 * Canon entries as JSON text: entry `i`'s key and its entry's compact JSON
 * text are byte ranges of one buffer. Made by the canon scan
 * (core/canon_scan.ts) or {@link makeCanonTexts}; read with
 * {@link decodeCanonTexts}.
 */
export interface CanonTexts {
  /** The entries' JSON texts back to back, then their keys back to back, in UTF-8. */
  bytes: Uint8Array<ArrayBuffer>;
  /**
   * For `count` entries, `2 * count` offsets: `ends[i]` is where entry i's
   * text ends in `bytes` (the first starts at 0), `ends[count + i]` where its
   * key ends, counted from where the keys start (the end of the last text).
   */
  ends: Int32Array<ArrayBuffer>;
  /** `[index, signatureId]` for the entries whose `signatureId` is a string other than their key. */
  renamed: [number, string][];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * How many entries `texts` holds.
 * @param texts the entries
 * @returns their number
 */
export function canonTextsCount(texts: CanonTexts): number {
  return texts.ends.length >> 1;
}

/**
 * Pack keys and entry texts into {@link CanonTexts}.
 * @param keys the keys, in order
 * @param texts each key's entry as JSON text
 * @param renamed `[index, signatureId]` for entries whose signatureId is another string than their key
 * @returns the packed entries (their buffers are their own: they can be transferred)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCanonTexts, makeCanonTexts } from "./canon_texts.ts";
 * const packed = makeCanonTexts(["s1", "s2"], ['{"rev":1}', '{"rev":2}'], []);
 * assert.equal(decodeCanonTexts(packed).texts[1], '{"rev":2}');
 * ```
 */
export function makeCanonTexts(
  keys: readonly string[],
  texts: readonly string[],
  renamed: [number, string][],
): CanonTexts {
  if (keys.length !== texts.length) throw new TypeError("makeCanonTexts: one text per key");
  const count = keys.length;
  const pieces = [...texts, ...keys].map((piece) => encoder.encode(piece));
  const bytes = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  const ends = new Int32Array(2 * count);
  let at = 0;
  pieces.forEach((piece, i) => {
    bytes.set(piece, at);
    at += piece.length;
    ends[i] = i < count ? at : at - (count === 0 ? 0 : ends[count - 1]);
  });
  return { bytes, ends, renamed };
}

/**
 * The keys and texts of {@link CanonTexts} as strings.
 * @param texts the packed entries
 * @param options `own`: give each string its own storage (slower), for strings
 *   kept long after the others are dropped; otherwise the strings may share
 *   one decoded text, alive while any of them is
 * @returns the keys and texts, in order
 * @throws TypeError when they do not hold together ({@link checkCanonTexts}), or the bytes are not UTF-8
 */
export function decodeCanonTexts(
  texts: CanonTexts,
  options: { own?: boolean } = {},
): { keys: string[]; texts: string[] } {
  checkCanonTexts(texts);
  const { bytes, ends } = texts;
  const count = canonTextsCount(texts);
  const keysStart = count === 0 ? 0 : ends[count - 1];
  return {
    texts: pieces(bytes, 0, ends, 0, count, options.own === true),
    keys: pieces(bytes, keysStart, ends, count, count, options.own === true),
  };
}

/**
 * The keys of {@link CanonTexts} as strings, without decoding the texts.
 * @param texts the packed entries
 * @returns the keys, in order
 * @throws TypeError when they do not hold together ({@link checkCanonTexts}), or the bytes are not UTF-8
 * @example
 * ```ts
 * import { canonTextsKeys, makeCanonTexts } from "./canon_texts.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(canonTextsKeys(makeCanonTexts(["a", "b"], ["{}", "{}"], [])), ["a", "b"]);
 * ```
 */
export function canonTextsKeys(texts: CanonTexts): string[] {
  checkCanonTexts(texts);
  const count = canonTextsCount(texts);
  return pieces(
    texts.bytes,
    count === 0 ? 0 : texts.ends[count - 1],
    texts.ends,
    count,
    count,
    false,
  );
}

/**
 * Check that packed entries hold together: offsets that rise and cover the
 * bytes exactly, renamed entries that exist. (Whether the bytes are UTF-8
 * and the texts JSON is found when they are decoded and parsed.)
 * @param texts the packed entries
 * @throws TypeError when they do not
 */
export function checkCanonTexts(texts: CanonTexts): void {
  const { bytes, ends, renamed } = texts;
  if (!(bytes instanceof Uint8Array) || !(ends instanceof Int32Array) || ends.length % 2 !== 0) {
    throw new TypeError("CanonTexts: bytes must be a Uint8Array and ends an even Int32Array");
  }
  const count = canonTextsCount(texts);
  const keysStart = count === 0 ? 0 : ends[count - 1];
  checkEnds(ends, 0, count, 0, bytes.length);
  checkEnds(ends, count, count, keysStart, bytes.length);
  if (keysStart + (count === 0 ? 0 : ends[2 * count - 1]) !== bytes.length) {
    throw new TypeError("CanonTexts: the offsets do not cover the bytes");
  }
  if (
    !Array.isArray(renamed) ||
    !renamed.every((item) =>
      Array.isArray(item) && Number.isInteger(item[0]) && item[0] >= 0 && item[0] < count &&
      typeof item[1] === "string"
    )
  ) {
    throw new TypeError("CanonTexts: renamed must list [index, signatureId] of its entries");
  }
}

/** Offsets `ends[first .. first + count)` rise and stay within `from + ends[k] <= limit`. */
function checkEnds(ends: Int32Array, first: number, count: number, from: number, limit: number) {
  let previous = 0;
  for (let k = first; k < first + count; k++) {
    const end = ends[k];
    if (!(end >= previous) || from + end > limit) {
      throw new TypeError("CanonTexts: offsets out of order or past the bytes");
    }
    previous = end;
  }
}

function pieces(
  bytes: Uint8Array,
  from: number,
  ends: Int32Array,
  first: number,
  count: number,
  own: boolean,
): string[] {
  const out = new Array<string>(count);
  const stop = count === 0 ? from : from + ends[first + count - 1];
  const region = bytes.subarray(from, stop);
  let start = 0;
  if (isAscii(region)) {
    // Byte offsets are string offsets. Sliced from one decoded string, the pieces keep it alive
    // while any of them is; copied out of the bytes one by one, each is its own.
    const buffer = Buffer.from(region.buffer, region.byteOffset, region.byteLength);
    const whole = own ? undefined : buffer.toString("latin1");
    for (let k = 0; k < count; k++) {
      const end = ends[first + k];
      out[k] = whole === undefined
        ? buffer.toString("latin1", start, end)
        : whole.slice(start, end);
      start = end;
    }
    return out;
  }
  for (let k = 0; k < count; k++) {
    const end = ends[first + k];
    out[k] = decoder.decode(region.subarray(start, end));
    start = end;
  }
  return out;
}

/**
 * Whether two packed sets of entries have the same keys in the same order
 * and the same signatureIds: then folding one after the other replaces every
 * entry or none, as their windows decide.
 * @param a packed entries
 * @param b packed entries
 * @returns true when the keys and the renamed entries are the same
 */
export function sameCanonKeys(a: CanonTexts, b: CanonTexts): boolean {
  const count = canonTextsCount(a);
  if (canonTextsCount(b) !== count) return false;
  if (a.renamed.length !== b.renamed.length) return false;
  for (let k = 0; k < a.renamed.length; k++) {
    if (a.renamed[k][0] !== b.renamed[k][0] || a.renamed[k][1] !== b.renamed[k][1]) return false;
  }
  if (count === 0) return true;
  const keyEnds = (t: CanonTexts) =>
    Buffer.from(t.ends.buffer, t.ends.byteOffset + 4 * count, 4 * count);
  const keyBytes = (t: CanonTexts) =>
    Buffer.from(t.bytes.buffer, t.bytes.byteOffset + t.ends[count - 1], t.ends[2 * count - 1]);
  return keyEnds(a).equals(keyEnds(b)) && keyBytes(a).equals(keyBytes(b));
}
