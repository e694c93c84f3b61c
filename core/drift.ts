/**
 * The detector contract and the read-only federation view detectors read.
 *
 * A detector sees, per signature, each environment's current canon entry and
 * where it came from (packet and window). It returns findings; the kernel
 * gives each one a content-derived id, checks the contract (one finding per
 * signature and drift type, environments that exist) and never lets a
 * detector's failure pass silently.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { canonicalize, canonicalString } from "./canonical_json.ts";
import { sha256Ref } from "./packet.ts";
import type { CanonEntry } from "./packet.ts";
import type { DetectorPlugin, PluginModule } from "./plugin.ts";
import { causeMessage, PluginError, type PluginFailure } from "./errors.ts";
import { type DetectionLimits, DetectorHost } from "./detector_host.ts";

/** Severity of a finding, lowest to highest. */
export const SEVERITIES = ["low", "medium", "high", "critical"] as const;

/** A severity name. */
export type Severity = typeof SEVERITIES[number];

/** Where an environment's entry for a signature came from. */
export interface Provenance {
  /** The packet's `packetName`. */
  packetName: string;
  /** The file it was read from. */
  source: string;
  /** `sha256:` digest of the packet archive. */
  digest: string;
  /** The packet's window start. */
  windowStart: string;
  /** The packet's window end. */
  windowEnd: string;
  /** The packet's part number. */
  part: number;
}

/** One environment's current canon entry for a signature. */
export interface EnvironmentEntry {
  /** The environment. */
  readonly environmentId: string;
  /** The key the entry had in `canon_entry.json` → `entries`. */
  readonly key: string;
  /** The entry, frozen. */
  readonly entry: Readonly<CanonEntry>;
  /** The packet and window it came from. */
  readonly provenance: Readonly<Provenance>;
}

/** What is known of one environment after ingestion. */
export interface EnvironmentSummary {
  /** The environment. */
  readonly environmentId: string;
  /** Accepted packets folded into its state. */
  readonly packets: number;
  /** Earliest window start of its accepted packets. */
  readonly windowStart: string;
  /** Latest window end of its accepted packets. */
  readonly windowEnd: string;
  /** Signatures it holds an entry for. */
  readonly signatures: number;
}

/** The read-only federation state a detector reads. Everything is sorted, so detectors are deterministic. */
export interface FederationView {
  /** Environment ids, sorted. */
  environments(): readonly string[];
  /** The summary of one environment. */
  environment(environmentId: string): EnvironmentSummary | undefined;
  /** Signature ids held by any environment, sorted. */
  signatures(): readonly string[];
  /** Per environment (sorted by id), the current entry for a signature. */
  entries(signatureId: string): readonly EnvironmentEntry[];
}

/** What a detector decided about a finding, see {@link Resolution}. */
export const RESOLUTION_ACTIONS = ["align", "review"] as const;

/** `align`: the targets take the source's state; `review`: a person decides first. */
export type ResolutionAction = typeof RESOLUTION_ACTIONS[number];

/**
 * What a detector decided about its finding: who must act, towards what, in
 * one sentence. The kernel, the advisory engine and the reporters read this
 * and never the evidence's layout, so the detector alone gives a drift type
 * its meaning.
 */
export interface Resolution {
  /** `align` (the targets take the source's state; needs a source) or `review` (a person decides). */
  action: ResolutionAction;
  /** The environment whose state is the reference, or null when there is none. */
  source: string | null;
  /** The environments that must act: one or more of the finding's environments, never the source. */
  targets: string[];
  /** What to do, in one sentence. */
  recommendation: string;
}

/** What a detector returns: one finding per signature and drift type. */
export interface DriftFinding {
  /** Drift type, e.g. `STALE_ENVIRONMENT`. */
  driftType: string;
  /** The signature concerned (or a detector-chosen subject, e.g. `*` for an environment-wide finding). */
  signatureId: string;
  /** Every environment involved, each named once. */
  environments: string[];
  /** How bad it is. */
  severity: Severity;
  /** One human sentence saying what differs. */
  detail: string;
  /** The values compared, per environment. Must be JSON data. */
  evidence: Record<string, unknown>;
  /**
   * What the detector decided; without one, every environment is asked to
   * review (see {@link resolutionOf}).
   */
  resolution?: Resolution;
}

/** A finding with its content-derived id and the detector that made it. */
export interface Drift extends DriftFinding {
  /** `drift-` and 24 hex of SHA-256 over the finding's canonical content. */
  driftId: string;
  /** The detector's name. */
  detector: string;
}

/**
 * The id of a finding: derived from its type, signature, environments and
 * evidence, so the same inputs give the same id on every run and machine.
 * @param finding the finding
 * @returns `drift-` followed by 24 lowercase hex digits
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { driftIdOf } from "./drift.ts";
 * const id = driftIdOf({
 *   driftType: "STALE_ENVIRONMENT", signatureId: "sig-1", environments: ["A", "B"],
 *   severity: "medium", detail: "", evidence: { A: { rev: 1 }, B: { rev: 2 } },
 * });
 * assert(/^drift-[0-9a-f]{24}$/.test(id));
 * ```
 */
export function driftIdOf(finding: DriftFinding): string {
  return _idOf(
    finding.driftType,
    finding.signatureId,
    [...finding.environments].sort(),
    finding.evidence,
  );
}

/** {@link driftIdOf} of a finding whose environments are already sorted. */
function _idOf(
  driftType: string,
  signatureId: string,
  environments: string[],
  evidence: Record<string, unknown>,
): string {
  // Keys in JCS order already, so the canonical writer's sort finds them in place.
  const identity = { driftType, environments, evidence, signatureId };
  const text = canonicalString(identity, "jcs");
  // A well-formed string has one UTF-8 form, so hashing the text hashes the canonical bytes.
  const hex = text.isWellFormed()
    ? createHash("sha256").update(text, "utf8").digest("hex")
    : sha256Ref(canonicalize(identity, "jcs")).slice(7);
  return "drift-" + hex.slice(0, 24);
}

/**
 * Why a value is not a well-formed resolution of a finding over these
 * environments, or undefined when it is: an object with exactly `action`,
 * `source`, `targets` and `recommendation`; `action` one of
 * {@link RESOLUTION_ACTIONS}; `source` null or one of the environments (never
 * null for `align`); `targets` one or more of the environments, each once,
 * not the source; `recommendation` a non-empty string.
 * @param value the candidate resolution
 * @param environments the finding's environments
 * @param strict refuse keys other than the four (detectors: a misspelt key is
 *   an error); a report read back may carry more, from a later version
 * @returns the first problem, or undefined
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolutionProblem } from "./drift.ts";
 * const envs = ["A", "B"];
 * const ok = { action: "align", source: "A", targets: ["B"], recommendation: "Move B to A" };
 * assert.equal(resolutionProblem(ok, envs), undefined);
 * assert.equal(
 *   resolutionProblem({ ...ok, targets: ["C"] }, envs),
 *   '"targets" names "C", which is not one of the finding\'s environments',
 * );
 * assert.equal(
 *   resolutionProblem({ ...ok, source: null }, envs),
 *   '"align" needs a "source" for the targets to align with',
 * );
 * ```
 */
export function resolutionProblem(
  value: unknown,
  environments: readonly string[],
  strict = true,
): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return "it is not an object";
  }
  const resolution = value as Record<string, unknown>;
  // Loops rather than array helpers: this runs once per finding, on every run.
  if (strict) {
    for (const key in resolution) {
      if (
        Object.hasOwn(resolution, key) && key !== "action" && key !== "source" &&
        key !== "targets" && key !== "recommendation"
      ) {
        return `unknown field ${JSON.stringify(key)} (a resolution has only ${
          _RESOLUTION_KEYS.map((name) => `"${name}"`).join(", ")
        })`;
      }
    }
  }
  const { action, source, targets, recommendation } = resolution;
  if (action !== "align" && action !== "review") {
    return `"action" must be "align" or "review", not ${_shown(action)}`;
  }
  if (source !== null && !(typeof source === "string" && environments.includes(source))) {
    return `"source" must be null or one of the finding's environments, not ${_shown(source)}`;
  }
  if (action === "align" && source === null) {
    return '"align" needs a "source" for the targets to align with';
  }
  if (!Array.isArray(targets) || targets.length === 0) {
    return '"targets" must list one or more of the finding\'s environments';
  }
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i];
    if (typeof target !== "string" || !environments.includes(target)) {
      return `"targets" names ${_shown(target)}, which is not one of the finding's environments`;
    }
    if (target === source) {
      return `"targets" names the source ${_shown(source)}: the reference does not act`;
    }
    for (let j = 0; j < i; j++) {
      if (targets[j] === target) return '"targets" names an environment twice';
    }
  }
  if (typeof recommendation !== "string" || !/\S/.test(recommendation)) {
    return '"recommendation" must be a sentence, not empty';
  }
  return undefined;
}

const _RESOLUTION_KEYS = ["action", "source", "targets", "recommendation"];

function _shown(value: unknown): string {
  if (value === undefined) return "undefined";
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 79)}…` : text;
  } catch {
    return String(value);
  }
}

/**
 * The resolution of a drift: the one its detector gave, or, for a drift
 * without one (a report of version 1, a detector that gives none, a report
 * from another tool), a review by every environment, with no source.
 * @param drift the drift, as a detector returned it or as a report holds it
 * @returns its resolution, targets sorted
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolutionOf } from "./drift.ts";
 * const drift = {
 *   driftType: "STALE_ENVIRONMENT", signatureId: "*", environments: ["B", "A"],
 *   detail: "B stopped publishing",
 * };
 * assert.deepEqual(resolutionOf(drift), {
 *   action: "review", source: null, targets: ["A", "B"],
 *   recommendation: 'Review drift STALE_ENVIRONMENT on signature "*" in A, B: B stopped publishing',
 * });
 * ```
 */
export function resolutionOf(
  drift: Pick<DriftFinding, "driftType" | "signatureId" | "environments" | "detail"> & {
    resolution?: Resolution;
  },
): Resolution {
  const given = drift.resolution;
  if (given !== undefined) {
    const { targets } = given;
    let sorted = true;
    for (let i = 1; i < targets.length && sorted; i++) sorted = targets[i - 1] < targets[i];
    return {
      action: given.action,
      source: given.source,
      targets: sorted ? targets.slice() : [...targets].sort(_byCodeUnit),
      recommendation: given.recommendation,
    };
  }
  const environments = [...new Set(drift.environments)].sort(_byCodeUnit);
  return {
    action: "review",
    source: null,
    targets: environments,
    recommendation: `Review drift ${drift.driftType} on signature "${drift.signatureId}" in ${
      environments.join(", ")
    }: ${drift.detail}`,
  };
}

function _byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A detector's per-environment reading of a signature's entries: for each
 * environment, the first entry `pick` accepts, sorted by environment id in
 * code-unit order. Later entries of an environment already read are skipped
 * without calling `pick`, so a view that repeats an environment or breaks
 * the sort order cannot make a detector read one twice.
 * @param entries a signature's entries, as `view.entries(signatureId)` gives them
 * @param pick what the detector reads from an entry, or `undefined` to pass it over
 * @returns what `pick` read, at most one per environment, sorted by environment id
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type EnvironmentEntry, onePerEnvironment } from "./drift.ts";
 * const held = (environmentId: string, rev: unknown) =>
 *   ({ environmentId, entry: { rev } }) as unknown as EnvironmentEntry;
 * const revs = onePerEnvironment(
 *   [held("SOC_WEST", 3), held("SOC_EAST", "x"), held("SOC_EAST", 2), held("SOC_WEST", 9)],
 *   ({ environmentId, entry }) =>
 *     Number.isInteger(entry.rev) ? `${environmentId}@${entry.rev}` : undefined,
 * );
 * assert.deepEqual(revs, ["SOC_EAST@2", "SOC_WEST@3"]);
 * ```
 */
export function onePerEnvironment<T>(
  entries: readonly EnvironmentEntry[],
  pick: (held: EnvironmentEntry) => T | undefined,
): T[] {
  // The view gives entries sorted by environment, one each: a single pass
  // then gives the answer; otherwise the map below goes on from where the
  // order broke, so `pick` is still called once per entry at most.
  const picks: T[] = [];
  const pickedFrom: string[] = [];
  let previous: string | undefined;
  let index = 0;
  for (; index < entries.length; index++) {
    const held = entries[index];
    const env = held.environmentId;
    if (previous !== undefined && !(previous < env)) break;
    previous = env;
    const picked = pick(held);
    if (picked !== undefined) {
      picks.push(picked);
      pickedFrom.push(env);
    }
  }
  if (index === entries.length) return picks;
  const byEnvironment = new Map<string, T>();
  for (let k = 0; k < picks.length; k++) byEnvironment.set(pickedFrom[k], picks[k]);
  for (; index < entries.length; index++) {
    const held = entries[index];
    if (byEnvironment.has(held.environmentId)) continue;
    const picked = pick(held);
    if (picked !== undefined) byEnvironment.set(held.environmentId, picked);
  }
  return [...byEnvironment.entries()]
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([, picked]) => picked);
}

/** A detector to run, with its options already merged and checked. */
export interface DetectorRun {
  /** The detector. */
  plugin: DetectorPlugin<Record<string, unknown>>;
  /** Its options. */
  options: Record<string, unknown>;
  /** Where it came from (`built-in` or a file). */
  origin: string;
  /** The module it came from: given, `detect` runs in a worker that can be stopped. */
  module?: PluginModule;
}

/** What running the detectors gave. */
export interface DetectionResult {
  /** Every drift, sorted by type then signature. */
  drifts: Drift[];
  /** The detectors that ran, with how many findings each made. */
  runs: { name: string; version: string; driftTypes: string[]; origin: string; findings: number }[];
  /** Detectors that failed, each with the hook and how; a run with errors is incomplete. */
  errors: { detector: string; hook: string; reason: PluginFailure; message: string }[];
}

/**
 * Run detectors over a view. A detector that throws, takes longer than its
 * time budget, returns more findings than the cap, or returns findings that
 * break the contract, is reported in `errors` with its name, the hook, how it
 * failed and the problem; the other detectors still run, and nothing it found
 * is kept. A detector whose run names its module runs in a worker, which is
 * terminated when its budget runs out (see {@link DetectionLimits}).
 * @param view the federation view
 * @param detectors the detectors with their options
 * @param limits the time budget and the cap on findings of each detector
 * @returns drifts, runs and errors
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runDetectors } from "./drift.ts";
 * import { defineDetector } from "./plugin.ts";
 * const view = { environments: () => [], environment: () => undefined, signatures: () => [], entries: () => [] };
 * const broken = defineDetector({
 *   kind: "detector", name: "broken", version: "1.0.0", driftTypes: ["X"],
 *   detect: () => { throw new Error("boom"); },
 * });
 * const result = await runDetectors(view, [{ plugin: broken, options: {}, origin: "example" }]);
 * assert.deepEqual(result.errors, [{ detector: "broken", hook: "detect", reason: "threw", message: "boom" }]);
 * ```
 */
export async function runDetectors(
  view: FederationView,
  detectors: DetectorRun[],
  limits: DetectionLimits = {},
): Promise<DetectionResult> {
  const host = new DetectorHost(view, limits);
  const drifts: Drift[] = [];
  const runs: DetectionResult["runs"] = [];
  const errors: DetectionResult["errors"] = [];
  for (const run of detectors) {
    const { plugin, origin } = run;
    const found: Drift[] = [];
    try {
      const findings = await host.detect(run);
      checkFindings(plugin, findings, view);
      findings.forEach((finding, index) => {
        const environments = [...finding.environments].sort();
        let driftId: string;
        try {
          // Canonicalizing for the id also proves the evidence is JSON data.
          driftId = _idOf(finding.driftType, finding.signatureId, environments, finding.evidence);
        } catch (error) {
          throw new Error(
            `finding ${index} has evidence that is not JSON data: ${(error as Error).message}`,
          );
        }
        const drift: Drift = { driftId, ...finding, environments, detector: plugin.name };
        // Only the four fields, targets sorted: the report holds what the contract defines.
        if (finding.resolution !== undefined) drift.resolution = resolutionOf(finding);
        found.push(drift);
      });
    } catch (error) {
      // The host's failures say how; anything else is a finding that breaks the contract.
      const failed = error instanceof PluginError;
      errors.push({
        detector: plugin.name,
        hook: failed ? error.hook : "detect",
        reason: failed ? error.reason : "invalid-result",
        message: causeMessage(failed ? error.cause : error),
      });
      runs.push({
        name: plugin.name,
        version: plugin.version,
        driftTypes: plugin.driftTypes,
        origin,
        findings: 0,
      });
      continue;
    }
    // One by one: spreading a long list into push() overflows the stack.
    for (const drift of found) drifts.push(drift);
    runs.push({
      name: plugin.name,
      version: plugin.version,
      driftTypes: plugin.driftTypes,
      origin,
      findings: found.length,
    });
  }
  drifts.sort((a, b) =>
    compare(a.driftType, b.driftType) || compare(a.signatureId, b.signatureId) ||
    compare(a.driftId, b.driftId)
  );
  return { drifts, runs, errors };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkFindings(
  plugin: DetectorPlugin<Record<string, unknown>>,
  findings: unknown,
  view: FederationView,
): asserts findings is DriftFinding[] {
  if (!Array.isArray(findings)) throw new Error("detect() must return a list of findings");
  const known = new Set(view.environments());
  // A detector that compares one signature at a time is re-run on some signatures only, and its
  // findings replace those of the same signatures: each must name a signature of the view.
  const signatures = plugin.scope === "signature" ? new Set(view.signatures()) : undefined;
  const seen = new Set<string>();
  findings.forEach((finding: DriftFinding, index) => {
    const at = `finding ${index}`;
    if (finding === null || typeof finding !== "object") throw new Error(`${at} is not an object`);
    if (!plugin.driftTypes.includes(finding.driftType)) {
      throw new Error(
        `${at} has drift type ${
          JSON.stringify(finding.driftType)
        }, which the detector does not declare in "driftTypes"`,
      );
    }
    if (typeof finding.signatureId !== "string" || finding.signatureId === "") {
      throw new Error(`${at} has no "signatureId"`);
    }
    if (signatures && !signatures.has(finding.signatureId)) {
      throw new Error(
        `${at} is about ${
          JSON.stringify(finding.signatureId)
        }, not a signature of the view (the detector's scope is "signature")`,
      );
    }
    if (
      !Array.isArray(finding.environments) || finding.environments.length === 0 ||
      new Set(finding.environments).size !== finding.environments.length
    ) {
      throw new Error(`${at} must name each environment involved once`);
    }
    const unknown = finding.environments.find((env) => !known.has(env));
    if (unknown !== undefined) throw new Error(`${at} names unknown environment "${unknown}"`);
    if (!SEVERITIES.includes(finding.severity)) {
      throw new Error(
        `${at} has severity ${JSON.stringify(finding.severity)}, not one of ${
          SEVERITIES.join(", ")
        }`,
      );
    }
    if (typeof finding.detail !== "string") throw new Error(`${at} has no "detail" text`);
    if (
      finding.evidence === null || typeof finding.evidence !== "object" ||
      Array.isArray(finding.evidence)
    ) {
      throw new Error(`${at} has no "evidence" object`);
    }
    if (finding.resolution !== undefined) {
      const problem = resolutionProblem(finding.resolution, finding.environments);
      if (problem !== undefined) throw new Error(`${at} has a malformed "resolution": ${problem}`);
    }
    const key = `${finding.driftType}\u0000${finding.signatureId}`;
    if (seen.has(key)) {
      throw new Error(
        `two ${finding.driftType} findings for signature "${finding.signatureId}" (one per signature and drift type)`,
      );
    }
    seen.add(key);
  });
}
