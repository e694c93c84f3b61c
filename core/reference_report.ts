/**
 * The reference (Python) pipeline's reports and advisories, for teams moving
 * over: {@link parseReferenceReport} reads the reference hub's federation
 * report so its drifts can be published as advisories, and
 * {@link referenceAdvisories} writes a ledger's advisories as the
 * reference's advisory list.
 *
 * The reference hub's report has no `reportVersion`; its drifts carry
 * `driftId` (random on every run), `driftType`, `severity`, `environments`,
 * `signatureId` and `detail`, and no evidence: nothing says which
 * environment is the reference or what to do, so every drift becomes a
 * `review` advisory. Its posture-divergence drifts leave `signatureId` empty
 * and name the canon key only in `detail` (`Key <key> confidence diverges:
 * …`); the key is taken from there, since a canon entry's key is its
 * signature when it names none.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import type { Advisory, ReportOrigin } from "./advisory.ts";
import { SEVERITIES } from "./drift.ts";
import { PacketError, UsageError } from "./errors.ts";
import { readInputFile, REPORT_FILE_LIMIT } from "./fs.ts";
import { parseJson } from "./json.ts";
import { type FederationReport, parseReport, REPORT_VERSION } from "./report.ts";

/** The detector name a reference drift is recorded with. */
export const REFERENCE_DETECTOR = "reference-hub";

/**
 * The drift types the reference hub looks for. Only for these does a newer
 * reference report that no longer holds a drift resolve its advisory: the
 * reference never implemented `REFINEMENT_CONFLICT`.
 */
export const REFERENCE_DRIFT_TYPES: readonly string[] = ["VERSION_SKEW", "POSTURE_DIVERGENCE"];

const ReferenceDriftSchema = z.looseObject({
  driftId: z.string().min(1),
  driftType: z.string().min(1),
  severity: z.enum(SEVERITIES),
  environments: z.array(z.string()).min(1),
  signatureId: z.string().nullable().optional(),
  detail: z.string().nullable().optional(),
});

/** The reference hub's federation report (`JRMHub.produce_report()`). */
export const ReferenceReportSchema = z.looseObject({
  environments: z.array(z.string()),
  packetsIngested: z.int().min(0),
  crossEnvDrifts: z.array(ReferenceDriftSchema),
  mergedGraph: z.looseObject({}),
  generatedAt: z.string(),
});

/** Whether a parsed JSON value is shaped as a reference report rather than jrm's: no `reportVersion`. */
function isReferenceShaped(value: unknown): boolean {
  return value !== null && typeof value === "object" && !Array.isArray(value) &&
    !Object.hasOwn(value, "reportVersion") && Object.hasOwn(value, "crossEnvDrifts");
}

/** How many of a merged-graph list the reference report holds, when it holds one. */
function countOf(list: unknown): number {
  return Array.isArray(list) ? list.length : 0;
}

const POSTURE_DETAIL = /^Key (.+?) confidence diverges: /s;

/**
 * Read the reference hub's report as a federation report that `publish`
 * (core/advisory.ts) takes: each drift without evidence (so it becomes a
 * `review` advisory), recorded as found by {@link REFERENCE_DETECTOR}, which
 * covers {@link REFERENCE_DRIFT_TYPES}.
 * @param value the parsed JSON
 * @param path the file, for messages
 * @returns the report in jrm's shape
 * @throws {UsageError} one line naming the file, the field and the problem
 * @example
 * ```ts
 * import { parseReferenceReport } from "./reference_report.ts";
 * import assert from "node:assert/strict";
 * const report = parseReferenceReport({
 *   environments: ["SOC_EAST", "SOC_WEST"], packetsIngested: 2, generatedAt: "2026-03-01T00:00:00+00:00",
 *   mergedGraph: { globalNodes: [], globalEdges: [] },
 *   crossEnvDrifts: [{ driftId: "XDS-1", driftType: "VERSION_SKEW", severity: "medium",
 *     environments: ["SOC_EAST", "SOC_WEST"], signatureId: "SID-1", detail: "Revisions: …" }],
 * }, "reference.json");
 * assert.equal(report.crossEnvDrifts[0].detector, "reference-hub");
 * assert.deepEqual(report.crossEnvDrifts[0].evidence, {});
 * ```
 */
export function parseReferenceReport(value: unknown, path: string): FederationReport {
  if (value !== null && typeof value === "object" && Object.hasOwn(value, "reportVersion")) {
    throw new UsageError(
      `"${path}" is not a reference hub report: it has "reportVersion", as jrm's reports do`,
    );
  }
  const parsed = ReferenceReportSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue.path.length > 0 ? issue.path.join(".") : "(root)";
    throw new UsageError(
      `"${path}" is not a reference hub report: field "${at}": ${issue.message}`,
    );
  }
  const report = parsed.data;
  const drifts = report.crossEnvDrifts.map((drift, i) => {
    const detail = drift.detail ?? "";
    let signatureId = drift.signatureId ?? "";
    if (signatureId === "" && drift.driftType === "POSTURE_DIVERGENCE") {
      signatureId = POSTURE_DETAIL.exec(detail)?.[1] ?? "";
    }
    if (signatureId === "") {
      throw new UsageError(
        `"${path}" is not a reference hub report jrm can publish: field "crossEnvDrifts.${i}.signatureId" is empty and its detail names no key (${
          JSON.stringify(detail.slice(0, 80))
        })`,
      );
    }
    return {
      driftId: drift.driftId,
      driftType: drift.driftType,
      severity: drift.severity,
      environments: drift.environments,
      signatureId,
      detail,
      evidence: {},
      detector: REFERENCE_DETECTOR,
    };
  });
  const graph = report.mergedGraph as Record<string, unknown>;
  return {
    reportVersion: REPORT_VERSION,
    generatedAt: report.generatedAt,
    environments: report.environments,
    packetsIngested: report.packetsIngested,
    packetsRejected: [],
    duplicates: [],
    crossEnvDrifts: drifts,
    mergedGraph: {
      nodes: countOf(graph.globalNodes),
      edges: countOf(graph.globalEdges),
      perEnvironment: {},
    },
    environmentStats: {},
    detectors: [{
      name: REFERENCE_DETECTOR,
      version: "reference",
      driftTypes: [...REFERENCE_DRIFT_TYPES],
      origin: "reference hub report",
      findings: drifts.length,
    }],
    detectorErrors: [],
  };
}

/** A report read from a file, and which kind it was. */
export interface ReadReport {
  /** The report, in jrm's shape. */
  report: FederationReport;
  /** `jrm` for jrm's own reports, `reference` for the reference hub's. */
  origin: ReportOrigin;
}

/**
 * Read a federation report file: jrm's own, or the reference hub's (no
 * `reportVersion`, with `crossEnvDrifts`).
 * @param path the report file
 * @returns the report and its kind
 * @throws {UsageError} one line naming the file and the problem
 * @example
 * ```ts
 * import { readAnyReportFile } from "./reference_report.ts";
 * import assert from "node:assert/strict";
 * await assert.rejects(readAnyReportFile("/nonexistent/report.json"), /not found/);
 * ```
 */
export async function readAnyReportFile(path: string): Promise<ReadReport> {
  const bytes = await readInputFile(path, "report", REPORT_FILE_LIMIT);
  let value: unknown;
  try {
    value = parseJson(bytes, { file: path, maxDepth: 256 });
  } catch (error) {
    if (error instanceof PacketError) throw new UsageError(error.message);
    throw error;
  }
  if (isReferenceShaped(value)) {
    return { report: parseReferenceReport(value, path), origin: "reference" };
  }
  try {
    return { report: parseReport(value, path), origin: "jrm" };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** One advisory as the reference's advisory list holds it (`asdict(Advisory)`, without `detail`). */
export interface ReferenceAdvisory {
  /** jrm's advisory id. */
  advisory_id: string;
  /** The drift type. */
  drift_type: string;
  /** jrm's reference environment; `""` where jrm names none (the reference writes `""` for none). */
  source_env: string;
  /** The environments jrm's recommendation asks to act. */
  target_envs: string[];
  /** What to do. */
  recommendation: string;
  /** The status as jrm has it: `published`, `accepted`, `declined` or `resolved`. */
  status: string;
}

/**
 * A ledger's advisories as the reference's advisory list. The fields keep
 * jrm's meaning, which differs from the reference's: there `source_env` is
 * merely the first environment of the drift and `target_envs` the others;
 * here `source_env` is the environment the others should align with (`""`
 * when there is none) and `target_envs` those asked to act.
 * @param advisories the advisories, in the order to write them
 * @returns the list, ready for `JSON.stringify`
 * @example
 * ```ts
 * import { referenceAdvisories } from "./reference_report.ts";
 * import assert from "node:assert/strict";
 * const [row] = referenceAdvisories([{
 *   advisoryId: "adv-1", driftType: "VERSION_SKEW", sourceEnv: null, targetEnvs: ["A", "B"],
 *   recommendation: "Review", status: "resolved",
 * }]);
 * assert.deepEqual(row, { advisory_id: "adv-1", drift_type: "VERSION_SKEW", source_env: "",
 *   target_envs: ["A", "B"], recommendation: "Review", status: "resolved" });
 * ```
 */
export function referenceAdvisories(
  advisories: readonly Pick<
    Advisory,
    "advisoryId" | "driftType" | "sourceEnv" | "targetEnvs" | "recommendation" | "status"
  >[],
): ReferenceAdvisory[] {
  return advisories.map((advisory) => ({
    advisory_id: advisory.advisoryId,
    drift_type: advisory.driftType,
    source_env: advisory.sourceEnv ?? "",
    target_envs: [...advisory.targetEnvs],
    recommendation: advisory.recommendation,
    status: advisory.status,
  }));
}
