/**
 * `memory_graph.json` without building it: the WebAssembly walk (`scanGraph`
 * in wasm/assembly/jsonl_validate.ts) checks every node and edge against
 * its record shape ({@link GRAPH_SHAPES}, the one definition the plain
 * checks read too), writes each record's identity and, when asked, its line
 * of the merged graph; then `hashKeys` hashes the identities. This module
 * copies that out as {@link GraphFacts} and parses the rest of the file. It
 * answers only when sure; `undefined` sends the file to the exact path
 * (parse, then checks), which decides and words any error.
 *
 * A record's line is its text without white space between tokens, which is
 * what `JSON.stringify` makes of its parsed value unless a string holds an
 * escape it would write otherwise, a number is spelled otherwise or a name
 * may be an array index; the walk marks such a record, and its line is made
 * here by parsing and writing it.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { PacketError } from "./errors.ts";
import type { GraphFacts, GraphFactsOptions } from "./graph_facts.ts";
import { parseJson } from "./json.ts";
import {
  _wasmNamesSize,
  _withWasm,
  MAX_TRACKED_DEPTH,
  type RecordShape,
} from "./jsonl_validate.ts";

/** A record shape, and how many of its first fields are the record's identity. */
export interface GraphShape {
  /** The record's captured fields and their types. */
  shape: RecordShape;
  /** The first `identity` fields of `shape` identify the record (each must be a string). */
  identity: number;
}

/** What {@link scanGraphFile} gives. */
export interface ScannedGraph {
  /** The file's top-level object, parsed, with `nodesAdded` and `edgesAdded` empty. */
  top: Record<string, unknown>;
  /** The records. */
  facts: GraphFacts;
}

/** The node and edge shapes, and the line options. */
export interface GraphScanOptions extends GraphFactsOptions {
  /** The shapes of a node and of an edge. */
  shapes: { nodesAdded: GraphShape; edgesAdded: GraphShape };
  /** The packet's environment, for the lines. */
  environmentId: string;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Up to this size a file of very small records is scanned again with room for them all. */
const SMALL_FILE = 4 * 1024 * 1024;
/** A cfg block as validate lays it out (see wasm/assembly/jsonl_validate.ts), rounded up. */
const CFG_BYTES = 2048;
const MAX_FIELDS = 64;

/**
 * Check `memory_graph.json`'s records and make their {@link GraphFacts}, when
 * sure. The rest of the file comes back parsed (`top`) but not checked: the
 * caller checks it as it checks any parsed file.
 * @param bytes the file
 * @param maxDepth the deepest nesting accepted
 * @param options shapes, environment, hash key, and whether to write lines
 * @returns the scanned file, or undefined for the exact path to decide
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanGraphFile } from "./graph_scan.ts";
 * import { newGraphHashKey } from "./graph_facts.ts";
 * import { GRAPH_SHAPES } from "./packet.ts";
 * const file = '{"nodesAdded": [{"nodeId": "n", "kind": "k"}], "edgesAdded": []}';
 * const options = { shapes: GRAPH_SHAPES, environmentId: "E", hashKey: newGraphHashKey(), lines: true };
 * const scanned = scanGraphFile(new TextEncoder().encode(file), 64, options)!;
 * assert.equal(
 *   new TextDecoder().decode(scanned.facts.lines),
 *   '{"type":"node","environmentId":"E","node":{"nodeId":"n","kind":"k"}}\n',
 * );
 * assert.equal(scanGraphFile(new TextEncoder().encode('{"nodesAdded": [{}], "edgesAdded": []}'), 64, options), undefined);
 * ```
 */
export function scanGraphFile(
  bytes: Uint8Array,
  maxDepth: number,
  options: GraphScanOptions,
): ScannedGraph | undefined {
  if (!(maxDepth >= 1) || !isUtf8(bytes)) return undefined;
  const { nodesAdded, edgesAdded } = options.shapes;
  for (const { shape, identity } of [nodesAdded, edgesAdded]) {
    if (shape.fields.length > MAX_FIELDS || !(identity >= 0 && identity <= shape.fields.length)) {
      return undefined;
    }
  }
  // Room for a record per 48 bytes first (real records are longer), then, for a file small
  // enough, per 3 bytes (`{},`).
  for (const perRecord of bytes.length <= SMALL_FILE ? [48, 3] : [48]) {
    const result = scan(bytes, maxDepth, perRecord, options);
    if (result !== "no room") return result;
  }
  return undefined;
}

/** A record's line starts: `{"type":"node","environmentId":"E","node":`. */
function prefixes(environmentId: string): [Uint8Array, Uint8Array] {
  const env = JSON.stringify(environmentId);
  return [
    encoder.encode(`{"type":"node","environmentId":${env},"node":`),
    encoder.encode(`{"type":"edge","environmentId":${env},"edge":`),
  ];
}

function scan(
  bytes: Uint8Array,
  maxDepth: number,
  perRecord: number,
  options: GraphScanOptions,
): ScannedGraph | undefined | "no room" {
  const n = bytes.length;
  const depthLimit = Math.min(maxDepth, MAX_TRACKED_DEPTH);
  const maxRecords = Math.floor(n / perRecord) + 1;
  const [nodePrefix, edgePrefix] = options.lines ? prefixes(options.environmentId) : [];
  const prefixBytes = options.lines ? Math.max(nodePrefix!.length, edgePrefix!.length) : 0;
  // Layout from the base: the two shapes (cfg blocks) and the line prefixes; the bytes and 16
  // zero bytes; the walk's per-depth state; the names of open objects; 16 bytes for the arrays'
  // places, then four i32 per record; the lines (prefix, the record without white space, `}` and
  // a line feed: never longer than the file and the prefixes and 2 bytes per record), the
  // identities (never longer than the file, but for lengths of more than a byte) and their hashes.
  const nodeCfg = 0;
  const edgeCfg = CFG_BYTES;
  const prefixAt = 2 * CFG_BYTES;
  const data = align(prefixAt + 2 * prefixBytes);
  const stack = align(data + n + 16);
  const names = align(stack + (depthLimit + 2) * 6 + 16);
  const header = align(names + _wasmNamesSize(depthLimit, n));
  const out = header + 16;
  const dst = align(out + 16 * maxRecords);
  const dstBytes = options.lines ? n + maxRecords * (prefixBytes + 2) + 32 : 16;
  const keysAt = align(dst + dstBytes);
  const keysBytes = n + 4 * maxRecords + 32;
  const endsAt = align(keysAt + keysBytes);
  const hashesAt = align(endsAt + 4 * maxRecords);
  const size = hashesAt + 8 * maxRecords;
  return _withWasm(size, undefined, ({ memory, base, scanGraph, hashKeys }) => {
    const heap = new Uint8Array(memory.buffer, base);
    const view = new DataView(memory.buffer, base);
    const shapes = [options.shapes.nodesAdded, options.shapes.edgesAdded];
    const linePrefixes = [nodePrefix, edgePrefix];
    for (const [k, cfg] of [nodeCfg, edgeCfg].entries()) {
      layShape(heap, view, cfg, shapes[k]);
      const prefix = linePrefixes[k];
      if (prefix) heap.set(prefix, prefixAt + k * prefixBytes);
      view.setInt32(cfg + 1096, base + prefixAt + k * prefixBytes, true);
      view.setInt32(cfg + 1100, prefix?.length ?? 0, true);
    }
    heap.set(bytes, data);
    heap.fill(0, data + n, data + n + 16);
    view.setInt32(header, 0, true);
    view.setInt32(header + 4, 0, true);
    view.setInt32(header + 8, 0, true);
    view.setInt32(header + 12, 0, true);
    const count = scanGraph(
      base + data,
      n,
      depthLimit,
      base + stack,
      base + nodeCfg,
      base + edgeCfg,
      base + out,
      maxRecords,
      base + dst,
      base + keysAt,
      base + names,
      options.lines ? 1 : 0,
    );
    if (count === -2) return "no room" as const;
    if (count < 0) return undefined;
    // Addresses in the records are absolute.
    const records = new Int32Array(memory.buffer, base + out, 4 * count);
    const keyEnds = new Uint32Array(count);
    const keysEnd = count === 0 ? base + keysAt : records[4 * count - 1];
    for (let r = 0; r < count; r++) keyEnds[r] = records[4 * r + 3] - base - keysAt;
    heap.fill(0, keysEnd - base, keysEnd - base + 8);
    new Uint32Array(memory.buffer, base + endsAt, count).set(keyEnds);
    hashKeys(
      base + keysAt,
      base + endsAt,
      count,
      base + hashesAt,
      options.hashKey[0],
      options.hashKey[1],
      options.hashKey[2],
      options.hashKey[3],
    );
    const keys = heap.slice(keysAt, keysEnd - base);
    const hashes = new Uint32Array(memory.buffer, base + hashesAt, 2 * count).slice();
    let nodes = 0;
    let ordered = true;
    for (let r = 0; r < count; r++) {
      if ((records[4 * r] & 1) === 0) {
        if (nodes !== r) ordered = false;
        nodes++;
      }
    }
    let facts: GraphFacts = {
      nodes,
      keys,
      keyEnds,
      hashes,
      hashKey: Uint32Array.from(options.hashKey),
    };
    if (options.lines) {
      const linesEnd = count === 0 ? base + dst : records[4 * count - 2];
      let lines = heap.slice(dst, linesEnd - base);
      const lineEnds = new Uint32Array(count);
      for (let r = 0; r < count; r++) lineEnds[r] = records[4 * r + 2] - base - dst;
      const odd: number[] = [];
      for (let r = 0; r < count; r++) if (records[4 * r] & 2) odd.push(r);
      if (odd.length > 0) {
        const rewritten = rewriteLines(lines, lineEnds, odd, records, options.environmentId);
        if (rewritten === undefined) return undefined;
        lines = rewritten.lines;
        lineEnds.set(rewritten.lineEnds);
      }
      facts.lines = lines;
      facts.lineEnds = lineEnds;
    }
    if (!ordered) facts = nodesFirst(facts, records);
    const top = parseTop(heap, data, n, view, header);
    return top === undefined ? undefined : { top, facts };
  });
}

/** Lay a shape out as validate's cfg block, with its field count and identity size. */
function layShape(heap: Uint8Array, view: DataView, cfg: number, { shape, identity }: GraphShape) {
  heap.fill(0, cfg, cfg + CFG_BYTES);
  const names = shape.fields.map((field) => encoder.encode(field));
  let end = 0;
  names.forEach((name, k) => {
    heap.set(name, cfg + 1152 + end);
    end += name.length;
    view.setInt32(cfg + 192 + 4 * k, end, true);
    view.setUint16(cfg + 960 + 2 * k, shape.types?.[k] ?? 0x1ff, true);
  });
  view.setInt32(cfg + 1088, shape.fields.length, true);
  view.setInt32(cfg + 1092, identity, true);
}

/** The top-level object with `nodesAdded` and `edgesAdded` read as empty arrays. */
function parseTop(
  heap: Uint8Array,
  data: number,
  n: number,
  view: DataView,
  header: number,
): Record<string, unknown> | undefined {
  // Absolute addresses: nodes start, nodes end, edges start, edges end.
  const base = heap.byteOffset;
  const spans = [0, 1].map((k) => [
    view.getInt32(header + 8 * k, true) - base - data,
    view.getInt32(header + 8 * k + 4, true) - base - data,
  ]).sort((a, b) => a[0] - b[0]);
  const text = (start: number, stop: number) =>
    decoder.decode(heap.subarray(data + start, data + stop));
  const [[s1, e1], [s2, e2]] = spans;
  try {
    const top = parseJson(`${text(0, s1)}[]${text(e1, s2)}[]${text(e2, n)}`, {
      file: "memory_graph.json",
    });
    return top as Record<string, unknown>;
  } catch (error) {
    if (error instanceof PacketError) return undefined;
    throw error;
  }
}

/**
 * The lines of the `odd` records written by parsing their text and writing
 * it as JSON.stringify does; undefined when one does not parse (the walk
 * checked it, so the exact path is left to say why).
 */
function rewriteLines(
  lines: Uint8Array,
  lineEnds: Uint32Array,
  odd: number[],
  records: Int32Array,
  environmentId: string,
): { lines: Uint8Array<ArrayBuffer>; lineEnds: Uint32Array } | undefined {
  const [nodePrefix, edgePrefix] = prefixes(environmentId);
  const pieces: Uint8Array[] = [];
  const ends = new Uint32Array(lineEnds.length);
  let copied = 0;
  let total = 0;
  for (const r of odd) {
    const start = r === 0 ? 0 : lineEnds[r - 1];
    const edge = (records[4 * r] & 1) === 1;
    const prefix = edge ? edgePrefix.length : nodePrefix.length;
    let value: unknown;
    try {
      value = parseJson(lines.subarray(start + prefix, lineEnds[r] - 2));
    } catch (error) {
      if (error instanceof PacketError) return undefined;
      throw error;
    }
    const line = encoder.encode(
      JSON.stringify(
        edge
          ? { type: "edge", environmentId, edge: value }
          : { type: "node", environmentId, node: value },
      ) + "\n",
    );
    pieces.push(lines.subarray(copied === 0 ? 0 : lineEnds[copied - 1], start), line);
    for (let k = copied; k < r; k++) {
      ends[k] = total + lineEnds[k] - (copied === 0 ? 0 : lineEnds[copied - 1]);
    }
    total += start - (copied === 0 ? 0 : lineEnds[copied - 1]) + line.length;
    ends[r] = total;
    copied = r + 1;
  }
  const tailStart = copied === 0 ? 0 : lineEnds[copied - 1];
  pieces.push(lines.subarray(tailStart));
  for (let k = copied; k < lineEnds.length; k++) ends[k] = total + lineEnds[k] - tailStart;
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return { lines: out, lineEnds: ends };
}

/** The facts with the nodes moved before the edges (a file may list `edgesAdded` first). */
function nodesFirst(facts: GraphFacts, records: Int32Array): GraphFacts {
  const count = facts.keyEnds.length;
  const order: number[] = [];
  for (const kind of [0, 1]) {
    for (let r = 0; r < count; r++) if ((records[4 * r] & 1) === kind) order.push(r);
  }
  const permute = (bytes: Uint8Array, ends: Uint32Array) => {
    const out = new Uint8Array(bytes.length);
    const outEnds = new Uint32Array(count);
    let at = 0;
    order.forEach((r, i) => {
      const start = r === 0 ? 0 : ends[r - 1];
      out.set(bytes.subarray(start, ends[r]), at);
      outEnds[i] = at += ends[r] - start;
    });
    return [out, outEnds] as const;
  };
  const [keys, keyEnds] = permute(facts.keys, facts.keyEnds);
  const hashes = new Uint32Array(2 * count);
  order.forEach((r, i) => hashes.set(facts.hashes.subarray(2 * r, 2 * r + 2), 2 * i));
  const moved: GraphFacts = { ...facts, keys, keyEnds, hashes };
  if (facts.lines && facts.lineEnds) {
    [moved.lines, moved.lineEnds] = permute(facts.lines, facts.lineEnds);
  }
  return moved;
}

function align(offset: number): number {
  return Math.ceil(offset / 16) * 16;
}
