/**
 * Builders of federation reports for the advisory and HTML tests: drifts
 * shaped as the detectors write them, a report that passes `parseReport`,
 * and an advisory as the HTML page shows it.
 *
 * @module
 */

import { formatDecimal, parseDecimal, subtractDecimals } from "../core/decimal.ts";
import { driftIdOf, type Resolution, type Severity } from "../core/drift.ts";
import {
  type FederationReport,
  parseReport,
  REPORT_VERSION,
  type ReportDrift,
} from "../core/report.ts";
import type { HtmlAdvisory } from "../plugins/reporters/html.ts";

/** A drift from its type, signature and evidence; the id is derived as the hub derives it. */
export function drift(
  driftType: string,
  signatureId: string,
  evidence: Record<string, unknown>,
  options: { environments?: string[]; severity?: Severity; detector?: string } = {},
): ReportDrift {
  const environments = options.environments ??
    Object.keys(evidence).filter((key) => !["spread", "threshold", "conflicts"].includes(key))
      .sort();
  const finding = {
    driftType,
    signatureId,
    environments,
    severity: options.severity ?? "medium",
    detail: `${driftType} on ${signatureId} across ${environments.join(", ")}`,
    evidence,
  };
  return {
    ...finding,
    driftId: driftIdOf(finding),
    detector: options.detector ?? driftType.toLowerCase().replaceAll("_", "-"),
  };
}

/**
 * The drift with a resolution, as a detector that decides one gives it (the
 * drift id does not change: it covers the evidence, not the decision).
 */
export function resolved(
  drift: ReportDrift,
  action: Resolution["action"],
  source: string | null,
  targets: string[],
  recommendation = `${action} ${targets.join(", ")}${source === null ? "" : ` with ${source}`}`,
): ReportDrift {
  return { ...drift, resolution: { action, source, targets, recommendation } };
}

/** A `VERSION_SKEW` drift: per environment a revision, or a revision and a patch. */
export function skew(
  signatureId: string,
  revisions: Record<string, number | { rev: number; patchId?: string }>,
  window = "20250101T000000",
): ReportDrift {
  const evidence: Record<string, unknown> = {};
  for (const [env, value] of Object.entries(revisions)) {
    const entry = typeof value === "number" ? { rev: value } : value;
    evidence[env] = {
      ...entry,
      packetName: `JRM_X_PACKET_${env}_${window}_${window}_part01.zip`,
      windowEnd: window,
    };
  }
  return drift("VERSION_SKEW", signatureId, evidence);
}

/** A `POSTURE_DIVERGENCE` drift: per environment a confidence. */
export function posture(
  signatureId: string,
  confidences: Record<string, number>,
  threshold = "0.3",
): ReportDrift {
  const evidence: Record<string, unknown> = {};
  for (const [env, confidence] of Object.entries(confidences)) evidence[env] = { confidence };
  const values = Object.values(confidences);
  evidence.spread = formatDecimal(
    subtractDecimals(parseDecimal(Math.max(...values)), parseDecimal(Math.min(...values))),
  );
  evidence.threshold = threshold;
  return drift("POSTURE_DIVERGENCE", signatureId, evidence);
}

/** A `REFINEMENT_CONFLICT` drift: per environment the competing patch. */
export function conflict(
  signatureId: string,
  patches: Record<string, { rev: number; patchId: string; previousRev?: number }>,
  reason = "same revision reached by different patches",
): ReportDrift {
  const evidence: Record<string, unknown> = { ...patches };
  const environments = Object.keys(patches).sort();
  evidence.conflicts = [{ environments: environments.slice(0, 2), reason }];
  return drift("REFINEMENT_CONFLICT", signatureId, evidence);
}

/** The three built-in drift types, as detectors that ran. */
export const ALL_DETECTORS = ["VERSION_SKEW", "POSTURE_DIVERGENCE", "REFINEMENT_CONFLICT"];

/** A federation report holding these drifts; checked with `parseReport`. */
export function report(
  drifts: ReportDrift[],
  options: {
    generatedAt?: string;
    environments?: string[];
    detectors?: string[];
    failedDetectors?: string[];
  } = {},
): FederationReport {
  return reportOf(drifts, {
    packets: 1,
    windowStart: "2025-01-01T00:00:00Z",
    windowEnd: "2025-01-02T00:00:00Z",
    signatures: 1,
    graphNodes: 0,
    graphEdges: 0,
  }, {
    generatedAt: options.generatedAt ?? "2025-01-02T00:00:00Z",
    environments: options.environments,
    detectors: (options.detectors ?? ALL_DETECTORS).map((type) => ({
      name: type.toLowerCase().replaceAll("_", "-"),
      version: "1.0.0",
      driftTypes: [type],
      origin: "builtin",
      findings: drifts.filter((d) => d.driftType === type).length,
    })),
    detectorErrors: (options.failedDetectors ?? []).map((type) => ({
      detector: type.toLowerCase().replaceAll("_", "-"),
      hook: "detect",
      message: "boom",
    })),
  });
}

/**
 * A federation report holding these drifts, checked with `parseReport`: one
 * packet and the same stats per environment, no graph, nothing rejected;
 * `fields` say the rest and may replace any of that.
 * @param drifts the report's drifts
 * @param stats every environment's stats
 * @param fields the fields a test chooses; the environments are those the drifts name unless given
 * @returns the checked report
 */
export function reportOf(
  drifts: ReportDrift[],
  stats: FederationReport["environmentStats"][string],
  fields:
    & Pick<FederationReport, "generatedAt" | "detectors" | "detectorErrors">
    & Partial<FederationReport>,
): FederationReport {
  const {
    environments = [...new Set(drifts.flatMap((d) => d.environments))].sort(),
    generatedAt,
    detectors,
    detectorErrors,
    ...rest
  } = fields;
  return parseReport({
    reportVersion: REPORT_VERSION,
    generatedAt,
    environments,
    packetsIngested: environments.length,
    packetsRejected: [],
    duplicates: [],
    crossEnvDrifts: drifts,
    mergedGraph: {
      nodes: 0,
      edges: 0,
      perEnvironment: Object.fromEntries(environments.map((env) => [env, { nodes: 0, edges: 0 }])),
    },
    environmentStats: Object.fromEntries(environments.map((env) => [env, { ...stats }])),
    detectors,
    detectorErrors,
    ...rest,
  }, "fixture");
}

/** An advisory as the HTML page lists it: a published `VERSION_SKEW` one, with `overrides`. */
export function htmlAdvisory(overrides: Partial<HtmlAdvisory> = {}): HtmlAdvisory {
  return {
    advisoryId: "adv-00000000000000000001",
    driftType: "VERSION_SKEW",
    severity: "low",
    signatureId: "sig-0001",
    sourceEnv: "SOC_NORTH",
    targetEnvs: ["SOC_EAST", "SOC_WEST"],
    recommendation: "Move SOC_EAST, SOC_WEST to rev 4 (sig-0001-p4)",
    status: "published",
    updatedAt: "2026-03-01T00:00:00.000Z",
    ...overrides,
  };
}
