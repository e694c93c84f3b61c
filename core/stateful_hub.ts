/**
 * The stateful hub: packets are ingested once, into a store (the contract
 * of core/hub_store.ts), and each ingest costs what its new packets cost.
 *
 * {@link ingestIntoStore} runs every packet through the gate and keeps what
 * it accepts, in one transaction of the store, by the rules `federate`
 * follows (core/order.ts), so that however packets are split into runs and
 * ordered, the store ends where one `federate` over all of them ends:
 *
 * - the same bytes as an archive already stored are a duplicate: counted,
 *   changing nothing;
 * - a packet the gate refuses is kept as a rejection, judged again when it
 *   comes again (a key added to the keyring since, a window no longer in the
 *   future); the same bytes refused again count as a duplicate;
 * - an archive the gate accepts is judged with every archive stored at its
 *   place in its environment's window order (`windowEnd`, `part`,
 *   `createdAt`) by `judgeEquivocation`: another archive of the same packet
 *   is a duplicate; a different packet equivocates, and then every archive
 *   there is refused (`EQUIVOCATION`, naming the others' digests) from then
 *   on, what an earlier one set withdrawn, whichever run it came in;
 * - the state is then, per environment and signature, the entry of the
 *   latest packet in window order among those accepted.
 *
 * Detection after an ingest: detectors whose `scope` is `signature` run on
 * the signatures the ingest changed; the others, and every detector after a
 * new environment, a withdrawal, a failed run or a change of the detector set
 * or options, run on everything. Each drift keeps its life: first seen, last
 * seen, gone (the ingest's clock and the newest window then held).
 *
 * {@link reportFromStore} makes the federation report from the store alone,
 * {@link writeGraphFromStore} streams the merged graph from it, and
 * {@link statusOfStore} gives the figures `jrm hub status` shows.
 *
 * @module
 */

import type { Advisory } from "./advisory.ts";
import type { DetectionLimits } from "./detector_host.ts";
import { canonicalString } from "./canonical_json.ts";
import {
  type DetectionResult,
  type DetectorRun,
  type Drift,
  type EnvironmentEntry,
  type EnvironmentSummary,
  type FederationView,
  runDetectors,
} from "./drift.ts";
import type { Violation } from "./errors.ts";
import { type GateOptions, type GateResult, judge } from "./gate.ts";
import { formatInstant } from "./instant.ts";
import {
  equivocationViolation,
  judgeEquivocation,
  orderSortKey,
  type PacketCandidate,
  packetOrderKey,
  resolveClock,
} from "./order.ts";
import type {
  CanonRow,
  HubStore,
  HubStoreReader,
  HubStoreTransaction,
  LifePoint,
  LockOptions,
  StateChange,
  StoredDetector,
  StoredDrift,
  StoredEnvironment,
  StoredIngest,
  StoredPacket,
  StoreFigures,
} from "./hub_store.ts";
import { decodeCanonTexts } from "./canon_texts.ts";
import type { Inspection } from "./inspect.ts";
import { inspectFiles } from "./inspect_stream.ts";
import { parseJson } from "./json.ts";
import type { CanonEntry } from "./packet.ts";
import { assembleReport, type FederationReport, type ReportDrift } from "./report.ts";

/** Options of {@link ingestIntoStore}. */
export interface StoreIngestOptions extends Omit<GateOptions, "source"> {
  /** The detectors to run, with their options. */
  detectors: DetectorRun[];
  /** Each detector's time budget and cap on findings (see `runDetectors`). */
  detectionLimits?: DetectionLimits;
  /** The ingest's clock, ISO 8601 (`--now` when given): drift lives are stamped with it. */
  at: string;
  /** How long to wait for another ingest holding the store; 60 s by default. */
  lock?: Partial<LockOptions>;
  /** Worker threads that read and inspect packets (see `inspectFiles`). */
  workers?: number;
  /** Called after each packet with how many are done of how many. */
  onProgress?: (done: number, total: number) => void;
  /** Called inside the transaction after each packet is settled (tests pause here). */
  afterPacket?: (done: number) => void | Promise<void>;
  /**
   * Called inside the transaction once everything is done, before it
   * commits: outputs that must exist only if the store changed are written
   * here, advisories published. If it throws, the store keeps nothing.
   */
  beforeCommit?: (tx: HubStoreTransaction, result: StoreIngestResult) => Promise<void>;
}

/** What happened to one packet file of an ingest. */
export type StoreIngestOutcome =
  | { kind: "accepted"; source: string; packetName: string; environmentId: string }
  | {
    kind: "rejected";
    source: string;
    packetName: string | null;
    environmentId: string | null;
    reasonCode: string;
    violations: Violation[];
  }
  | {
    kind: "duplicate";
    source: string;
    digest: string;
    duplicateOf: string;
    /**
     * When the packet it copies is refused (for equivocation, or by the gate
     * again): why. The copy changes nothing, but whoever sent it is told.
     */
    refused?: { reasonCode: string; violations: Violation[] };
  };

/** What one ingest did. */
export interface StoreIngestResult {
  /** The ingest's id in the store. */
  ingestId: number;
  /** Every packet file given, in the order they were read. */
  outcomes: StoreIngestOutcome[];
  /** Packets of earlier ingests refused by this one (equivocation), their rows withdrawn. */
  withdrawn: StoredPacket[];
  /** How drift was detected. */
  detection: {
    /** `full`: every detector on everything; `incremental`: on what changed; `none`: nothing changed. */
    mode: "full" | "incremental" | "none";
    /** Signatures the packets changed. */
    signatures: number;
    /** Detectors that failed now (their earlier drifts are kept until a run succeeds). */
    errors: DetectionResult["errors"];
  };
  /** Drifts after the ingest, and which appeared or went away. */
  drift: { current: number; appeared: string[]; gone: string[] };
}

/** The default wait for another ingest, in milliseconds. */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

/**
 * Ingest packet files into a store, as one transaction (see the module doc).
 * @param store the store
 * @param paths packet files (see `expandInputs` for directories and globs)
 * @param options gate options, detectors, the clock, lock, workers, hooks
 * @returns what the ingest did
 * @throws {UsageError} when the store stays held by another ingest past the
 *   lock timeout, or cannot be written; whatever `beforeCommit` throws. The
 *   store then holds what it held before.
 * @example
 * ```ts
 * import { ingestIntoStore } from "./stateful_hub.ts";
 * import { openSqliteHubStore } from "./hub_store_sqlite.ts";
 * import assert from "node:assert/strict";
 * using store = openSqliteHubStore(":memory:");
 * const result = await ingestIntoStore(store, ["/nonexistent/p.zip"], {
 *   detectors: [], at: "2026-03-01T00:00:00Z", workers: 0,
 * });
 * assert.equal(result.outcomes[0].kind, "rejected");
 * ```
 */
export async function ingestIntoStore(
  store: HubStore,
  paths: readonly string[],
  options: StoreIngestOptions,
): Promise<StoreIngestResult> {
  const lock: LockOptions = {
    timeoutMs: options.lock?.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    onWait: options.lock?.onWait,
  };
  // One clock for the whole ingest, as `federate` has: whether a packet is "in the future" must
  // not depend on when, in the run, it was judged.
  const clock = resolveClock(options);
  const gate = { ...options, now: formatInstant(clock.now), maxClockSkew: clock.maxClockSkew };
  return await store.ingest(options.at, lock, async (tx) => {
    const folded = await foldPackets(tx, paths, gate);
    const point: LifePoint = { at: options.at, window: await tx.newestWindow() };
    const detection = await detect(tx, folded, options.detectors, point, options.detectionLimits);
    const result: StoreIngestResult = {
      ingestId: tx.ingestId,
      outcomes: folded.outcomes,
      withdrawn: folded.withdrawn,
      detection: {
        mode: detection.mode,
        signatures: folded.touched.size,
        errors: detection.errors,
      },
      drift: {
        current: (await tx.drifts()).filter((d) => d.gone === null).length,
        appeared: detection.appeared.sort(),
        gone: detection.gone.sort(),
      },
    };
    const count = (kind: StoreIngestOutcome["kind"]) =>
      folded.outcomes.filter((o) => o.kind === kind).length;
    await tx.finishIngest({
      newestWindow: point.window,
      given: paths.length,
      accepted: count("accepted"),
      rejected: count("rejected"),
      duplicates: count("duplicate"),
      withdrawn: folded.withdrawn.length,
      detection: detection.mode,
    });
    await options.beforeCommit?.(tx, result);
    return result;
  });
}

/** What folding a batch changed. */
interface Folded {
  outcomes: StoreIngestOutcome[];
  /** Outcomes of this batch's stored archives, by id: equivocation later in the batch changes them. */
  byId: Map<number, number>;
  withdrawn: StoredPacket[];
  /** Signatures whose state changed. */
  touched: Set<string>;
  /** Packets accepted or withdrawn: the state changed. */
  changed: boolean;
  /** An environment appeared or disappeared. */
  environmentsChanged: boolean;
}

async function foldPackets(
  tx: HubStoreTransaction,
  paths: readonly string[],
  options: StoreIngestOptions,
): Promise<Folded> {
  const folded: Folded = {
    outcomes: [],
    byId: new Map(),
    withdrawn: [],
    touched: new Set(),
    changed: false,
    environmentsChanged: false,
  };
  let done = 0;
  for await (
    const inspection of inspectFiles(paths, { limits: options.limits, workers: options.workers })
  ) {
    const verdict = await judge(inspection, options);
    folded.outcomes.push(await settle(tx, inspection, verdict, folded));
    done++;
    options.onProgress?.(done, paths.length);
    await options.afterPacket?.(done);
  }
  return folded;
}

/** Decide what one packet is for the store, and keep it so. */
async function settle(
  tx: HubStoreTransaction,
  inspection: Inspection,
  verdict: GateResult,
  folded: Folded,
): Promise<StoreIngestOutcome> {
  const { manifest, source } = inspection;
  const digest = inspection.digest;
  // The same bytes as a stored archive: a duplicate, not judged again (as `federate` does).
  const same = digest === undefined ? undefined : await tx.packetByDigest(digest);
  if (same) {
    const duplicate = { source, digest: digest!, duplicateOf: same.source };
    await tx.addDuplicate(duplicate);
    return same.status === "equivocation"
      ? {
        kind: "duplicate",
        ...duplicate,
        refused: { reasonCode: "EQUIVOCATION", violations: same.violations },
      }
      : { kind: "duplicate", ...duplicate };
  }
  // An unreadable file has no digest: it is nobody's duplicate.
  const rejectionKey = digest ?? `unreadable:${source}`;
  if (!verdict.accepted) {
    const earlier = digest === undefined ? undefined : await tx.rejection(rejectionKey);
    const rejection = {
      key: rejectionKey,
      source,
      digest: digest ?? null,
      packetName: manifest?.packetName ?? null,
      environmentId: manifest?.environmentId ?? null,
      reasonCode: verdict.reasonCode,
      violations: verdict.violations.map((violation) => ({ ...violation })),
    };
    // Judged again, and refused again: the same bytes count as a duplicate of the first copy.
    if (earlier) {
      await tx.putRejection({ ...rejection, source: earlier.source });
      const duplicate = { source, digest: digest!, duplicateOf: earlier.source };
      await tx.addDuplicate(duplicate);
      const { reasonCode, violations } = rejection;
      return { kind: "duplicate", ...duplicate, refused: { reasonCode, violations } };
    }
    await tx.putRejection(rejection);
    const { key: _key, digest: _digest, ...outcome } = rejection;
    return { kind: "rejected", ...outcome };
  }
  await tx.dropRejection(rejectionKey);
  // Accepted by the gate, so its manifest was read, its times are RFC 3339 and its sameness known.
  const orderKey = packetOrderKey(manifest!)!;
  const packet = {
    identity: inspection.sameness!,
    environmentId: manifest!.environmentId,
    packetName: manifest!.packetName,
    source,
    digest: digest!,
    windowStart: manifest!.windowStart,
    windowEnd: manifest!.windowEnd,
    part: manifest!.part,
    createdAt: manifest!.createdAt,
    orderKey: orderSortKey(orderKey),
  };
  const stored = await tx.packetsAt(packet.environmentId, packet.orderKey);
  if (stored.length === 0) {
    const change = await tx.addPacket({
      ...packet,
      entries: canonRowsOf(inspection),
      nodes: inspection.memoryGraph?.nodesAdded ?? [],
      edges: inspection.memoryGraph?.edgesAdded ?? [],
    });
    noteChange(folded, change);
    folded.changed = true;
    return noted(folded, change.id, {
      kind: "accepted",
      source,
      packetName: packet.packetName,
      environmentId: packet.environmentId,
    });
  }
  // Judged with every archive stored at its place, by the rules `federate` judges a group by.
  const candidate = (p: { source: string; digest: string; identity: string }): PacketCandidate => ({
    source: p.source,
    digest: p.digest,
    orderKey,
    sameness: p.identity,
  });
  const verdicts = judgeEquivocation([...stored.map(candidate), candidate(packet)]);
  const own = verdicts[stored.length];
  if (own.kind !== "equivocation") {
    // One packet in several archives: the accepted one stays (which copy is called the
    // duplicate may differ from `federate`'s choice; the state does not).
    const accepted = stored.find((p) => p.status === "accepted")!;
    const id = await tx.addInert(packet, "duplicate", { duplicateOf: accepted.source });
    return noted(folded, id, {
      kind: "duplicate",
      source,
      digest: packet.digest,
      duplicateOf: accepted.source,
    });
  }
  for (const [i, earlier] of stored.entries()) {
    const verdict = verdicts[i];
    if (verdict.kind !== "equivocation") {
      throw new Error("Equivocation is judged for a whole place");
    }
    const violation = equivocationViolation(earlier, verdict.conflictsWith);
    const change = await tx.refuse(earlier.id, [violation]);
    noteChange(folded, change);
    const index = folded.byId.get(earlier.id);
    if (index !== undefined) {
      // Stored earlier in this same ingest: its outcome here becomes the refusal.
      folded.outcomes[index] = {
        kind: "rejected",
        source: earlier.source,
        packetName: earlier.packetName,
        environmentId: earlier.environmentId,
        reasonCode: violation.code,
        violations: [violation],
      };
      if (earlier.status === "accepted") folded.changed = true;
    } else if (earlier.status === "accepted") {
      folded.withdrawn.push({
        ...earlier,
        status: "equivocation",
        violations: [violation],
        duplicateOf: null,
      });
      folded.changed = true;
    }
  }
  const violation = equivocationViolation(packet, own.conflictsWith);
  const violations = [...verdict.violations, violation];
  const id = await tx.addInert(packet, "equivocation", { violations });
  return noted(folded, id, {
    kind: "rejected",
    source,
    packetName: packet.packetName,
    environmentId: packet.environmentId,
    reasonCode: violation.code,
    violations,
  });
}

/** Remember which outcome of this batch a stored archive has (its index among the outcomes). */
function noted(folded: Folded, id: number, outcome: StoreIngestOutcome): StoreIngestOutcome {
  folded.byId.set(id, folded.outcomes.length);
  return outcome;
}

function noteChange(folded: Folded, change: StateChange): void {
  for (const signatureId of change.touched) folded.touched.add(signatureId);
  if (change.environmentChanged) folded.environmentsChanged = true;
}

/** A packet's canon entries as rows: signature, key, compact JSON text. */
function canonRowsOf(inspection: Inspection): CanonRow[] {
  const rows: CanonRow[] = [];
  if (inspection.canonTexts) {
    const { keys, texts } = decodeCanonTexts(inspection.canonTexts);
    const renamed = new Map(inspection.canonTexts.renamed);
    for (let i = 0; i < keys.length; i++) {
      rows.push({ signatureId: renamed.get(i) ?? keys[i], key: keys[i], text: texts[i] });
    }
  }
  for (const [key, entry] of Object.entries(inspection.canonEntry?.entries ?? {})) {
    const signatureId = typeof entry.signatureId === "string" ? entry.signatureId : key;
    rows.push({ signatureId, key, text: JSON.stringify(entry) });
  }
  return rows;
}

/** What {@link detect} did. */
interface Detection {
  mode: "full" | "incremental" | "none";
  errors: DetectionResult["errors"];
  appeared: string[];
  gone: string[];
}

/** Describe a detector run as the store keeps it. */
function describeDetector(run: DetectorRun): StoredDetector {
  return {
    name: run.plugin.name,
    version: run.plugin.version,
    origin: run.origin,
    driftTypes: [...run.plugin.driftTypes],
    scope: run.plugin.scope === "signature" ? "signature" : "federation",
    options: canonicalString(run.options ?? {}, "jcs"),
    error: null,
  };
}

function sameDetector(a: StoredDetector, b: StoredDetector): boolean {
  return a.name === b.name && a.version === b.version && a.origin === b.origin &&
    a.scope === b.scope && a.options === b.options &&
    JSON.stringify(a.driftTypes) === JSON.stringify(b.driftTypes);
}

/** Run what must run after folding, and keep the drifts with their lives. */
async function detect(
  tx: HubStoreTransaction,
  folded: Folded,
  runs: readonly DetectorRun[],
  point: LifePoint,
  limits: DetectionLimits = {},
): Promise<Detection> {
  const setup = runs.map(describeDetector);
  const stored = await tx.detectors();
  const sameSetup = stored.length === setup.length &&
    stored.every((detector, i) => sameDetector(detector, setup[i]));
  const everything = !sameSetup || folded.withdrawn.length > 0 || folded.environmentsChanged;
  const whole: DetectorRun[] = [];
  const partial: DetectorRun[] = [];
  runs.forEach((run, i) => {
    const failedBefore = sameSetup && stored[i].error !== null;
    if (everything || failedBefore) whole.push(run);
    else if (setup[i].scope !== "signature") {
      if (folded.changed) whole.push(run);
    } else if (folded.touched.size > 0) partial.push(run);
  });
  const touched = [...folded.touched];
  const results: DetectionResult[] = [];
  if (whole.length > 0) results.push(await runDetectors(await viewOfStore(tx), whole, limits));
  if (partial.length > 0) {
    results.push(await runDetectors(await viewOfStore(tx, touched), partial, limits));
  }
  const appeared: string[] = [];
  const gone: string[] = [];
  const errors: DetectionResult["errors"] = [];
  for (let i = 0; i < runs.length; i++) {
    const name = runs[i].plugin.name;
    const ran = whole.includes(runs[i]) ? "all" : partial.includes(runs[i]) ? touched : undefined;
    if (ran === undefined) {
      setup[i].error = sameSetup ? stored[i].error : null;
      continue;
    }
    const failure = results.flatMap((result) => result.errors).find((e) => e.detector === name);
    if (failure) {
      errors.push(failure);
      setup[i].error = { hook: failure.hook, reason: failure.reason, message: failure.message };
      continue;
    }
    const drifts = results.flatMap((result) => result.drifts).filter((d) => d.detector === name);
    const change = await tx.replaceDrifts(name, ran, drifts, point);
    appeared.push(...change.appeared);
    gone.push(...change.gone);
  }
  if (!sameSetup) gone.push(...await tx.retireDetectors(setup.map((d) => d.name), point));
  await tx.setDetectors(setup);
  await tx.touchDrifts(point);
  const mode = whole.length === 0 && partial.length === 0
    ? "none"
    : everything
    ? "full"
    : "incremental";
  return { mode, errors, appeared, gone };
}

/**
 * The federation view detectors read, from a store: every environment, and
 * the state of every signature (or of `signatureIds` only, for detectors
 * that compare one signature at a time). Entries are parsed and frozen.
 * @param reader the store
 * @param signatureIds the signatures to show; all when absent
 * @returns the view, sorted as the batch hub's
 * @example
 * ```ts
 * import { viewOfStore } from "./stateful_hub.ts";
 * import { openSqliteHubStore } from "./hub_store_sqlite.ts";
 * import assert from "node:assert/strict";
 * using store = openSqliteHubStore(":memory:");
 * const view = await store.read((reader) => viewOfStore(reader));
 * assert.deepEqual(view.signatures(), []);
 * ```
 */
export async function viewOfStore(
  reader: HubStoreReader,
  signatureIds?: readonly string[],
): Promise<FederationView> {
  const environments = await reader.environments();
  const summaries = new Map<string, EnvironmentSummary>(
    environments.map((env) => [
      env.environmentId,
      Object.freeze({
        environmentId: env.environmentId,
        packets: env.packets,
        windowStart: env.windowStart,
        windowEnd: env.windowEnd,
        signatures: env.signatures,
      }),
    ]),
  );
  const bySignature = new Map<string, EnvironmentEntry[]>();
  for (const row of await reader.state(signatureIds)) {
    const entry =
      (row.text.includes("\\") ? parseJson(row.text) : JSON.parse(row.text)) as CanonEntry;
    freeze(entry);
    let list = bySignature.get(row.signatureId);
    if (!list) bySignature.set(row.signatureId, list = []);
    list.push(Object.freeze({
      environmentId: row.environmentId,
      key: row.key,
      entry,
      provenance: Object.freeze({
        packetName: row.packetName,
        source: row.source,
        digest: row.digest,
        windowStart: row.windowStart,
        windowEnd: row.windowEnd,
        part: row.part,
      }),
    }));
  }
  const byEnvironment = (a: EnvironmentEntry, b: EnvironmentEntry) =>
    compare(a.environmentId, b.environmentId);
  for (const list of bySignature.values()) Object.freeze(list.sort(byEnvironment));
  const signatures = Object.freeze([...bySignature.keys()].sort());
  const ids = Object.freeze(environments.map((env) => env.environmentId));
  const empty: readonly EnvironmentEntry[] = Object.freeze([]);
  return Object.freeze({
    environments: () => ids,
    environment: (id: string) => summaries.get(id),
    signatures: () => signatures,
    entries: (signatureId: string) => bySignature.get(signatureId) ?? empty,
  });
}

function freeze(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  for (const child of Object.values(value)) freeze(child);
  Object.freeze(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** When a drift was seen, as the report and `hub status` give it. */
export interface DriftLife {
  /** The ingest that first found it (its clock). */
  firstSeenAt: string;
  /** The newest window the store held then. */
  firstSeenWindow: string | null;
  /** The last ingest that held it. */
  lastSeenAt: string;
  /** The newest window the store held then. */
  lastSeenWindow: string | null;
  /** When it went away, or null while it holds. */
  goneAt: string | null;
  /** The newest window the store held then. */
  goneWindow: string | null;
}

/** A drift in a report from a store: the drift and its life. */
export type LivingDrift = ReportDrift & { life: DriftLife };

/** The report of a store: a federation report, each drift with its life, and the drifts gone. */
export type StoreReport = FederationReport & {
  /** The drifts that hold now, as `federate` reports them, each with its life. */
  crossEnvDrifts: LivingDrift[];
  /** Drifts found once and gone since, with their lives. */
  driftsGone: LivingDrift[];
};

function lifeOf(stored: StoredDrift): DriftLife {
  return {
    firstSeenAt: stored.firstSeen.at,
    firstSeenWindow: stored.firstSeen.window,
    lastSeenAt: stored.lastSeen.at,
    lastSeenWindow: stored.lastSeen.window,
    goneAt: stored.gone?.at ?? null,
    goneWindow: stored.gone?.window ?? null,
  };
}

/** Drifts in the report's order: by type, signature, id (as `runDetectors` sorts them). */
function byReportOrder(a: StoredDrift, b: StoredDrift): number {
  return compare(a.drift.driftType, b.drift.driftType) ||
    compare(a.drift.signatureId, b.drift.signatureId) ||
    compare(a.drift.driftId, b.drift.driftId);
}

/**
 * The federation report of what a store holds, without reading any packet:
 * what one `federate` over every packet the store was given would report,
 * plus the life of each drift (`life`) and the drifts gone (`driftsGone`).
 * @param reader the store
 * @param generatedAt the report's time, ISO 8601
 * @returns the report
 * @example
 * ```ts
 * import { reportFromStore } from "./stateful_hub.ts";
 * import { openSqliteHubStore } from "./hub_store_sqlite.ts";
 * import assert from "node:assert/strict";
 * using store = openSqliteHubStore(":memory:");
 * const report = await store.read((reader) => reportFromStore(reader, "2026-03-01T00:00:00Z"));
 * assert.equal(report.packetsIngested, 0);
 * assert.deepEqual(report.driftsGone, []);
 * ```
 */
export async function reportFromStore(
  reader: HubStoreReader,
  generatedAt: string,
): Promise<StoreReport> {
  const environments = await reader.environments();
  const stats: Record<string, {
    packets: number;
    windowStart: string;
    windowEnd: string;
    signatures: number;
    graphNodes: number;
    graphEdges: number;
  }> = {};
  for (const env of environments) {
    stats[env.environmentId] = {
      packets: env.packets,
      windowStart: env.windowStart,
      windowEnd: env.windowEnd,
      signatures: env.signatures,
      graphNodes: env.graphNodes,
      graphEdges: env.graphEdges,
    };
  }
  const rejected = [
    ...(await reader.rejections()).map((r) => ({
      source: r.source,
      packetName: r.packetName,
      environmentId: r.environmentId,
      digest: r.digest,
      reasonCode: r.reasonCode,
      violations: r.violations.map((violation) => ({ ...violation })),
    })),
    ...(await reader.equivocations()).map((p) => ({
      source: p.source,
      packetName: p.packetName,
      environmentId: p.environmentId,
      digest: p.digest,
      reasonCode: "EQUIVOCATION",
      violations: p.violations.map((violation) => ({ ...violation })),
    })),
  ];
  const duplicates = [];
  for await (const duplicate of reader.duplicates()) duplicates.push({ ...duplicate });
  const drifts = (await reader.drifts()).sort(byReportOrder);
  const current = drifts.filter((d) => d.gone === null);
  const detectors = await reader.detectors();
  const detection: DetectionResult = {
    drifts: current.map((d) => d.drift),
    runs: detectors.map((d) => ({
      name: d.name,
      version: d.version,
      driftTypes: d.driftTypes,
      origin: d.origin,
      findings: current.filter((c) => c.drift.detector === d.name).length,
    })),
    errors: detectors.flatMap((d) =>
      d.error
        ? [{
          detector: d.name,
          hook: d.error.hook,
          reason: d.error.reason,
          message: d.error.message,
        }]
        : []
    ),
  };
  const report = assembleReport(
    { stats, packetsIngested: await reader.acceptedCount(), rejected, duplicates },
    detection,
    generatedAt,
  );
  const gone = drifts.filter((d) => d.gone !== null);
  const asReported = (drift: Drift): ReportDrift =>
    assembleReport(
      { stats: {}, packetsIngested: 0, rejected: [], duplicates: [] },
      { drifts: [drift], runs: [], errors: [] },
      generatedAt,
    ).crossEnvDrifts[0];
  return {
    ...report,
    crossEnvDrifts: report.crossEnvDrifts.map((drift, i) => ({
      ...drift,
      life: lifeOf(current[i]),
    })),
    driftsGone: gone.map((d) => ({ ...asReported(d.drift), life: lifeOf(d) })),
  };
}

/**
 * Stream the merged memory graph of a store as `federate --graph-out` writes
 * it: one JSON line per node or edge (`{"type":"node"|"edge","environmentId":…}`),
 * the copy of the earliest packet of each identity, a packet at a time.
 * @param reader the store
 * @param write receives each line, newline included
 * @returns how many lines were written
 * @example
 * ```ts
 * import { writeGraphFromStore } from "./stateful_hub.ts";
 * import { openSqliteHubStore } from "./hub_store_sqlite.ts";
 * import assert from "node:assert/strict";
 * using store = openSqliteHubStore(":memory:");
 * const lines: string[] = [];
 * await store.read((reader) => writeGraphFromStore(reader, (line) => { lines.push(line); }));
 * assert.deepEqual(lines, []);
 * ```
 */
export async function writeGraphFromStore(
  reader: HubStoreReader,
  write: (line: string) => void | Promise<void>,
): Promise<number> {
  let lines = 0;
  for await (const row of reader.graph()) {
    const record = row.type === "node"
      ? { type: "node", environmentId: row.environmentId, node: row.item }
      : { type: "edge", environmentId: row.environmentId, edge: row.item };
    await write(JSON.stringify(record) + "\n");
    lines++;
  }
  return lines;
}

/** What `jrm hub status` shows. */
export interface HubStatus {
  /** The store's figures: schema version, size, packet counts. */
  store: StoreFigures;
  /** Per environment: packets, windows, signatures, graph, last ingest. */
  environments: StoredEnvironment[];
  /** The last ingest. */
  lastIngest: StoredIngest | null;
  /** Drifts that hold, and drifts gone, each with its life. */
  drifts: {
    current: (Pick<Drift, "driftId" | "driftType" | "signatureId" | "severity" | "environments"> & {
      life: DriftLife;
    })[];
    gone: number;
  };
  /** The advisories of the ledger, by status. */
  advisories: Record<string, number>;
}

/**
 * The figures of a store for `jrm hub status`.
 * @param reader the store
 * @returns the status
 * @example
 * ```ts
 * import { statusOfStore } from "./stateful_hub.ts";
 * import { openSqliteHubStore } from "./hub_store_sqlite.ts";
 * import assert from "node:assert/strict";
 * using store = openSqliteHubStore(":memory:");
 * const status = await store.read((reader) => statusOfStore(reader));
 * assert.equal(status.store.accepted, 0);
 * assert.equal(status.lastIngest, null);
 * ```
 */
export async function statusOfStore(reader: HubStoreReader): Promise<HubStatus> {
  const drifts = (await reader.drifts()).sort(byReportOrder);
  const advisories: Record<string, number> = {};
  for (const advisory of await reader.advisories() as Advisory[]) {
    advisories[advisory.status] = (advisories[advisory.status] ?? 0) + 1;
  }
  return {
    store: await reader.figures(),
    environments: await reader.environments(),
    lastIngest: (await reader.lastIngest()) ?? null,
    drifts: {
      current: drifts.filter((d) => d.gone === null).map((d) => ({
        driftId: d.drift.driftId,
        driftType: d.drift.driftType,
        signatureId: d.drift.signatureId,
        severity: d.drift.severity,
        environments: d.drift.environments,
        life: lifeOf(d),
      })),
      gone: drifts.filter((d) => d.gone !== null).length,
    },
    advisories,
  };
}
