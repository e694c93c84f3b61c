/**
 * An example detector plugin, `stale-environment`: an environment whose
 * newest window ends long before the newest window of the others. Its state
 * is frozen in the past (a stuck producer, a broken upload), so every other
 * comparison with it is comparing against old news.
 *
 * It is the plugin `docs/plugins.md` walks through. Load it with
 * `jrm federate --plugin examples/stale_environment.ts …`, or name it under
 * `"plugins"` in the config file.
 *
 * - It reads only `view.environments()` and `view.environment(id).windowEnd`,
 *   the end of the newest accepted window of each environment.
 * - An environment is stale when the newest window end of all the others is
 *   more than `maxLagMinutes` later than its own (strictly more: a lag of
 *   exactly the limit is not stale).
 * - One finding per stale environment. The kernel keeps at most one finding
 *   per subject and drift type, and a subject is usually a signature; this
 *   finding concerns a whole environment, so its subject is
 *   `signatureId: "*@<environment>"` (e.g. `*@SOC_WEST`): a plain `*` would
 *   let two stale environments collide. It names the stale environment and
 *   the environment(s) that hold the newest window.
 *
 * Option `maxLagMinutes`: a number of minutes, 0 or more; default 60.
 *
 * Severity: `high` when the lag is more than four times `maxLagMinutes`,
 * else `medium`.
 *
 * Evidence: `windowEnd` (per environment named, its newest window end, as
 * the packets wrote it), `lagMinutes` and `maxLagMinutes`. All of it comes
 * from the packets and the options, never from the clock, so the finding's
 * id is the same on every run.
 *
 * Resolution: `review` by the stale environment alone, with no source: its
 * producer must be looked at, and the others' newer windows are not a state
 * to copy.
 *
 * A plugin outside this repository imports the same kernel through the
 * library's public module instead of `../core/plugin.ts`:
 * `import { defineDetector } from "<path or URL of your checkout>/mod.ts";`.
 *
 * @module
 */

import { z } from "zod";
import type { DriftFinding, FederationView } from "../core/drift.ts";
import { defineDetector } from "../core/plugin.ts";

/** Options of the `stale-environment` detector. */
export interface StaleEnvironmentOptions {
  /** The largest lag, in minutes, that is not stale. */
  maxLagMinutes: number;
}

const DEFAULT_MAX_LAG_MINUTES = 60;

/**
 * Checked when the detector is loaded, after the defaults, the config file
 * and `--option` flags are merged: a wrong value stops the run before any
 * packet is read. Strict, so a misspelt key is an error, not ignored.
 */
const optionsSchema = z.strictObject({
  maxLagMinutes: z.number({
    error: (issue) =>
      `Option "maxLagMinutes" must be a number of minutes, not ${JSON.stringify(issue.input)}`,
  }).min(0, { error: 'Option "maxLagMinutes" must be 0 or more' })
    .default(DEFAULT_MAX_LAG_MINUTES),
}, {
  error: (issue) =>
    issue.code === "unrecognized_keys"
      ? `Unknown option ${issue.keys.map((key) => `"${key}"`).join(", ")}: ` +
        `detector "stale-environment" takes only "maxLagMinutes"`
      : undefined,
});

/**
 * The `stale-environment` detector.
 *
 * @example
 * ```ts
 * import staleEnvironment from "./stale_environment.ts";
 * import assert from "node:assert/strict";
 *
 * const windowEnds: Record<string, string> = {
 *   SOC_EAST: "2026-02-28T12:00:00Z",
 *   SOC_WEST: "2026-02-28T10:30:00Z",
 * };
 * const view = {
 *   environments: () => Object.keys(windowEnds),
 *   environment: (environmentId: string) => ({
 *     environmentId, packets: 1, windowStart: "2026-02-28T10:00:00Z",
 *     windowEnd: windowEnds[environmentId], signatures: 0,
 *   }),
 *   signatures: () => [],
 *   entries: () => [],
 * };
 * const [finding] = await staleEnvironment.detect(view, { maxLagMinutes: 60 });
 * assert.deepEqual(finding.environments, ["SOC_WEST", "SOC_EAST"]);
 * assert.equal(finding.evidence.lagMinutes, 90);
 * ```
 */
const staleEnvironment = defineDetector<StaleEnvironmentOptions>({
  kind: "detector",
  name: "stale-environment",
  version: "1.0.0",
  description: "An environment's newest window lags the others' by more than maxLagMinutes",
  driftTypes: ["STALE_ENVIRONMENT"],
  defaultOptions: { maxLagMinutes: DEFAULT_MAX_LAG_MINUTES },
  optionsSchema,
  detect(view: FederationView, options: StaleEnvironmentOptions): DriftFinding[] {
    const { maxLagMinutes } = options;
    // Newest window end of every environment, as text (for the evidence) and time.
    const newest = new Map<string, { windowEnd: string; time: number }>();
    for (const environmentId of view.environments()) {
      const windowEnd = view.environment(environmentId)?.windowEnd;
      const time = windowEnd === undefined ? NaN : Date.parse(windowEnd);
      if (windowEnd !== undefined && Number.isFinite(time)) {
        newest.set(environmentId, { windowEnd, time });
      }
    }
    if (newest.size < 2) return [];
    const latest = Math.max(...[...newest.values()].map(({ time }) => time));
    const leaders = [...newest].filter(([, { time }]) => time === latest).map(([id]) => id);

    const findings: DriftFinding[] = [];
    for (const [environmentId, { windowEnd, time }] of newest) {
      const lagMinutes = (latest - time) / 60_000;
      // maxLagMinutes >= 0, so a stale environment is never one of the leaders.
      if (!(lagMinutes > maxLagMinutes)) continue;
      const involved = [environmentId, ...leaders];
      findings.push({
        driftType: "STALE_ENVIRONMENT",
        signatureId: `*@${environmentId}`,
        environments: involved,
        severity: lagMinutes > 4 * maxLagMinutes ? "high" : "medium",
        detail: `Environment ${environmentId}'s newest window ends at ${windowEnd}, ` +
          `${lagMinutes} minutes behind ${leaders.join(" and ")} ` +
          `(${newest.get(leaders[0])!.windowEnd}); the limit is ${maxLagMinutes} minutes`,
        evidence: {
          windowEnd: Object.fromEntries(involved.map((id) => [id, newest.get(id)!.windowEnd])),
          lagMinutes,
          maxLagMinutes,
        },
        // Only the stale environment can act: its producer must be looked at. No source: the
        // others' newer windows are not a state to copy.
        resolution: {
          action: "review",
          source: null,
          targets: [environmentId],
          recommendation: `Check why ${environmentId} has published nothing since ${windowEnd}`,
        },
      });
    }
    return findings;
  },
});

export default staleEnvironment;
