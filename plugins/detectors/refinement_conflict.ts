/**
 * The `refinement-conflict` detector: two environments hold incompatible
 * patches for the same signature (spec, "Cross-environment drift",
 * `REFINEMENT_CONFLICT`).
 *
 * Each pair of environments holding the signature is checked for three
 * reasons, and every reason that applies is reported:
 *
 * - `same-rev-different-patch`: both are at the same `rev`, reached by
 *   different `patchId`s. (Equal revs are never `VERSION_SKEW`.)
 * - `diverged-history`: both have a `patchId`, the two differ, and neither
 *   environment's `lineage` plus `patchId` contains the other's `patchId`.
 *   A missing `lineage` counts as empty; equal patchIds never conflict.
 * - `conflicting-changes`: both patches start from the same `previousRev`
 *   and their `changes` set the same `field` to different `to` values
 *   (compared as canonical JSON; when one patch sets a field more than once,
 *   its last change counts). One conflict per field.
 *
 * One finding per signature names every environment in any conflicting
 * pair. Severity is always `high`: the environments run incompatible
 * versions of one detection, and one side's refinement is being lost.
 *
 * Evidence, per environment id: `{ lineage?, packetName, patchId?,
 * previousRev?, rev?, windowEnd }` (absent fields omitted); and `conflicts`,
 * sorted by pair then reason: `{ environments: [a, b], field?, previousRev?,
 * reason, rev?, to? }`, where `to` maps each environment to the value it set.
 * Keys come in JCS order, so the drift id is cheap to compute.
 *
 * Resolution: `review`, no source, every environment in a conflicting pair a
 * target. Which refinement should win (or how to merge them) is a person's
 * call; moving any environment before that could lose one. The
 * recommendation names each environment's patch and rev and the reasons per
 * pair.
 *
 * @module
 */

import { canonicalString } from "../../core/canonical_json.ts";
import {
  type DriftFinding,
  type EnvironmentEntry,
  type FederationView,
  onePerEnvironment,
  type Resolution,
} from "../../core/drift.ts";
import { defineDetector } from "../../core/plugin.ts";
import { z } from "npm:zod@4.6.7";

/** Why two environments' patches are incompatible. */
export type ConflictReason =
  | "same-rev-different-patch"
  | "diverged-history"
  | "conflicting-changes";

/** This detector takes no options; unknown keys are refused. */
const _OptionsSchema = z.strictObject({}, {
  error: (issue) =>
    issue.code === "unrecognized_keys"
      ? `Unknown option ${issue.keys.map((key) => `"${key}"`).join(", ")}: ` +
        `detector "refinement-conflict" takes no options`
      : undefined,
});

/** The fields of one environment's entry that this detector compares, read once. */
interface _Patch {
  environmentId: string;
  held: EnvironmentEntry;
  rev?: number;
  previousRev?: number;
  patchId?: string;
  /** The entry's `lineage` when it has a `patchId` (its history is that plus `patchId`). */
  lineage?: readonly unknown[];
  /** Per changed field, the last `to` value: the value and its canonical text (absent: none). */
  sets?: Map<string, { to: unknown; canonical: string }>;
}

/** One incompatible pair, as written in the evidence. */
interface _Conflict {
  environments: [string, string];
  reason: ConflictReason;
  [detail: string]: unknown;
}

/**
 * The built-in `refinement-conflict` detector.
 *
 * @example
 * ```ts
 * import refinementConflict from "./refinement_conflict.ts";
 * import assert from "node:assert/strict";
 *
 * const held = (environmentId: string, patchId: string) => ({
 *   environmentId, key: "sig-042", entry: { rev: 3, patchId },
 *   provenance: { packetName: `JRM_X_PACKET_${environmentId}`, source: "", digest: "",
 *     windowStart: "2026-01-01T00:00:00Z", windowEnd: "2026-01-01T00:10:00Z", part: 1 },
 * });
 * const view = {
 *   environments: () => ["SOC_EAST", "SOC_WEST"], environment: () => undefined,
 *   signatures: () => ["sig-042"], entries: () => [held("SOC_EAST", "p3a"), held("SOC_WEST", "p3b")],
 * };
 * const [finding] = await refinementConflict.detect(view, {});
 * assert.deepEqual(finding.environments, ["SOC_EAST", "SOC_WEST"]);
 * assert.deepEqual(
 *   (finding.evidence.conflicts as { reason: string }[]).map(({ reason }) => reason),
 *   ["same-rev-different-patch", "diverged-history"],
 * );
 * assert.deepEqual(finding.resolution?.targets, ["SOC_EAST", "SOC_WEST"]);
 * assert.equal(finding.resolution?.source, null);
 * ```
 */
const refinementConflict = defineDetector<Record<string, never>>({
  kind: "detector",
  name: "refinement-conflict",
  version: "1.1.0",
  scope: "signature",
  description: "Two environments hold incompatible patches for the same signature",
  driftTypes: ["REFINEMENT_CONFLICT"],
  defaultOptions: {},
  optionsSchema: _OptionsSchema,
  detect(view: FederationView): DriftFinding[] {
    const findings: DriftFinding[] = [];
    for (const signatureId of view.signatures()) {
      const entries = view.entries(signatureId);
      if (_plainlyCompatible(entries)) continue;
      const patches = _patches(entries);
      const conflicts: _Conflict[] = [];
      for (let i = 0; i < patches.length; i++) {
        for (let j = i + 1; j < patches.length; j++) {
          _conflictsBetween(patches[i], patches[j], conflicts);
        }
      }
      if (conflicts.length === 0) continue;

      const involved = new Set(conflicts.flatMap(({ environments }) => environments));
      const evidence: Record<string, unknown> = {};
      for (const patch of patches) {
        if (involved.has(patch.environmentId)) evidence[patch.environmentId] = _evidenceOf(patch);
      }
      evidence.conflicts = conflicts;
      const environments = patches.map(({ environmentId }) => environmentId)
        .filter((environmentId) => involved.has(environmentId));
      findings.push({
        driftType: "REFINEMENT_CONFLICT",
        signatureId,
        environments,
        severity: "high",
        detail: `Signature "${signatureId}" has incompatible patches: ${
          _describe(conflicts, patches)
        }`,
        evidence,
        resolution: _resolution(signatureId, conflicts, patches, environments),
      });
    }
    return findings;
  },
});

export default refinementConflict;

/**
 * The common case, decided cheaply: every environment holds the same
 * `patchId` (or none) and the same `changes`, spelled alike. Then no two
 * patches differ, so neither same-rev-different-patch nor diverged-history
 * can fire, and identical `changes` set every field to the same value. A
 * `false` means "compare in full", never "conflict".
 */
function _plainlyCompatible(entries: readonly EnvironmentEntry[]): boolean {
  if (entries.length < 2) return true;
  const first = entries[0].entry;
  let previous = entries[0].environmentId;
  for (let i = 1; i < entries.length; i++) {
    const held = entries[i];
    // One entry per environment, sorted, as the view gives them; anything else is compared in full.
    if (!(previous < held.environmentId)) return false;
    previous = held.environmentId;
    if (held.entry.patchId !== first.patchId) return false;
    if (!_spelledAlike(held.entry.changes, first.changes, 0)) return false;
  }
  return true;
}

/** How deep {@linkcode _spelledAlike} follows before it answers "not sure" (false). */
const _ALIKE_DEPTH = 64;

/**
 * Whether two JSON values would be written alike by `JSON.stringify`: the
 * same primitives, and arrays and plain objects with the same keys in the
 * same order holding values written alike. Stricter where unsure (a non-plain
 * object, deep nesting): `false` only sends the signature to the full compare.
 */
function _spelledAlike(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (depth >= _ALIKE_DEPTH) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!_spelledAlike(a[i], b[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(a);
  if (Array.isArray(b) || (proto !== Object.prototype && proto !== null)) return false;
  if (Object.getPrototypeOf(b) !== proto) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  for (let i = 0; i < keysA.length; i++) {
    const key = keysA[i];
    if (key !== keysB[i]) return false;
    const valueA = (a as Record<string, unknown>)[key];
    const valueB = (b as Record<string, unknown>)[key];
    // JSON.stringify leaves these out of an object: not "alike" by this check.
    if (valueA === undefined || typeof valueA === "function") return false;
    if (!_spelledAlike(valueA, valueB, depth + 1)) return false;
  }
  return true;
}

/** Each entry's compared fields, sorted by environment, one per environment. */
function _patches(entries: readonly EnvironmentEntry[]): _Patch[] {
  return onePerEnvironment(entries, (held) => {
    const { rev, previousRev, patchId, lineage, changes } = held.entry;
    const patch: _Patch = { environmentId: held.environmentId, held };
    if (Number.isInteger(rev)) patch.rev = rev;
    if (Number.isInteger(previousRev)) patch.previousRev = previousRev;
    if (typeof patchId === "string") {
      patch.patchId = patchId;
      if (Array.isArray(lineage)) patch.lineage = lineage;
    }
    if (Array.isArray(changes)) {
      for (const change of changes as readonly Record<string, unknown>[]) {
        if (change === null || typeof change !== "object") continue;
        const { field, to } = change;
        if (typeof field !== "string" || to === undefined) continue;
        (patch.sets ??= new Map()).set(field, { to, canonical: comparable(to) });
      }
    }
    return patch;
  });
}

/** Whether `patchId` is in the patch's history: its `lineage` (strings only) plus its `patchId`. */
function _inHistory(patch: _Patch, patchId: string): boolean {
  // A string search finds only strings, so other lineage items never match.
  return patch.patchId === patchId || (patch.lineage?.includes(patchId) ?? false);
}

/** Add every reason the two patches are incompatible to `conflicts`, in the order the spec lists them. */
function _conflictsBetween(a: _Patch, b: _Patch, conflicts: _Conflict[]): void {
  let environments: [string, string] | undefined;
  const pair = () => environments ??= [a.environmentId, b.environmentId];
  const differentPatches = a.patchId !== undefined && b.patchId !== undefined &&
    a.patchId !== b.patchId;
  if (differentPatches && a.rev !== undefined && a.rev === b.rev) {
    conflicts.push({ environments: pair(), reason: "same-rev-different-patch", rev: a.rev });
  }
  if (differentPatches && !_inHistory(a, b.patchId!) && !_inHistory(b, a.patchId!)) {
    conflicts.push({ environments: pair(), reason: "diverged-history" });
  }
  if (
    a.previousRev !== undefined && a.previousRev === b.previousRev && a.sets !== undefined &&
    b.sets !== undefined
  ) {
    const setsOfB = b.sets;
    const fields = [...a.sets.keys()].filter((field) => setsOfB.has(field)).sort(_byCodeUnit);
    for (const field of fields) {
      const setByA = a.sets.get(field)!;
      const setByB = setsOfB.get(field)!;
      if (setByA.canonical === setByB.canonical) continue;
      conflicts.push({
        environments: pair(),
        field,
        previousRev: a.previousRev,
        reason: "conflicting-changes",
        to: {
          [a.environmentId]: structuredClone(setByA.to),
          [b.environmentId]: structuredClone(setByB.to),
        },
      });
    }
  }
}

/** A review by every environment involved; see the module doc. */
function _resolution(
  signatureId: string,
  conflicts: _Conflict[],
  patches: _Patch[],
  environments: string[],
): Resolution {
  let refinements = "";
  for (const { environmentId, patchId, rev } of patches) {
    if (!environments.includes(environmentId)) continue;
    refinements += `${refinements === "" ? "" : "; "}${environmentId}: ${
      patchId === undefined ? "no patch id" : `patch "${patchId}"`
    }${rev === undefined ? "" : ` at revision ${rev}`}`;
  }
  // Reasons grouped by pair, in the evidence's order (sorted by pair): `A vs B: reason-1, reason-2`.
  let reasons = "";
  let pair = "";
  for (const { environments: [a, b], reason } of conflicts) {
    const next = `${a} vs ${b}`;
    reasons += next === pair ? `, ${reason}` : `${reasons === "" ? "" : "; "}${next}: ${reason}`;
    pair = next;
  }
  return {
    action: "review",
    source: null,
    targets: environments,
    recommendation:
      `Review manually and merge or choose: signature "${signatureId}" has competing refinements (${refinements}); ${reasons}; change no environment's patch until it is reviewed, or a refinement is lost`,
  };
}

function _evidenceOf(patch: _Patch): Record<string, unknown> {
  const lineage = patch.held.entry.lineage;
  // Keys in JCS order, so the drift id's canonical text is JSON.stringify's.
  return {
    ...(Array.isArray(lineage)
      ? { lineage: lineage.filter((ancestor) => typeof ancestor === "string") }
      : {}),
    packetName: patch.held.provenance.packetName,
    ...(patch.patchId !== undefined ? { patchId: patch.patchId } : {}),
    ...(patch.previousRev !== undefined ? { previousRev: patch.previousRev } : {}),
    ...(patch.rev !== undefined ? { rev: patch.rev } : {}),
    windowEnd: patch.held.provenance.windowEnd,
  };
}

/**
 * `SOC_EAST and SOC_WEST: both at rev 3 by different patches "p3a" and "p3b", histories
 * diverged`, pairs joined by `; `.
 */
function _describe(conflicts: _Conflict[], patches: _Patch[]): string {
  const patchIdOf = new Map(patches.map(({ environmentId, patchId }) => [environmentId, patchId]));
  const byPair = new Map<string, string[]>();
  for (const conflict of conflicts) {
    const [a, b] = conflict.environments;
    const pair = `${a} and ${b}`;
    const patchIds = `"${patchIdOf.get(a)}" and "${patchIdOf.get(b)}"`;
    const reasons = byPair.get(pair) ?? [];
    // A fork's reason already names both patches; the divergence need not repeat them.
    const text = conflict.reason === "diverged-history" && reasons.length > 0
      ? "histories diverged"
      : _reasonText(conflict, patchIds);
    byPair.set(pair, [...reasons, text]);
  }
  return [...byPair.entries()]
    .map(([pair, reasons]) => `${pair}: ${reasons.join(", ")}`)
    .join("; ");
}

function _reasonText(conflict: _Conflict, patchIds: string): string {
  switch (conflict.reason) {
    case "same-rev-different-patch":
      return `both at rev ${conflict.rev} by different patches ${patchIds}`;
    case "diverged-history":
      return `histories diverged (${patchIds} are not in each other's lineage)`;
    case "conflicting-changes":
      return `field "${conflict.field}" set to different values from rev ${conflict.previousRev}`;
  }
}

function _byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A string equal for equal JSON values: primitives by type and value (as JCS would write them), the rest canonicalized. */
function comparable(value: unknown): string {
  if (value === null || typeof value !== "object") {
    return typeof value === "number"
      ? `n:${Object.is(value, -0) ? 0 : value}`
      : `${typeof value}:${value}`;
  }
  return `j:${canonicalString(value, "jcs")}`;
}
