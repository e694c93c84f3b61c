import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { advisoryIdOf, listAdvisories, publish } from "../core/advisory.ts";
import { UsageError } from "../core/errors.ts";
import {
  parseReferenceReport,
  REFERENCE_DETECTOR,
  referenceAdvisories,
} from "../core/reference_report.ts";
import { MIGRATIONS, openLedger } from "../core/store.ts";
import { type CliRun, runJrm, withTempDir } from "./_cli.ts";
import { report, resolved, skew } from "./_report_fixture.ts";

const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-env=JRM_STORE,SOURCE_DATE_EPOCH,NO_COLOR",
];

function jrm(args: string[]): Promise<CliRun> {
  return runJrm(["advisory", ...args], {
    permissions: PERMISSIONS,
    env: { JRM_STORE: "", SOURCE_DATE_EPOCH: "" },
  });
}

/**
 * A report as the reference hub's `produce_report()` writes it: no
 * `reportVersion`, random drift ids, no evidence, posture drifts with an empty
 * `signatureId` and the key in `detail`, the merged graph as lists.
 */
function referenceReport(
  options: { generatedAt?: string; drifts?: Record<string, unknown>[] } = {},
): Record<string, unknown> {
  return {
    environments: ["SOC_EAST", "SOC_WEST"],
    packetsIngested: 4,
    crossEnvDrifts: options.drifts ?? [
      {
        driftId: "XDS-3f9a1c0e7b2d",
        driftType: "VERSION_SKEW",
        severity: "medium",
        environments: ["SOC_EAST", "SOC_WEST"],
        signatureId: "SID-2019401",
        detail: "Revisions: {'SOC_EAST': ['4'], 'SOC_WEST': ['3']}",
      },
      {
        driftId: "XDS-0c1d2e3f4a5b",
        driftType: "POSTURE_DIVERGENCE",
        severity: "high",
        environments: ["SOC_EAST", "SOC_WEST"],
        signatureId: "",
        detail: "Key SID-2024897 confidence diverges: {'SOC_EAST': 0.95, 'SOC_WEST': 0.35}",
      },
    ],
    mergedGraph: {
      globalNodes: [{ nodeId: "n-1", kind: "event", environmentId: "SOC_EAST" }],
      globalEdges: [],
      environments: ["SOC_EAST", "SOC_WEST"],
      mergedAt: "2026-03-01T00:00:00.000001+00:00",
    },
    generatedAt: options.generatedAt ?? "2026-03-01T00:00:00.123456+00:00",
  };
}

const CONFLICT = {
  driftId: "XDS-aaaaaaaaaaaa",
  driftType: "REFINEMENT_CONFLICT",
  severity: "high",
  environments: ["SOC_EAST", "SOC_WEST"],
  signatureId: "SID-3000001",
  detail: "patches differ",
};

Deno.test("advisory publish --from takes a reference hub report: its drifts become review advisories", async () => {
  await withTempDir("jrm-reference-", async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    await Deno.writeTextFile(`${dir}/reference.json`, JSON.stringify(referenceReport(), null, 2));
    const run = await jrm([
      "publish",
      "--from",
      `${dir}/reference.json`,
      "--store",
      store,
      "--now",
      "2026-03-01T01:00:00Z",
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const published = JSON.parse(run.stdout);
    assert.equal(published.origin, "reference");
    assert.equal(published.created.length, 2);
    const advisories = published.advisories as {
      signatureId: string;
      action: string;
      status: string;
      detail: { detector: string; driftId: string };
      advisoryId: string;
      driftType: string;
    }[];
    assert.deepEqual(advisories.map((a) => a.signatureId).sort(), ["SID-2019401", "SID-2024897"]);
    for (const advisory of advisories) {
      assert.equal(advisory.action, "review");
      assert.equal(advisory.status, "published");
      assert.equal(advisory.detail.detector, REFERENCE_DETECTOR);
      // The same ids as jrm gives the same drift: type, signature, environments.
      assert.equal(
        advisory.advisoryId,
        advisoryIdOf({
          driftType: advisory.driftType,
          signatureId: advisory.signatureId,
          environments: ["SOC_EAST", "SOC_WEST"],
        }),
      );
    }
    const text = await jrm(["publish", "--from", `${dir}/reference.json`, "--store", store]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^Published ".*reference\.json" \(a reference hub report\) to ledger ".*": 2 advisories \(0 new, 0 reopened, 0 changed, 2 unchanged\), 0 resolved$/m,
    );
  });
});

Deno.test("a newer reference report resolves what the reference hub looks for, and only that", async () => {
  using ledger = openLedger(":memory:");
  const first = parseReferenceReport(
    referenceReport({ drifts: [...(referenceReport().crossEnvDrifts as []), CONFLICT] }),
    "first.json",
  );
  const created = await publish(ledger, first, { origin: "reference" });
  assert.equal(created.created.length, 3);
  const later = parseReferenceReport(
    referenceReport({ generatedAt: "2026-03-02T00:00:00+00:00", drifts: [] }),
    "later.json",
  );
  const result = await publish(ledger, later, { origin: "reference" });
  // The reference never looked for refinement conflicts: its silence says nothing about one.
  assert.equal(result.resolved.length, 2);
  assert.equal(result.uncovered.length, 1);
  const statuses = Object.fromEntries(
    (await listAdvisories(ledger)).map((a) => [a.driftType, a.status]),
  );
  assert.deepEqual(statuses, {
    VERSION_SKEW: "resolved",
    POSTURE_DIVERGENCE: "resolved",
    REFINEMENT_CONFLICT: "published",
  });
});

Deno.test("a ledger holds advisories of one kind of report: mixing is refused both ways", async (t) => {
  const jrmReport = report([skew("SID-2019401", { SOC_EAST: 4, SOC_WEST: 3 })], {
    generatedAt: "2026-03-01T00:00:00Z",
  });
  const reference = parseReferenceReport(referenceReport(), "reference.json");
  await t.step("a reference report into a ledger of jrm advisories", async () => {
    using ledger = openLedger(":memory:");
    await publish(ledger, jrmReport);
    const before = JSON.stringify(await listAdvisories(ledger));
    await assert.rejects(
      publish(ledger, reference, { origin: "reference" }),
      (error: unknown) =>
        error instanceof UsageError && error.exitCode === 1 &&
        /^Ledger ":memory:" holds 1 advisory from jrm's own reports; a reference hub report is not published into it, because the two hubs find drift differently and one's silence must not resolve the other's advisories; publish it into another ledger$/
          .test(error.message),
    );
    assert.equal(JSON.stringify(await listAdvisories(ledger)), before);
  });
  await t.step("a jrm report into a ledger of reference advisories", async () => {
    using ledger = openLedger(":memory:");
    await publish(ledger, reference, { origin: "reference" });
    await assert.rejects(
      publish(ledger, jrmReport),
      /holds 2 advisories from reference hub reports; a jrm report is not published into it/,
    );
    assert.ok(
      (await listAdvisories(ledger)).every((a) => a.detail.detector === REFERENCE_DETECTOR),
    );
  });
  await t.step("a ledger made before advisories had an origin holds jrm's", async () => {
    await withTempDir("jrm-reference-", async (dir) => {
      const path = `${dir}/old.sqlite`;
      // A ledger as version 1 of the schema left it, with one advisory of a jrm report.
      const db = new DatabaseSync(path);
      db.exec(MIGRATIONS[0]);
      db.exec(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
      );
      db.exec("INSERT INTO schema_version VALUES (1, 'then')");
      db.prepare(
        `INSERT INTO advisories VALUES ('adv-1', 'VERSION_SKEW', 'medium', 'SID-1', '["A","B"]',
           'A', '["B"]', 'move', 'Move B', 'published', 'd-1', 'rev differs', 'version-skew',
           '{}', 'sha256:0', 't', 't')`,
      ).run();
      db.close();
      using ledger = openLedger(path);
      assert.equal(ledger.schemaVersion, MIGRATIONS.length);
      await assert.rejects(
        publish(ledger, reference, { origin: "reference" }),
        /holds 1 advisory from jrm's own reports/,
      );
    });
  });
});

Deno.test("advisory publish refuses a reference report into a jrm ledger in one line, exit 1", async () => {
  await withTempDir("jrm-reference-", async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    await Deno.writeTextFile(
      `${dir}/jrm.json`,
      JSON.stringify(
        report([skew("SID-2019401", { SOC_EAST: 4, SOC_WEST: 3 })], {
          generatedAt: "2026-03-01T00:00:00Z",
        }),
      ),
    );
    await Deno.writeTextFile(`${dir}/reference.json`, JSON.stringify(referenceReport()));
    assert.equal((await jrm(["publish", "--from", `${dir}/jrm.json`, "--store", store])).code, 0);
    const before = await Deno.readFile(store);
    const run = await jrm(["publish", "--from", `${dir}/reference.json`, "--store", store]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Ledger ".*" holds 1 advisory from jrm's own reports; [^\n]*\n$/,
    );
    assert.deepEqual(await Deno.readFile(store), before);
  });
});

Deno.test("parseReferenceReport() refuses what it cannot publish, naming the field", async (t) => {
  const base = referenceReport();
  const cases: [string, unknown, RegExp][] = [
    [
      "a jrm report",
      { ...base, reportVersion: 1 },
      /^"r\.json" is not a reference hub report: it has "reportVersion", as jrm's reports do$/,
    ],
    [
      "a severity the hub does not know",
      referenceReport({
        drifts: [{ ...(base.crossEnvDrifts as Record<string, unknown>[])[0], severity: "info" }],
      }),
      /^"r\.json" is not a reference hub report: field "crossEnvDrifts\.0\.severity": /,
    ],
    [
      "a drift that names no signature anywhere",
      referenceReport({
        drifts: [{
          ...(base.crossEnvDrifts as Record<string, unknown>[])[1],
          detail: "confidence diverges",
        }],
      }),
      /^"r\.json" is not a reference hub report jrm can publish: field "crossEnvDrifts\.0\.signatureId" is empty and its detail names no key \("confidence diverges"\)$/,
    ],
    [
      "no generatedAt",
      { ...base, generatedAt: undefined },
      /^"r\.json" is not a reference hub report: field "generatedAt": /,
    ],
  ];
  for (const [what, value, message] of cases) {
    await t.step(what, () => {
      assert.throws(
        () => parseReferenceReport(JSON.parse(JSON.stringify(value)), "r.json"),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
      );
    });
  }
});

Deno.test("advisory export --format reference writes the reference's advisory list, resolved included", async () => {
  await withTempDir("jrm-reference-", async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const move = resolved(
      skew("SID-2019401", { SOC_EAST: 4, SOC_WEST: 3 }),
      "align",
      "SOC_EAST",
      ["SOC_WEST"],
    );
    const later = skew("SID-5", { SOC_EAST: 2, SOC_WEST: 1 });
    {
      using ledger = openLedger(store);
      await publish(ledger, report([move, later], { generatedAt: "2026-03-01T00:00:00Z" }));
      await publish(ledger, report([move], { generatedAt: "2026-03-02T00:00:00Z" }));
    }
    const run = await jrm(["export", "--format", "reference", "--store", store]);
    assert.equal(run.code, 0, run.stderr);
    const list = JSON.parse(run.stdout);
    assert.deepEqual(list.map((a: Record<string, unknown>) => Object.keys(a)), [
      ["advisory_id", "drift_type", "source_env", "target_envs", "recommendation", "status"],
      ["advisory_id", "drift_type", "source_env", "target_envs", "recommendation", "status"],
    ]);
    const byId = Object.fromEntries(list.map((a: { advisory_id: string }) => [a.advisory_id, a]));
    assert.equal(byId[advisoryIdOf(move)].source_env, "SOC_EAST");
    assert.deepEqual(byId[advisoryIdOf(move)].target_envs, ["SOC_WEST"]);
    assert.equal(byId[advisoryIdOf(move)].status, "published");
    assert.equal(byId[advisoryIdOf(later)].status, "resolved");
    const written = await jrm([
      "export",
      "--format",
      "reference",
      "--store",
      store,
      "--out",
      `${dir}/advisories.json`,
    ]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(written.stdout, "");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/advisories.json`)), list);
  });
});

Deno.test("referenceAdvisories() writes no source as the reference does: an empty string", () => {
  assert.deepEqual(
    referenceAdvisories([{
      advisoryId: "adv-00000000000000000001",
      driftType: "POSTURE_DIVERGENCE",
      sourceEnv: null,
      targetEnvs: ["SOC_WEST"],
      recommendation: "Review the confidence",
      status: "declined",
    }]),
    [{
      advisory_id: "adv-00000000000000000001",
      drift_type: "POSTURE_DIVERGENCE",
      source_env: "",
      target_envs: ["SOC_WEST"],
      recommendation: "Review the confidence",
      status: "declined",
    }],
  );
});
