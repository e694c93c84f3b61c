/**
 * The `posture-divergence` detector: a signature whose `confidence` spread
 * across environments is greater than a threshold (spec, "Cross-environment
 * drift", `POSTURE_DIVERGENCE`).
 *
 * The spread is the highest minus the lowest `confidence` among the
 * environments whose entry has one, and every such environment is named. It
 * is compared with the threshold as exact decimals (see `core/decimal.ts`),
 * strictly greater: confidences 0.1 and 0.4 have a spread of exactly 0.3,
 * which does not exceed the default threshold of 0.3, although `0.4 - 0.1`
 * is `0.30000000000000004` in binary floating point.
 *
 * Option `threshold`: a number or a decimal string (`"0.3"`) from 0 to 1;
 * default 0.3.
 *
 * Severity: `high` when the spread is more than twice the threshold,
 * otherwise `medium`.
 *
 * Evidence, per environment id: `{ confidence, packetName, windowEnd }`;
 * and `spread` and `threshold` as plain decimal strings (e.g. `"0.35"`).
 *
 * Resolution: always `review` with no source, since a confidence is measured
 * in each environment rather than set, and no environment's is the right one.
 * The targets are the environments whose confidence lies more than half the
 * threshold from the median (exact decimals: `|2c − 2·median| > threshold`),
 * when the others are a majority ("Review the confidence … in SOC_WEST (0.25):
 * the majority, SOC_EAST (0.6), SOC_NORTH (0.6), agrees within 0.3 and it
 * lies apart"); otherwise (two environments, or no majority agrees) every
 * environment is a target.
 *
 * @module
 */

import {
  addDecimals,
  compareDecimals,
  type Decimal,
  formatDecimal,
  parseDecimal,
  subtractDecimals,
} from "../../core/decimal.ts";
import {
  type DriftFinding,
  type EnvironmentEntry,
  type FederationView,
  onePerEnvironment,
  type Resolution,
} from "../../core/drift.ts";
import { defineDetector } from "../../core/plugin.ts";
import { z } from "npm:zod@4.6.7";

/** Options of the `posture-divergence` detector. */
export type PostureDivergenceOptions = {
  /** The largest spread that is not a divergence: a number or a decimal string, from 0 to 1. */
  threshold: number | string;
};

/** The default threshold, as the spec sets it. */
const _DEFAULT_THRESHOLD = 0.3;

const _OptionsSchema = z.strictObject({
  threshold: z.union([z.number(), z.string()], {
    error: (issue) =>
      `Option "threshold" must be a number or a decimal string, not ${_describe(issue.input)}`,
  }).refine((value) => _thresholdProblem(value) === undefined, {
    error: (issue) =>
      `Option "threshold" must be a decimal number from 0 to 1, not ${_describe(issue.input)}`,
  }).default(_DEFAULT_THRESHOLD),
}, {
  error: (issue) =>
    issue.code === "unrecognized_keys"
      ? `Unknown option ${issue.keys.map((key) => `"${key}"`).join(", ")}: ` +
        `detector "posture-divergence" takes only "threshold"`
      : undefined,
});

/** An environment's entry that has a usable `confidence`. */
interface _Posture {
  environmentId: string;
  confidence: number;
  exact: Decimal;
  held: EnvironmentEntry;
}

/**
 * The built-in `posture-divergence` detector.
 *
 * @example
 * ```ts
 * import postureDivergence from "./posture_divergence.ts";
 * import assert from "node:assert/strict";
 *
 * const held = (environmentId: string, confidence: number) => ({
 *   environmentId, key: "sig-042", entry: { confidence },
 *   provenance: { packetName: `JRM_X_PACKET_${environmentId}`, source: "", digest: "",
 *     windowStart: "2026-01-01T00:00:00Z", windowEnd: "2026-01-01T00:10:00Z", part: 1 },
 * });
 * const view = (low: number, high: number) => ({
 *   environments: () => ["SOC_EAST", "SOC_WEST"], environment: () => undefined,
 *   signatures: () => ["sig-042"], entries: () => [held("SOC_EAST", high), held("SOC_WEST", low)],
 * });
 * const options = { threshold: "0.3" };
 * assert.deepEqual(await postureDivergence.detect(view(0.1, 0.4), options), []);
 * const [finding] = await postureDivergence.detect(view(0.1, 0.45), options);
 * assert.equal(finding.evidence.spread, "0.35");
 * assert.equal(finding.severity, "medium");
 * assert.equal(finding.resolution?.action, "review");
 * assert.deepEqual(finding.resolution?.targets, ["SOC_EAST", "SOC_WEST"]); // two: no majority
 * ```
 */
const postureDivergence = defineDetector<PostureDivergenceOptions>({
  kind: "detector",
  name: "posture-divergence",
  version: "1.1.0",
  scope: "signature",
  description: "A signature's confidence spread across environments exceeds a threshold",
  driftTypes: ["POSTURE_DIVERGENCE"],
  defaultOptions: { threshold: _DEFAULT_THRESHOLD },
  optionsSchema: _OptionsSchema,
  detect(view: FederationView, options: PostureDivergenceOptions): DriftFinding[] {
    const thresholdValue = options?.threshold ?? _DEFAULT_THRESHOLD;
    const problem = _thresholdProblem(thresholdValue);
    if (problem !== undefined) throw new RangeError(problem);
    const threshold = parseDecimal(thresholdValue);
    const twiceThreshold = addDecimals(threshold, threshold);

    const thresholdShown = formatDecimal(threshold);
    const thresholdNumber = Number(thresholdShown);

    const findings: DriftFinding[] = [];
    for (const signatureId of view.signatures()) {
      const entries = view.entries(signatureId);
      // Decimals are exact but costly; doubles decide every spread that is not within a
      // hair of the threshold (see _clearlyWithin), and only the rest are read as decimals.
      if (_clearlyWithin(entries, thresholdNumber)) continue;
      const postures = _postures(entries);
      if (postures.length < 2) continue;
      let lowest = postures[0].exact;
      let highest = postures[0].exact;
      for (const { exact } of postures) {
        if (compareDecimals(exact, lowest) < 0) lowest = exact;
        if (compareDecimals(exact, highest) > 0) highest = exact;
      }
      const spread = subtractDecimals(highest, lowest);
      if (compareDecimals(spread, threshold) <= 0) continue;

      const evidence: Record<string, unknown> = {};
      for (const { environmentId, confidence, held } of postures) {
        evidence[environmentId] = {
          confidence,
          packetName: held.provenance.packetName,
          windowEnd: held.provenance.windowEnd,
        };
      }
      evidence.spread = formatDecimal(spread);
      evidence.threshold = formatDecimal(threshold);
      const at = (bound: Decimal) =>
        `${formatDecimal(bound)} in ${
          _andList(
            postures.filter(({ exact }) => compareDecimals(exact, bound) === 0)
              .map(({ environmentId }) => environmentId),
          )
        }`;
      findings.push({
        driftType: "POSTURE_DIVERGENCE",
        signatureId,
        environments: postures.map(({ environmentId }) => environmentId),
        severity: compareDecimals(spread, twiceThreshold) > 0 ? "high" : "medium",
        detail: `Signature "${signatureId}" has confidence from ${at(lowest)} to ${at(highest)}, ` +
          `a spread of ${formatDecimal(spread)} above the threshold of ${formatDecimal(threshold)}`,
        evidence,
        resolution: _resolution(
          signatureId,
          postures,
          threshold,
          thresholdNumber,
          thresholdShown,
        ),
      });
    }
    return findings;
  },
});

export default postureDivergence;

/**
 * How far a spread computed in doubles may be from the exact decimal spread
 * and still be trusted. Each confidence is a double whose shortest decimal
 * spelling (the exact value compared) lies within half an ulp of it, at most
 * 2^-53 for a confidence in [0, 1]; the subtraction and the threshold's own
 * conversion add as much again. 1e-9 (scaled by the values' size) is millions
 * of times that, and far below any threshold step a user would set.
 */
const _MARGIN = 1e-9;

/**
 * Whether a signature's confidences certainly do not spread beyond the
 * threshold: the double spread is below it by more than {@link _MARGIN}.
 * Which entries count is the same as for {@link _postures} (a finite number;
 * the first entry of an environment), so a `true` here means `_postures`
 * would find no divergence; `false` means "look exactly".
 */
function _clearlyWithin(entries: readonly EnvironmentEntry[], threshold: number): boolean {
  let low = Infinity;
  let high = -Infinity;
  let previous: string | undefined;
  for (const held of entries) {
    // The view gives one entry per environment, sorted; anything else takes the exact path.
    if (previous !== undefined && !(previous < held.environmentId)) return false;
    previous = held.environmentId;
    const confidence = held.entry.confidence;
    if (typeof confidence !== "number" || !Number.isFinite(confidence)) continue;
    if (confidence < low) low = confidence;
    if (confidence > high) high = confidence;
  }
  // Relative to the values' size, for views holding confidences outside [0, 1].
  return !(high >= low) ||
    high - low < threshold - _MARGIN * Math.max(1, Math.abs(high), Math.abs(low), threshold);
}

/** Entries with a finite `confidence`, sorted by environment, one per environment. */
function _postures(entries: readonly EnvironmentEntry[]): _Posture[] {
  return onePerEnvironment(entries, (held) => {
    const confidence = held.entry.confidence;
    if (typeof confidence !== "number" || !Number.isFinite(confidence)) return undefined;
    return {
      environmentId: held.environmentId,
      confidence,
      exact: parseDecimal(confidence),
      held,
    };
  });
}

/** Review the environments apart from an agreeing majority, or all; see the module doc. */
function _resolution(
  signatureId: string,
  postures: _Posture[],
  threshold: Decimal,
  thresholdNumber: number,
  shown: string,
): Resolution {
  const apart = _apartFromMedian(postures, threshold, thresholdNumber);
  const outliers = postures.filter((_, index) => apart[index]);
  const consensus = postures.filter((_, index) => !apart[index]);
  const signature = `signature "${signatureId}"`;
  const list = (some: _Posture[]) =>
    some.map(({ environmentId, confidence }) => `${environmentId} (${confidence})`).join(", ");
  if (outliers.length === 0 || consensus.length <= postures.length / 2) {
    return {
      action: "review",
      source: null,
      targets: postures.map(({ environmentId }) => environmentId),
      recommendation: `Review the confidence in ${signature} in ${
        list(postures)
      }: it differs by more than ${shown} and no majority of environments agrees`,
    };
  }
  return {
    action: "review",
    source: null,
    targets: outliers.map(({ environmentId }) => environmentId),
    recommendation: `Review the confidence in ${signature} in ${list(outliers)}: the majority, ${
      list(consensus)
    }, agrees within ${shown} and ${outliers.length === 1 ? "it lies" : "they lie"} apart`,
  };
}

/**
 * For each posture, whether its confidence lies more than half the threshold
 * from the median, exactly: `|2c − 2·median| > threshold` on decimals. Doubles
 * decide every distance farther than {@link _MARGIN} from the threshold (as in
 * {@link _clearlyWithin}); only the others are computed as decimals.
 */
function _apartFromMedian(
  postures: _Posture[],
  threshold: Decimal,
  thresholdNumber: number,
): boolean[] {
  const middle = postures.length >> 1;
  const odd = postures.length % 2 === 1;
  const values = postures.map(({ confidence }) => confidence).sort((a, b) => a - b);
  const twiceMedian = odd ? 2 * values[middle] : values[middle - 1] + values[middle];
  let exactTwiceMedian: Decimal | undefined;
  const zero = parseDecimal(0);
  return postures.map(({ confidence, exact }) => {
    const distance = Math.abs(2 * confidence - twiceMedian);
    const margin = _MARGIN *
      Math.max(1, Math.abs(confidence), Math.abs(twiceMedian), thresholdNumber);
    if (distance > thresholdNumber + margin) return true;
    if (distance < thresholdNumber - margin) return false;
    if (exactTwiceMedian === undefined) {
      // Doubles and their shortest spellings sort alike, so the median is the same posture.
      const sorted = postures.map((posture) => posture.exact).sort(compareDecimals);
      exactTwiceMedian = odd
        ? addDecimals(sorted[middle], sorted[middle])
        : addDecimals(sorted[middle - 1], sorted[middle]);
    }
    const signed = subtractDecimals(addDecimals(exact, exact), exactTwiceMedian);
    const magnitude = compareDecimals(signed, zero) < 0 ? subtractDecimals(zero, signed) : signed;
    return compareDecimals(magnitude, threshold) > 0;
  });
}

/** Why a threshold is unusable, or undefined when it is a decimal from 0 to 1. */
function _thresholdProblem(value: unknown): string | undefined {
  const wrong = `Option "threshold" must be a decimal number from 0 to 1, not ${_describe(value)}`;
  if (typeof value !== "number" && typeof value !== "string") return wrong;
  let threshold: Decimal;
  try {
    threshold = parseDecimal(value);
  } catch {
    return wrong;
  }
  const inRange = compareDecimals(threshold, parseDecimal(0)) >= 0 &&
    compareDecimals(threshold, parseDecimal(1)) <= 0;
  return inRange ? undefined : wrong;
}

function _describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function _andList(names: string[]): string {
  return names.length <= 1
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
