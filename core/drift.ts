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

import { canonicalize } from "./canonical_json.ts";
import { sha256Ref } from "./packet.ts";
import type { CanonEntry } from "./packet.ts";

/** The built-in drift types; plugins may add their own names. */
export type BuiltinDriftType = "VERSION_SKEW" | "POSTURE_DIVERGENCE" | "REFINEMENT_CONFLICT";

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

/** What a detector returns: one finding per signature and drift type. */
export interface DriftFinding {
  /** Drift type, e.g. `VERSION_SKEW`. */
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
 * import { driftIdOf } from "./drift.ts";
 * const id = driftIdOf({
 *   driftType: "VERSION_SKEW", signatureId: "sig-1", environments: ["A", "B"],
 *   severity: "medium", detail: "", evidence: { A: { rev: 1 }, B: { rev: 2 } },
 * });
 * console.assert(/^drift-[0-9a-f]{24}$/.test(id));
 * ```
 */
export function driftIdOf(finding: DriftFinding): string {
  const identity = {
    driftType: finding.driftType,
    signatureId: finding.signatureId,
    environments: [...finding.environments].sort(),
    evidence: finding.evidence,
  };
  return "drift-" + sha256Ref(canonicalize(identity, "jcs")).slice(7, 31);
}
