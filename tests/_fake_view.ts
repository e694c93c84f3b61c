/**
 * An in-memory {@linkcode FederationView} for detector tests: environments
 * and their canon entries written as a table, with made-up provenance. Every
 * entry is deep-frozen, as the hub's are, so a detector that mutates what it
 * reads fails loudly.
 *
 * @module
 */

import type { CanonEntry } from "../core/packet.ts";
import type { EnvironmentEntry, EnvironmentSummary, FederationView } from "../core/drift.ts";

/** Per environment id, its canon entries by key (the key is the signature id unless `signatureId` says otherwise). */
export type _ViewTable = Record<string, Record<string, CanonEntry>>;

/**
 * Build a federation view from a table of environments and entries.
 * @param table per environment, its canon entries by key
 * @returns a view whose lists are sorted, as the hub's are
 * @example
 * ```ts
 * import { _view } from "./_fake_view.ts";
 * import assert from "node:assert/strict";
 *
 * const view = _view({ SOC_WEST: { "sig-1": { rev: 2 } }, SOC_EAST: { "sig-1": { rev: 3 } } });
 * assert.deepEqual(view.environments(), ["SOC_EAST", "SOC_WEST"]);
 * assert.deepEqual(view.entries("sig-1").map((held) => held.entry.rev), [3, 2]);
 * ```
 */
export function _view(table: _ViewTable): FederationView {
  const environments = Object.keys(table).sort();
  const bySignature = new Map<string, EnvironmentEntry[]>();
  for (const environmentId of environments) {
    for (const [key, entry] of Object.entries(table[environmentId])) {
      const signatureId = entry.signatureId ?? key;
      const held: EnvironmentEntry = _deepFreeze({
        environmentId,
        key,
        entry: structuredClone(entry),
        provenance: {
          packetName: `JRM_X_PACKET_${environmentId}_20260101T000000_20260101T001000_part01`,
          source: `${environmentId}.zip`,
          digest: `sha256:${"0".repeat(64)}`,
          windowStart: "2026-01-01T00:00:00Z",
          windowEnd: "2026-01-01T00:10:00Z",
          part: 1,
        },
      });
      bySignature.set(signatureId, [...bySignature.get(signatureId) ?? [], held]);
    }
  }
  const signatures = [...bySignature.keys()].sort();
  return {
    environments: () => environments,
    environment(environmentId: string): EnvironmentSummary | undefined {
      if (!(environmentId in table)) return undefined;
      return {
        environmentId,
        packets: 1,
        windowStart: "2026-01-01T00:00:00Z",
        windowEnd: "2026-01-01T00:10:00Z",
        signatures: Object.keys(table[environmentId]).length,
      };
    },
    signatures: () => signatures,
    entries: (signatureId: string) => bySignature.get(signatureId) ?? [],
  };
}

function _deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) _deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
