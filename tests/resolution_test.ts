/**
 * Resolutions: what a detector decided about its finding, checked at the
 * plugin boundary, carried by reports of version 2, and the only thing the
 * advisories and the HTML page read of a drift's meaning, also when a plugin
 * overrides a built-in detector.
 */

import assert from "node:assert/strict";
import { type DriftFinding, resolutionOf, runDetectors } from "../core/drift.ts";
import { defineDetector } from "../core/plugin.ts";
import { parseReport, REPORT_VERSION } from "../core/report.ts";
import { runJrm, withTempDir } from "./_cli.ts";
import { _view } from "./_fake_view.ts";
import { report, resolved, skew } from "./_report_fixture.ts";

const REPO = new URL("..", import.meta.url).pathname;

const VIEW = _view({
  A: { "sig-1": { rev: 2 } },
  B: { "sig-1": { rev: 1 } },
  C: { "sig-1": { rev: 1 } },
});

/** A detector that returns one finding over A and B with this resolution. */
function deciding(resolution: unknown) {
  return defineDetector({
    kind: "detector",
    name: "deciding",
    version: "1.0.0",
    driftTypes: ["X"],
    detect: () => [{
      driftType: "X",
      signatureId: "sig-1",
      environments: ["B", "A"],
      severity: "low",
      detail: "differs",
      evidence: {},
      resolution,
    } as DriftFinding],
  });
}

async function run(resolution: unknown) {
  return await runDetectors(VIEW, [{ plugin: deciding(resolution), options: {}, origin: "test" }]);
}

Deno.test("runDetectors() keeps a well-formed resolution, its targets sorted", async () => {
  const result = await run({
    action: "align",
    source: "A",
    targets: ["B"],
    recommendation: "Move B to rev 2",
  });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.drifts[0].resolution, {
    action: "align",
    source: "A",
    targets: ["B"],
    recommendation: "Move B to rev 2",
  });
  const both = await run({
    action: "review",
    source: null,
    targets: ["B", "A"],
    recommendation: "Look at both",
  });
  assert.deepEqual(both.drifts[0].resolution?.targets, ["A", "B"]);
  const none = await run(undefined);
  assert.deepEqual(none.errors, []);
  assert.equal(none.drifts[0].resolution, undefined, "none given, none invented in the report");
});

Deno.test("runDetectors() refuses a malformed resolution, naming the detector", async (t) => {
  const good = { action: "align", source: "A", targets: ["B"], recommendation: "Move B" };
  const cases: [string, unknown, string][] = [
    ["not an object", "align", "it is not an object"],
    ["a list", [good], "it is not an object"],
    [
      "an unknown action",
      { ...good, action: "move" },
      '"action" must be "align" or "review", not "move"',
    ],
    [
      "no action",
      { ...good, action: undefined },
      '"action" must be "align" or "review", not undefined',
    ],
    [
      "a source outside the finding",
      { ...good, source: "C" },
      '"source" must be null or one of the finding\'s environments, not "C"',
    ],
    [
      "a source that is not a name",
      { ...good, source: 1 },
      '"source" must be null or one of the finding\'s environments, not 1',
    ],
    [
      "align without a source",
      { ...good, source: null },
      '"align" needs a "source" for the targets to align with',
    ],
    [
      "no targets",
      { ...good, targets: [] },
      '"targets" must list one or more of the finding\'s environments',
    ],
    [
      "targets not a list",
      { ...good, targets: "B" },
      '"targets" must list one or more of the finding\'s environments',
    ],
    [
      "a target outside the finding",
      { ...good, targets: ["C"] },
      '"targets" names "C", which is not one of the finding\'s environments',
    ],
    ["a target twice", { ...good, targets: ["B", "B"] }, '"targets" names an environment twice'],
    [
      "the source as a target",
      { ...good, targets: ["A", "B"] },
      '"targets" names the source "A": the reference does not act',
    ],
    [
      "an empty recommendation",
      { ...good, recommendation: " " },
      '"recommendation" must be a sentence, not empty',
    ],
    [
      "no recommendation",
      { ...good, recommendation: undefined },
      '"recommendation" must be a sentence, not empty',
    ],
    [
      "a misspelt field",
      { ...good, target: ["B"] },
      'unknown field "target" (a resolution has only "action", "source", "targets", "recommendation")',
    ],
  ];
  for (const [what, resolution, problem] of cases) {
    await t.step(what, async () => {
      const result = await run(resolution);
      assert.deepEqual(result.drifts, []);
      assert.deepEqual(result.errors, [{
        detector: "deciding",
        hook: "detect",
        reason: "invalid-result",
        message: `finding 0 has a malformed "resolution": ${problem}`,
      }]);
    });
  }
});

Deno.test("resolutionOf() gives a drift without a resolution a review by every environment", () => {
  const drift = skew("sig-1", { B: 1, A: 2 });
  assert.deepEqual(resolutionOf(drift), {
    action: "review",
    source: null,
    targets: ["A", "B"],
    recommendation: `Review drift VERSION_SKEW on signature "sig-1" in A, B: ${drift.detail}`,
  });
  const decided = resolved(drift, "align", "A", ["B"], "Move B");
  assert.deepEqual(resolutionOf(decided), decided.resolution);
});

Deno.test("parseReport() reads version 2 with resolutions and version 1 without", async (t) => {
  const drift = resolved(skew("sig-1", { A: 2, B: 1 }), "align", "A", ["B"], "Move B");
  const v2 = report([drift]);
  assert.equal(v2.reportVersion, REPORT_VERSION);
  assert.equal(REPORT_VERSION, 2);
  await t.step("version 2 keeps the resolution", () => {
    assert.deepEqual(parseReport(structuredClone(v2), "r.json").crossEnvDrifts[0].resolution, {
      action: "align",
      source: "A",
      targets: ["B"],
      recommendation: "Move B",
    });
  });
  await t.step("version 1 loads; a field named resolution there is not one", () => {
    const v1 = parseReport({ ...structuredClone(v2), reportVersion: 1 }, "r.json");
    assert.equal(v1.reportVersion, 1);
    assert.equal(v1.crossEnvDrifts[0].resolution, undefined);
    assert.equal(v1.crossEnvDrifts[0].driftId, drift.driftId);
    const odd = structuredClone(v2);
    (odd.crossEnvDrifts[0] as Record<string, unknown>).resolution = "whatever a tool wrote";
    assert.equal(
      parseReport({ ...odd, reportVersion: 1 }, "r.json").crossEnvDrifts[0].resolution,
      undefined,
    );
  });
  await t.step("version 2 refuses a resolution that breaks the rules", () => {
    const bad = structuredClone(v2);
    bad.crossEnvDrifts[0].resolution!.targets = ["Z"];
    assert.throws(() => parseReport(bad, "r.json"), {
      message:
        '"r.json" is not a federation report: field "crossEnvDrifts.0.resolution": "targets" names "Z", which is not one of the finding\'s environments',
    });
    const wrongAction = structuredClone(v2) as unknown as {
      crossEnvDrifts: { resolution: { action: string } }[];
    };
    wrongAction.crossEnvDrifts[0].resolution.action = "move";
    assert.throws(
      () => parseReport(wrongAction, "r.json"),
      /field "crossEnvDrifts\.0\.resolution\.action": /,
    );
  });
  await t.step("another version is refused", () => {
    assert.throws(
      () => parseReport({ ...structuredClone(v2), reportVersion: 3 }, "r.json"),
      /^Error: "r\.json" is not a federation report: field "reportVersion": /,
    );
  });
});

/** `jrm federate` on the shipped fixtures, with extra arguments; the report it wrote. */
async function federate(dir: string, extra: string[] = []): Promise<Record<string, unknown>> {
  const run = await runJrm([
    "federate",
    "--packets",
    `${REPO}fixtures/packets`,
    "--keyring",
    `${REPO}fixtures/keyring.json`,
    "--out",
    `${dir}/report.json`,
    "--now",
    "2026-03-01T00:00:00Z",
    ...extra,
  ]);
  assert.equal(run.code, 0, run.stderr);
  lastStdout = run.stdout;
  return JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
}

/** What the last {@link federate} printed. */
let lastStdout = "";

/** `jrm advisory publish --json` of a report file into a new ledger: the advisories. */
async function advisoriesOf(dir: string, from: string) {
  const run = await runJrm([
    "advisory",
    "publish",
    "--from",
    from,
    "--store",
    `${dir}/ledger-${crypto.randomUUID()}.sqlite`,
    "--now",
    "2026-03-01T00:05:00Z",
    "--json",
  ]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout).advisories as {
    signatureId: string;
    driftType: string;
    action: string;
    sourceEnv: string | null;
    targetEnvs: string[];
    recommendation: string;
  }[];
}

/** The (signature, environment) cells the page at `path` colours. */
async function colouredCells(path: string): Promise<string[]> {
  const page = await Deno.readTextFile(path);
  const data = JSON.parse(
    page.match(/<script type="application\/json" id="jrm-data">([^]*?)<\/script>/)![1],
  );
  return data.rows.flatMap((row: [string, unknown, unknown, ([unknown, unknown, number] | 0)[]]) =>
    row[3].flatMap((cell, e) => cell !== 0 && cell[2] & 3 ? [`${row[0]} ${data.envs[e]}`] : [])
  ).sort();
}

Deno.test("jrm federate's drift table shows what each drift's resolution asks", async () => {
  await withTempDir("jrm-resolution-", async (dir) => {
    await federate(dir);
    const lines = lastStdout.split("\n");
    assert.match(lines.find((line) => line.startsWith("TYPE "))!, /SIGNATURE\s+ACTION\s+TARGETS\s/);
    const row = (type: string, signature: string) =>
      lines.find((line) => line.startsWith(`${type} `) && line.includes(` ${signature} `))!
        .split(/\s{2,}/).slice(3, 5);
    assert.deepEqual(row("VERSION_SKEW", "sig-0001"), [
      "align with SOC_NORTH",
      "SOC_EAST,SOC_WEST",
    ]);
    assert.deepEqual(row("VERSION_SKEW", "sig-0006"), [
      "review ref SOC_EAST",
      "SOC_NORTH,SOC_WEST",
    ]);
    assert.deepEqual(row("POSTURE_DIVERGENCE", "sig-0002"), ["review", "SOC_WEST"]);
  });
});

Deno.test("a report of version 1 still publishes and renders: every environment reviews", async () => {
  await withTempDir("jrm-resolution-", async (dir) => {
    const v2 = await federate(dir);
    assert.equal(v2.reportVersion, 2);
    const drifts = v2.crossEnvDrifts as Record<string, unknown>[];
    const v1 = {
      ...v2,
      reportVersion: 1,
      crossEnvDrifts: drifts.map(({ resolution: _, ...drift }) => drift),
    };
    await Deno.writeTextFile(`${dir}/v1.json`, JSON.stringify(v1));
    const advisories = await advisoriesOf(dir, `${dir}/v1.json`);
    assert.equal(advisories.length, drifts.length);
    for (const advisory of advisories) {
      assert.equal(advisory.action, "review");
      assert.equal(advisory.sourceEnv, null);
      const drift = drifts.find((d) =>
        d.signatureId === advisory.signatureId && d.driftType === advisory.driftType
      )!;
      assert.deepEqual(advisory.targetEnvs, drift.environments);
    }
    const render = await runJrm(["report", "--from", `${dir}/v1.json`, "--html", `${dir}/v1.html`]);
    assert.equal(render.code, 0, render.stderr);
    const everyInvolved = drifts.flatMap((d) =>
      (d.environments as string[]).map((env) => `${d.signatureId} ${env}`)
    );
    assert.deepEqual(await colouredCells(`${dir}/v1.html`), [...new Set(everyInvolved)].sort());
  });
});

/** A detector that replaces the built-in `posture-divergence` and decides otherwise. */
const OVERRIDE = `export default {
  kind: "detector",
  name: "posture-divergence",
  version: "9.0.0",
  override: true,
  driftTypes: ["POSTURE_DIVERGENCE"],
  detect(view) {
    const findings = [];
    for (const signatureId of view.signatures()) {
      const held = view.entries(signatureId).filter((e) => typeof e.entry.confidence === "number");
      if (held.length < 2) continue;
      const top = Math.max(...held.map((e) => e.entry.confidence));
      const low = Math.min(...held.map((e) => e.entry.confidence));
      if (top - low <= 0.3 + 1e-9) continue;
      const source = held.find((e) => e.entry.confidence === top).environmentId;
      const targets = held.filter((e) => e.entry.confidence !== top).map((e) => e.environmentId);
      findings.push({
        driftType: "POSTURE_DIVERGENCE",
        signatureId,
        environments: held.map((e) => e.environmentId),
        severity: "high",
        detail: "confidence differs",
        evidence: Object.fromEntries(held.map((e) => [e.environmentId, { confidence: e.entry.confidence }])),
        resolution: {
          action: "align",
          source,
          targets,
          recommendation: "Raise " + targets.join(", ") + " to the confidence of " + source,
        },
      });
    }
    return findings;
  },
};
`;

Deno.test("a detector that overrides a built-in gets its own resolutions used, end to end", async () => {
  await withTempDir("jrm-resolution-", async (dir) => {
    await Deno.writeTextFile(`${dir}/posture.ts`, OVERRIDE);
    const builtin = await federate(dir);
    const builtinPosture =
      (builtin.crossEnvDrifts as { driftType: string; signatureId: string; resolution: unknown }[])
        .filter((d) => d.driftType === "POSTURE_DIVERGENCE");
    const sig2 = builtinPosture.find((d) => d.signatureId === "sig-0002")!;
    assert.deepEqual(
      (sig2.resolution as { action: string; targets: string[] }).action,
      "review",
      "the built-in reviews the outlier",
    );

    const overridden = await federate(dir, ["--plugin", `${dir}/posture.ts`]);
    const runs = overridden.detectors as { name: string; version: string; origin: string }[];
    assert.deepEqual(
      runs.filter((r) => r.name === "posture-divergence").map((r) => [r.version, r.origin]),
      [["9.0.0", `"${dir}/posture.ts"`]],
    );
    const advisories = (await advisoriesOf(dir, `${dir}/report.json`))
      .filter((a) => a.driftType === "POSTURE_DIVERGENCE")
      .sort((a, b) => a.signatureId < b.signatureId ? -1 : 1);
    assert.deepEqual(advisories.map((a) => [a.signatureId, a.action, a.sourceEnv, a.targetEnvs]), [
      ["sig-0002", "move", "SOC_EAST", ["SOC_WEST"]],
      ["sig-0004", "move", "SOC_NORTH", ["SOC_EAST", "SOC_WEST"]],
      ["sig-0016", "move", "SOC_EAST", ["SOC_NORTH"]],
      ["sig-0018", "move", "SOC_EAST", ["SOC_NORTH", "SOC_WEST"]],
    ]);
    assert.equal(
      advisories[1].recommendation,
      "Raise SOC_EAST, SOC_WEST to the confidence of SOC_NORTH",
    );

    const render = await runJrm([
      "report",
      "--from",
      `${dir}/report.json`,
      "--html",
      `${dir}/page.html`,
    ]);
    assert.equal(render.code, 0, render.stderr);
    const coloured = (await colouredCells(`${dir}/page.html`))
      .filter((cell) => advisories.some((a) => cell.startsWith(`${a.signatureId} `)));
    assert.deepEqual(
      coloured,
      advisories.flatMap((a) => a.targetEnvs.map((env) => `${a.signatureId} ${env}`)).sort(),
    );
  });
});
