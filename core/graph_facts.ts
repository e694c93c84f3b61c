/**
 * A packet's memory graph as the hub merges it ({@link GraphFacts}): each
 * node's and edge's identity as bytes with a keyed hash, and, when the
 * merged graph is written, each record's JSON line; no object or string per
 * record. A worker makes them with the graph scan (core/graph_scan.ts) and
 * transfers their buffers to the hub, which keeps the identities it has not
 * seen (core/graph_set.ts) and writes those records' lines.
 *
 * The spec identifies a node by (`environmentId`, `nodeId`) and an edge by
 * (`environmentId`, `sourceId`, `targetId`, `kind`); the environment is the
 * packet's, so an identity here is the rest: each field's value as WTF-8
 * (UTF-8 that also spells lone surrogates, so that distinct strings stay
 * distinct bytes) after its length as LEB128.
 *
 * @module
 */

import { _withWasm } from "./jsonl_validate.ts";
import type { MemoryGraph } from "./packet.ts";

/** A packet's graph records, as the hub needs them. */
export interface GraphFacts {
  /** How many records are nodes: those come first, the edges after them, each in file order. */
  nodes: number;
  /** Every record's identity (see the module documentation), back to back. */
  keys: Uint8Array<ArrayBuffer>;
  /** Where each record's identity ends in `keys` (the first starts at 0). */
  keyEnds: Uint32Array<ArrayBuffer>;
  /** SipHash-2-4 of each identity under {@link GraphFacts.hashKey}: its low and high 32 bits. */
  hashes: Uint32Array<ArrayBuffer>;
  /** The SipHash key (k0 low, k0 high, k1 low, k1 high) the hashes were made with. */
  hashKey: Uint32Array<ArrayBuffer>;
  /**
   * Each record's line of the merged graph, back to back, when asked for:
   * `JSON.stringify({ type, environmentId, node })` (or `edge`) and a line feed.
   */
  lines?: Uint8Array<ArrayBuffer>;
  /** Where each record's line ends in `lines`. */
  lineEnds?: Uint32Array<ArrayBuffer>;
}

/** What graph facts are made with: the hash key, and whether lines are wanted. */
export interface GraphFactsOptions {
  /** The SipHash key (four 32-bit words): every packet merged together must use the same one. */
  hashKey: Uint32Array;
  /** Write each record's line (for the merged graph's output). */
  lines: boolean;
  /**
   * Keep the parsed records too (`memoryGraph.nodesAdded` and `edgesAdded`),
   * for a graph sink that takes objects.
   */
  records?: boolean;
}

/**
 * A fresh random SipHash key: identities hashed under a key nobody knows
 * cannot be chosen to collide, so a hostile packet cannot slow the merge.
 * @returns four random 32-bit words
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newGraphHashKey } from "./graph_facts.ts";
 * assert.equal(newGraphHashKey().length, 4);
 * ```
 */
export function newGraphHashKey(): Uint32Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint32Array(4));
}

/**
 * The ArrayBuffers of graph facts, to transfer them between threads.
 * @param facts the facts
 * @returns their buffers (each is the facts' own)
 */
export function graphFactsBuffers(facts: GraphFacts): ArrayBuffer[] {
  const buffers = [facts.keys.buffer, facts.keyEnds.buffer, facts.hashes.buffer];
  if (facts.lines) buffers.push(facts.lines.buffer);
  if (facts.lineEnds) buffers.push(facts.lineEnds.buffer);
  return buffers;
}

/**
 * Whether two hash keys are the same.
 * @param a a key
 * @param b another key
 * @returns true when every word is equal
 */
export function sameHashKey(a: Uint32Array, b: Uint32Array): boolean {
  return a.length === 4 && b.length === 4 && a[0] === b[0] && a[1] === b[1] && a[2] === b[2] &&
    a[3] === b[3];
}

const encoder = new TextEncoder();

/**
 * A string as WTF-8: UTF-8, with a lone surrogate spelled as its three-byte
 * form (which UTF-8 forbids), so that different strings never give the
 * same bytes (TextEncoder writes every lone surrogate as U+FFFD).
 * @param text the string
 * @returns its bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wtf8 } from "./graph_facts.ts";
 * assert.deepEqual([...wtf8("é")], [0xc3, 0xa9]);
 * assert.deepEqual([...wtf8("\ud800")], [0xed, 0xa0, 0x80]);
 * ```
 */
export function wtf8(text: string): Uint8Array {
  if (text.isWellFormed()) return encoder.encode(text);
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f));
    else if (code < 0x10000) {
      bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    } else {
      bytes.push(
        0xf0 | (code >> 18),
        0x80 | ((code >> 12) & 0x3f),
        0x80 | ((code >> 6) & 0x3f),
        0x80 | (code & 0x3f),
      );
    }
  }
  return Uint8Array.from(bytes);
}

/**
 * An identity's bytes: each value as WTF-8 after its length as LEB128.
 * @param values the identity's field values, in order
 * @returns the bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { identityBytes } from "./graph_facts.ts";
 * assert.deepEqual([...identityBytes(["a", ""])], [1, 0x61, 0]);
 * ```
 */
export function identityBytes(values: readonly string[]): Uint8Array {
  const parts: number[] = [];
  for (const value of values) {
    const bytes = wtf8(value);
    let length = bytes.length;
    while (length >= 0x80) {
      parts.push((length & 0x7f) | 0x80);
      length >>>= 7;
    }
    parts.push(length, ...bytes);
  }
  return Uint8Array.from(parts);
}

/**
 * The graph facts of a parsed memory graph: the plain way, for a graph the
 * scan could not take (and for packets folded by a library caller).
 * @param graph the parsed `memory_graph.json`
 * @param environmentId the packet's environment (for the lines)
 * @param options the hash key, and whether to write lines
 * @returns the facts
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { graphFactsOf, newGraphHashKey } from "./graph_facts.ts";
 * const graph = { nodesAdded: [{ nodeId: "n", kind: "k" }], edgesAdded: [] };
 * const facts = graphFactsOf(graph, "E", { hashKey: newGraphHashKey(), lines: true });
 * assert.equal(facts.nodes, 1);
 * assert.equal(
 *   new TextDecoder().decode(facts.lines),
 *   '{"type":"node","environmentId":"E","node":{"nodeId":"n","kind":"k"}}\n',
 * );
 * ```
 */
export function graphFactsOf(
  graph: Pick<MemoryGraph, "nodesAdded" | "edgesAdded">,
  environmentId: string,
  options: GraphFactsOptions,
): GraphFacts {
  const identities = [
    ...graph.nodesAdded.map((node) => identityBytes([node.nodeId])),
    ...graph.edgesAdded.map((edge) => identityBytes([edge.sourceId, edge.targetId, edge.kind])),
  ];
  const keyEnds = new Uint32Array(identities.length);
  const keys = new Uint8Array(identities.reduce((sum, key) => sum + key.length, 0));
  let at = 0;
  identities.forEach((key, i) => {
    keys.set(key, at);
    keyEnds[i] = at += key.length;
  });
  const facts: GraphFacts = {
    nodes: graph.nodesAdded.length,
    keys,
    keyEnds,
    hashes: hashIdentities(keys, keyEnds, options.hashKey),
    hashKey: Uint32Array.from(options.hashKey),
  };
  if (options.lines) {
    const lines = [
      ...graph.nodesAdded.map((node) => ({ type: "node", environmentId, node })),
      ...graph.edgesAdded.map((edge) => ({ type: "edge", environmentId, edge })),
    ].map((record) => encoder.encode(JSON.stringify(record) + "\n"));
    facts.lineEnds = new Uint32Array(lines.length);
    facts.lines = new Uint8Array(lines.reduce((sum, line) => sum + line.length, 0));
    let end = 0;
    lines.forEach((line, i) => {
      facts.lines!.set(line, end);
      facts.lineEnds![i] = end += line.length;
    });
  }
  return facts;
}

/**
 * SipHash-2-4 (64 bits) of each identity, in WebAssembly where it can run,
 * else in JavaScript ({@link sipHash24}); both give the same hashes.
 * @param keys the identities back to back
 * @param keyEnds where each ends
 * @param hashKey the SipHash key: k0 low, k0 high, k1 low, k1 high
 * @returns two 32-bit words per identity: the hash's low and high halves
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashIdentities, sipHash24 } from "./graph_facts.ts";
 * const key = Uint32Array.of(1, 2, 3, 4);
 * const bytes = new TextEncoder().encode("abcdefghij");
 * assert.deepEqual([...hashIdentities(bytes, Uint32Array.of(3, 10), key)], [
 *   ...sipHash24(bytes.subarray(0, 3), key),
 *   ...sipHash24(bytes.subarray(3, 10), key),
 * ]);
 * ```
 */
export function hashIdentities(
  keys: Uint8Array,
  keyEnds: Uint32Array,
  hashKey: Uint32Array,
): Uint32Array<ArrayBuffer> {
  const count = keyEnds.length;
  const total = count === 0 ? 0 : keyEnds[count - 1];
  const hashes = new Uint32Array(2 * count);
  // Layout from the base: the identities and 8 bytes after them, their ends, the hashes.
  const endsAt = Math.ceil((total + 8) / 16) * 16;
  const outAt = Math.ceil((endsAt + 4 * count) / 16) * 16;
  const done = count > 0 &&
    _withWasm(outAt + 8 * count, undefined, ({ memory, base, hashKeys }) => {
      const heap = new Uint8Array(memory.buffer, base);
      heap.set(keys.subarray(0, total), 0);
      heap.fill(0, total, total + 8);
      new Uint32Array(memory.buffer, base + endsAt, count).set(keyEnds);
      hashKeys(base, base + endsAt, count, base + outAt, ...hashKey as unknown as Quad);
      hashes.set(new Uint32Array(memory.buffer, base + outAt, 2 * count));
      return true;
    });
  if (!done) {
    for (let i = 0, start = 0; i < count; start = keyEnds[i++]) {
      hashes.set(sipHash24(keys.subarray(start, keyEnds[i]), hashKey), 2 * i);
    }
  }
  return hashes;
}

type Quad = [number, number, number, number];

/**
 * SipHash-2-4 with a 64-bit output, in JavaScript (32-bit halves): the
 * reference the WebAssembly `hashKeys` is tested against, and its fallback.
 * @param message the bytes
 * @param key k0 low, k0 high, k1 low, k1 high (k0 and k1 as read little-endian from the 16 key bytes)
 * @returns the hash's low and high 32 bits
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sipHash24 } from "./graph_facts.ts";
 * // The reference implementation's first test vector: key 00 01 … 0f, empty message.
 * const key = new Uint32Array(Uint8Array.from({ length: 16 }, (_, i) => i).buffer);
 * assert.deepEqual([...sipHash24(new Uint8Array(), key)], [0xdd0e0e31, 0x726fdb47]);
 * ```
 */
export function sipHash24(message: Uint8Array, key: Uint32Array): [number, number] {
  // Each 64-bit value as [low, high] words, little-endian.
  const v = new Uint32Array(8);
  v[0] = key[0] ^ 0x70736575;
  v[1] = key[1] ^ 0x736f6d65;
  v[2] = key[2] ^ 0x6e646f6d;
  v[3] = key[3] ^ 0x646f7261;
  v[4] = key[0] ^ 0x6e657261;
  v[5] = key[1] ^ 0x6c796765;
  v[6] = key[2] ^ 0x79746573;
  v[7] = key[3] ^ 0x74656462;
  const length = message.length;
  const blocks = length - (length & 7);
  const word = (at: number) =>
    (message[at] | (message[at + 1] << 8) | (message[at + 2] << 16) | (message[at + 3] << 24)) >>>
    0;
  for (let at = 0; at < blocks; at += 8) {
    const low = word(at);
    const high = word(at + 4);
    v[6] ^= low;
    v[7] ^= high;
    sipRound(v);
    sipRound(v);
    v[0] ^= low;
    v[1] ^= high;
  }
  let low = 0;
  let high = (length & 0xff) << 24;
  for (let k = 0; k < (length & 7); k++) {
    const byte = message[blocks + k];
    if (k < 4) low |= byte << (8 * k);
    else high |= byte << (8 * (k - 4));
  }
  low >>>= 0;
  high >>>= 0;
  v[6] ^= low;
  v[7] ^= high;
  sipRound(v);
  sipRound(v);
  v[0] ^= low;
  v[1] ^= high;
  v[4] ^= 0xff;
  for (let r = 0; r < 4; r++) sipRound(v);
  return [(v[0] ^ v[2] ^ v[4] ^ v[6]) >>> 0, (v[1] ^ v[3] ^ v[5] ^ v[7]) >>> 0];
}

/** v[a] += v[b] on 64-bit [low, high] pairs at word indexes a and b. */
function add64(v: Uint32Array, a: number, b: number): void {
  const low = v[a] + v[b];
  v[a + 1] = v[a + 1] + v[b + 1] + (low > 0xffffffff ? 1 : 0);
  v[a] = low;
}

/** v[a] rotated left by `bits` (0 < bits < 64, not 32). */
function rotl64(v: Uint32Array, a: number, bits: number): void {
  const low = v[a];
  const high = v[a + 1];
  if (bits > 32) {
    bits -= 32;
    v[a] = (high << bits) | (low >>> (32 - bits));
    v[a + 1] = (low << bits) | (high >>> (32 - bits));
  } else {
    v[a] = (low << bits) | (high >>> (32 - bits));
    v[a + 1] = (high << bits) | (low >>> (32 - bits));
  }
}

/** Swap the halves: a rotation by 32. */
function swap64(v: Uint32Array, a: number): void {
  const low = v[a];
  v[a] = v[a + 1];
  v[a + 1] = low;
}

function xor64(v: Uint32Array, a: number, b: number): void {
  v[a] ^= v[b];
  v[a + 1] ^= v[b + 1];
}

function sipRound(v: Uint32Array): void {
  // v0 at 0, v1 at 2, v2 at 4, v3 at 6.
  add64(v, 0, 2);
  rotl64(v, 2, 13);
  xor64(v, 2, 0);
  swap64(v, 0);
  add64(v, 4, 6);
  rotl64(v, 6, 16);
  xor64(v, 6, 4);
  add64(v, 0, 6);
  rotl64(v, 6, 21);
  xor64(v, 6, 0);
  add64(v, 4, 2);
  rotl64(v, 2, 17);
  xor64(v, 2, 4);
  swap64(v, 4);
}
