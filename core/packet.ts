/**
 * The JRM-X packet model and {@link readPacket}, which turns archive bytes
 * into a schema-checked packet or the violations that say why it cannot be
 * one.
 *
 * The schemas themselves (zod) are in core/packet_schemas.ts. This module
 * does not load zod: it checks a packet with plain exact-or-stricter checks
 * first and asks the schemas only about what those refuse, which is also
 * where every schema violation is decided and worded. The schemas install
 * themselves here when loaded (the gate and the library entry load them); a
 * reader running without them (the hub's workers, which start faster so)
 * gets {@link SchemasNotLoaded} from a packet that needs them.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  _readArchiveInto,
  type ArchiveEntry,
  type ArchiveLimits,
  DEFAULT_LIMITS,
  type InflateArena,
} from "./archive.ts";
import { JsonNumber, parseLossless } from "./canonical_json.ts";
import { PacketError, type Violation } from "./errors.ts";
import { parseInstant } from "./instant.ts";
import type { PacketSignature } from "./signer.ts";
import { countCanonEntries, scanCanonFile } from "./canon_scan.ts";
import { type CanonTexts, canonTextsKeys } from "./canon_texts.ts";
export type { CanonTexts } from "./canon_texts.ts";
import { _quoted, parseJson, parseJsonLines } from "./json.ts";
import {
  type RecordShape,
  shapeAccepts,
  T_ABSENT,
  T_ARRAY,
  T_EMPTY_STRING,
  T_OBJECT,
  T_STRING,
  typeMask,
  validateJsonLines,
} from "./jsonl_validate.ts";
import { type GraphFacts, graphFactsOf, type GraphFactsOptions } from "./graph_facts.ts";
import { type GraphShape, scanGraphFile } from "./graph_scan.ts";

/** The manifest's entry name. */
export const MANIFEST_FILE = "manifest.json";

/** The six data files every packet holds, in spec order. */
export const DATA_FILES = [
  "truth_snapshot.json",
  "authority_slice.json",
  "decision_lineage.jsonl",
  "drift_signal.jsonl",
  "memory_graph.json",
  "canon_entry.json",
] as const;

// The records of a packet as the reader gives them. The zod schemas (core/packet_schemas.ts) say
// what is valid and word every violation; the compiler holds each schema's output type to the
// interface here, field by field (see the end of that module). Unknown fields are kept.

/** `manifest.json`: camelCase keys, as the reference JSON Schema names them. */
export interface Manifest {
  /** `JRM_X_PACKET_<environment>_<window start>_<window end>_part<NN>`. */
  packetName: string;
  /** The environment that published the packet. */
  environmentId: string;
  /** Window start, ISO 8601. */
  windowStart: string;
  /** Window end, ISO 8601. */
  windowEnd: string;
  /** Part number within the window, from 1. */
  part: number;
  /** `sha256:<hex>` of each data file, by name. */
  files: Record<string, string>;
  /** Records in `decision_lineage.jsonl`. */
  eventCount: number;
  /** Total bytes of the data files. */
  sizeBytes: number;
  /** When the packet was made, ISO 8601. */
  createdAt: string;
  /** The signature over the manifest's canonical form, when signed. */
  signature?: PacketSignature;
  /** Fields the spec does not name, kept as read. */
  [field: string]: unknown;
}

/** One change a canon entry's patch made. */
export interface CanonChange {
  /** What was done (`set`, `tune`, …). */
  action: string;
  /** The field changed, when one was. */
  field?: string;
  /** Other fields (`from`, `to`, …), kept as read. */
  [field: string]: unknown;
}

/** One canon entry: an environment's stance on one detection signature. */
export interface CanonEntry {
  /** The signature it governs; its key in `entries` when absent. */
  signatureId?: string;
  /** Revision, from 0. */
  rev?: number;
  /** The revision it replaced. */
  previousRev?: number;
  /** The patch that made this revision. */
  patchId?: string;
  /** The patches before it, oldest first. */
  lineage?: string[];
  /** What the patch changed. */
  changes?: CanonChange[];
  /** Confidence in [0, 1]. */
  confidence?: number;
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/** `canon_entry.json`. */
export interface CanonFile {
  /** The entries by key (the key is the signatureId unless the entry names another). */
  entries: Record<string, CanonEntry>;
  /** The environment, when the file names it. */
  environmentId?: string;
  /** When the file was made. */
  generatedAt?: string;
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/** A node of `memory_graph.json`. */
export interface GraphNode {
  /** The node's id within its environment. */
  nodeId: string;
  /** What it is (`host`, …). */
  kind: string;
  /** A label for people. */
  label?: string;
  /** When it was seen. */
  timestamp?: string;
  /** Anything else known of it. */
  properties?: Record<string, unknown>;
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/** An edge of `memory_graph.json`. */
export interface GraphEdge {
  /** The node it leaves. */
  sourceId: string;
  /** The node it reaches. */
  targetId: string;
  /** What it means (`talks_to`, …). */
  kind: string;
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/** `memory_graph.json`: what the window added to the environment's memory graph. */
export interface MemoryGraph {
  /** Nodes added. */
  nodesAdded: GraphNode[];
  /** Edges added. */
  edgesAdded: GraphEdge[];
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/** `truth_snapshot.json`: counts and histograms, kept as they are. */
export interface TruthSnapshot {
  /** The environment, when the file names it. */
  environmentId?: string;
  /** The counts and histograms, kept as read. */
  [field: string]: unknown;
}

/** `authority_slice.json`: who published the packet. */
export interface AuthoritySlice {
  /** The environment the publisher speaks for. */
  environmentId: string;
  /** The publisher's role. */
  publisherRole?: string;
  /** What the publisher may do. */
  allowedActions?: string[];
  /** The environments the publisher may publish for. */
  scopeAllowlist?: string[];
  /** The publisher's redaction policy, as written. */
  redactionPolicy?: unknown;
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/** One line of `decision_lineage.jsonl`. */
export interface LineageRecord {
  /** The event decided. */
  eventId: string;
  /** The lane it went through. */
  lane?: string;
  /** Why, in bullets. */
  whyBullets?: unknown[];
  /** The claims made. */
  claims?: unknown[];
  /** Anything else recorded (redaction works on these fields). */
  metadata?: Record<string, unknown>;
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/** One line of `drift_signal.jsonl`: drift the environment saw itself. */
export interface DriftSignalRecord {
  /** The signal's id. */
  driftId: string;
  /** Its kind. */
  driftType: string;
  /** How bad. */
  severity?: string;
  /** When, ISO 8601. */
  detectedAt?: string;
  /** Events it rests on. */
  evidenceRefs?: unknown[];
  /** What identifies it. */
  fingerprint?: unknown;
  /** Notes for people. */
  notes?: unknown;
  /** What the environment suggests. */
  recommendedAction?: unknown;
  /** Other fields, kept as read. */
  [field: string]: unknown;
}

/**
 * Thrown by {@link readPacket} when a packet needs the zod schemas to be
 * judged and core/packet_schemas.ts was not loaded: load it and read again.
 */
export class SchemasNotLoaded extends Error {
  /** @param file the entry that needed its schema */
  constructor(file: string) {
    super(`Checking "${file}" needs the packet schemas: import core/packet_schemas.ts`);
    this.name = "SchemasNotLoaded";
  }
}

/** Checks a value against the schema of `file` (its records', for JSON lines). */
type SchemaCheck = (file: string, value: unknown, prefix?: string) => Violation | undefined;

let schemaCheck: SchemaCheck | undefined;

/**
 * Install the schema check (core/packet_schemas.ts does, when loaded). Internal.
 * @param check the check
 */
export function _useSchemaCheck(check: SchemaCheck): void {
  schemaCheck = check;
}

/** The schema's verdict on `value`, a violation or undefined. */
function checkSchema(file: string, value: unknown, prefix?: string): Violation | undefined {
  if (schemaCheck === undefined) throw new SchemasNotLoaded(file);
  return schemaCheck(file, value, prefix);
}

/** One of the six data file names. */
export type DataFile = typeof DATA_FILES[number];

/** The data files that hold JSON lines. */
export type JsonLinesFile = "decision_lineage.jsonl" | "drift_signal.jsonl";

const SNAKE_CASE_MANIFEST_KEYS: Record<string, string> = {
  packet_name: "packetName",
  environment_id: "environmentId",
  window_start: "windowStart",
  window_end: "windowEnd",
  event_count: "eventCount",
  size_bytes: "sizeBytes",
  created_at: "createdAt",
};

/** The manifest's keys, in the order the spec lists them (`signature` is optional). */
export const MANIFEST_KEYS = [
  "packetName",
  "environmentId",
  "windowStart",
  "windowEnd",
  "part",
  "files",
  "eventCount",
  "sizeBytes",
  "createdAt",
];

/** A packet whose archive, JSON and schemas were read; not yet judged by the gate. */
export interface Packet {
  /** Where the packet came from (a path), for messages. */
  source: string;
  /** `sha256:<hex>` of the whole archive: a packet's identity for duplicate detection. */
  digest: string;
  /** Every archive entry's bytes, by name. */
  entries: Map<string, Uint8Array>;
  /** `sha256:<hex>` of each entry, by name. */
  entryHashes: Map<string, string>;
  /** The schema-checked manifest. */
  manifest: Manifest;
  /** The manifest as read with every number's spelling kept, for signatures. */
  manifestTree: Record<string, unknown>;
  /** `truth_snapshot.json`. */
  truthSnapshot: TruthSnapshot;
  /** `authority_slice.json`. */
  authoritySlice: AuthoritySlice;
  /** `decision_lineage.jsonl`, one record per line. */
  decisionLineage: LineageRecord[];
  /** `drift_signal.jsonl`, one record per line. */
  driftSignals: DriftSignalRecord[];
  /**
   * The record count of each JSON-lines file whose records were checked but
   * not kept (`materializeRecords: false`): its array above is empty, and
   * every record's `environmentId` was found absent or equal to the
   * manifest's while reading. A file not named here has its records kept.
   */
  recordCounts?: Partial<Record<JsonLinesFile, number>>;
  /** `memory_graph.json`. */
  memoryGraph: MemoryGraph;
  /** `canon_entry.json` (with `entries` empty when {@link Packet.canonTexts} holds them). */
  canonEntry: CanonFile;
  /**
   * `canon_entry.json`'s entries as JSON text, when read with
   * `canonAsText` and a quick byte-level check was sure of the file; then
   * `canonEntry.entries` is empty.
   */
  canonTexts?: CanonTexts;
  /**
   * `memory_graph.json`'s nodes and edges as {@link GraphFacts}, when read
   * with `graph`; then `memoryGraph`'s `nodesAdded` and `edgesAdded` are
   * empty, unless `graph.records` kept them.
   */
  graphFacts?: GraphFacts;
}

/** What reading gives: the packet when it could be built, and every violation found. */
export interface ReadResult {
  /** Where the bytes came from. */
  source: string;
  /** The packet, absent when the archive, the manifest or a data file could not be read. */
  packet?: Packet;
  /** Violations found while reading, in the order found. */
  violations: Violation[];
}

/** Options for {@link readPacket}. */
export interface ReadOptions {
  /** Where the bytes came from, for messages. */
  source?: string;
  /** Archive and JSON limits; unset ones keep their defaults. */
  limits?: Partial<ArchiveLimits>;
  /**
   * Keep the JSON-lines records (the default). With false, a JSON-lines file
   * that a quick byte-level check finds valid (and free of other
   * environments) is not parsed into records: its array is empty and
   * {@link Packet.recordCounts} gives its count. Any other file is read as
   * usual, so violations are the same either way.
   */
  materializeRecords?: boolean;
  /**
   * Give `canon_entry.json`'s entries as JSON text ({@link Packet.canonTexts})
   * when a quick byte-level check is sure of the file (core/canon_scan.ts),
   * instead of parsing them. A file it is not sure of is read as usual.
   */
  canonAsText?: boolean;
  /**
   * Give `memory_graph.json`'s nodes and edges as {@link GraphFacts}
   * ({@link Packet.graphFacts}), made with this hash key and, when asked,
   * with each record's line of the merged graph; `memoryGraph` then holds
   * the file's other fields, with `nodesAdded` and `edgesAdded` empty
   * unless `records` asks for them.
   */
  graph?: GraphFactsOptions;
}

/**
 * SHA-256 of bytes as `sha256:<64 lowercase hex>`.
 * @param bytes the data
 * @returns the hash reference the manifest uses
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256Ref } from "./packet.ts";
 * assert.equal(
 *   sha256Ref(new Uint8Array()),
 *   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
 * );
 * ```
 */
export function sha256Ref(bytes: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

/**
 * Read a packet from archive bytes: the archive under limits, every entry
 * hashed, the manifest and the six data files parsed and schema-checked.
 * Reading goes as far as it can so that every problem is reported at once;
 * `packet` is set only when nothing stopped it from being built.
 *
 * @param bytes the zip archive
 * @param options source name, limits, and whether to keep JSON-lines records
 * @returns the packet, or the violations that prevent it
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPacket } from "./packet.ts";
 * const result = readPacket(new TextEncoder().encode("not a zip"), { source: "x.zip" });
 * assert.equal(result.packet, undefined);
 * assert.equal(result.violations[0].code, "ARCHIVE_NOT_ZIP");
 * ```
 */
export function readPacket(bytes: Uint8Array, options: ReadOptions = {}): ReadResult {
  return _readPacketInto(bytes, options);
}

/**
 * {@link readPacket}, inflating into an arena: the packet's `entries` are then
 * views into it, valid only until the arena's next read. For the hub's
 * workers (core/inspect.ts); not part of the library's API.
 * @param bytes the zip archive
 * @param options as {@link readPacket} takes them
 * @param arena the arena to inflate into, if any
 * @returns as {@link readPacket}
 */
export function _readPacketInto(
  bytes: Uint8Array,
  options: ReadOptions,
  arena?: InflateArena,
): ReadResult {
  const source = options.source ?? "<bytes>";
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  let archive: ArchiveEntry[];
  try {
    archive = _readArchiveInto(bytes, limits, arena);
  } catch (error) {
    if (error instanceof PacketError) return { source, violations: [error.violation] };
    throw error;
  }
  const violations: Violation[] = [];
  const entries = new Map<string, Uint8Array>();
  const entryHashes = new Map<string, string>();
  for (const entry of archive) {
    entries.set(entry.name, entry.data);
    entryHashes.set(entry.name, sha256Ref(entry.data));
  }

  const manifestRead = readManifest(entries, limits.maxJsonDepth);
  violations.push(...manifestRead.violations);

  const parsed: Partial<Record<DataFile, unknown>> = {};
  const recordCounts: Partial<Record<JsonLinesFile, number>> = {};
  let canonTexts: CanonTexts | undefined;
  let graphFacts: GraphFacts | undefined;
  for (const name of DATA_FILES) {
    const data = entries.get(name);
    if (data === undefined) {
      violations.push({ code: "FILE_MISSING", entry: name, message: `Entry "${name}" is missing` });
      continue;
    }
    if (options.materializeRecords === false && Object.hasOwn(RECORD_SHAPES, name)) {
      const file = name as JsonLinesFile;
      const { shape } = RECORD_SHAPES[file];
      // Without a manifest there is no packet, so nothing reads environments.
      const env = manifestRead.manifest?.environmentId;
      const expected = env === undefined ? undefined : { environmentId: env };
      const count = validateJsonLines(data, limits.maxJsonDepth, shape, undefined, expected);
      if (count >= 0) {
        recordCounts[file] = count;
        parsed[name] = [];
        continue;
      }
    }
    const env = manifestRead.manifest?.environmentId;
    if (options.graph && env !== undefined && name === "memory_graph.json") {
      const graph = { ...options.graph, shapes: GRAPH_SHAPES, environmentId: env };
      const scanned = options.graph.records
        ? undefined
        : scanGraphFile(data, limits.maxJsonDepth, graph);
      if (scanned && fastMemoryGraphCheck(scanned.top)) {
        parsed[name] = scanned.top;
        graphFacts = scanned.facts;
        continue;
      }
      const value = checkDataFile(name, data, limits.maxJsonDepth, violations) as MemoryGraph;
      if (value !== undefined) {
        parsed[name] = options.graph.records ? value : { ...value, nodesAdded: [], edgesAdded: [] };
        graphFacts = graphFactsOf(value, env, options.graph);
      }
      continue;
    }
    if (name === "canon_entry.json") {
      // Counted before any entry is built: a million entries cost far more held than written.
      const scanned = options.canonAsText
        ? scanCanonFile(data, limits.maxJsonDepth, limits.maxCanonEntries)
        : undefined;
      if (
        scanned === "too many" ||
        (scanned === undefined &&
          countCanonEntries(data, limits.maxCanonEntries) > limits.maxCanonEntries)
      ) {
        violations.push({
          code: "LIMIT_CANON_ENTRIES",
          entry: name,
          message:
            `Entry "${name}" holds more than ${limits.maxCanonEntries} canon entries, past the limit`,
        });
        continue;
      }
      if (scanned && fastCanonFileCheck(scanned.top)) {
        parsed[name] = scanned.top;
        canonTexts = scanned.canon;
        continue;
      }
    }
    const value = checkDataFile(name, data, limits.maxJsonDepth, violations);
    if (value !== undefined) parsed[name] = value;
  }
  const canon = parsed["canon_entry.json"] as Packet["canonEntry"] | undefined;
  if (canon !== undefined) {
    const collision = signatureCollision(canon, canonTexts);
    if (collision) violations.push(collision);
  }

  if (!manifestRead.manifest || violations.length > 0) return { source, violations };
  return {
    source,
    violations,
    packet: {
      source,
      digest: sha256Ref(bytes),
      entries,
      entryHashes,
      manifest: manifestRead.manifest,
      manifestTree: manifestRead.tree!,
      truthSnapshot: parsed["truth_snapshot.json"] as Packet["truthSnapshot"],
      authoritySlice: parsed["authority_slice.json"] as Packet["authoritySlice"],
      decisionLineage: parsed["decision_lineage.jsonl"] as Packet["decisionLineage"],
      driftSignals: parsed["drift_signal.jsonl"] as Packet["driftSignals"],
      memoryGraph: parsed["memory_graph.json"] as MemoryGraph,
      canonEntry: parsed["canon_entry.json"] as Packet["canonEntry"],
      ...(Object.keys(recordCounts).length > 0 ? { recordCounts } : {}),
      ...(canonTexts ? { canonTexts } : {}),
      ...(graphFacts ? { graphFacts } : {}),
    },
  };
}

/**
 * Two canon entries of one packet that name one signature: one would be lost
 * when the state is keyed by signatureId. An entry names the signature of its
 * `signatureId` when that is a string, else of its key; an entry with another
 * `signatureId` than its key (renamed) also collides with the entry whose key
 * is that signatureId, whatever that one names, since readers keyed by key and
 * by signatureId would pair them the other way round.
 */
function signatureCollision(
  canon: Packet["canonEntry"],
  texts: CanonTexts | undefined,
): Violation | undefined {
  let renamed: [string, string][];
  let hasKey: (key: string) => boolean;
  if (texts) {
    if (texts.renamed.length === 0) return undefined;
    const keys = canonTextsKeys(texts);
    const set = new Set(keys);
    renamed = texts.renamed.map(([index, id]) => [keys[index], id]);
    hasKey = (key) => set.has(key);
  } else {
    const entries = canon.entries;
    renamed = [];
    for (const key in entries) {
      const id = entries[key].signatureId;
      if (typeof id === "string" && id !== key) renamed.push([key, id]);
    }
    if (renamed.length === 0) return undefined;
    hasKey = (key) => Object.hasOwn(entries, key);
  }
  const claimed = new Map<string, string>();
  for (const [key, id] of renamed) {
    const other = hasKey(id) ? id : claimed.get(id);
    if (other !== undefined) {
      return {
        code: "CANON_SIGNATURE_COLLISION",
        entry: "canon_entry.json",
        message: `Entry "canon_entry.json" names signature ${_quoted(id)} twice: in entries ${
          _quoted(other)
        } and ${_quoted(key)}`,
      };
    }
    claimed.set(id, key);
  }
  return undefined;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const optional = (v: unknown, check: (v: unknown) => boolean) => v === undefined || check(v);
const isString = (v: unknown) => typeof v === "string";

/**
 * Exact-or-stricter stand-ins for the JSON-lines record schemas: a packet
 * holds thousands of records, and these plain checks cost a fraction of a
 * zod parse. A record they refuse goes to the zod schema, which decides and
 * words the error, so they can only ever accept what the schema accepts
 * (tests/packet_test.ts holds them to that).
 */
export const FAST_RECORD_CHECKS: Partial<Record<DataFile, (record: unknown) => boolean>> = {
  "decision_lineage.jsonl": (r) =>
    isObject(r) && typeof r.eventId === "string" && r.eventId.length > 0 &&
    optional(r.lane, isString) && optional(r.whyBullets, Array.isArray) &&
    optional(r.claims, Array.isArray) && optional(r.metadata, isObject),
  "drift_signal.jsonl": (r) =>
    isObject(r) && typeof r.driftId === "string" && r.driftId.length > 0 &&
    typeof r.driftType === "string" && optional(r.severity, isString) &&
    optional(r.detectedAt, isString) && optional(r.evidenceRefs, Array.isArray),
};

const isSafeInteger = (v: unknown): v is number => Number.isSafeInteger(v);
const isStringArray = (v: unknown) => Array.isArray(v) && v.every(isString);
const isChange = (c: unknown) => isObject(c) && isString(c.action) && optional(c.field, isString);

/**
 * An exact-or-stricter stand-in for {@link CanonEntrySchema}: a snapshot
 * packet holds thousands of canon entries, and zod costs about 1.5 µs each.
 * An entry it refuses goes to the schema, which decides and words the error
 * (tests/packet_test.ts holds it to that).
 * @param e a canon entry
 * @returns true when the schema certainly accepts it
 */
export function fastCanonEntryCheck(e: unknown): boolean {
  return isObject(e) && optional(e.signatureId, isString) &&
    optional(e.rev, (v) => isSafeInteger(v) && v >= 0) && optional(e.previousRev, isSafeInteger) &&
    optional(e.patchId, isString) && optional(e.lineage, isStringArray) &&
    optional(e.changes, (v) => Array.isArray(v) && v.every(isChange)) &&
    optional(e.confidence, (v) => typeof v === "number" && v >= 0 && v <= 1);
}

/**
 * {@link fastCanonEntryCheck} for the whole of `canon_entry.json`
 * ({@link CanonFileSchema}).
 * @param file the parsed file
 * @returns true when the schema certainly accepts it
 */
export function fastCanonFileCheck(file: unknown): boolean {
  if (!isObject(file) || !isObject(file.entries)) return false;
  if (!optional(file.environmentId, (v) => isString(v) && v !== "")) return false;
  if (!optional(file.generatedAt, isString)) return false;
  // A `__proto__` key is left to the schema, whatever it makes of it.
  if (Object.hasOwn(file.entries, "__proto__")) return false;
  for (const entry of Object.values(file.entries)) if (!fastCanonEntryCheck(entry)) return false;
  return true;
}

const isNonEmptyString = (v: unknown) => typeof v === "string" && v !== "";
/** An object the plain checks may judge: one with an own `__proto__` key goes to the schema. */
const isCheckable = (v: unknown): v is Json => isObject(v) && !Object.hasOwn(v, "__proto__");

const SHA256_REF = /^sha256:[0-9a-f]{64}$/;
/**
 * Whether `v` is a date-time the manifest schema accepts: RFC 3339 with an
 * offset (tests/packet_test.ts holds the two to the same answers).
 * @param v the value
 * @returns true when it is one
 */
export function isIsoDateTime(v: unknown): boolean {
  return parseInstant(v) !== undefined;
}

const isCount = (v: unknown) => isSafeInteger(v) && v >= 0;

/**
 * An exact-or-stricter stand-in for the manifest schema (`ManifestSchema`
 * in core/packet_schemas.ts); what it refuses goes to the schema.
 * @param m the manifest, numbers plain
 * @returns true when the schema certainly accepts it
 */
export function fastManifestCheck(m: unknown): boolean {
  if (!isCheckable(m)) return false;
  const { files, signature: s } = m;
  if (!isCheckable(files)) return false;
  for (const hash of Object.values(files)) {
    if (typeof hash !== "string" || !SHA256_REF.test(hash)) return false;
  }
  return typeof m.packetName === "string" && m.packetName.startsWith("JRM_X_PACKET_") &&
    isNonEmptyString(m.environmentId) && isIsoDateTime(m.windowStart) &&
    isIsoDateTime(m.windowEnd) && isSafeInteger(m.part) && m.part >= 1 && isCount(m.eventCount) &&
    isCount(m.sizeBytes) && isIsoDateTime(m.createdAt) &&
    (s === undefined ||
      (isCheckable(s) && isNonEmptyString(s.algorithm) && isString(s.value) &&
        optional(s.signerId, isString) && optional(s.keyId, isString) &&
        optional(s.canonicalization, isString)));
}

/**
 * An exact-or-stricter stand-in for the schema of `truth_snapshot.json`.
 * @param v the parsed file
 * @returns true when the schema certainly accepts it
 */
export function fastTruthSnapshotCheck(v: unknown): boolean {
  return isCheckable(v) && optional(v.environmentId, isNonEmptyString);
}

/**
 * An exact-or-stricter stand-in for the schema of `authority_slice.json`.
 * @param v the parsed file
 * @returns true when the schema certainly accepts it
 */
export function fastAuthoritySliceCheck(v: unknown): boolean {
  return isCheckable(v) && isNonEmptyString(v.environmentId) &&
    optional(v.publisherRole, isString) && optional(v.allowedActions, isStringArray) &&
    optional(v.scopeAllowlist, isStringArray);
}

// The types come from GRAPH_SHAPES, which the graph scan checks too; an object with an own
// `__proto__` is left to the schema.
const isNode = (n: unknown) =>
  isCheckable(n) && shapeAccepts(GRAPH_SHAPES.nodesAdded.shape, n) &&
  optional(n.properties, isCheckable);
const isEdge = (e: unknown) => isCheckable(e) && shapeAccepts(GRAPH_SHAPES.edgesAdded.shape, e);

/**
 * An exact-or-stricter stand-in for the schema of `memory_graph.json`.
 * @param v the parsed file
 * @returns true when the schema certainly accepts it
 */
export function fastMemoryGraphCheck(v: unknown): boolean {
  return isCheckable(v) && Array.isArray(v.nodesAdded) && v.nodesAdded.every(isNode) &&
    Array.isArray(v.edgesAdded) && v.edgesAdded.every(isEdge);
}

const STRING_OR_ABSENT = typeMask(T_ABSENT, T_STRING, T_EMPTY_STRING);

/**
 * {@link FAST_RECORD_CHECKS} as top-level field types, for
 * `validateJsonLines`, which checks records without building them (and adds
 * that each record is an object). They accept no record that the checks
 * refuse (tests/jsonl_validate_test.ts holds them to that).
 */
export const RECORD_SHAPES: Readonly<Record<JsonLinesFile, { shape: RecordShape }>> = {
  "decision_lineage.jsonl": {
    shape: {
      fields: ["eventId", "lane", "whyBullets", "claims", "metadata"],
      types: [
        typeMask(T_STRING),
        STRING_OR_ABSENT,
        typeMask(T_ABSENT, T_ARRAY),
        typeMask(T_ABSENT, T_ARRAY),
        typeMask(T_ABSENT, T_OBJECT),
      ],
    },
  },
  "drift_signal.jsonl": {
    shape: {
      fields: ["driftId", "driftType", "severity", "detectedAt", "evidenceRefs"],
      types: [
        typeMask(T_STRING),
        typeMask(T_STRING, T_EMPTY_STRING),
        STRING_OR_ABSENT,
        STRING_OR_ABSENT,
        typeMask(T_ABSENT, T_ARRAY),
      ],
    },
  },
};

/**
 * The memory graph's records as top-level field types: what the plain check
 * (`fastMemoryGraphCheck`) and the graph scan (core/graph_scan.ts) accept of
 * a node and of an edge, each exact-or-stricter than the schema
 * (tests/graph_scan_test.ts holds them to it). The first `identity` fields
 * are what the spec identifies a record by (with its environment): they
 * must be strings.
 */
export const GRAPH_SHAPES: Readonly<Record<"nodesAdded" | "edgesAdded", GraphShape>> = {
  nodesAdded: {
    shape: {
      fields: ["nodeId", "kind", "label", "timestamp", "properties"],
      types: [
        typeMask(T_STRING),
        typeMask(T_STRING, T_EMPTY_STRING),
        STRING_OR_ABSENT,
        STRING_OR_ABSENT,
        typeMask(T_ABSENT, T_OBJECT),
      ],
    },
    identity: 1,
  },
  edgesAdded: {
    shape: {
      fields: ["sourceId", "targetId", "kind"],
      types: [typeMask(T_STRING), typeMask(T_STRING), typeMask(T_STRING, T_EMPTY_STRING)],
    },
    identity: 3,
  },
};

/** The plain checks of the JSON data files, each exact-or-stricter than its schema. */
const FAST_FILE_CHECKS: Partial<Record<DataFile, (value: unknown) => boolean>> = {
  "truth_snapshot.json": fastTruthSnapshotCheck,
  "authority_slice.json": fastAuthoritySliceCheck,
  "memory_graph.json": fastMemoryGraphCheck,
  "canon_entry.json": fastCanonFileCheck,
};

// The values kept are the parsed ones: schemas only check (see core/packet_schemas.ts).
function checkDataFile(
  name: DataFile,
  data: Uint8Array,
  maxDepth: number,
  violations: Violation[],
): unknown {
  try {
    if (name.endsWith(".jsonl")) {
      const records = parseJsonLines(data, { maxDepth, file: name });
      const fast = FAST_RECORD_CHECKS[name];
      for (let i = 0; i < records.length; i++) {
        if (fast?.(records[i])) continue;
        const violation = checkSchema(name, records[i], `line ${i + 1}: `);
        if (violation) {
          violations.push(violation);
          return undefined;
        }
      }
      return records;
    }
    const value = parseJson(data, { maxDepth, file: name });
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      violations.push({
        code: "SCHEMA_INVALID",
        entry: name,
        message: `Entry "${name}" must hold a JSON object`,
      });
      return undefined;
    }
    if (FAST_FILE_CHECKS[name]?.(value)) return value;
    const violation = checkSchema(name, value);
    if (violation) {
      violations.push(violation);
      return undefined;
    }
    return value;
  } catch (error) {
    if (error instanceof PacketError) {
      violations.push(error.violation);
      return undefined;
    }
    throw error;
  }
}

function readManifest(
  entries: Map<string, Uint8Array>,
  maxDepth: number,
): { manifest?: Manifest; tree?: Record<string, unknown>; violations: Violation[] } {
  const data = entries.get(MANIFEST_FILE);
  if (data === undefined) {
    return {
      violations: [{
        code: "MANIFEST_MISSING",
        entry: MANIFEST_FILE,
        message: `Entry "${MANIFEST_FILE}" is missing`,
      }],
    };
  }
  let tree: unknown;
  try {
    tree = parseLossless(data, { maxDepth, file: MANIFEST_FILE });
  } catch (error) {
    if (error instanceof PacketError) return { violations: [error.violation] };
    throw error;
  }
  if (tree === null || typeof tree !== "object" || Array.isArray(tree)) {
    return {
      violations: [{
        code: "SCHEMA_INVALID",
        entry: MANIFEST_FILE,
        message: `Entry "${MANIFEST_FILE}" must hold a JSON object`,
      }],
    };
  }
  const keys = Object.keys(tree);
  // Own keys only: `"constructor" in {}` is true, and producers may add any key.
  if (keys.some((key) => Object.hasOwn(SNAKE_CASE_MANIFEST_KEYS, key))) {
    const quote = (list: string[]) => list.map((k) => JSON.stringify(k)).join(", ");
    return {
      violations: [{
        code: "MANIFEST_SNAKE_CASE",
        entry: MANIFEST_FILE,
        message: `Entry "${MANIFEST_FILE}" uses snake_case keys: found ${quote(keys)}; expected ${
          quote(MANIFEST_KEYS)
        } (a packet built by the reference pipeline can be migrated: jrm migrate)`,
      }],
    };
  }
  // Schema checks read plain numbers; the tree keeps spellings for the signature.
  const plain = plainNumbers(tree);
  const violation = fastManifestCheck(plain) ? undefined : checkSchema(MANIFEST_FILE, plain);
  if (violation) return { violations: [violation] };
  // `plain`, not zod's copy, for the reason given at checkDataFile.
  return { manifest: plain as Manifest, tree: tree as Record<string, unknown>, violations: [] };
}

/** The lossless tree with each JsonNumber as its nearest double (depth is already bounded). */
function plainNumbers(value: unknown): unknown {
  if (value instanceof JsonNumber) return value.valueOf();
  if (Array.isArray(value)) return value.map(plainNumbers);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      Object.defineProperty(out, key, {
        value: plainNumbers(child),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
