/**
 * The federation report: what one run of the hub found. Field names follow
 * the reference (`environments`, `packetsIngested`, `crossEnvDrifts`,
 * `mergedGraph`, `generatedAt`) with additions: evidence per drift, rejected
 * packets with reasons, duplicates, per-environment stats and the detectors
 * that ran. {@link ReportSchema} checks a report read back from a file.
 *
 * @module
 */

import { z } from "zod";
import { SEVERITIES } from "./drift.ts";

/** The version of the report layout written in `reportVersion`. */
export const REPORT_VERSION = 1;

const ViolationSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
  entry: z.string().optional(),
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
});

/** A packet the gate rejected, with its reasons. */
export const RejectedPacketSchema = z.looseObject({
  source: z.string(),
  packetName: z.string().nullable(),
  environmentId: z.string().nullable(),
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

/** A detector that failed: the run is incomplete and exits non-zero. */
export const DetectorErrorSchema = z.looseObject({
  detector: z.string(),
  hook: z.string(),
  message: z.string(),
});

/** The whole federation report. */
export const ReportSchema = z.looseObject({
  reportVersion: z.literal(REPORT_VERSION),
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

/** A federation report. */
export type FederationReport = z.infer<typeof ReportSchema>;

/** One drift as the report carries it. */
export type ReportDrift = z.infer<typeof ReportDriftSchema>;

/**
 * Check that a value read from a file is a federation report.
 * @param value parsed JSON
 * @param path the file, for the message
 * @returns the report
 * @throws {Error} one line naming the file and the first problem
 * @example
 * ```ts
 * import { parseReport } from "./report.ts";
 * try {
 *   parseReport({ hello: "world" }, "r.json");
 * } catch (error) {
 *   console.assert((error as Error).message.startsWith('"r.json" is not a federation report'));
 * }
 * ```
 */
export function parseReport(value: unknown, path: string): FederationReport {
  const result = ReportSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const at = issue.path.length > 0 ? issue.path.join(".") : "(root)";
    throw new Error(`"${path}" is not a federation report: field "${at}": ${issue.message}`);
  }
  return result.data;
}
