/**
 * The hub: ingests packets from every environment through the gate and
 * folds them into per-environment state, in window order.
 *
 * - Every packet passes the gate; a rejected one is kept with its reasons.
 * - The same packet given twice (the same manifest but for its signature, in
 *   any zip bytes) is ingested once and counted as a duplicate.
 * - Packets are folded in window order (`windowEnd`, then `part`, then
 *   `createdAt`, as instants) whatever order they were named in: the hub
 *   first reads each archive's manifest to learn its place, then reads the
 *   packets whole in that order. An older window never overwrites a newer
 *   one, even when folded later.
 * - Two different packets of one environment with one place in that order
 *   are equivocation: both are refused and neither changes the state (see
 *   core/order.ts). Packets that share a place are judged together before
 *   any of them is folded, so the result does not depend on their names.
 * - Packets are read one at a time and dropped once folded, so memory holds
 *   the state, not the packets. The merged memory graph is handed to a sink
 *   as it is built; the state keeps only its identities, as hashes and
 *   front-coded bytes (core/graph_set.ts), never a string per node.
 *
 * @module
 */

import { readArchiveEntry, readLeadingEntry, resolveLimits } from "./archive.ts";
import type { EnvironmentEntry, EnvironmentSummary, FederationView, Provenance } from "./drift.ts";
import { PacketError } from "./errors.ts";
import { readRegularFile } from "./fs.ts";
import { type GateOptions, type GateResult, inspectFile, type Inspection, judge } from "./gate.ts";
import { defaultWorkers, InspectorPool, takePrewarmedInspectors } from "./inspect_pool.ts";
import { parseJson } from "./json.ts";
import {
  type GraphFacts,
  graphFactsOf,
  hashIdentities,
  newGraphHashKey,
  sameHashKey,
} from "./graph_facts.ts";
import { IdentitySet } from "./graph_set.ts";
import { type CanonEntry, type Manifest, MANIFEST_FILE, type Packet } from "./packet.ts";
import { type CanonTexts, decodeCanonTexts, sameCanonKeys } from "./canon_texts.ts";
import { compareInstants, formatInstant, type Instant, parseInstant } from "./instant.ts";
import {
  compareWindowOrder,
  equivocationViolation,
  judgeEquivocation,
  orderKeyId,
  type PacketCandidate,
  type PacketOrderKey,
  packetOrderKey,
  preferred,
  resolveClock,
} from "./order.ts";

/** One record of the merged memory graph, as the graph sink receives it. */
export type GraphRecord =
  | { type: "node"; environmentId: string; node: Record<string, unknown> }
  | { type: "edge"; environmentId: string; edge: Record<string, unknown> };

/** Options for {@link ingestFiles}. */
export interface IngestOptions extends Omit<GateOptions, "source"> {
  /** Called after each packet with how many are done of how many. */
  onProgress?: (done: number, total: number) => void;
  /** Receives the merged graph's nodes and edges as they are first seen. */
  graphSink?: (record: GraphRecord) => void | Promise<void>;
  /** Receives the merged graph as JSON lines: see {@link GraphLinesSink}. */
  graphLines?: GraphLinesSink;
  /** Worker threads that read and inspect packets; 0 inspects on this thread. Default: one per core (at most 4) from 4 packets on. */
  workers?: number;
}

/**
 * Receives the merged memory graph as UTF-8 JSON lines, in order, as the
 * records are first seen: each line is `JSON.stringify` of the
 * {@link GraphRecord} a graph sink would get, then a line feed. A call may
 * give several lines; the bytes are a view the receiver must not change,
 * and are the receiver's only until the promise it returns settles (or,
 * when it returns none, until it returns): the hub then frees them, so a
 * receiver that keeps them copies them.
 */
export type GraphLinesSink = (lines: Uint8Array) => void | Promise<void>;

/** What folding needs of an accepted packet (a {@link Packet} has it, and so does an accepted inspection). */
export type Foldable = Pick<
  Packet,
  "source" | "digest" | "manifest" | "canonEntry" | "memoryGraph" | "canonTexts" | "graphFacts"
>;

/** A packet folded into the state. */
export interface PacketRecord extends Provenance {
  /** The environment. */
  environmentId: string;
}

/** What happened to one input. */
export type IngestOutcome =
  | { kind: "accepted"; record: PacketRecord }
  | {
    kind: "rejected";
    result: GateResult;
    packetName?: string;
    environmentId?: string;
    /** `sha256:` digest of the archive, when it could be read. */
    digest?: string;
  }
  | { kind: "duplicate"; source: string; digest: string; duplicateOf: string };

interface EnvironmentState {
  environmentId: string;
  packets: { record: PacketRecord; order: PacketOrderKey }[];
  windowStart: string;
  windowEnd: string;
  windowStartAt: Instant;
  windowEndAt: Instant;
  /** The entries held one by one, by signatureId. */
  canon: Map<string, HeldEntry>;
  /**
   * A whole packet's entries held as they came, while `canon` is empty: the
   * environment's entries are then exactly this packet's (see `fold`).
   */
  whole?: HeldPacket;
  /** The identities of the merged graph's nodes, and of its edges. */
  graphNodes: IdentitySet;
  graphEdges: IdentitySet;
}

/** A packet's canon entries, held whole. */
interface HeldPacket {
  texts: CanonTexts;
  provenance: Readonly<Provenance>;
  order: PacketOrderKey;
}

/**
 * An environment's current entry for a signature. Entries that arrive as
 * text are parsed (and frozen) only when read: with snapshot packets, most
 * entries are replaced by a later window before anyone reads them.
 */
interface HeldEntry {
  environmentId: string;
  key: string;
  entry?: Readonly<CanonEntry>;
  text?: string;
  provenance: Readonly<Provenance>;
  order: PacketOrderKey;
}

function entryOf(held: HeldEntry): Readonly<CanonEntry> {
  if (held.entry === undefined) {
    const entry = parseText(held.text!);
    freezeParsed(entry);
    held.entry = entry;
    held.text = undefined;
  }
  return held.entry;
}

/** Whether `a` is at least as late as `b` in window order (the later call wins a tie). */
function isNewer(a: PacketOrderKey, b: PacketOrderKey): boolean {
  return compareWindowOrder(a, b) >= 0;
}

/** A held entry's text parsed: the text is an entry of a checked file (depth, finite numbers, I-JSON). */
function parseText(text: string): CanonEntry {
  // As JSON.stringify wrote it or as the file spelled it without white space: JSON.parse is exact
  // on it unless a backslash calls for parseJson's workaround.
  return (text.includes("\\") ? parseJson(text) : JSON.parse(text)) as CanonEntry;
}

/**
 * The per-environment state the detectors read: for each environment, the
 * union of its accepted packets' canon entries, later windows winning per
 * key, and the merged memory graph's counts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FederationState } from "./hub.ts";
 * const state = new FederationState();
 * assert.equal(state.view().environments().length, 0);
 * ```
 */
export class FederationState {
  readonly #envs = new Map<string, EnvironmentState>();
  readonly #graphHashKey = newGraphHashKey();
  #view?: FederationView;

  /**
   * The key this state hashes graph identities with: graph facts made with
   * it (`inspectFile`'s `graph` option) are folded as they are, others are
   * hashed again.
   * @returns a copy of the key
   */
  get graphHashKey(): Uint32Array<ArrayBuffer> {
    return this.#graphHashKey.slice();
  }

  /**
   * Fold an accepted packet into its environment's state. Entries from an
   * older window than the one already held are ignored, whatever the order
   * of calls. Canon entries given as text (`canonTexts`) that the hub did
   * not make itself are checked and copied first, so the caller cannot
   * change the state through them afterwards.
   * @param packet the accepted packet
   * @param graphSink receives graph nodes and edges not seen before
   * @param graphLines receives them as JSON lines
   * @returns the packet's record
   * @throws TypeError, before the state changes, when `canonTexts` or
   *   `graphFacts` do not hold together or an entry in the texts is not a
   *   JSON object, or when the manifest's `windowStart`, `windowEnd` or
   *   `createdAt` is not an RFC 3339 date-time or its `part` not an integer
   */
  async fold(
    packet: Foldable,
    graphSink?: (record: GraphRecord) => void | Promise<void>,
    graphLines?: GraphLinesSink,
  ): Promise<PacketRecord> {
    // Kept as given only when the hub made it; otherwise checked and copied (before the state
    // changes), so the caller cannot change it.
    const given = packet.canonTexts;
    const texts = given && !ownedTexts.has(given) ? copyTexts(given) : given;
    const facts = this.#graphFactsOf(packet, graphSink !== undefined, graphLines !== undefined);
    const { manifest } = packet;
    const order = packetOrderKey(manifest);
    const windowStartAt = parseInstant(manifest.windowStart);
    if (order === undefined || windowStartAt === undefined) {
      throw new TypeError(
        `Cannot fold packet "${manifest.packetName}": its windowStart, windowEnd, part or createdAt is malformed`,
      );
    }
    this.#view = undefined;
    const env = manifest.environmentId;
    const record: PacketRecord = {
      environmentId: env,
      packetName: manifest.packetName,
      source: packet.source,
      digest: packet.digest,
      windowStart: manifest.windowStart,
      windowEnd: manifest.windowEnd,
      part: manifest.part,
    };
    let state = this.#envs.get(env);
    if (!state) {
      state = {
        environmentId: env,
        packets: [],
        windowStart: manifest.windowStart,
        windowEnd: manifest.windowEnd,
        windowStartAt,
        windowEndAt: order.windowEnd,
        canon: new Map(),
        graphNodes: new IdentitySet(),
        graphEdges: new IdentitySet(),
      };
      this.#envs.set(env, state);
    }
    state.packets.push({ record, order });
    if (compareInstants(windowStartAt, state.windowStartAt) < 0) {
      state.windowStart = manifest.windowStart;
      state.windowStartAt = windowStartAt;
    }
    if (compareInstants(order.windowEnd, state.windowEndAt) > 0) {
      state.windowEnd = manifest.windowEnd;
      state.windowEndAt = order.windowEnd;
    }
    const provenance: Provenance = Object.freeze({
      packetName: record.packetName,
      source: record.source,
      digest: record.digest,
      windowStart: record.windowStart,
      windowEnd: record.windowEnd,
      part: record.part,
    });
    const objects = Object.entries(packet.canonEntry.entries);
    if (
      texts && objects.length === 0 && state.canon.size === 0 &&
      (state.whole === undefined || sameCanonKeys(state.whole.texts, texts))
    ) {
      // The first packet of an environment, or one with the same keys as the packet held whole
      // (snapshot packets): entry by entry, it would replace every entry or none, as its window
      // decides; so it replaces the held packet whole, or is ignored whole, with no entry read.
      if (state.whole === undefined || isNewer(order, state.whole.order)) {
        state.whole = { texts, provenance, order };
      }
    } else {
      settle(state, false);
      if (texts) holdTexts(state, { texts, provenance, order }, false);
      for (const [key, entry] of objects) {
        hold(state, typeof entry.signatureId === "string" ? entry.signatureId : key, {
          environmentId: env,
          key,
          entry,
          provenance,
          order,
        });
      }
    }
    await mergeGraph(state, facts, packet.memoryGraph, graphSink, graphLines);
    // Folded: the facts' buffers (a packet's identities and lines, megabytes each) go now rather
    // than at the next full collection, which a run of packets outpaces. Only buffers made here or
    // by the hub's own reads: a caller's stay theirs.
    if (packet.graphFacts === undefined || ownedFacts.has(packet.graphFacts)) freeFacts(facts);
    return record;
  }

  /**
   * The packet's graph facts under this state's hash key (made here when it
   * has none), checked to serve the sinks.
   */
  #graphFactsOf(packet: Foldable, records: boolean, lines: boolean): GraphFacts {
    const given = packet.graphFacts;
    const { nodesAdded, edgesAdded } = packet.memoryGraph;
    if (given === undefined) {
      const env = packet.manifest.environmentId;
      return graphFactsOf(packet.memoryGraph, env, { hashKey: this.#graphHashKey, lines });
    }
    if (!ownedFacts.has(given)) checkFacts(given);
    if (lines && given.lines === undefined) {
      throw new TypeError("GraphFacts: no lines to give the graph's lines sink");
    }
    if (
      records &&
      (nodesAdded.length !== given.nodes ||
        nodesAdded.length + edgesAdded.length !== given.keyEnds.length)
    ) {
      throw new TypeError("GraphFacts: the graph sink needs the records the facts describe");
    }
    return sameHashKey(given.hashKey, this.#graphHashKey) ? given : {
      ...given,
      hashes: hashIdentities(given.keys, given.keyEnds, this.#graphHashKey),
      hashKey: this.#graphHashKey,
    };
  }

  /**
   * The read-only view detectors read; everything in it is sorted.
   * @returns the view
   */
  view(): FederationView {
    if (this.#view) return this.#view;
    const envs = [...this.#envs.keys()].sort();
    const bySignature = new Map<string, EnvironmentEntry[]>();
    for (const state of this.#envs.values()) settle(state, true);
    for (const env of envs) {
      for (const [signatureId, held] of this.#envs.get(env)!.canon) {
        const entry: EnvironmentEntry = {
          environmentId: held.environmentId,
          key: held.key,
          entry: entryOf(held),
          provenance: held.provenance,
        };
        let list = bySignature.get(signatureId);
        if (!list) bySignature.set(signatureId, list = []);
        list.push(Object.freeze(entry));
      }
    }
    const signatures = Object.freeze([...bySignature.keys()].sort());
    const summaries = new Map<string, EnvironmentSummary>(envs.map((env) => {
      const state = this.#envs.get(env)!;
      return [
        env,
        Object.freeze({
          environmentId: env,
          packets: state.packets.length,
          windowStart: state.windowStart,
          windowEnd: state.windowEnd,
          signatures: state.canon.size,
        }),
      ];
    }));
    const frozenEnvs = Object.freeze(envs);
    const empty: readonly EnvironmentEntry[] = Object.freeze([]);
    for (const [key, list] of bySignature) bySignature.set(key, Object.freeze(list) as never);
    this.#view = Object.freeze({
      environments: () => frozenEnvs,
      environment: (id: string) => summaries.get(id),
      signatures: () => signatures,
      entries: (signatureId: string) => bySignature.get(signatureId) ?? empty,
    });
    return this.#view;
  }

  /**
   * Per-environment statistics for the report.
   * @returns stats by environment id, sorted
   */
  stats(): Record<
    string,
    {
      packets: number;
      windowStart: string;
      windowEnd: string;
      signatures: number;
      graphNodes: number;
      graphEdges: number;
    }
  > {
    const out: ReturnType<FederationState["stats"]> = {};
    for (const env of [...this.#envs.keys()].sort()) {
      const state = this.#envs.get(env)!;
      // Counts only: entries not parsed yet stay text.
      settle(state, false);
      out[env] = {
        packets: state.packets.length,
        windowStart: state.windowStart,
        windowEnd: state.windowEnd,
        signatures: state.canon.size,
        graphNodes: state.graphNodes.size,
        graphEdges: state.graphEdges.size,
      };
    }
    return out;
  }

  /**
   * The state as JSON text in pieces of about 1 MiB: what
   * `JSON.stringify({ ...before, ...this.toJSON(), ...after }, null, 2)` and a
   * newline give, built one signature at a time, so that no string holds the
   * whole state (a million signatures take hundreds of megabytes of text) and
   * entries held as text are parsed one by one, never all at once.
   * @param before members written before `environments`
   * @param after members written after it
   * @returns the pieces, in order
   * @example
   * ```ts
   * import { FederationState } from "./hub.ts";
   * import assert from "node:assert/strict";
   * const state = new FederationState();
   * const text = [...state.toJSONChunks({ generatedAt: "2026-03-01T00:00:00.000Z" })].join("");
   * assert.equal(
   *   text,
   *   JSON.stringify({ generatedAt: "2026-03-01T00:00:00.000Z", ...state.toJSON() }, null, 2) + "\n",
   * );
   * ```
   */
  *toJSONChunks(
    before: Record<string, unknown> = {},
    after: Record<string, unknown> = {},
  ): Generator<string> {
    // JSON.stringify(value, null, 2) nests by two spaces, and a JSON text holds no raw line break,
    // so a value written alone sits at any depth once its line breaks are indented.
    const pad = (level: number) => "\n" + "  ".repeat(level);
    const value = (v: unknown, level: number) =>
      JSON.stringify(v, null, 2).replaceAll("\n", pad(level));
    const name = (key: string, level: number, first: boolean) =>
      `${first ? "" : ","}${pad(level)}${JSON.stringify(key)}: `;
    // Members in the order of `{ ...before, environments, ...after }`.
    const members = new Map<string, unknown>(Object.entries(before));
    members.set("environments", ENVIRONMENTS);
    for (const [key, member] of Object.entries(after)) members.set(key, member);
    let out = "{";
    let first = true;
    for (const key of objectOrder([...members.keys()])) {
      const member = members.get(key);
      if (member === undefined) continue; // as JSON.stringify leaves it out
      out += name(key, 1, first);
      first = false;
      if (member !== ENVIRONMENTS) {
        out += value(member, 1);
        continue;
      }
      const envs = objectOrder([...this.#envs.keys()].sort());
      if (envs.length === 0) {
        out += "{}";
        continue;
      }
      out += "{";
      for (const [e, env] of envs.entries()) {
        const state = this.#envs.get(env)!;
        settle(state, false);
        out += name(env, 2, e === 0) + "{" + name("windowStart", 3, true) +
          JSON.stringify(state.windowStart) + name("windowEnd", 3, false) +
          JSON.stringify(state.windowEnd) + name("packets", 3, false) +
          value(windowOrder(state.packets), 3) + name("signatures", 3, false);
        const ids = objectOrder([...state.canon.keys()].sort());
        if (ids.length === 0) out += "{}";
        else {
          out += "{";
          for (const [i, id] of ids.entries()) {
            const held = state.canon.get(id)!;
            out += name(id, 4, i === 0) +
              value(signatureJSON(held, held.entry ?? parseText(held.text!)), 4);
            if (out.length >= CHUNK_CHARS) {
              yield out;
              out = "";
            }
          }
          out += pad(3) + "}";
        }
        out += pad(2) + "}";
      }
      out += pad(1) + "}";
    }
    yield out + (first ? "}\n" : "\n}\n");
  }

  /**
   * The state as JSON data: what `jrm hub replay` writes ({@link toJSONChunks}
   * writes it without building it).
   * @returns environments with their packets (in window order) and canon entries
   */
  toJSON(): Record<string, unknown> {
    const environments: Record<string, unknown> = {};
    for (const env of [...this.#envs.keys()].sort()) {
      const state = this.#envs.get(env)!;
      settle(state, true);
      const packets = windowOrder(state.packets);
      const signatures: Record<string, unknown> = {};
      for (const id of [...state.canon.keys()].sort()) {
        const held = state.canon.get(id)!;
        signatures[id] = signatureJSON(held, entryOf(held));
      }
      environments[env] = {
        windowStart: state.windowStart,
        windowEnd: state.windowEnd,
        packets,
        signatures,
      };
    }
    return { environments };
  }
}

/** Where {@link FederationState.toJSONChunks} writes the environments. */
const ENVIRONMENTS = Symbol("environments");

/** About how long a piece of {@link FederationState.toJSONChunks} grows before it is given. */
const CHUNK_CHARS = 1 << 20;

/** A held entry as the state's JSON gives it. */
function signatureJSON(held: HeldEntry, entry: Readonly<CanonEntry>): Record<string, unknown> {
  return {
    key: held.key,
    entry,
    packetName: held.provenance.packetName,
    windowEnd: held.provenance.windowEnd,
    part: held.provenance.part,
  };
}

/** Packet records in window order. */
function windowOrder(
  packets: readonly { record: PacketRecord; order: PacketOrderKey }[],
): PacketRecord[] {
  return [...packets].sort((a, b) => compareWindowOrder(a.order, b.order)).map(({ record }) =>
    record
  );
}

/** A key that an object lists first, in numeric order: an array index (below 2^32 - 1). */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;

/** Keys in the order an object made by setting them in this order lists them. */
function objectOrder(keys: string[]): string[] {
  const isIndex = (key: string) => ARRAY_INDEX.test(key) && Number(key) < 2 ** 32 - 1;
  if (!keys.some(isIndex)) return keys;
  const indexes = keys.filter(isIndex).sort((a, b) => Number(a) - Number(b));
  return [...indexes, ...keys.filter((key) => !isIndex(key))];
}

/** Canon texts the hub made (its workers' or its own reads), which nothing else holds. */
const ownedTexts = new WeakSet<CanonTexts>();
/** Graph facts the hub made, which need no checking. */
const ownedFacts = new WeakSet<GraphFacts>();

/**
 * Keep the packet's graph records whose identity the environment has not
 * seen, in order, and hand them to the sinks: the lines of consecutive new
 * records go out together, and a graph sink gets the packet's own objects.
 */
async function mergeGraph(
  state: EnvironmentState,
  facts: GraphFacts,
  graph: Foldable["memoryGraph"],
  graphSink?: (record: GraphRecord) => void | Promise<void>,
  graphLines?: GraphLinesSink,
): Promise<void> {
  const { nodes, keys, keyEnds, hashes, lines, lineEnds } = facts;
  const env = state.environmentId;
  const count = keyEnds.length;
  const give = async (from: number, to: number) => {
    if (graphLines && lines && lineEnds) {
      await graphLines(lines.subarray(from === 0 ? 0 : lineEnds[from - 1], lineEnds[to - 1]));
    }
    for (let r = from; graphSink && r < to; r++) {
      const given = graphSink(
        r < nodes
          ? { type: "node", environmentId: env, node: graph.nodesAdded[r] }
          : { type: "edge", environmentId: env, edge: graph.edgesAdded[r - nodes] },
      );
      if (given !== undefined) await given;
    }
  };
  const sinks = graphSink !== undefined || graphLines !== undefined;
  let run = -1;
  for (let r = 0; r < count; r++) {
    const set = r < nodes ? state.graphNodes : state.graphEdges;
    const start = r === 0 ? 0 : keyEnds[r - 1];
    if (set.add(keys, start, keyEnds[r], hashes[2 * r], hashes[2 * r + 1])) {
      if (run < 0) run = r;
    } else if (run >= 0) {
      if (sinks) await give(run, r);
      run = -1;
    }
  }
  if (run >= 0 && sinks) await give(run, count);
}

/** Release the buffers of folded graph facts that nothing else holds (they read as empty after). */
function freeFacts(facts: GraphFacts): void {
  for (const view of [facts.keys, facts.keyEnds, facts.hashes, facts.lines, facts.lineEnds]) {
    const buffer = view?.buffer;
    if (buffer instanceof ArrayBuffer && !buffer.detached) buffer.transfer(0);
  }
}

/**
 * Check graph facts from elsewhere before any of them changes the state: the
 * counts agree, every end is in order and in bounds, every identity reads as
 * its kind's fields (one for a node, three for an edge).
 * @throws TypeError when they do not hold together
 */
function checkFacts(facts: GraphFacts): void {
  const { nodes, keys, keyEnds, hashes, lines, lineEnds } = facts;
  const count = keyEnds?.length;
  const fail = (what: string) => {
    throw new TypeError(`GraphFacts: ${what}`);
  };
  if (!(keys instanceof Uint8Array) || !(keyEnds instanceof Uint32Array)) {
    fail("keys are not bytes");
  }
  if (!(hashes instanceof Uint32Array) || hashes.length !== 2 * count) {
    fail("not two hash words per record");
  }
  if (!Number.isSafeInteger(nodes) || nodes < 0 || nodes > count) fail("more nodes than records");
  const inOrder = (ends: Uint32Array, length: number) =>
    ends.every((end, i) => end >= (i === 0 ? 0 : ends[i - 1]) && end <= length);
  if (!inOrder(keyEnds, keys.length)) fail("identity ends out of order or out of bounds");
  if (lines !== undefined || lineEnds !== undefined) {
    if (!(lines instanceof Uint8Array) || !(lineEnds instanceof Uint32Array)) {
      fail("lines are not bytes");
    }
    if (lineEnds!.length !== count || !inOrder(lineEnds!, lines!.length)) {
      fail("line ends out of order or out of bounds");
    }
  }
  for (let r = 0, start = 0; r < count; start = keyEnds[r++]) {
    let fields = 0;
    for (let at = start; at < keyEnds[r]; fields++) {
      let length = 0;
      let scale = 1;
      let byte;
      do {
        if (at >= keyEnds[r] || scale > 2 ** 35) fail(`identity ${r} is malformed`);
        byte = keys[at++];
        length += (byte & 0x7f) * scale;
        scale *= 128;
      } while (byte >= 0x80);
      at += length;
      if (at > keyEnds[r]) fail(`identity ${r} is malformed`);
    }
    if (fields !== (r < nodes ? 1 : 3)) fail(`identity ${r} has ${fields} fields`);
  }
}

/**
 * A checked copy of canon texts from elsewhere: the state must not share
 * what the caller can change, and must not take what it cannot read later.
 * @throws TypeError when the texts do not hold together, or one is not a JSON object
 */
function copyTexts(texts: CanonTexts): CanonTexts {
  const copy: CanonTexts = {
    bytes: texts.bytes.slice(),
    ends: texts.ends.slice(),
    renamed: texts.renamed.map(([index, id]) => [index, id]),
  };
  for (const text of decodeCanonTexts(copy).texts) {
    const entry = parseJson(text);
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new TypeError(`CanonTexts: an entry is not a JSON object: ${text.slice(0, 80)}`);
    }
  }
  return copy;
}

/** Hold an entry unless the one held for its signatureId is from a newer window. */
function hold(state: EnvironmentState, signatureId: string, entry: HeldEntry): void {
  const held = state.canon.get(signatureId);
  if (held && !isNewer(entry.order, held.order)) return;
  // Frozen when kept, so the caller's packet cannot change the state afterwards.
  if (entry.entry) deepFreeze(entry.entry);
  state.canon.set(signatureId, entry);
}

/**
 * Hold a packet's entries one by one, parsed (`parse`) or as text, each text
 * then with its own storage (the packet's buffer is not kept). All are read
 * before any is held, so a failure leaves the state as it was.
 */
function holdTexts(state: EnvironmentState, packet: HeldPacket, parse: boolean): void {
  const { keys, texts } = decodeCanonTexts(packet.texts, { own: !parse });
  const renamed = new Map(packet.texts.renamed);
  const entries = keys.map((key, i): HeldEntry => {
    const held: HeldEntry = {
      environmentId: state.environmentId,
      key,
      text: texts[i],
      provenance: packet.provenance,
      order: packet.order,
    };
    if (parse) entryOf(held);
    return held;
  });
  entries.forEach((held, i) => hold(state, renamed.get(i) ?? held.key, held));
}

/** Turn the packet held whole, if any, into entries held one by one. */
function settle(state: EnvironmentState, parse: boolean): void {
  const whole = state.whole;
  if (whole === undefined) return;
  holdTexts(state, whole, parse);
  state.whole = undefined;
}

function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node !== null && typeof node === "object" && !Object.isFrozen(node)) {
      Object.freeze(node);
      for (const child of Object.values(node)) stack.push(child);
    }
  }
  return value;
}

/**
 * Freeze a value fresh from `JSON.parse`, all the way down: a tree of plain
 * objects and arrays (no cycles, no accessors, depth already bounded), so a
 * plain recursive walk does what {@link deepFreeze} does, in half the time.
 */
function freezeParsed(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) freezeParsed(value[i]);
  } else {
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) {
      freezeParsed((value as Record<string, unknown>)[keys[i]]);
    }
  }
  Object.freeze(value);
}

/**
 * A packet file's place in window order, as its manifest gave it when
 * peeked; without a key (unreadable, or no usable manifest) it goes last.
 */
interface Peeked {
  path: string;
  key?: PacketOrderKey;
  /** {@link orderKeyId} of the key. */
  id?: string;
}

/** Window order, then environment, then path; packets without a key last, by path. */
function comparePeeked(a: Peeked, b: Peeked): number {
  if (a.key && b.key) {
    const byOrder = compareWindowOrder(a.key, b.key);
    if (byOrder !== 0) return byOrder;
    const [x, y] = [a.key.environmentId, b.key.environmentId];
    if (x !== y) return x < y ? -1 : 1;
  } else if (a.key || b.key) return a.key ? -1 : 1;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** How much of a packet file is read first to find its manifest. */
const HEAD_BYTES = 16 * 1024;
/** A manifest larger than this is looked for by reading the whole file. */
const MAX_PEEKED_MANIFEST = 1024 * 1024;

/**
 * Where a packet file sits in window order, from its manifest. The manifest
 * is usually the archive's first entry, read from the file's first bytes;
 * otherwise the file is read whole and the entry found by its central
 * directory. This is only the order: the packet is read in full (and every
 * rule checked) later, and its manifest must then agree with what was peeked.
 */
function peekOrder(path: string, options: IngestOptions): Peeked {
  const unknown: Peeked = { path };
  const limits = resolveLimits(options.limits);
  const read = (head?: number) => {
    try {
      return readRegularFile(path, { what: "packet", maxBytes: limits.maxTotalBytes, head });
    } catch (error) {
      if (error instanceof PacketError) return undefined; // it goes last; the full read says why
      throw error;
    }
  };
  const head = read(HEAD_BYTES);
  if (head === undefined) return unknown;
  let data = readLeadingEntry(
    head,
    MANIFEST_FILE,
    Math.min(MAX_PEEKED_MANIFEST, limits.maxEntryBytes),
  );
  if (data === undefined) {
    const bytes = read();
    if (bytes === undefined) return unknown;
    try {
      data = readArchiveEntry(bytes, MANIFEST_FILE, limits)?.data;
    } catch (error) {
      if (error instanceof PacketError) return unknown; // broken: the full read says how
      throw error;
    }
  }
  const key = data && orderKeyOf(data);
  return key ? { path, key, id: orderKeyId(key) } : unknown;
}

/** The order key a manifest gives, or undefined when it has no usable one. */
function orderKeyOf(data: Uint8Array): PacketOrderKey | undefined {
  try {
    return packetOrderKey(parseJson(data, { file: MANIFEST_FILE }) as Record<string, unknown>);
  } catch (error) {
    if (error instanceof PacketError) return undefined;
    throw error;
  }
}

/** What {@link ingestFiles} gives. */
export interface Ingestion {
  /** The folded state. */
  state: FederationState;
  /** What happened to each input, in the order it was decided. */
  outcomes: IngestOutcome[];
}

/** A packet of a group sharing one place in window order that passed every other check. */
interface Held {
  candidate: PacketCandidate;
  result: GateResult;
  manifest: Manifest;
  /** Kept only while it could be the one folded (see {@link ingestFiles}). */
  inspection?: Inspection;
}

/**
 * Ingest packet files: gate each, drop duplicates, refuse equivocation, fold
 * the accepted ones in window order. Reading and inspecting packets
 * (inflate, hash, parse, schema checks) runs on worker threads when there are
 * enough packets to pay for them; signatures, scope and folding stay on this
 * thread, in window order. At most a few packets are in flight at once, so
 * memory does not grow with the number of packets. Packets that share a
 * place in window order (environment, `windowEnd`, `part`, `createdAt`) are
 * all judged before any is folded: one of them alone (or copies of one) is
 * folded once, different ones are all refused (`EQUIVOCATION`); of such a
 * group only the packet that may still be folded is held in memory.
 * @param paths packet files (see `expandInputs` for directories and globs)
 * @param options gate options (with the clock: `now`, `maxClockSkew`),
 *   progress, graph sink, and `workers` (0 to inspect on this thread)
 * @returns the state and every input's outcome
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ingestFiles } from "./hub.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/junk.zip`, "not a zip");
 * const { outcomes } = await ingestFiles([`${dir}/junk.zip`]);
 * assert.equal(outcomes[0].kind, "rejected");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function ingestFiles(
  paths: readonly string[],
  options: IngestOptions = {},
): Promise<Ingestion> {
  // One clock for the whole run: whether a packet is "in the future" must not depend on when,
  // in the run, it was judged.
  const clock = resolveClock(options);
  const judgeOptions = {
    ...options,
    now: formatInstant(clock.now),
    maxClockSkew: clock.maxClockSkew,
  };
  // Workers start first (or were started by the program): they load during the peek below.
  const workers = options.workers ?? defaultWorkers(paths.length);
  const pool = adoptPool(workers);
  const state = new FederationState();
  // Graph records come as facts made with the state's key; lines only when someone reads them.
  const graph = {
    hashKey: state.graphHashKey,
    lines: options.graphLines !== undefined,
    records: options.graphSink !== undefined,
  };
  const outcomes: IngestOutcome[] = [];
  const seen = new Map<string, string>();
  try {
    const order = paths.map((path) => peekOrder(path, options));
    order.sort(comparePeeked);
    // A bounded window of packets in flight; results are folded strictly in order.
    const inFlight: Promise<Inspection>[] = [];
    const depth = Math.max(1, workers * 3);
    let next = 0;
    let done = 0;
    // Until a worker has loaded, this thread inspects packets itself, one per turn of the
    // event loop (so a worker's "ready" is heard); the others wait for a worker.
    let inlineThisTurn = false;
    const launch = async (path: string): Promise<Inspection> => {
      if (pool && !pool.ready) {
        if (inlineThisTurn) {
          await pool.whenReady();
        } else {
          inlineThisTurn = true;
          setTimeout(() => inlineThisTurn = false, 0);
          return inspectFile(path, options.limits, graph);
        }
      }
      // With no pool, or every worker failed to load, this thread does it all.
      return pool?.ready
        ? pool.inspect(path, options.limits, graph)
        : inspectFile(path, options.limits, graph);
    };
    const take = (): Promise<Inspection> => {
      while (next < order.length && inFlight.length < depth) {
        const pending = launch(order[next++].path);
        // Awaited in order; if an earlier one throws, this one must not become an unhandled
        // rejection.
        pending.catch(() => {});
        inFlight.push(pending);
      }
      return inFlight.shift()!;
    };
    const decided = (outcome: IngestOutcome) => {
      outcomes.push(outcome);
      options.onProgress?.(++done, order.length);
    };
    const reject = (inspection: Inspection, result: GateResult) =>
      decided({
        kind: "rejected",
        result,
        packetName: inspection.manifest?.packetName,
        environmentId: inspection.manifest?.environmentId,
        ...(inspection.digest ? { digest: inspection.digest } : {}),
      });
    for (let start = 0; start < order.length;) {
      // The packets that share this place in window order (one, unless it is contested).
      let end = start + 1;
      const id = order[start].id;
      if (id !== undefined) { while (end < order.length && order[end].id === id) end++; }
      const group: Held[] = [];
      for (let i = start; i < end; i++) {
        const inspection = await take();
        const path = inspection.source;
        changedSincePeek(inspection, order[i]);
        // An unreadable file has no digest; it is never anyone's duplicate.
        const digest = inspection.digest ?? `unreadable:${path}`;
        const first = seen.get(digest);
        if (first !== undefined) {
          decided({ kind: "duplicate", source: path, digest, duplicateOf: first });
          continue;
        }
        seen.set(digest, path);
        const result = await judge(inspection, judgeOptions);
        if (!result.accepted) {
          reject(inspection, result);
          continue;
        }
        // Accepted, so its manifest was read and its key is the peeked one (else FILE_CHANGED).
        const candidate: PacketCandidate = {
          source: path,
          digest,
          orderKey: order[i].key!,
          sameness: inspection.sameness!,
        };
        const held: Held = { candidate, result, manifest: inspection.manifest!, inspection };
        // Only the copy that would be folded is kept: the preferred one while every packet of the
        // group is one packet, none once two differ (then all are refused).
        const kept = group.find((other) => other.inspection !== undefined);
        if (group.some((other) => other.candidate.sameness !== candidate.sameness)) {
          for (const other of group) other.inspection = undefined;
          held.inspection = undefined;
        } else if (kept && preferred(kept.candidate, candidate)) held.inspection = undefined;
        else if (kept) kept.inspection = undefined;
        group.push(held);
      }
      const verdicts = judgeEquivocation(group.map((held) => held.candidate));
      for (const [i, held] of group.entries()) {
        const verdict = verdicts[i];
        if (verdict.kind === "accepted") {
          const inspection = held.inspection!;
          if (inspection.canonTexts) ownedTexts.add(inspection.canonTexts);
          if (inspection.graphFacts) ownedFacts.add(inspection.graphFacts);
          decided({
            kind: "accepted",
            record: await state.fold(
              inspection as Foldable,
              options.graphSink,
              options.graphLines,
            ),
          });
          held.inspection = undefined;
        } else if (verdict.kind === "duplicate") {
          decided({
            kind: "duplicate",
            source: held.candidate.source,
            digest: held.candidate.digest,
            duplicateOf: group[verdict.of].candidate.source,
          });
        } else {
          const violation = equivocationViolation(held.manifest, verdict.conflictsWith);
          decided({
            kind: "rejected",
            result: {
              ...held.result,
              accepted: false,
              reasonCode: violation.code,
              violations: [...held.result.violations, violation],
            },
            packetName: held.manifest.packetName,
            environmentId: held.manifest.environmentId,
            digest: held.candidate.digest,
          });
        }
      }
      start = end;
    }
  } finally {
    pool?.close();
  }
  return { state, outcomes };
}

/** The program's warm pool when it has the size wanted, else a new one (or none). */
function adoptPool(workers: number): InspectorPool | undefined {
  const warm = takePrewarmedInspectors();
  if (warm && warm.size === workers) return warm;
  warm?.close();
  return workers > 0 ? new InspectorPool(workers) : undefined;
}

/**
 * A packet is folded at the place in window order its manifest gave when
 * peeked; a file rewritten between the peek and the full read could hold
 * another window, and folding it there would break the order. Such a packet
 * gets a `FILE_CHANGED` violation (so it is rejected).
 */
function changedSincePeek(inspection: Inspection, peeked: Peeked): void {
  if (!inspection.manifest) return;
  const now = packetOrderKey(inspection.manifest);
  if (now && peeked.id === orderKeyId(now)) return;
  const window = (key: PacketOrderKey | undefined) =>
    key
      ? `environment ${key.environmentId}, window end ${
        formatInstant(key.windowEnd)
      }, part ${key.part}, created ${formatInstant(key.createdAt)}`
      : "no readable manifest";
  inspection.violations.push({
    code: "FILE_CHANGED",
    entry: MANIFEST_FILE,
    message:
      `Packet "${inspection.source}" changed while it was being read: its manifest first gave ${
        window(peeked.key)
      }, then ${window(now)}`,
  });
}
