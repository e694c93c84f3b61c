/**
 * The hub: ingests packets from every environment through the gate and
 * folds them into per-environment state, in window order.
 *
 * - Every packet passes the gate; a rejected one is kept with its reasons.
 * - The same content given twice (same digest) is ingested once and counted
 *   as a duplicate.
 * - Packets are folded in window order (`windowEnd`, then `part`) whatever
 *   order they were named in: the hub first reads each archive's manifest to
 *   learn its window, then reads the packets whole in that order. An older
 *   window never overwrites a newer one, even when folded later.
 * - Packets are read one at a time and dropped once folded, so memory holds
 *   the state, not the packets. The merged memory graph is handed to a sink
 *   as it is built.
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
import { type CanonEntry, MANIFEST_FILE, type Packet } from "./packet.ts";
import { type CanonTexts, decodeCanonTexts, sameCanonKeys } from "./canon_texts.ts";
import { parseDateTime } from "./writer.ts";

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
  /** Worker threads that read and inspect packets; 0 inspects on this thread. Default: one per core (at most 4) from 4 packets on. */
  workers?: number;
}

/** What folding needs of an accepted packet (a {@link Packet} has it, and so does an accepted {@link Inspection}). */
export type Foldable =
  & Pick<Packet, "source" | "digest" | "manifest" | "canonEntry" | "memoryGraph">
  & Pick<Inspection, "canonTexts">;

/** A packet folded into the state. */
export interface PacketRecord extends Provenance {
  /** The environment. */
  environmentId: string;
}

/** What happened to one input. */
export type IngestOutcome =
  | { kind: "accepted"; record: PacketRecord }
  | { kind: "rejected"; result: GateResult; packetName?: string; environmentId?: string }
  | { kind: "duplicate"; source: string; digest: string; duplicateOf: string };

interface EnvironmentState {
  environmentId: string;
  packets: PacketRecord[];
  windowStart: string;
  windowEnd: string;
  /** The entries held one by one, by signatureId. */
  canon: Map<string, HeldEntry>;
  /**
   * A whole packet's entries held as they came, while `canon` is empty: the
   * environment's entries are then exactly this packet's (see `fold`).
   */
  whole?: HeldPacket;
  graphNodes: number;
  graphEdges: number;
}

/** A packet's canon entries, held whole. */
interface HeldPacket {
  texts: CanonTexts;
  provenance: Readonly<Provenance>;
  order: [number, number];
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
  order: [number, number];
}

function entryOf(held: HeldEntry): Readonly<CanonEntry> {
  if (held.entry === undefined) {
    // The text is an entry of a checked file (depth, finite numbers), as JSON.stringify wrote it
    // or as the file spelled it without white space; JSON.parse is exact on it unless a
    // backslash calls for parseJson's workaround.
    const text = held.text!;
    const entry = (text.includes("\\") ? parseJson(text) : JSON.parse(text)) as CanonEntry;
    freezeParsed(entry);
    held.entry = entry;
    held.text = undefined;
  }
  return held.entry;
}

function windowKey(windowEnd: string, part: number): [number, number] {
  return [parseDateTime(windowEnd), part];
}

function isNewer(a: [number, number], b: [number, number]): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);
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
  readonly #graphKeys = new Set<string>();
  #view?: FederationView;

  /**
   * Fold an accepted packet into its environment's state. Entries from an
   * older window than the one already held are ignored, whatever the order
   * of calls. Canon entries given as text (`canonTexts`) that the hub did
   * not make itself are checked and copied first, so the caller cannot
   * change the state through them afterwards.
   * @param packet the accepted packet
   * @param graphSink receives graph nodes and edges not seen before
   * @returns the packet's record
   * @throws TypeError, before the state changes, when `canonTexts` do not
   *   hold together or an entry in them is not a JSON object
   */
  async fold(
    packet: Foldable,
    graphSink?: (record: GraphRecord) => void | Promise<void>,
  ): Promise<PacketRecord> {
    // Kept as given only when the hub made it; otherwise checked and copied (before the state
    // changes), so the caller cannot change it.
    const given = packet.canonTexts;
    const texts = given && !ownedTexts.has(given) ? copyTexts(given) : given;
    this.#view = undefined;
    const { manifest } = packet;
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
        canon: new Map(),
        graphNodes: 0,
        graphEdges: 0,
      };
      this.#envs.set(env, state);
    }
    state.packets.push(record);
    if (parseDateTime(manifest.windowStart) < parseDateTime(state.windowStart)) {
      state.windowStart = manifest.windowStart;
    }
    if (parseDateTime(manifest.windowEnd) > parseDateTime(state.windowEnd)) {
      state.windowEnd = manifest.windowEnd;
    }
    const order = windowKey(manifest.windowEnd, manifest.part);
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
    for (const node of packet.memoryGraph.nodesAdded) {
      const id = `n\u0000${env}\u0000${node.nodeId}`;
      if (this.#graphKeys.has(id)) continue;
      this.#graphKeys.add(id);
      state.graphNodes++;
      await graphSink?.({ type: "node", environmentId: env, node });
    }
    for (const edge of packet.memoryGraph.edgesAdded) {
      const id = `e\u0000${env}\u0000${edge.sourceId}\u0000${edge.targetId}\u0000${edge.kind}`;
      if (this.#graphKeys.has(id)) continue;
      this.#graphKeys.add(id);
      state.graphEdges++;
      await graphSink?.({ type: "edge", environmentId: env, edge });
    }
    return record;
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
      settle(state, true);
      out[env] = {
        packets: state.packets.length,
        windowStart: state.windowStart,
        windowEnd: state.windowEnd,
        signatures: state.canon.size,
        graphNodes: state.graphNodes,
        graphEdges: state.graphEdges,
      };
    }
    return out;
  }

  /**
   * The state as JSON data: what `jrm hub replay` writes.
   * @returns environments with their packets (in window order) and canon entries
   */
  toJSON(): Record<string, unknown> {
    const environments: Record<string, unknown> = {};
    for (const env of [...this.#envs.keys()].sort()) {
      const state = this.#envs.get(env)!;
      settle(state, true);
      const packets = [...state.packets].sort((a, b) =>
        parseDateTime(a.windowEnd) - parseDateTime(b.windowEnd) || a.part - b.part
      );
      const signatures: Record<string, unknown> = {};
      for (const id of [...state.canon.keys()].sort()) {
        const held = state.canon.get(id)!;
        signatures[id] = {
          key: held.key,
          entry: entryOf(held),
          packetName: held.provenance.packetName,
          windowEnd: held.provenance.windowEnd,
          part: held.provenance.part,
        };
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

/** Canon texts the hub made (its workers' or its own reads), which nothing else holds. */
const ownedTexts = new WeakSet<CanonTexts>();

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

/** Where a file sits in window order: unreadable packets go last, by path. */
interface OrderKey {
  path: string;
  env: string;
  windowEnd: number;
  part: number;
}

/** Packets whose window is unknown go last, in path order. */
const UNREADABLE = { env: "\uffff", windowEnd: Number.MAX_SAFE_INTEGER, part: 0 };

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
function peekOrder(path: string, options: IngestOptions): OrderKey {
  const unknown = { ...UNREADABLE, path };
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
  return (data && orderKeyOf(path, data)) ?? unknown;
}

/** The order key a manifest gives, or undefined when it has no usable window. */
function orderKeyOf(path: string, data: Uint8Array): OrderKey | undefined {
  try {
    const manifest = parseJson(data, { file: MANIFEST_FILE }) as Record<string, unknown>;
    return orderKeyOfManifest(path, manifest);
  } catch (error) {
    if (error instanceof PacketError) return undefined;
    throw error;
  }
}

function orderKeyOfManifest(
  path: string,
  manifest: Record<string, unknown> | undefined,
): OrderKey | undefined {
  const windowEnd = parseDateTime(String(manifest?.windowEnd));
  const part = Number(manifest?.part);
  if (!Number.isFinite(windowEnd) || !Number.isFinite(part)) return undefined;
  return { path, env: String(manifest!.environmentId), windowEnd, part };
}

/** What {@link ingestFiles} gives. */
export interface Ingestion {
  /** The folded state. */
  state: FederationState;
  /** What happened to each input, in the order it was folded. */
  outcomes: IngestOutcome[];
}

/**
 * Ingest packet files: gate each, drop duplicates, fold the accepted ones in
 * window order. Reading and inspecting packets (inflate, hash, parse, schema
 * checks) runs on worker threads when there are enough packets to pay for
 * them; signatures, scope and folding stay on this thread, in window order.
 * At most a few packets are in flight at once, so memory does not grow with
 * the number of packets.
 * @param paths packet files (see `expandInputs` for directories and globs)
 * @param options gate options, progress, graph sink, and `workers` (0 to inspect on this thread)
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
  // Workers start first (or were started by the program): they load during the peek below.
  const workers = options.workers ?? defaultWorkers(paths.length);
  const pool = adoptPool(workers);
  const state = new FederationState();
  const outcomes: IngestOutcome[] = [];
  const seen = new Map<string, string>();
  try {
    const order = paths.map((path) => peekOrder(path, options));
    order.sort((a, b) =>
      a.windowEnd - b.windowEnd || a.part - b.part ||
      (a.env < b.env ? -1 : a.env > b.env ? 1 : 0) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
    );
    // A bounded window of packets in flight; results are folded strictly in order.
    const inFlight: Promise<Inspection>[] = [];
    const depth = Math.max(1, workers * 3);
    let next = 0;
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
          return inspectFile(path, options.limits);
        }
      }
      // With no pool, or every worker failed to load, this thread does it all.
      return pool?.ready ? pool.inspect(path, options.limits) : inspectFile(path, options.limits);
    };
    for (let done = 0; done < order.length; done++) {
      while (next < order.length && inFlight.length < depth) {
        const pending = launch(order[next++].path);
        // Awaited below in order; if an earlier one throws, this one must not become an
        // unhandled rejection.
        pending.catch(() => {});
        inFlight.push(pending);
      }
      const inspection = await inFlight.shift()!;
      const path = inspection.source;
      changedSincePeek(inspection, order[done]);
      // An unreadable file has no digest; it is never anyone's duplicate.
      const digest = inspection.digest ?? `unreadable:${path}`;
      const first = seen.get(digest);
      if (first !== undefined) {
        outcomes.push({ kind: "duplicate", source: path, digest, duplicateOf: first });
      } else {
        seen.set(digest, path);
        const result = await judge(inspection, options);
        if (inspection.canonTexts) ownedTexts.add(inspection.canonTexts);
        if (result.accepted) {
          outcomes.push({
            kind: "accepted",
            record: await state.fold(inspection as Foldable, options.graphSink),
          });
        } else {
          outcomes.push({
            kind: "rejected",
            result,
            packetName: inspection.manifest?.packetName,
            environmentId: inspection.manifest?.environmentId,
          });
        }
      }
      options.onProgress?.(done + 1, order.length);
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
function changedSincePeek(inspection: Inspection, peeked: OrderKey): void {
  if (!inspection.manifest) return;
  const now = orderKeyOfManifest(inspection.source, inspection.manifest);
  if (
    now && peeked.env === now.env && peeked.windowEnd === now.windowEnd &&
    peeked.part === now.part
  ) {
    return;
  }
  const window = (key: OrderKey | undefined) =>
    key && key.env !== UNREADABLE.env
      ? `environment ${key.env}, window end ${
        new Date(key.windowEnd).toISOString()
      }, part ${key.part}`
      : "no readable manifest";
  inspection.violations.push({
    code: "FILE_CHANGED",
    entry: MANIFEST_FILE,
    message:
      `Packet "${inspection.source}" changed while it was being read: its manifest first gave ${
        window(peeked)
      }, then ${window(now)}`,
  });
}
