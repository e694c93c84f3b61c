/**
 * The JRM-X packet model: zod schemas that follow the spec (unknown fields
 * kept), and {@link readPacket}, which turns archive bytes into a
 * schema-checked packet or the violations that say why it cannot be one.
 *
 * @module
 */

import { z } from "zod";
import { createHash } from "node:crypto";
import {
  type ArchiveEntry,
  type ArchiveLimits,
  DEFAULT_LIMITS,
  type InflateArena,
  readArchive,
} from "./archive.ts";
import { JsonNumber, parseLossless } from "./canonical_json.ts";
import { PacketError, type Violation } from "./errors.ts";
import { scanCanonFile } from "./canon_scan.ts";
import { parseJson, parseJsonLines } from "./json.ts";
import {
  type RecordShape,
  T_ABSENT,
  T_ARRAY,
  T_EMPTY_STRING,
  T_OBJECT,
  T_STRING,
  typeMask,
  validateJsonLines,
} from "./jsonl_validate.ts";

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

/** One of the six data file names. */
export type DataFile = typeof DATA_FILES[number];

/** The data files that hold JSON lines. */
export type JsonLinesFile = "decision_lineage.jsonl" | "drift_signal.jsonl";

const isoDateTime = z.iso.datetime({ offset: true, local: true });
const Sha256RefSchema = z.string().regex(
  /^sha256:[0-9a-f]{64}$/,
  'must be "sha256:" and 64 lowercase hex',
);

/** The manifest's `signature` object. */
export const SignatureSchema = z.looseObject({
  algorithm: z.string().min(1),
  value: z.string(),
  signerId: z.string().optional(),
  keyId: z.string().optional(),
  canonicalization: z.string().optional(),
});

/** `manifest.json`: camelCase keys, as the reference JSON Schema names them. */
export const ManifestSchema = z.looseObject({
  packetName: z.string().startsWith("JRM_X_PACKET_"),
  environmentId: z.string().min(1),
  windowStart: isoDateTime,
  windowEnd: isoDateTime,
  part: z.int().min(1),
  files: z.record(z.string(), Sha256RefSchema),
  eventCount: z.int().min(0),
  sizeBytes: z.int().min(0),
  createdAt: isoDateTime,
  signature: SignatureSchema.optional(),
});

/** A parsed manifest. */
export type Manifest = z.infer<typeof ManifestSchema>;

/** One canon entry: an environment's stance on one detection signature. */
export const CanonEntrySchema = z.looseObject({
  signatureId: z.string().optional(),
  rev: z.int().min(0).optional(),
  previousRev: z.int().optional(),
  patchId: z.string().optional(),
  lineage: z.array(z.string()).optional(),
  changes: z.array(z.looseObject({
    action: z.string(),
    field: z.string().optional(),
  })).optional(),
  confidence: z.number().min(0).max(1).optional(),
});

/** A parsed canon entry. */
export type CanonEntry = z.infer<typeof CanonEntrySchema>;

/** `canon_entry.json`. */
export const CanonFileSchema = z.looseObject({
  entries: z.record(z.string(), CanonEntrySchema),
  environmentId: z.string().min(1).optional(),
  generatedAt: z.string().optional(),
});

/** `memory_graph.json`. */
export const MemoryGraphSchema = z.looseObject({
  nodesAdded: z.array(z.looseObject({
    nodeId: z.string().min(1),
    kind: z.string(),
    label: z.string().optional(),
    timestamp: z.string().optional(),
    properties: z.record(z.string(), z.unknown()).optional(),
  })),
  edgesAdded: z.array(z.looseObject({
    sourceId: z.string().min(1),
    targetId: z.string().min(1),
    kind: z.string(),
  })),
});

/** A parsed memory graph. */
export type MemoryGraph = z.infer<typeof MemoryGraphSchema>;

/** `truth_snapshot.json`: counts and histograms, kept as they are. */
export const TruthSnapshotSchema = z.looseObject({
  environmentId: z.string().min(1).optional(),
});

/** `authority_slice.json`: who published the packet. */
export const AuthoritySliceSchema = z.looseObject({
  environmentId: z.string().min(1),
  publisherRole: z.string().optional(),
  allowedActions: z.array(z.string()).optional(),
  scopeAllowlist: z.array(z.string()).optional(),
  redactionPolicy: z.unknown().optional(),
});

/** One line of `decision_lineage.jsonl`. */
export const LineageRecordSchema = z.looseObject({
  eventId: z.string().min(1),
  lane: z.string().optional(),
  whyBullets: z.array(z.unknown()).optional(),
  claims: z.array(z.unknown()).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

/** One line of `drift_signal.jsonl`. */
export const DriftSignalRecordSchema = z.looseObject({
  driftId: z.string().min(1),
  driftType: z.string(),
  severity: z.string().optional(),
  detectedAt: z.string().optional(),
  evidenceRefs: z.array(z.unknown()).optional(),
  fingerprint: z.unknown().optional(),
  notes: z.unknown().optional(),
  recommendedAction: z.unknown().optional(),
});

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
  truthSnapshot: z.infer<typeof TruthSnapshotSchema>;
  /** `authority_slice.json`. */
  authoritySlice: z.infer<typeof AuthoritySliceSchema>;
  /** `decision_lineage.jsonl`, one record per line. */
  decisionLineage: z.infer<typeof LineageRecordSchema>[];
  /** `drift_signal.jsonl`, one record per line. */
  driftSignals: z.infer<typeof DriftSignalRecordSchema>[];
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
  canonEntry: z.infer<typeof CanonFileSchema>;
  /**
   * `canon_entry.json`'s entries as JSON text, when read with
   * `canonAsText` and a quick byte-level check was sure of the file; then
   * `canonEntry.entries` is empty.
   */
  canonTexts?: CanonTexts;
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
   * Inflate into this arena ({@link InflateArena}): the packet's `entries` are
   * then views into it, valid only until its next read.
   */
  arena?: InflateArena;
}

/** Canon entries as JSON text: `texts[i]` is the entry of key `keys[i]`. */
export interface CanonTexts {
  /** The keys of `entries`, in order. */
  keys: string[];
  /** Each entry as JSON text (parsing it gives the entry). */
  texts: string[];
  /** `[index, signatureId]` for the entries whose `signatureId` is a string other than their key. */
  renamed: [number, string][];
}

/**
 * SHA-256 of bytes as `sha256:<64 lowercase hex>`.
 * @param bytes the data
 * @returns the hash reference the manifest uses
 * @example
 * ```ts
 * import { sha256Ref } from "./packet.ts";
 * console.assert(sha256Ref(new Uint8Array()) ===
 *   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
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
 * import { readPacket } from "./packet.ts";
 * const result = readPacket(new TextEncoder().encode("not a zip"), { source: "x.zip" });
 * console.assert(result.packet === undefined);
 * console.assert(result.violations[0].code === "ARCHIVE_NOT_ZIP");
 * ```
 */
export function readPacket(bytes: Uint8Array, options: ReadOptions = {}): ReadResult {
  const source = options.source ?? "<bytes>";
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  let archive: ArchiveEntry[];
  try {
    archive = readArchive(bytes, limits, { arena: options.arena });
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
    if (options.canonAsText && name === "canon_entry.json") {
      const scanned = scanCanonFile(data, limits.maxJsonDepth);
      if (scanned && fastCanonFileCheck(scanned.top)) {
        parsed[name] = scanned.top;
        canonTexts = { keys: scanned.keys, texts: scanned.texts, renamed: scanned.renamed };
        continue;
      }
    }
    const value = checkDataFile(name, data, limits.maxJsonDepth, violations);
    if (value !== undefined) parsed[name] = value;
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
    },
  };
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

const DATA_SCHEMAS: Record<DataFile, z.ZodType> = {
  "truth_snapshot.json": TruthSnapshotSchema,
  "authority_slice.json": AuthoritySliceSchema,
  "decision_lineage.jsonl": LineageRecordSchema,
  "drift_signal.jsonl": DriftSignalRecordSchema,
  "memory_graph.json": MemoryGraphSchema,
  "canon_entry.json": CanonFileSchema,
};

// Schemas only check: the parsed values are kept, not zod's copies, because
// zod drops `__proto__` keys, and a reader keeps every field as plain data
// (a `files` entry named `__proto__` would otherwise escape the hash check).
function checkDataFile(
  name: DataFile,
  data: Uint8Array,
  maxDepth: number,
  violations: Violation[],
): unknown {
  const schema = DATA_SCHEMAS[name];
  try {
    if (name.endsWith(".jsonl")) {
      const records = parseJsonLines(data, { maxDepth, file: name });
      const fast = FAST_RECORD_CHECKS[name];
      for (let i = 0; i < records.length; i++) {
        if (fast?.(records[i])) continue;
        const result = schema.safeParse(records[i]);
        if (!result.success) {
          violations.push(schemaViolation(name, result.error, `line ${i + 1}: `));
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
    if (name === "canon_entry.json" && fastCanonFileCheck(value)) return value;
    const result = schema.safeParse(value);
    if (!result.success) {
      violations.push(schemaViolation(name, result.error));
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
    const quote = (list: string[]) => list.map((k) => `"${k}"`).join(", ");
    return {
      violations: [{
        code: "MANIFEST_SNAKE_CASE",
        entry: MANIFEST_FILE,
        message: `Entry "${MANIFEST_FILE}" uses snake_case keys: found ${quote(keys)}; expected ${
          quote(MANIFEST_KEYS)
        }`,
      }],
    };
  }
  // Schema checks read plain numbers; the tree keeps spellings for the signature.
  const plain = plainNumbers(tree);
  const result = ManifestSchema.safeParse(plain);
  if (!result.success) return { violations: [schemaViolation(MANIFEST_FILE, result.error)] };
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

function schemaViolation(entry: string, error: z.ZodError, prefix = ""): Violation {
  const issue = error.issues[0];
  const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)";
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : "";
  return {
    code: "SCHEMA_INVALID",
    entry,
    message: `Entry "${entry}" ${prefix}field "${path}": ${issue.message}${more}`,
  };
}
