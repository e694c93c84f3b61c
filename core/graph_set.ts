/**
 * The identities of an environment's merged graph seen so far
 * ({@link IdentitySet}), held in typed arrays rather than one string per
 * node: an open-addressing table of 64-bit hashes (12 bytes a slot) and the
 * identities themselves, front-coded (each field stored as what it shares
 * with the previous identity's and the rest), so that a hash match is
 * confirmed on the full identity and no distinct node or edge is ever
 * dropped for sharing a hash.
 *
 * @module
 */

/** Identities stored between restarts of the front coding: the most decoded to read one. */
const BLOCK = 16;

/**
 * Identities (see core/graph_facts.ts: each field's bytes after its length
 * as LEB128), front-coded in blocks of {@link BLOCK}: per identity, its
 * number of fields, then per field the length of the prefix it shares with
 * the previous identity's same field (0 at a block's start), the length of
 * the rest, the rest; every number as LEB128.
 */
class FrontCodedStore {
  #bytes = new Uint8Array(1 << 12);
  #length = 0;
  #blocks = new Uint32Array(64);
  #count = 0;
  /** The last identity appended, and one decoded for a comparison: its fields, one buffer each. */
  readonly #last = new Fields();
  readonly #read = new Fields();

  get count(): number {
    return this.#count;
  }

  /** Bytes held, for tests and statistics. */
  get byteLength(): number {
    return this.#bytes.byteLength + this.#blocks.byteLength;
  }

  /** Append the identity at `key[start, end)`; its ordinal. */
  append(key: Uint8Array, start: number, end: number): number {
    const ordinal = this.#count;
    const last = this.#last;
    if (ordinal % BLOCK === 0) {
      const block = ordinal / BLOCK;
      if (block === this.#blocks.length) this.#blocks = grown(this.#blocks, block + 1);
      this.#blocks[block] = this.#length;
      last.count = 0;
    }
    let fields = 0;
    for (let at = start; at < end; fields++) {
      const length = readLeb(key, at);
      at = lebEnd + length;
      if (at > end) throw new TypeError("Graph identity: a field runs past its end");
    }
    // At most 5 bytes for the count, and 10 and the bytes per field.
    this.#reserve(5 + 10 * fields + (end - start));
    const bytes = this.#bytes;
    let out = writeLeb(bytes, this.#length, fields);
    for (let at = start, field = 0; at < end; field++) {
      const length = readLeb(key, at);
      const from = lebEnd;
      let shared = 0;
      if (field < last.count) {
        const held = last.values[field];
        const limit = Math.min(last.lengths[field], length);
        while (shared < limit && held[shared] === key[from + shared]) shared++;
      }
      out = writeLeb(bytes, out, shared);
      out = writeLeb(bytes, out, length - shared);
      for (let b = from + shared; b < from + length; b++) bytes[out++] = key[b];
      last.extend(field, shared, key, from + shared, length - shared);
      at = from + length;
    }
    this.#length = out;
    last.count = fields;
    return this.#count++;
  }

  /** Whether identity `ordinal` is the identity at `key[start, end)`. */
  equals(ordinal: number, key: Uint8Array, start: number, end: number): boolean {
    const read = this.#read;
    const bytes = this.#bytes;
    let at = this.#blocks[Math.floor(ordinal / BLOCK)];
    for (let k = ordinal - (ordinal % BLOCK); k <= ordinal; k++) {
      const fields = readLeb(bytes, at);
      at = lebEnd;
      for (let field = 0; field < fields; field++) {
        const shared = readLeb(bytes, at);
        const rest = readLeb(bytes, lebEnd);
        at = lebEnd;
        read.extend(field, shared, bytes, at, rest);
        at += rest;
      }
      read.count = fields;
    }
    let field = 0;
    for (let p = start; p < end; field++) {
      const length = readLeb(key, p);
      const from = lebEnd;
      if (field >= read.count || read.lengths[field] !== length) return false;
      const value = read.values[field];
      for (let b = 0; b < length; b++) if (value[b] !== key[from + b]) return false;
      p = from + length;
    }
    return field === read.count;
  }

  #reserve(more: number): void {
    if (this.#length + more <= this.#bytes.length) return;
    const bytes = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + more));
    bytes.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = bytes;
  }
}

/** Field values being decoded or compared: one growable buffer per field. */
class Fields {
  values: Uint8Array[] = [];
  lengths: number[] = [];
  count = 0;

  /** Field `field` := its first `shared` bytes, then bytes[from, from + rest). */
  extend(field: number, shared: number, bytes: Uint8Array, from: number, rest: number): void {
    if (field >= this.values.length || this.values[field].length < shared + rest) {
      this.#room(field, shared + rest);
    }
    const value = this.values[field];
    for (let b = 0; b < rest; b++) value[shared + b] = bytes[from + b];
    this.lengths[field] = shared + rest;
  }

  #room(field: number, length: number): void {
    while (this.values.length <= field) {
      this.values.push(new Uint8Array(64));
      this.lengths.push(0);
    }
    if (this.values[field].length < length) {
      const value = new Uint8Array(Math.max(length, this.values[field].length * 2));
      value.set(this.values[field]);
      this.values[field] = value;
    }
  }
}

/**
 * A set of graph identities with their 64-bit hashes: {@link add} says
 * whether an identity is new, comparing full identities whenever hashes
 * match, so that two identities that share a hash are both kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IdentitySet } from "./graph_set.ts";
 * import { identityBytes } from "./graph_facts.ts";
 * const set = new IdentitySet();
 * const a = identityBytes(["node-a"]);
 * const b = identityBytes(["node-b"]);
 * // The same hash for both: only the identities tell them apart.
 * assert.equal(set.add(a, 0, a.length, 7, 7), true);
 * assert.equal(set.add(b, 0, b.length, 7, 7), true);
 * assert.equal(set.add(a, 0, a.length, 7, 7), false);
 * assert.equal(set.size, 2);
 * ```
 */
export class IdentitySet {
  /** Per slot: the hash's low word, its high word, the identity's ordinal + 1 (0: empty). */
  #slots = new Uint32Array(3 * 64);
  #mask = 63;
  readonly #store = new FrontCodedStore();

  /** How many identities the set holds. */
  get size(): number {
    return this.#store.count;
  }

  /** Bytes the set's arrays take, for tests and statistics. */
  get byteLength(): number {
    return this.#slots.byteLength + this.#store.byteLength;
  }

  /**
   * Add an identity unless the set has it.
   * @param key bytes holding the identity (see core/graph_facts.ts)
   * @param start where it starts in `key`
   * @param end where it ends
   * @param low the low 32 bits of its hash
   * @param high the high 32 bits of its hash
   * @returns true when it was not in the set (and now is)
   */
  add(key: Uint8Array, start: number, end: number, low: number, high: number): boolean {
    const slots = this.#slots;
    const mask = this.#mask;
    let slot = low & mask;
    for (;;) {
      const at = 3 * slot;
      const held = slots[at + 2];
      if (held === 0) break;
      if (
        slots[at] === low >>> 0 && slots[at + 1] === high >>> 0 &&
        this.#store.equals(held - 1, key, start, end)
      ) {
        return false;
      }
      slot = (slot + 1) & mask;
    }
    const ordinal = this.#store.append(key, start, end);
    slots[3 * slot] = low;
    slots[3 * slot + 1] = high;
    slots[3 * slot + 2] = ordinal + 1;
    // At most half full: linear probing stays near two probes a miss.
    if (2 * (ordinal + 1) > mask + 1) this.#grow();
    return true;
  }

  #grow(): void {
    const old = this.#slots;
    const mask = 2 * (this.#mask + 1) - 1;
    const slots = new Uint32Array(3 * (mask + 1));
    for (let at = 0; at < old.length; at += 3) {
      if (old[at + 2] === 0) continue;
      let slot = old[at] & mask;
      while (slots[3 * slot + 2] !== 0) slot = (slot + 1) & mask;
      slots[3 * slot] = old[at];
      slots[3 * slot + 1] = old[at + 1];
      slots[3 * slot + 2] = old[at + 2];
    }
    this.#slots = slots;
    this.#mask = mask;
  }
}

function grown(array: Uint32Array, atLeast: number): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(Math.max(atLeast, array.length * 2));
  bigger.set(array);
  return bigger;
}

/** Where the number {@link readLeb} last read ends. */
let lebEnd = 0;

/** The LEB128 number at `bytes[at]` (where it ends goes to {@link lebEnd}). */
function readLeb(bytes: Uint8Array, at: number): number {
  let byte = bytes[at++];
  if (byte < 0x80) {
    lebEnd = at;
    return byte;
  }
  let value = 0;
  let scale = 1;
  for (;;) {
    if (byte === undefined) throw new TypeError("Graph identity: a length runs past the end");
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      lebEnd = at;
      return value;
    }
    scale *= 128;
    if (scale > 2 ** 35) throw new TypeError("Graph identity: a length is too long");
    byte = bytes[at++];
  }
}

/** Write `value` as LEB128 at `bytes[at]`; where it ends. */
function writeLeb(bytes: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    bytes[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  bytes[at++] = value;
  return at;
}
