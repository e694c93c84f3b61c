/**
 * The `version-skew` detector: a signature whose active `rev` differs
 * between environments (spec, "Cross-environment drift", `VERSION_SKEW`).
 *
 * Only environments whose entry has a `rev` are compared and named; any
 * difference fires. Equal revs never fire here, even when reached by
 * different patches: that fork is a `REFINEMENT_CONFLICT`.
 *
 * Severity grows with the gap between the highest and the lowest rev, since
 * a wider gap means one environment runs a signature further from the
 * others: gap 1 → `low`, 2 → `medium`, 3 or more → `high`.
 *
 * Evidence, per environment id: `{ packetName, patchId?, rev, windowEnd }` (keys in
 * JCS order, so the drift id is cheap to compute).
 *
 * Resolution: the highest rev is the reference. Its environment is the
 * `source` (the first by id when several hold it through the same patch) and
 * every environment behind it a target:
 *
 * - `align` ("Move SOC_EAST (revision 3) to revision 4 … as SOC_NORTH has
 *   it") when each target's `patchId`, if it has one, is in the source's
 *   history (its `lineage` plus its `patchId`): moving then loses nothing;
 * - `review`, same source and targets, when a target holds a patch the
 *   source's history does not show: moving it would discard that refinement
 *   (the advisory engine calls this a hold);
 * - `review` with no source and every environment a target when the
 *   environments at the highest rev got there through different patches:
 *   there is no single reference to move to.
 *
 * @module
 */

import {
  type DriftFinding,
  type EnvironmentEntry,
  type FederationView,
  onePerEnvironment,
  type Resolution,
  type Severity,
} from "../../core/drift.ts";
import { defineDetector } from "../../core/plugin.ts";
import { z } from "npm:zod@4.6.7";

/** This detector takes no options; unknown keys are refused. */
const _OptionsSchema = z.strictObject({}, {
  error: (issue) =>
    issue.code === "unrecognized_keys"
      ? `Unknown option ${issue.keys.map((key) => `"${key}"`).join(", ")}: ` +
        `detector "version-skew" takes no options`
      : undefined,
});

/** An environment's entry that has a usable `rev`. */
interface _Revised {
  environmentId: string;
  rev: number;
  held: EnvironmentEntry;
}

/**
 * The built-in `version-skew` detector.
 *
 * @example
 * ```ts
 * import versionSkew from "./version_skew.ts";
 * import assert from "node:assert/strict";
 *
 * const held = (environmentId: string, rev: number) => ({
 *   environmentId, key: "sig-042", entry: { rev },
 *   provenance: { packetName: `JRM_X_PACKET_${environmentId}`, source: "", digest: "",
 *     windowStart: "2026-01-01T00:00:00Z", windowEnd: "2026-01-01T00:10:00Z", part: 1 },
 * });
 * const view = {
 *   environments: () => ["SOC_EAST", "SOC_WEST"], environment: () => undefined,
 *   signatures: () => ["sig-042"], entries: () => [held("SOC_EAST", 3), held("SOC_WEST", 2)],
 * };
 * const [finding] = await versionSkew.detect(view, {});
 * assert.equal(finding.detail, 'Signature "sig-042" is at rev 3 in SOC_EAST, rev 2 in SOC_WEST');
 * assert.equal(finding.severity, "low");
 * assert.deepEqual(finding.resolution, {
 *   action: "align", source: "SOC_EAST", targets: ["SOC_WEST"],
 *   recommendation: 'Move SOC_WEST (revision 2) to revision 3 of signature "sig-042", as SOC_EAST has it',
 * });
 * ```
 */
const versionSkew = defineDetector<Record<string, never>>({
  kind: "detector",
  name: "version-skew",
  version: "1.1.0",
  scope: "signature",
  description: "A signature's active rev differs between environments",
  driftTypes: ["VERSION_SKEW"],
  defaultOptions: {},
  optionsSchema: _OptionsSchema,
  detect(view: FederationView): DriftFinding[] {
    const findings: DriftFinding[] = [];
    for (const signatureId of view.signatures()) {
      const revised = _revised(view.entries(signatureId));
      if (revised.length < 2) continue;
      const revs = revised.map(({ rev }) => rev);
      const gap = Math.max(...revs) - Math.min(...revs);
      if (gap === 0) continue;
      const evidence: Record<string, unknown> = {};
      for (const { environmentId, rev, held } of revised) {
        const patchId = held.entry.patchId;
        // Keys in JCS order, so the drift id's canonical text is JSON.stringify's.
        evidence[environmentId] = {
          packetName: held.provenance.packetName,
          ...(typeof patchId === "string" ? { patchId } : {}),
          rev,
          windowEnd: held.provenance.windowEnd,
        };
      }
      findings.push({
        driftType: "VERSION_SKEW",
        signatureId,
        environments: revised.map(({ environmentId }) => environmentId),
        severity: _severity(gap),
        detail: `Signature "${signatureId}" is at ${_revsByEnvironment(revised)}`,
        evidence,
        resolution: _resolution(signatureId, revised, Math.max(...revs)),
      });
    }
    return findings;
  },
});

export default versionSkew;

/** Entries with an integer `rev`, sorted by environment, one per environment. */
function _revised(entries: readonly EnvironmentEntry[]): _Revised[] {
  return onePerEnvironment(entries, (held) => {
    const rev = held.entry.rev;
    if (!Number.isInteger(rev)) return undefined;
    return { environmentId: held.environmentId, rev: rev as number, held };
  });
}

/** The highest rev is the reference; see the module doc. */
function _resolution(signatureId: string, revised: _Revised[], highest: number): Resolution {
  // One pass and plain loops: this runs for every finding, on every run.
  const leaders: string[] = [];
  const targets: string[] = [];
  let moves = "";
  let source: _Revised | undefined;
  let sourcePatch: string | undefined;
  let otherPatch: string | undefined;
  for (const entry of revised) {
    if (entry.rev === highest) {
      leaders.push(entry.environmentId);
      const patchId = _patchOf(entry);
      if (source === undefined) {
        source = entry;
        sourcePatch = patchId;
      } else if (patchId !== undefined && sourcePatch === undefined) {
        sourcePatch = patchId;
      } else if (patchId !== undefined && patchId !== sourcePatch) {
        otherPatch ??= patchId;
      }
    } else {
      targets.push(entry.environmentId);
      moves += `${moves === "" ? "" : ", "}${entry.environmentId} (revision ${entry.rev})`;
    }
  }
  const signature = `signature "${signatureId}"`;
  if (otherPatch !== undefined) {
    const patches = [
      ...new Set(revised.filter(({ rev }) => rev === highest).map(_patchOf).filter(Boolean)),
    ];
    return {
      action: "review",
      source: null,
      targets: revised.map(({ environmentId }) => environmentId),
      recommendation: `Review manually: ${
        _andList(leaders)
      } hold revision ${highest} of ${signature} through different patches (${
        patches.map((p) => `"${p}"`).join(", ")
      }); choose one before moving ${moves}`,
    };
  }
  const reference = source!;
  const as = `as ${_andList(leaders)} ${leaders.length === 1 ? "has" : "have"} it`;
  const { lineage, patchId: referencePatch } = reference.held.entry;
  // In the source's history: its patchId or its lineage (a search for a string finds only strings).
  let lost: Map<string, string[]> | undefined;
  for (const entry of revised) {
    if (entry.rev === highest) continue;
    const patchId = _patchOf(entry);
    if (
      patchId === undefined || patchId === referencePatch ||
      (Array.isArray(lineage) && lineage.includes(patchId))
    ) continue;
    lost ??= new Map();
    lost.set(patchId, [...lost.get(patchId) ?? [], entry.environmentId]);
  }
  if (lost !== undefined) {
    return {
      action: "review",
      source: reference.environmentId,
      targets,
      recommendation:
        `Hold: moving ${moves} to revision ${highest} of ${signature}, ${as}, would discard ${
          _andList([...lost].map(([patchId, holders]) =>
            `patch "${patchId}" of ${_andList(holders)}`
          ))
        }, which ${reference.environmentId}'s history does not hold; review the refinements first`,
    };
  }
  const patch = sourcePatch === undefined ? "" : ` (patch "${sourcePatch}")`;
  return {
    action: "align",
    source: reference.environmentId,
    targets,
    recommendation: `Move ${moves} to revision ${highest} of ${signature}${patch}, ${as}`,
  };
}

function _patchOf({ held }: _Revised): string | undefined {
  const patchId = held.entry.patchId;
  return typeof patchId === "string" ? patchId : undefined;
}

function _severity(gap: number): Severity {
  return gap >= 3 ? "high" : gap === 2 ? "medium" : "low";
}

/** `rev 3 in SOC_EAST and SOC_NORTH, rev 2 in SOC_WEST`: highest rev first. */
function _revsByEnvironment(revised: _Revised[]): string {
  const byRev = new Map<number, string[]>();
  for (const { rev, environmentId } of revised) {
    byRev.set(rev, [...byRev.get(rev) ?? [], environmentId]);
  }
  return [...byRev.entries()]
    .sort(([a], [b]) => b - a)
    .map(([rev, environments]) => `rev ${rev} in ${_andList(environments)}`)
    .join(", ");
}

function _andList(names: string[]): string {
  return names.length <= 1
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
