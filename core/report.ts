/**
 * The federation report: what one run of the hub found. Field names follow
 * the reference (`environments`, `packetsIngested`, `crossEnvDrifts`,
 * `mergedGraph`, `generatedAt`) with additions: evidence per drift, rejected
 * packets with reasons, duplicates, per-environment stats and the detectors
 * that ran. {@link ReportSchema} checks a report read back from a file.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { PacketError, PLUGIN_FAILURES, type PluginFailure, UsageError } from "./errors.ts";
import { readInputFile, REPORT_FILE_LIMIT } from "./fs.ts";
import { parseJson } from "./json.ts";
import {
  type DetectionResult,
  type Resolution,
  RESOLUTION_ACTIONS,
  resolutionProblem,
  SEVERITIES,
  type Severity,
} from "./drift.ts";
import type { Ingestion } from "./hub.ts";
import type { SameType } from "./types.ts";

/**
 * The version of the report layout written in `reportVersion`. Version 2 adds
 * each drift's `resolution`; a report of version 1 still loads, its drifts
 * without one (see `resolutionOf` in `core/drift.ts`).
 */
export const REPORT_VERSION = 2;

/** The report versions {@link parseReport} reads. */
export const READABLE_REPORT_VERSIONS = [1, 2] as const;

const ViolationSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
  entry: z.string().optional(),
  equivocatesWith: z.array(z.string()).optional(),
});

/** What the drift's detector decided (see `Resolution` in `core/drift.ts`). */
export const ResolutionSchema = z.looseObject({
  action: z.enum(RESOLUTION_ACTIONS),
  source: z.string().nullable(),
  targets: z.array(z.string()).min(1),
  recommendation: z.string().min(1),
});

/** One drift in the report. */
export const ReportDriftSchema = z.looseObject({
  driftId: z.string().min(1),
  driftType: z.string().min(1),
  severity: z.enum(SEVERITIES),
  environments: z.array(z.string()).min(1),
  signatureId: z.string(),
  detail: z.string(),
  evidence: z.record(z.string(), z.unknown()),
  detector: z.string(),
  resolution: ResolutionSchema.optional(),
}).superRefine((drift, context) => {
  if (drift.resolution === undefined) return;
  // The same rules a detector's findings meet, but a later version may add fields.
  const problem = resolutionProblem(drift.resolution, drift.environments, false);
  if (problem !== undefined) {
    context.addIssue({ code: "custom", path: ["resolution"], message: problem });
  }
});

/** A packet the gate rejected, with its reasons. */
export const RejectedPacketSchema = z.looseObject({
  source: z.string(),
  packetName: z.string().nullable(),
  environmentId: z.string().nullable(),
  /** `sha256:` digest of the archive; null when it could not be read (absent in older reports). */
  digest: z.string().nullable().optional(),
  reasonCode: z.string(),
  violations: z.array(ViolationSchema),
});

/** A packet given more than once (same content digest). */
export const DuplicatePacketSchema = z.looseObject({
  source: z.string(),
  digest: z.string(),
  duplicateOf: z.string(),
});

/** What is known of one environment. */
export const EnvironmentStatsSchema = z.looseObject({
  packets: z.int().min(0),
  windowStart: z.string(),
  windowEnd: z.string(),
  signatures: z.int().min(0),
  graphNodes: z.int().min(0),
  graphEdges: z.int().min(0),
});

/** A detector that ran. */
export const DetectorRunSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  driftTypes: z.array(z.string()),
  origin: z.string(),
  findings: z.int().min(0),
});

/**
 * A detector that failed: the run is incomplete and exits non-zero. `reason`
 * says how (`threw`, `timeout`, `too-many-findings`, `invalid-result`);
 * reports written before it existed have none.
 */
export const DetectorErrorSchema = z.looseObject({
  detector: z.string(),
  hook: z.string(),
  reason: z.enum(PLUGIN_FAILURES).optional(),
  message: z.string(),
});

/** The whole federation report. */
export const ReportSchema = z.looseObject({
  reportVersion: z.literal(READABLE_REPORT_VERSIONS),
  generatedAt: z.string(),
  environments: z.array(z.string()),
  packetsIngested: z.int().min(0),
  packetsRejected: z.array(RejectedPacketSchema),
  duplicates: z.array(DuplicatePacketSchema),
  crossEnvDrifts: z.array(ReportDriftSchema),
  mergedGraph: z.looseObject({
    nodes: z.int().min(0),
    edges: z.int().min(0),
    perEnvironment: z.record(z.string(), z.looseObject({ nodes: z.int(), edges: z.int() })),
  }),
  environmentStats: z.record(z.string(), EnvironmentStatsSchema),
  detectors: z.array(DetectorRunSchema),
  detectorErrors: z.array(DetectorErrorSchema),
});

/** A violation as the report lists it (a later version may add codes and fields). */
export interface ReportViolation {
  /** The violation code (`HASH_MISMATCH`, …). */
  code: string;
  /** One sentence naming the entry and the problem. */
  message: string;
  /** The archive entry concerned, when there is one. */
  entry?: string;
  /** For `EQUIVOCATION`: the `sha256:` digests of the packets this one equivocates with. */
  equivocatesWith?: string[];
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** A drift's resolution as the report carries it (see `Resolution` in `core/drift.ts`). */
export interface ReportResolution extends Resolution {
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** One drift as the report carries it. */
export interface ReportDrift {
  /** Content-derived id (see `driftIdOf` in `core/drift.ts`). */
  driftId: string;
  /** The drift type. */
  driftType: string;
  /** How bad it is. */
  severity: Severity;
  /** Every environment involved, sorted. */
  environments: string[];
  /** The signature concerned. */
  signatureId: string;
  /** One sentence saying what differs. */
  detail: string;
  /** The values compared, per environment and overall. */
  evidence: Record<string, unknown>;
  /** The detector that found it. */
  detector: string;
  /** What the detector decided; absent in a report of version 1. */
  resolution?: ReportResolution;
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** A packet the gate rejected, with its reasons. */
export interface RejectedPacket {
  /** The file. */
  source: string;
  /** Its `packetName`, when the manifest could be read. */
  packetName: string | null;
  /** Its environment, when the manifest could be read. */
  environmentId: string | null;
  /** `sha256:` of the archive; null when it could not be read (absent in older reports). */
  digest?: string | null;
  /** The first violation's code. */
  reasonCode: string;
  /** Every violation found. */
  violations: ReportViolation[];
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** A packet given more than once (the same content digest). */
export interface DuplicatePacket {
  /** The file given again. */
  source: string;
  /** `sha256:` of its bytes. */
  digest: string;
  /** The file first read with that content. */
  duplicateOf: string;
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** What is known of one environment. */
export interface EnvironmentStats {
  /** Packets folded. */
  packets: number;
  /** Earliest window start. */
  windowStart: string;
  /** Latest window end. */
  windowEnd: string;
  /** Signatures it holds an entry for. */
  signatures: number;
  /** Nodes of its merged memory graph. */
  graphNodes: number;
  /** Edges of its merged memory graph. */
  graphEdges: number;
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** A detector that ran. */
export interface ReportDetector {
  /** Its name. */
  name: string;
  /** Its version. */
  version: string;
  /** The drift types it reports. */
  driftTypes: string[];
  /** Where it came from (`builtin`, a path, …). */
  origin: string;
  /** How many findings it gave. */
  findings: number;
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** A detector that failed: the run is incomplete. */
export interface ReportDetectorError {
  /** The detector. */
  detector: string;
  /** The hook that failed. */
  hook: string;
  /** How it failed; reports written before reasons existed have none. */
  reason?: PluginFailure;
  /** Its error message. */
  message: string;
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** Node and edge counts. */
export interface GraphCounts {
  /** Nodes. */
  nodes: number;
  /** Edges. */
  edges: number;
  /** Fields a later version may add. */
  [field: string]: unknown;
}

/** The merged memory graph's size, overall and per environment. */
export interface MergedGraphCounts extends GraphCounts {
  /** Per environment. */
  perEnvironment: Record<string, GraphCounts>;
}

/** A federation report. */
export interface FederationReport {
  /** The layout's version: {@link REPORT_VERSION} when written, any of {@link READABLE_REPORT_VERSIONS} when read. */
  reportVersion: typeof READABLE_REPORT_VERSIONS[number];
  /** When the report was made, ISO 8601. */
  generatedAt: string;
  /** The environments with at least one folded packet, sorted. */
  environments: string[];
  /** Packets folded. */
  packetsIngested: number;
  /** Packets the gate rejected. */
  packetsRejected: RejectedPacket[];
  /** Packets given more than once. */
  duplicates: DuplicatePacket[];
  /** The drift found across environments. */
  crossEnvDrifts: ReportDrift[];
  /** The merged memory graph's size. */
  mergedGraph: MergedGraphCounts;
  /** Per environment. */
  environmentStats: Record<string, EnvironmentStats>;
  /** The detectors that ran. */
  detectors: ReportDetector[];
  /** The detectors that failed. */
  detectorErrors: ReportDetectorError[];
  /** Fields a later version may add. */
  [field: string]: unknown;
}

// Each schema's output is exactly its interface above: a field added to, removed from or retyped in
// one and not the other fails type checking here.
const _sameReport: [
  SameType<z.infer<typeof ReportSchema>, FederationReport>,
  SameType<z.infer<typeof ReportDriftSchema>, ReportDrift>,
] = [true, true];

/**
 * Check that a value read from a file is a federation report.
 * @param value parsed JSON
 * @param path the file, for the message
 * @returns the report
 * @throws {Error} one line naming the file and the first problem
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseReport } from "./report.ts";
 * assert.throws(() => parseReport({ hello: "world" }, "r.json"), {
 *   message: /^"r\.json" is not a federation report/,
 * });
 * ```
 */
export function parseReport(value: unknown, path: string): FederationReport {
  const result = ReportSchema.safeParse(withoutV1Resolutions(value));
  if (!result.success) {
    const issue = result.error.issues[0];
    const at = issue.path.length > 0 ? issue.path.join(".") : "(root)";
    throw new Error(`"${path}" is not a federation report: field "${at}": ${issue.message}`);
  }
  return result.data;
}

/**
 * A report of version 1 has no resolutions: a field of that name in one of
 * its drifts is not this version's, and is left out rather than read as one.
 */
function withoutV1Resolutions(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const report = value as Record<string, unknown>;
  if (report.reportVersion !== 1 || !Array.isArray(report.crossEnvDrifts)) return value;
  return {
    ...report,
    crossEnvDrifts: report.crossEnvDrifts.map((drift) => {
      if (drift === null || typeof drift !== "object" || !Object.hasOwn(drift, "resolution")) {
        return drift;
      }
      const { resolution: _, ...rest } = drift as Record<string, unknown>;
      return rest;
    }),
  };
}

/**
 * Assemble the federation report from an ingestion and a detection run.
 * Everything in it is sorted, so the same inputs and the same `generatedAt`
 * give a byte-identical report.
 * @param ingestion the hub's state and outcomes
 * @param detection the detectors' drifts, runs and errors
 * @param generatedAt the report's time, ISO 8601
 * @returns the report
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildReport } from "./report.ts";
 * import { FederationState } from "./hub.ts";
 * const report = buildReport(
 *   { state: new FederationState(), outcomes: [] },
 *   { drifts: [], runs: [], errors: [] },
 *   "2026-01-01T00:00:00Z",
 * );
 * assert.equal(report.packetsIngested, 0);
 * assert.equal(report.environments.length, 0);
 * ```
 */
export function buildReport(
  ingestion: Ingestion,
  detection: DetectionResult,
  generatedAt: string,
): FederationReport {
  const rejected = ingestion.outcomes.flatMap((outcome) =>
    outcome.kind === "rejected"
      ? [{
        source: outcome.result.source,
        packetName: outcome.packetName ?? null,
        environmentId: outcome.environmentId ?? null,
        digest: outcome.digest ?? null,
        reasonCode: outcome.result.reasonCode,
        violations: outcome.result.violations.map((violation) => ({ ...violation })),
      }]
      : []
  );
  const duplicates = ingestion.outcomes.flatMap((outcome) =>
    outcome.kind === "duplicate"
      ? [{ source: outcome.source, digest: outcome.digest, duplicateOf: outcome.duplicateOf }]
      : []
  );
  return assembleReport(
    {
      stats: ingestion.state.stats(),
      packetsIngested: ingestion.outcomes.filter((o) => o.kind === "accepted").length,
      rejected,
      duplicates,
    },
    detection,
    generatedAt,
  );
}

/** What a report says of the packets and the state, whoever kept them (the batch hub or a store). */
export interface ReportInputs {
  /** Per environment, sorted by id. */
  stats: Record<string, z.infer<typeof EnvironmentStatsSchema>>;
  /** Accepted packets. */
  packetsIngested: number;
  /** Rejected packets, in any order. */
  rejected: z.infer<typeof RejectedPacketSchema>[];
  /** Duplicates, in any order. */
  duplicates: z.infer<typeof DuplicatePacketSchema>[];
}

/**
 * Assemble a federation report from what was ingested and what detection
 * found: {@link buildReport} for a batch, the stateful hub for a store.
 * @param inputs per-environment figures, packets, rejections, duplicates
 * @param detection the detectors' drifts (sorted), runs and errors
 * @param generatedAt the report's time, ISO 8601
 * @returns the report, its lists sorted
 * @example
 * ```ts
 * import { assembleReport } from "./report.ts";
 * import assert from "node:assert/strict";
 * const report = assembleReport(
 *   { stats: {}, packetsIngested: 0, rejected: [], duplicates: [] },
 *   { drifts: [], runs: [], errors: [] },
 *   "2026-01-01T00:00:00Z",
 * );
 * assert.equal(report.mergedGraph.nodes, 0);
 * ```
 */
export function assembleReport(
  inputs: ReportInputs,
  detection: DetectionResult,
  generatedAt: string,
): FederationReport {
  const { stats } = inputs;
  const bySource = (a: { source: string }, b: { source: string }) =>
    a.source < b.source ? -1 : a.source > b.source ? 1 : 0;
  const rejected = [...inputs.rejected].sort(bySource);
  const duplicates = [...inputs.duplicates].sort(bySource);
  const perEnvironment: Record<string, { nodes: number; edges: number }> = {};
  let nodes = 0;
  let edges = 0;
  for (const [env, s] of Object.entries(stats)) {
    perEnvironment[env] = { nodes: s.graphNodes, edges: s.graphEdges };
    nodes += s.graphNodes;
    edges += s.graphEdges;
  }
  return {
    reportVersion: REPORT_VERSION,
    generatedAt,
    environments: Object.keys(stats),
    packetsIngested: inputs.packetsIngested,
    packetsRejected: rejected,
    duplicates,
    crossEnvDrifts: detection.drifts.map((drift) => ({
      driftId: drift.driftId,
      driftType: drift.driftType,
      severity: drift.severity,
      environments: drift.environments,
      signatureId: drift.signatureId,
      detail: drift.detail,
      evidence: drift.evidence,
      detector: drift.detector,
      ...(drift.resolution !== undefined ? { resolution: { ...drift.resolution } } : {}),
    })),
    mergedGraph: { nodes, edges, perEnvironment },
    environmentStats: stats,
    detectors: detection.runs,
    detectorErrors: detection.errors,
  };
}

/**
 * Read a federation report file; a missing file, bad JSON or a file that is
 * not a report is one {@link UsageError} line naming the file.
 * @param path the report file
 * @returns the report
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readReportFile } from "./report.ts";
 * await assert.rejects(readReportFile("/nonexistent/report.json"), {
 *   message: 'Cannot read report "/nonexistent/report.json": not found',
 * });
 * ```
 */
export async function readReportFile(path: string): Promise<FederationReport> {
  const bytes = await readInputFile(path, "report", REPORT_FILE_LIMIT);
  let value: unknown;
  try {
    value = parseJson(bytes, { file: path, maxDepth: 256 });
  } catch (error) {
    if (error instanceof PacketError) throw new UsageError(error.message);
    throw error;
  }
  try {
    return parseReport(value, path);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
