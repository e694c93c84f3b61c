import assert from "node:assert/strict";
import type { DriftFinding, FederationView } from "../core/drift.ts";
import { driftIdOf, runDetectors } from "../core/drift.ts";
import { canonicalString } from "../core/canonical_json.ts";
import type { DetectorPlugin, Plugin } from "../core/plugin.ts";
import { PluginRegistry, validatePlugin } from "../core/plugin.ts";
import postureDivergence from "../plugins/detectors/posture_divergence.ts";
import refinementConflict from "../plugins/detectors/refinement_conflict.ts";
import versionSkew from "../plugins/detectors/version_skew.ts";
import { compareDecimals, formatDecimal, parseDecimal, subtractDecimals } from "../core/decimal.ts";
import { ingestFiles } from "../core/hub.ts";
import { _view, type _ViewTable } from "./_fake_view.ts";
import { buildTestPacket, hmacSigner, json, keyringOf } from "./_packets.ts";

const DETECTORS = [versionSkew, postureDivergence, refinementConflict] as DetectorPlugin<
  Record<string, unknown>
>[];

const PACKET = (env: string) => `JRM_X_PACKET_${env}_20260101T000000_20260101T001000_part01`;
const WINDOW_END = "2026-01-01T00:10:00Z";

async function detect(
  plugin: DetectorPlugin<Record<string, unknown>>,
  table: _ViewTable | FederationView,
  options: Record<string, unknown> = plugin.defaultOptions ?? {},
): Promise<DriftFinding[]> {
  const view = "signatures" in table ? table as FederationView : _view(table as _ViewTable);
  return await plugin.detect(view, options);
}

/**
 * The hub's own view of a table: one signed packet per environment, each holding its entries in a
 * canon file, ingested by `ingestFiles` as the CLI ingests them. `reversed` hands the packets over
 * in the opposite order and writes each canon file's entries backwards, so that whatever order the
 * detectors see is the hub's doing.
 */
async function hubView(table: _ViewTable, reversed = false): Promise<FederationView> {
  const signer = await hmacSigner();
  const environments = Object.keys(table);
  const dir = await Deno.makeTempDir({ prefix: "detectors_test_" });
  try {
    const paths: string[] = [];
    for (const environmentId of reversed ? [...environments].reverse() : environments) {
      const pairs = Object.entries(table[environmentId]);
      const entries = Object.fromEntries(reversed ? pairs.reverse() : pairs);
      const packet = await buildTestPacket({
        environmentId,
        signer,
        files: { "canon_entry.json": json({ environmentId, entries }) },
      });
      const path = `${dir}/${packet.name}.zip`;
      await Deno.writeFile(path, packet.bytes);
      paths.push(path);
    }
    const keyring = keyringOf(...environments.map((env): [string, typeof signer] => [env, signer]));
    const { outcomes, state } = await ingestFiles(paths, { keyring });
    assert.deepEqual(outcomes.map(({ kind }) => kind), paths.map(() => "accepted"));
    return state.view();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** What a table case expects: no finding, or the one finding's key fields. */
type Expected = null | {
  environments: string[];
  severity?: string;
  detail?: string;
  evidence?: Record<string, unknown>;
};

function assertOne(findings: DriftFinding[], expected: Expected, driftType: string): void {
  if (expected === null) {
    assert.deepEqual(findings, []);
    return;
  }
  assert.equal(findings.length, 1, `expected one finding, got ${JSON.stringify(findings)}`);
  const [finding] = findings;
  assert.equal(finding.driftType, driftType);
  assert.equal(finding.signatureId, "sig-042");
  assert.deepEqual(finding.environments, expected.environments);
  if (expected.severity !== undefined) assert.equal(finding.severity, expected.severity);
  if (expected.detail !== undefined) assert.equal(finding.detail, expected.detail);
  if (expected.evidence !== undefined) assert.deepEqual(finding.evidence, expected.evidence);
}

/** One signature, `sig-042`, held by each environment with the given entry (or not at all). */
function oneSignature(entries: Record<string, Record<string, unknown> | undefined>): _ViewTable {
  const table: _ViewTable = {};
  for (const [env, entry] of Object.entries(entries)) {
    table[env] = entry === undefined ? { "sig-other": { rev: 1 } } : { "sig-042": entry };
  }
  return table;
}

Deno.test("version-skew reports a signature whose rev differs between environments", async (t) => {
  const cases: {
    name: string;
    entries: Record<string, Record<string, unknown>>;
    expected: Expected;
  }[] = [
    {
      name: "rev 3 and rev 2: one low finding naming both, with evidence",
      entries: { SOC_WEST: { rev: 2, patchId: "p2" }, SOC_EAST: { rev: 3, patchId: "p3" } },
      expected: {
        environments: ["SOC_EAST", "SOC_WEST"],
        severity: "low",
        detail: 'Signature "sig-042" is at rev 3 in SOC_EAST, rev 2 in SOC_WEST',
        evidence: {
          SOC_EAST: {
            rev: 3,
            patchId: "p3",
            packetName: PACKET("SOC_EAST"),
            windowEnd: WINDOW_END,
          },
          SOC_WEST: {
            rev: 2,
            patchId: "p2",
            packetName: PACKET("SOC_WEST"),
            windowEnd: WINDOW_END,
          },
        },
      },
    },
    {
      name: "rev 0 is a rev: rev 0 and rev 1 are skewed, evidence omits an absent patchId",
      entries: { A: { rev: 0 }, B: { rev: 1, patchId: "p1" } },
      expected: {
        environments: ["A", "B"],
        severity: "low",
        evidence: {
          A: { rev: 0, packetName: PACKET("A"), windowEnd: WINDOW_END },
          B: { rev: 1, patchId: "p1", packetName: PACKET("B"), windowEnd: WINDOW_END },
        },
      },
    },
    {
      name: "a gap of 2 is medium",
      entries: { A: { rev: 1 }, B: { rev: 3 } },
      expected: { environments: ["A", "B"], severity: "medium" },
    },
    {
      name: "a gap of 3 or more is high, and every environment with a rev is named",
      entries: { C: { rev: 1 }, A: { rev: 4 }, B: { rev: 2 } },
      expected: {
        environments: ["A", "B", "C"],
        severity: "high",
        detail: 'Signature "sig-042" is at rev 4 in A, rev 2 in B, rev 1 in C',
      },
    },
    {
      name: "environments at the same rev are grouped in the detail",
      entries: { A: { rev: 3 }, B: { rev: 3 }, C: { rev: 2 } },
      expected: {
        environments: ["A", "B", "C"],
        detail: 'Signature "sig-042" is at rev 3 in A and B, rev 2 in C',
      },
    },
    {
      name: "an environment without a rev is not involved",
      entries: { A: { rev: 3 }, B: { rev: 2 }, C: { confidence: 0.5 } },
      expected: { environments: ["A", "B"] },
    },
    {
      name: "equal revs reached by different patches are not skew",
      entries: { A: { rev: 3, patchId: "p3a" }, B: { rev: 3, patchId: "p3b" } },
      expected: null,
    },
    {
      name: "only one environment has a rev",
      entries: { A: { rev: 3 }, B: { patchId: "p3" } },
      expected: null,
    },
    {
      name: "a single environment never drifts",
      entries: { A: { rev: 3 } },
      expected: null,
    },
  ];
  for (const { name, entries, expected } of cases) {
    await t.step(name, async () => {
      assertOne(await detect(versionSkew, oneSignature(entries)), expected, "VERSION_SKEW");
    });
  }
});

Deno.test("version-skew resolves: the highest rev is the source, the ones behind the targets", async (t) => {
  const lineage = ["p1", "p2", "p3"];
  const cases: {
    name: string;
    entries: Record<string, Record<string, unknown>>;
    resolution: { action: string; source: string | null; targets: string[] };
    recommendation: string | RegExp;
  }[] = [
    {
      name: "a linear history: align the ones behind",
      entries: {
        A: { rev: 4, patchId: "p4", lineage },
        B: { rev: 3, patchId: "p3", lineage: ["p1", "p2"] },
        C: { rev: 2, patchId: "p2", lineage: ["p1"] },
      },
      resolution: { action: "align", source: "A", targets: ["B", "C"] },
      recommendation:
        'Move B (revision 3), C (revision 2) to revision 4 of signature "sig-042" (patch "p4"), as A has it',
    },
    {
      name: "several at the top through the same patch: the first is the source",
      entries: {
        C: { rev: 4, patchId: "p4", lineage },
        B: { rev: 4, patchId: "p4", lineage },
        A: { rev: 3, patchId: "p3", lineage: ["p1", "p2"] },
      },
      resolution: { action: "align", source: "B", targets: ["A"] },
      recommendation: /, as B and C have it$/,
    },
    {
      name: "a target without a patch id loses nothing",
      entries: { A: { rev: 4, patchId: "p4", lineage }, B: { rev: 3 } },
      resolution: { action: "align", source: "A", targets: ["B"] },
      recommendation: /^Move B \(revision 3\) to revision 4/,
    },
    {
      name: "a target's patch the source's history lacks: a hold (review, with the source)",
      entries: {
        A: { rev: 4, patchId: "p4", lineage },
        B: { rev: 3, patchId: "p3-local", lineage: ["p1", "p2"] },
        C: { rev: 3, patchId: "p3-local", lineage: ["p1", "p2"] },
        D: { rev: 3, patchId: "p3", lineage: ["p1", "p2"] },
      },
      resolution: { action: "review", source: "A", targets: ["B", "C", "D"] },
      recommendation:
        'Hold: moving B (revision 3), C (revision 3), D (revision 3) to revision 4 of signature "sig-042", as A has it, would discard patch "p3-local" of B and C, which A\'s history does not hold; review the refinements first',
    },
    {
      name: "a source without a lineage cannot show that a target's patch is in it",
      entries: { A: { rev: 4, patchId: "p4" }, B: { rev: 3, patchId: "p3" } },
      resolution: { action: "review", source: "A", targets: ["B"] },
      recommendation: /would discard patch "p3" of B/,
    },
    {
      name: "the top reached through different patches: no source, everyone reviews",
      entries: {
        A: { rev: 4, patchId: "p4a", lineage },
        B: { rev: 4, patchId: "p4b", lineage },
        C: { rev: 3, patchId: "p3", lineage: ["p1", "p2"] },
      },
      resolution: { action: "review", source: null, targets: ["A", "B", "C"] },
      recommendation:
        'Review manually: A and B hold revision 4 of signature "sig-042" through different patches ("p4a", "p4b"); choose one before moving C (revision 3)',
    },
  ];
  for (const { name, entries, resolution, recommendation } of cases) {
    await t.step(name, async () => {
      const [finding] = await detect(versionSkew, oneSignature(entries));
      const { recommendation: given, ...decided } = finding.resolution!;
      assert.deepEqual(decided, resolution);
      if (typeof recommendation === "string") assert.equal(given, recommendation);
      else assert.match(given, recommendation);
    });
  }
});

Deno.test("version-skew matches the hub's entries by signatureId, not by key", async () => {
  const view = await hubView({
    A: { "local-key": { signatureId: "sig-042", rev: 2 } },
    B: { "sig-042": { rev: 5 } },
  });
  const findings = await detect(versionSkew, view);
  assertOne(findings, { environments: ["A", "B"], severity: "high" }, "VERSION_SKEW");
  assert.deepEqual(view.entries("sig-042").map(({ environmentId, key }) => [environmentId, key]), [
    ["A", "local-key"],
    ["B", "sig-042"],
  ]);
});

Deno.test("posture-divergence compares the confidence spread with the threshold as decimals", async (t) => {
  const cases: {
    name: string;
    confidences: Record<string, number | undefined>;
    threshold?: number | string;
    expected: Expected;
  }[] = [
    {
      name: "does not fire on a spread of exactly 0.3 (0.4 - 0.1 in floats is 0.30000000000000004)",
      confidences: { A: 0.1, B: 0.4 },
      expected: null,
    },
    {
      name: "does not fire on 0.7 and 1 (1 - 0.7 in floats is 0.30000000000000004)",
      confidences: { A: 0.7, B: 1 },
      expected: null,
    },
    {
      name: "does not fire on 0.1 and 0.40000000000000002, the same double as 0.4",
      confidences: { A: 0.1, B: Number("0.40000000000000002") },
      expected: null,
    },
    {
      name: "fires on 0.1 and 0.41",
      confidences: { A: 0.1, B: 0.41 },
      expected: {
        environments: ["A", "B"],
        severity: "medium",
        detail:
          'Signature "sig-042" has confidence from 0.1 in A to 0.41 in B, a spread of 0.31 above the threshold of 0.3',
        evidence: {
          A: { confidence: 0.1, packetName: PACKET("A"), windowEnd: WINDOW_END },
          B: { confidence: 0.41, packetName: PACKET("B"), windowEnd: WINDOW_END },
          spread: "0.31",
          threshold: "0.3",
        },
      },
    },
    {
      name: "fires on a spread of 0.3000001",
      confidences: { A: 0, B: 0.3000001 },
      expected: { environments: ["A", "B"], severity: "medium" },
    },
    {
      name: "fires on 0.1 and 0.4000001",
      confidences: { A: 0.1, B: 0.4000001 },
      expected: { environments: ["A", "B"] },
    },
    {
      name: "names every environment with a confidence and groups ties in the detail",
      confidences: { A: 0.1, B: 0.3, C: 0.1, D: 0.45, E: undefined },
      expected: {
        environments: ["A", "B", "C", "D"],
        detail:
          'Signature "sig-042" has confidence from 0.1 in A and C to 0.45 in D, a spread of 0.35 above the threshold of 0.3',
      },
    },
    {
      name: "a spread of exactly twice the threshold is medium",
      confidences: { A: 0.2, B: 0.8 },
      expected: { environments: ["A", "B"], severity: "medium" },
    },
    {
      name: "a spread above twice the threshold is high",
      confidences: { A: 0.2, B: 0.81 },
      expected: { environments: ["A", "B"], severity: "high" },
    },
    {
      name: "writes tiny confidences without an exponent",
      confidences: { A: 1e-7, B: 0.5 },
      expected: {
        environments: ["A", "B"],
        detail:
          'Signature "sig-042" has confidence from 0.0000001 in A to 0.5 in B, a spread of 0.4999999 above the threshold of 0.3',
      },
    },
    {
      name: "an environment without a confidence is not involved",
      confidences: { A: 0.1, B: undefined },
      expected: null,
    },
    {
      name: "a single environment never drifts",
      confidences: { A: 0 },
      expected: null,
    },
    {
      name: 'a threshold given as the string "0.5" is compared as a decimal',
      confidences: { A: 0.1, B: 0.6 },
      threshold: "0.5",
      expected: null,
    },
    {
      name: 'a threshold of "0.50" with a spread of 0.51 fires, and evidence writes it as "0.5"',
      confidences: { A: 0.1, B: 0.61 },
      threshold: "0.50",
      expected: {
        environments: ["A", "B"],
        evidence: {
          A: { confidence: 0.1, packetName: PACKET("A"), windowEnd: WINDOW_END },
          B: { confidence: 0.61, packetName: PACKET("B"), windowEnd: WINDOW_END },
          spread: "0.51",
          threshold: "0.5",
        },
      },
    },
    {
      name: "a threshold of 0 fires on any difference",
      confidences: { A: 0.5, B: 0.5000001 },
      threshold: 0,
      expected: { environments: ["A", "B"], severity: "high" },
    },
    {
      name: "a threshold of 0 does not fire on equal confidences",
      confidences: { A: 0.5, B: 0.5 },
      threshold: 0,
      expected: null,
    },
    {
      name: "a threshold of 1 never fires",
      confidences: { A: 0, B: 1 },
      threshold: 1,
      expected: null,
    },
  ];
  for (const { name, confidences, threshold, expected } of cases) {
    await t.step(name, async () => {
      const entries: Record<string, Record<string, unknown>> = {};
      for (const [env, confidence] of Object.entries(confidences)) {
        entries[env] = confidence === undefined ? { rev: 1 } : { confidence };
      }
      const options = threshold === undefined ? undefined : { threshold };
      const findings = await detect(postureDivergence, oneSignature(entries), options);
      assertOne(findings, expected, "POSTURE_DIVERGENCE");
    });
  }
});

Deno.test("posture-divergence resolves: review the environments apart from an agreeing majority", async (t) => {
  const cases: {
    name: string;
    confidences: Record<string, number>;
    threshold?: string;
    targets: string[];
    recommendation: string | RegExp;
  }[] = [
    {
      name: "one apart from the majority",
      confidences: { A: 0.6, B: 0.6, C: 0.25 },
      targets: ["C"],
      recommendation:
        'Review the confidence in signature "sig-042" in C (0.25): the majority, A (0.6), B (0.6), agrees within 0.3 and it lies apart',
    },
    {
      name: "two environments: no majority, both",
      confidences: { A: 0.1, B: 0.6 },
      targets: ["A", "B"],
      recommendation:
        'Review the confidence in signature "sig-042" in A (0.1), B (0.6): it differs by more than 0.3 and no majority of environments agrees',
    },
    {
      name: "exactly half the threshold from the median is not apart (exact decimals)",
      // Median 0.5; C is 0.15 away, exactly half of 0.3 (in binary, 0.65 - 0.5 > 0.15).
      confidences: { A: 0.5, B: 0.5, C: 0.65, D: 0.2 },
      targets: ["D"],
      recommendation: /in D \(0\.2\): the majority, A \(0\.5\), B \(0\.5\), C \(0\.65\), agrees/,
    },
    {
      name: "the outliers are not fewer than the rest: everyone",
      confidences: { A: 0.1, B: 0.3, C: 0.5, D: 0.7 },
      targets: ["A", "B", "C", "D"],
      recommendation: /no majority of environments agrees$/,
    },
    {
      name: "the threshold given is the one the majority agrees within",
      confidences: { A: 0, B: 0.05, C: 0.6 },
      threshold: "0.5",
      targets: ["C"],
      recommendation: /agrees within 0\.5 and it lies apart$/,
    },
  ];
  for (const { name, confidences, threshold, targets, recommendation } of cases) {
    await t.step(name, async () => {
      const entries = Object.fromEntries(
        Object.entries(confidences).map(([env, confidence]) => [env, { confidence }]),
      );
      const options = { threshold: threshold ?? "0.3" };
      const [finding] = await detect(postureDivergence, oneSignature(entries), options);
      const { recommendation: given, ...decided } = finding.resolution!;
      assert.deepEqual(decided, { action: "review", source: null, targets });
      if (typeof recommendation === "string") assert.equal(given, recommendation);
      else assert.match(given, recommendation);
    });
  }
});

Deno.test("posture-divergence gives the same findings for a threshold as a number or a string", async () => {
  const view = _view(oneSignature({
    A: { confidence: 0.1 },
    B: { confidence: 0.45 },
    C: { confidence: 0.2 },
  }));
  const asNumber = await detect(postureDivergence, view, { threshold: 0.25 });
  const asString = await detect(postureDivergence, view, { threshold: "0.25" });
  assert.equal(asNumber.length, 1);
  assert.deepEqual(asNumber, asString);
});

Deno.test("refinement-conflict reports incompatible patches with each pair and reason", async (t) => {
  const cases: {
    name: string;
    entries: Record<string, Record<string, unknown>>;
    expected: Expected;
    conflicts?: unknown[];
  }[] = [
    {
      name: "same rev reached by different patches on a shared history",
      entries: {
        SOC_WEST: { rev: 3, previousRev: 2, patchId: "p3b", lineage: ["p1", "p2"] },
        SOC_EAST: { rev: 3, previousRev: 2, patchId: "p3a", lineage: ["p1", "p2"] },
      },
      expected: {
        environments: ["SOC_EAST", "SOC_WEST"],
        severity: "high",
        detail: 'Signature "sig-042" has incompatible patches: SOC_EAST and SOC_WEST: ' +
          'both at rev 3 by different patches "p3a" and "p3b", histories diverged',
        evidence: {
          SOC_EAST: {
            rev: 3,
            previousRev: 2,
            patchId: "p3a",
            lineage: ["p1", "p2"],
            packetName: PACKET("SOC_EAST"),
            windowEnd: WINDOW_END,
          },
          SOC_WEST: {
            rev: 3,
            previousRev: 2,
            patchId: "p3b",
            lineage: ["p1", "p2"],
            packetName: PACKET("SOC_WEST"),
            windowEnd: WINDOW_END,
          },
          conflicts: [
            { environments: ["SOC_EAST", "SOC_WEST"], reason: "same-rev-different-patch", rev: 3 },
            { environments: ["SOC_EAST", "SOC_WEST"], reason: "diverged-history" },
          ],
        },
      },
    },
    {
      name:
        "same rev by different patches where one lineage holds the other's patch is still a fork",
      entries: {
        A: { rev: 3, patchId: "p3" },
        B: { rev: 3, patchId: "p3x", lineage: ["p3"] },
      },
      expected: { environments: ["A", "B"] },
      conflicts: [{ environments: ["A", "B"], reason: "same-rev-different-patch", rev: 3 }],
    },
    {
      name: "a linear history at different revs is not a conflict",
      entries: {
        A: { rev: 2, previousRev: 1, patchId: "p2", lineage: ["p1"] },
        B: { rev: 3, previousRev: 2, patchId: "p3", lineage: ["p1", "p2"] },
      },
      expected: null,
    },
    {
      name: "histories that diverged at different revs",
      entries: {
        A: { rev: 3, previousRev: 2, patchId: "p3", lineage: ["p1", "p2"] },
        B: { rev: 4, previousRev: 3, patchId: "p4x", lineage: ["p1", "p2x", "p3x"] },
      },
      expected: {
        environments: ["A", "B"],
        severity: "high",
        detail: 'Signature "sig-042" has incompatible patches: A and B: ' +
          `histories diverged ("p3" and "p4x" are not in each other's lineage)`,
      },
      conflicts: [{ environments: ["A", "B"], reason: "diverged-history" }],
    },
    {
      name: "equal patchIds never conflict",
      entries: {
        A: { rev: 3, patchId: "p3", lineage: ["p1"] },
        B: { rev: 3, patchId: "p3", lineage: ["p0"] },
      },
      expected: null,
    },
    {
      name: "no history check when one environment has no patchId",
      entries: { A: { rev: 3 }, B: { rev: 3, patchId: "p3" } },
      expected: null,
    },
    {
      name: "changes that set the same field to different values from the same previousRev",
      entries: {
        A: {
          rev: 3,
          previousRev: 2,
          patchId: "p3",
          changes: [{ action: "tune", field: "threshold", from: 10, to: 13 }],
        },
        B: {
          rev: 3,
          previousRev: 2,
          patchId: "p3",
          changes: [
            { action: "tune", field: "window", to: "5m" },
            { action: "tune", field: "threshold", from: 10, to: 99 },
          ],
        },
      },
      expected: {
        environments: ["A", "B"],
        detail: 'Signature "sig-042" has incompatible patches: A and B: ' +
          'field "threshold" set to different values from rev 2',
      },
      conflicts: [{
        environments: ["A", "B"],
        reason: "conflicting-changes",
        field: "threshold",
        previousRev: 2,
        to: { A: 13, B: 99 },
      }],
    },
    {
      name: "one conflict per field, sorted by field",
      entries: {
        A: {
          previousRev: 1,
          changes: [{ action: "set", field: "z", to: 1 }, { action: "set", field: "a", to: [1] }],
        },
        B: {
          previousRev: 1,
          changes: [{ action: "set", field: "a", to: [2] }, { action: "set", field: "z", to: 2 }],
        },
      },
      expected: { environments: ["A", "B"] },
      conflicts: [
        {
          environments: ["A", "B"],
          reason: "conflicting-changes",
          field: "a",
          previousRev: 1,
          to: { A: [1], B: [2] },
        },
        {
          environments: ["A", "B"],
          reason: "conflicting-changes",
          field: "z",
          previousRev: 1,
          to: { A: 1, B: 2 },
        },
      ],
    },
    {
      name: "values equal as canonical JSON do not conflict, whatever their key order",
      entries: {
        A: { previousRev: 2, changes: [{ action: "set", field: "f", to: { a: 1, b: [true] } }] },
        B: { previousRev: 2, changes: [{ action: "set", field: "f", to: { b: [true], a: 1 } }] },
      },
      expected: null,
    },
    {
      name: "the last change to a field is the one that counts",
      entries: {
        A: {
          previousRev: 2,
          changes: [{ action: "set", field: "f", to: 1 }, { action: "set", field: "f", to: 2 }],
        },
        B: { previousRev: 2, changes: [{ action: "set", field: "f", to: 2 }] },
      },
      expected: null,
    },
    {
      name: "changes from different previousRevs do not conflict",
      entries: {
        A: { previousRev: 1, changes: [{ action: "set", field: "f", to: 1 }] },
        B: { previousRev: 2, changes: [{ action: "set", field: "f", to: 2 }] },
      },
      expected: null,
    },
    {
      name: "changes without a previousRev, a field or a to value do not conflict",
      entries: {
        A: { changes: [{ action: "set", field: "f", to: 1 }] },
        B: {
          previousRev: 2,
          changes: [{ action: "drop", field: "f" }, { action: "note", to: 3 }],
        },
        C: { changes: [{ action: "set", field: "f", to: 2 }] },
      },
      expected: null,
    },
    {
      name: "names only the environments in a conflicting pair",
      entries: {
        A: { rev: 3, patchId: "p3a", lineage: ["p1", "p2"] },
        B: { rev: 3, patchId: "p3b", lineage: ["p1", "p2"] },
        C: { rev: 2, patchId: "p2", lineage: ["p1"] },
        D: { confidence: 0.5 },
      },
      expected: { environments: ["A", "B"] },
      conflicts: [
        { environments: ["A", "B"], reason: "same-rev-different-patch", rev: 3 },
        { environments: ["A", "B"], reason: "diverged-history" },
      ],
    },
    {
      name: "conflicts are listed pair by pair in environment order",
      entries: {
        C: { rev: 3, patchId: "pc" },
        A: { rev: 3, patchId: "pa" },
        B: { rev: 4, patchId: "pb", lineage: ["pa"] },
      },
      expected: { environments: ["A", "B", "C"] },
      conflicts: [
        { environments: ["A", "C"], reason: "same-rev-different-patch", rev: 3 },
        { environments: ["A", "C"], reason: "diverged-history" },
        { environments: ["B", "C"], reason: "diverged-history" },
      ],
    },
    {
      name: "a single environment never drifts",
      entries: { A: { rev: 3, patchId: "p3" } },
      expected: null,
    },
  ];
  for (const { name, entries, expected, conflicts } of cases) {
    await t.step(name, async () => {
      const findings = await detect(refinementConflict, oneSignature(entries));
      assertOne(findings, expected, "REFINEMENT_CONFLICT");
      if (conflicts !== undefined) assert.deepEqual(findings[0].evidence.conflicts, conflicts);
    });
  }
});

Deno.test("refinement-conflict resolves: every environment in a conflicting pair reviews", async () => {
  const lineage = ["p1", "p2"];
  const [finding] = await detect(
    refinementConflict,
    oneSignature({
      A: { rev: 3, patchId: "p3", lineage },
      B: { rev: 3, patchId: "p3", lineage },
      C: { rev: 3, patchId: "fork-p3", lineage },
      D: { rev: 3 },
    }),
  );
  assert.deepEqual(finding.environments, ["A", "B", "C"]);
  assert.deepEqual(finding.resolution, {
    action: "review",
    source: null,
    targets: ["A", "B", "C"],
    recommendation:
      'Review manually and merge or choose: signature "sig-042" has competing refinements (A: patch "p3" at revision 3; B: patch "p3" at revision 3; C: patch "fork-p3" at revision 3); A vs C: same-rev-different-patch, diverged-history; B vs C: same-rev-different-patch, diverged-history; change no environment\'s patch until it is reviewed, or a refinement is lost',
  });
});

Deno.test("a same-rev fork is a refinement conflict, not version skew", async () => {
  const table = oneSignature({
    A: { rev: 3, patchId: "p3a", lineage: ["p1", "p2"] },
    B: { rev: 3, patchId: "p3b", lineage: ["p1", "p2"] },
  });
  assert.deepEqual(await detect(versionSkew, table), []);
  assert.equal((await detect(refinementConflict, table)).length, 1);
});

Deno.test("a linear history at different revs is version skew, not a refinement conflict", async () => {
  const table = oneSignature({
    A: { rev: 2, patchId: "p2", lineage: ["p1"] },
    B: { rev: 3, patchId: "p3", lineage: ["p1", "p2"] },
  });
  assert.equal((await detect(versionSkew, table)).length, 1);
  assert.deepEqual(await detect(refinementConflict, table), []);
});

/** A few signatures with every kind of drift, across four environments. */
function mixedTable(): _ViewTable {
  const table: _ViewTable = { SOC_EAST: {}, SOC_NORTH: {}, SOC_SOUTH: {}, SOC_WEST: {} };
  const envs = Object.keys(table);
  for (let index = 0; index < 40; index++) {
    const id = `sig-${String(index).padStart(4, "0")}`;
    envs.forEach((env, e) => {
      const rev = 2 + (index % 3 === 0 && e === 1 ? 1 : 0);
      const forked = index % 5 === 0 && e === 2;
      table[env][id] = {
        rev,
        previousRev: rev - 1,
        patchId: forked ? `${id}-fork` : `${id}-p${rev}`,
        lineage: Array.from({ length: rev - 1 }, (_, i) => `${id}-p${i + 1}`),
        changes: [{
          action: "tune",
          field: "threshold",
          to: index % 7 === 0 && e === 3 ? 99 : rev,
        }],
        confidence: index % 4 === 0 && e === 0 ? 0.9 : 0.5 + (index % 3) * 0.05,
      };
    });
  }
  return table;
}

Deno.test("detectors are deterministic: the same packets in any order give deeply equal findings", async (t) => {
  const table = mixedTable();
  const view = await hubView(table);
  const reversed = await hubView(table, true);
  for (const plugin of DETECTORS) {
    await t.step(plugin.name, async () => {
      const first = await detect(plugin, view);
      assert.ok(first.length > 0, `${plugin.name} finds drift in the mixed table`);
      assert.deepEqual(await detect(plugin, view), first);
      const other = await detect(plugin, reversed);
      assert.deepEqual(other, first);
      assert.deepEqual(other.map(driftIdOf), first.map(driftIdOf));
      for (const finding of first) {
        assert.deepEqual(JSON.parse(JSON.stringify(finding)), finding, "evidence is plain JSON");
        assert.deepEqual(finding.environments, [...new Set(finding.environments)].sort());
        // Keys in JCS order: the drift id's canonical text is then JSON.stringify's (fast).
        const { driftType, environments, evidence, signatureId } = finding;
        const identity = { driftType, environments, evidence, signatureId };
        assert.equal(JSON.stringify(identity), canonicalString(identity, "jcs"), signatureId);
      }
      assert.deepEqual(
        first.map(({ signatureId }) => signatureId),
        [...new Set(first.map(({ signatureId }) => signatureId))].sort(),
        "one finding per signature, in signature order",
      );
    });
  }
});

Deno.test("detectors read each signature's entries once", async (t) => {
  const inner = _view(mixedTable());
  for (const plugin of DETECTORS) {
    await t.step(plugin.name, async () => {
      const reads = new Map<string, number>();
      const counting: FederationView = {
        ...inner,
        entries(signatureId) {
          reads.set(signatureId, (reads.get(signatureId) ?? 0) + 1);
          return inner.entries(signatureId);
        },
      };
      await detect(plugin, counting);
      assert.equal(reads.size, inner.signatures().length);
      assert.ok([...reads.values()].every((count) => count === 1));
    });
  }
});

Deno.test("detector findings pass the kernel's finding checks", async () => {
  const result = await runDetectors(
    _view(mixedTable()),
    DETECTORS.map((plugin) => ({ plugin, options: plugin.defaultOptions ?? {}, origin: "test" })),
  );
  assert.deepEqual(result.errors, []);
  assert.deepEqual(
    result.runs.map(({ name, findings }) => [name, findings > 0]),
    [["version-skew", true], ["posture-divergence", true], ["refinement-conflict", true]],
  );
});

Deno.test("runDetectors() refuses a signature-scoped finding about a subject the view does not hold", async () => {
  const wide = {
    kind: "detector" as const,
    name: "wide",
    version: "1.0.0",
    driftTypes: ["X"],
    scope: "signature" as const,
    detect: (view: FederationView) => [{
      driftType: "X",
      signatureId: "*",
      environments: [...view.environments()],
      severity: "low" as const,
      detail: "everything",
      evidence: {},
    }],
  };
  const result = await runDetectors(_view(mixedTable()), [
    { plugin: wide, options: {}, origin: "test" },
  ]);
  assert.deepEqual(result.drifts, []);
  assert.equal(
    result.errors[0]?.message,
    'finding 0 is about "*", not a signature of the view (the detector\'s scope is "signature")',
  );
  const federationWide = await runDetectors(_view(mixedTable()), [
    { plugin: { ...wide, scope: "federation" as const }, options: {}, origin: "test" },
  ]);
  assert.deepEqual(federationWide.errors, []);
  assert.equal(federationWide.drifts.length, 1);
});

Deno.test("detectors are well-formed built-in plugins", async (t) => {
  const expected = [
    ["version-skew", ["VERSION_SKEW"]],
    ["posture-divergence", ["POSTURE_DIVERGENCE"]],
    ["refinement-conflict", ["REFINEMENT_CONFLICT"]],
  ];
  const registry = new PluginRegistry();
  for (const [index, plugin] of DETECTORS.entries()) {
    await t.step(plugin.name, () => {
      validatePlugin(plugin, `plugin "${plugin.name}"`);
      registry.register(plugin as unknown as Plugin);
      assert.deepEqual([plugin.name, plugin.driftTypes], expected[index]);
      assert.equal(plugin.kind, "detector");
      assert.equal(plugin.version, "1.1.0");
      // Each compares one signature at a time: the stateful hub re-runs it on changed ones only.
      assert.equal(plugin.scope, "signature");
      assert.ok(plugin.description);
      const parsed = plugin.optionsSchema!.safeParse(plugin.defaultOptions);
      assert.ok(parsed.success, "default options pass the schema");
      assert.deepEqual(parsed.data, plugin.defaultOptions);
    });
  }
  assert.equal(registry.detectors().length, 3);
});

Deno.test("detector options are checked by their schemas", async (t) => {
  const cases: {
    name: string;
    plugin: DetectorPlugin<Record<string, unknown>>;
    options: unknown;
    data?: unknown;
    error?: RegExp;
  }[] = [
    { name: "posture threshold 0.3", plugin: DETECTORS[1], options: { threshold: 0.3 } },
    { name: 'posture threshold "0.3"', plugin: DETECTORS[1], options: { threshold: "0.3" } },
    { name: 'posture threshold "1e-1"', plugin: DETECTORS[1], options: { threshold: "1e-1" } },
    { name: "posture threshold 0", plugin: DETECTORS[1], options: { threshold: 0 } },
    { name: 'posture threshold "1"', plugin: DETECTORS[1], options: { threshold: "1" } },
    {
      name: "posture threshold defaults to 0.3",
      plugin: DETECTORS[1],
      options: {},
      data: { threshold: 0.3 },
    },
    {
      name: 'posture threshold "abc" is refused',
      plugin: DETECTORS[1],
      options: { threshold: "abc" },
      error: /Option "threshold" must be a decimal number from 0 to 1, not "abc"/,
    },
    {
      name: "posture threshold 2 is refused",
      plugin: DETECTORS[1],
      options: { threshold: 2 },
      error: /Option "threshold" must be a decimal number from 0 to 1, not 2/,
    },
    {
      name: 'posture threshold "-0.1" is refused',
      plugin: DETECTORS[1],
      options: { threshold: "-0.1" },
      error: /not "-0.1"/,
    },
    {
      name: "posture threshold true is refused",
      plugin: DETECTORS[1],
      options: { threshold: true },
      error: /Option "threshold" must be a number or a decimal string, not true/,
    },
    {
      name: "posture threshold NaN is refused",
      plugin: DETECTORS[1],
      options: { threshold: NaN },
      error: /threshold/,
    },
    {
      name: "an unknown posture option is refused",
      plugin: DETECTORS[1],
      options: { threshold: 0.3, treshold: 0.5 },
      error: /Unknown option "treshold": detector "posture-divergence" takes only "threshold"/,
    },
    {
      name: "an unknown version-skew option is refused",
      plugin: DETECTORS[0],
      options: { gap: 2 },
      error: /Unknown option "gap": detector "version-skew" takes no options/,
    },
    {
      name: "an unknown refinement-conflict option is refused",
      plugin: DETECTORS[2],
      options: { strict: true },
      error: /Unknown option "strict": detector "refinement-conflict" takes no options/,
    },
    { name: "options that are not an object", plugin: DETECTORS[0], options: 3, error: /object/ },
  ];
  for (const { name, plugin, options, data, error } of cases) {
    await t.step(name, () => {
      const result = plugin.optionsSchema!.safeParse(options);
      if (error === undefined) {
        assert.ok(result.success, result.success ? "" : result.error.message);
        assert.deepEqual(result.data, data ?? options);
      } else {
        assert.ok(!result.success, `expected ${JSON.stringify(options)} to be refused`);
        const issues = (result.error as unknown as { issues: { message: string }[] }).issues;
        assert.match(issues.map(({ message }) => message).join("\n"), error);
      }
    });
  }
});

Deno.test("posture-divergence refuses a bad threshold even when the schema was skipped", async () => {
  await assert.rejects(
    async () =>
      await detect(postureDivergence, oneSignature({ A: { confidence: 0.1 } }), {
        threshold: "abc",
      }),
    /Option "threshold" must be a decimal number from 0 to 1, not "abc"/,
  );
});

Deno.test("parseDecimal() reads shortest round-trip spellings exactly and refuses the rest", async (t) => {
  const read: [number | string, string][] = [
    [0.1, "0.1"],
    [1e-7, "0.0000001"],
    [5e-324, "0." + "0".repeat(323) + "5"],
    [1e21, "1" + "0".repeat(21)],
    [-0, "0"],
    ["1e+2", "100"],
    ["1E-1", "0.1"],
    ["-2.50", "-2.5"],
    ["007", "7"],
    [Number("0.40000000000000002"), "0.4"],
  ];
  for (const [value, expected] of read) {
    await t.step(`reads ${typeof value === "string" ? `"${value}"` : String(value)}`, () => {
      assert.equal(formatDecimal(parseDecimal(value)), expected);
    });
  }
  for (
    const value of ["", " 0.3", "0.3 ", ".5", "5.", "0x1", "1e", "1e1001", "abc", NaN, Infinity]
  ) {
    await t.step(`refuses ${typeof value === "string" ? JSON.stringify(value) : value}`, () => {
      assert.throws(() => parseDecimal(value), RangeError);
    });
  }
  await t.step("compares by value, not by spelling", () => {
    assert.equal(compareDecimals(parseDecimal("0.300"), parseDecimal(0.3)), 0);
    assert.equal(compareDecimals(parseDecimal("-0.1"), parseDecimal(0)), -1);
    assert.equal(compareDecimals(parseDecimal("1e-1000"), parseDecimal(0)), 1);
  });
});

Deno.test("posture-divergence matches an all-decimal reference on spreads around the threshold", async () => {
  // The detector decides most signatures with doubles and reads only the near ones as
  // decimals; this holds the shortcut to the exact answer on values built to sit on,
  // just above and just below thresholds, plus random ones.
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed / 2 ** 32;
  };
  const ulp = (x: number) => x === 0 ? Number.MIN_VALUE : Math.abs(x) * 2 ** -52;
  const thresholds = ["0", "0.3", "0.1", "0.25", "0.0000001", "0.9", "0.7"];
  for (const thresholdText of thresholds) {
    const threshold = Number(thresholdText);
    const table: _ViewTable = { A: {}, B: {}, C: {} };
    const expected = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const low = Math.round(random() * 1000) / 1000 * (1 - threshold);
      const nudges = [0, ulp(low + threshold), -ulp(low + threshold), 1e-12, -1e-12, 1e-9];
      let high = low + threshold + nudges[i % nudges.length];
      if (i % 7 === 6) high = random();
      high = Math.min(1, Math.max(0, high));
      const mid = low + (high - low) * random();
      const id = `sig-${String(i).padStart(4, "0")}`;
      const values = [low, mid, high];
      ["A", "B", "C"].forEach((env, k) => table[env][id] = { confidence: values[(i + k) % 3] });
      const exact = values.map((v) => parseDecimal(v));
      const max = exact.reduce((a, b) => compareDecimals(a, b) >= 0 ? a : b);
      const min = exact.reduce((a, b) => compareDecimals(a, b) <= 0 ? a : b);
      const spread = subtractDecimals(max, min);
      if (compareDecimals(spread, parseDecimal(thresholdText)) > 0) expected.add(id);
    }
    const findings = await detect(postureDivergence, table, { threshold: thresholdText });
    const found = new Set(findings.map((f) => f.signatureId));
    assert.deepEqual([...found].sort(), [...expected].sort(), `threshold ${thresholdText}`);
    assert.ok(
      expected.size > 0 && expected.size < 400,
      `threshold ${thresholdText} is a real test`,
    );
  }
});

Deno.test("refinement-conflict's shortcut for alike changes never hides a conflict", async () => {
  // Same patch everywhere, same previousRev: only conflicting changes can fire, and they fire
  // exactly when two environments set a field to values whose JCS texts differ.
  let seed = 42;
  const random = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed / 2 ** 32;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const values: unknown[] = [
    1,
    -0,
    0,
    "1",
    true,
    null,
    [1, 2],
    [2, 1],
    { a: 1, b: 2 },
    { b: 2, a: 1 },
    { a: [1, { c: null }] },
    { a: [1, { c: 0 }] },
  ];
  const change = () => {
    const c: Record<string, unknown> = { action: pick(["tune", "set"]) };
    if (random() < 0.9) c.field = pick(["threshold", "window"]);
    if (random() < 0.9) c.to = structuredClone(pick(values));
    if (random() < 0.3) c.from = structuredClone(pick(values));
    return c;
  };
  const lastTo = (changes: Record<string, unknown>[]) => {
    const sets = new Map<string, string>();
    for (const c of changes) {
      if (typeof c.field === "string" && c.to !== undefined) {
        sets.set(c.field, canonicalString(c.to, "jcs"));
      }
    }
    return sets;
  };
  let conflicts = 0;
  for (let round = 0; round < 400; round++) {
    const base = Array.from({ length: 1 + Math.floor(random() * 3) }, change);
    const entries: Record<string, Record<string, unknown>> = {};
    for (const env of ["A", "B", "C"].slice(0, 2 + Math.floor(random() * 2))) {
      // Mostly the same changes, spelled alike or differently; sometimes others.
      const changes = random() < 0.5
        ? structuredClone(base)
        : base.map((c) => random() < 0.5 ? structuredClone(c) : { ...change(), field: c.field });
      entries[env] = { rev: 3, previousRev: 2, patchId: "p3", lineage: ["p1", "p2"], changes };
    }
    const sets = Object.values(entries).map((entry) =>
      lastTo(entry.changes as Record<string, unknown>[])
    );
    const expected = sets.some((a, i) =>
      sets.some((b, j) =>
        j > i && [...a].some(([field, to]) => b.has(field) && b.get(field) !== to)
      )
    );
    const findings = await detect(refinementConflict, oneSignature(entries));
    assert.equal(findings.length, expected ? 1 : 0, JSON.stringify(entries));
    if (expected) conflicts++;
  }
  // The generator must exercise both answers.
  assert.ok(conflicts > 40 && conflicts < 360, `conflicts in ${conflicts} of 400 rounds`);
});
