/**
 * The zod schemas of the JRM-X packet: the manifest and the six data files,
 * as the spec describes them (unknown fields kept). They decide and word every
 * schema violation `readPacket` (core/packet.ts) reports.
 *
 * Loading this module installs the schemas into the reader
 * (core/packet.ts), which checks the usual packet with exact-or-stricter
 * plain checks and asks the schemas only about the rest: the gate and the
 * library entry load it, while the hub's workers start without zod and load
 * it only for a packet that needs it.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import type { Violation } from "./errors.ts";
import {
  _useSchemaCheck,
  type AuthoritySlice,
  type CanonEntry,
  type CanonFile,
  type DataFile,
  type DriftSignalRecord,
  type LineageRecord,
  type Manifest,
  MANIFEST_FILE,
  type MemoryGraph,
  type TruthSnapshot,
} from "./packet.ts";
import type { PacketSignature } from "./signer.ts";
import type { SameType } from "./types.ts";

// RFC 3339: seconds and an offset are required; a local time names no instant.
const isoDateTime = z.iso.datetime({
  offset: true,
  error: "must be an RFC 3339 date-time with an offset (Z or ±hh:mm)",
});
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

/** The schema of each data file (of each record, for JSON lines). */
const DATA_SCHEMAS: Record<DataFile, z.ZodType> = {
  "truth_snapshot.json": TruthSnapshotSchema,
  "authority_slice.json": AuthoritySliceSchema,
  "decision_lineage.jsonl": LineageRecordSchema,
  "drift_signal.jsonl": DriftSignalRecordSchema,
  "memory_graph.json": MemoryGraphSchema,
  "canon_entry.json": CanonFileSchema,
};

/** The violation a failed parse gives: the first issue, its path, and how many more. */
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

// Schemas only check: the reader keeps the parsed values, not zod's copies, because zod drops
// `__proto__` keys, and a reader keeps every field as plain data (a `files` entry named
// `__proto__` would otherwise escape the hash check).
_useSchemaCheck((file, value, prefix) => {
  const schema = file === MANIFEST_FILE ? ManifestSchema : DATA_SCHEMAS[file as DataFile];
  const result = schema.safeParse(value);
  return result.success ? undefined : schemaViolation(file, result.error, prefix);
});

// Each schema's output is exactly the model's interface (core/packet.ts): a field added to, removed
// from or retyped in one and not the other fails type checking here.
const _sameRecords: [
  SameType<z.infer<typeof SignatureSchema>, PacketSignature>,
  SameType<z.infer<typeof ManifestSchema>, Manifest>,
  SameType<z.infer<typeof CanonEntrySchema>, CanonEntry>,
  SameType<z.infer<typeof CanonFileSchema>, CanonFile>,
  SameType<z.infer<typeof MemoryGraphSchema>, MemoryGraph>,
  SameType<z.infer<typeof TruthSnapshotSchema>, TruthSnapshot>,
  SameType<z.infer<typeof AuthoritySliceSchema>, AuthoritySlice>,
  SameType<z.infer<typeof LineageRecordSchema>, LineageRecord>,
  SameType<z.infer<typeof DriftSignalRecordSchema>, DriftSignalRecord>,
] = [true, true, true, true, true, true, true, true, true];
