import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { type DriftFinding, type FederationView, runDetectors } from "../core/drift.ts";
import { type Plugin, PluginRegistry } from "../core/plugin.ts";
import { _writeFrozenCorpus } from "./_frozen_corpus.ts";
import staleEnvironment, { type StaleEnvironmentOptions } from "./stale_environment.ts";
import { type CliRun, runJrm } from "../tests/_cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A view holding only each environment's newest window end: all this detector reads. */
function viewOf(windowEnds: Record<string, string>): FederationView {
  const environments = Object.keys(windowEnds).sort();
  return {
    environments: () => environments,
    environment: (environmentId) =>
      environmentId in windowEnds
        ? {
          environmentId,
          packets: 1,
          windowStart: "2026-02-28T10:00:00Z",
          windowEnd: windowEnds[environmentId],
          signatures: 0,
        }
        : undefined,
    signatures: () => [],
    entries: () => [],
  };
}

async function detect(
  windowEnds: Record<string, string>,
  maxLagMinutes = 60,
): Promise<DriftFinding[]> {
  return await staleEnvironment.detect(viewOf(windowEnds), { maxLagMinutes });
}

Deno.test("stale-environment flags an environment lagging by more than maxLagMinutes", async () => {
  const findings = await detect({
    SOC_EAST: "2026-02-28T12:00:00Z",
    SOC_NORTH: "2026-02-28T11:30:00Z",
    SOC_WEST: "2026-02-28T10:59:00Z",
  });
  assert.deepEqual(findings, [{
    driftType: "STALE_ENVIRONMENT",
    signatureId: "*@SOC_WEST",
    environments: ["SOC_WEST", "SOC_EAST"],
    severity: "medium",
    detail: "Environment SOC_WEST's newest window ends at 2026-02-28T10:59:00Z, 61 minutes " +
      "behind SOC_EAST (2026-02-28T12:00:00Z); the limit is 60 minutes",
    evidence: {
      windowEnd: { SOC_WEST: "2026-02-28T10:59:00Z", SOC_EAST: "2026-02-28T12:00:00Z" },
      lagMinutes: 61,
      maxLagMinutes: 60,
    },
    resolution: {
      action: "review",
      source: null,
      targets: ["SOC_WEST"],
      recommendation: "Check why SOC_WEST has published nothing since 2026-02-28T10:59:00Z",
    },
  }]);
});

Deno.test("stale-environment table cases", async (t) => {
  const cases: {
    name: string;
    windowEnds: Record<string, string>;
    maxLagMinutes?: number;
    expected: { subject: string; environments: string[]; severity: string }[];
  }[] = [
    {
      name: "a lag of exactly maxLagMinutes is not stale",
      windowEnds: { SOC_EAST: "2026-02-28T12:00:00Z", SOC_WEST: "2026-02-28T11:00:00Z" },
      expected: [],
    },
    {
      name: "environments in step are not stale",
      windowEnds: { SOC_EAST: "2026-02-28T12:00:00Z", SOC_WEST: "2026-02-28T12:00:00Z" },
      maxLagMinutes: 0,
      expected: [],
    },
    {
      name: "one environment alone is never stale",
      windowEnds: { SOC_EAST: "2026-02-28T12:00:00Z" },
      maxLagMinutes: 0,
      expected: [],
    },
    {
      name: "every environment holding the newest window is named",
      windowEnds: {
        SOC_EAST: "2026-02-28T12:00:00Z",
        SOC_NORTH: "2026-02-28T12:00:00Z",
        SOC_WEST: "2026-02-28T10:00:00Z",
      },
      expected: [{
        subject: "*@SOC_WEST",
        environments: ["SOC_WEST", "SOC_EAST", "SOC_NORTH"],
        severity: "medium",
      }],
    },
    {
      name: "two stale environments give two findings",
      windowEnds: {
        SOC_EAST: "2026-02-28T12:00:00Z",
        SOC_NORTH: "2026-02-28T10:00:00Z",
        SOC_WEST: "2026-02-28T10:30:00Z",
      },
      maxLagMinutes: 30,
      expected: [
        { subject: "*@SOC_NORTH", environments: ["SOC_NORTH", "SOC_EAST"], severity: "medium" },
        { subject: "*@SOC_WEST", environments: ["SOC_WEST", "SOC_EAST"], severity: "medium" },
      ],
    },
    {
      name: "a lag of more than four times the limit is high",
      windowEnds: { SOC_EAST: "2026-02-29T12:00:00Z", SOC_WEST: "2026-02-28T12:00:00Z" },
      expected: [{
        subject: "*@SOC_WEST",
        environments: ["SOC_WEST", "SOC_EAST"],
        severity: "high",
      }],
    },
  ];
  for (const { name, windowEnds, maxLagMinutes, expected } of cases) {
    await t.step(name, async () => {
      const findings = await detect(windowEnds, maxLagMinutes);
      assert.deepEqual(
        findings.map(({ signatureId, environments, severity }) => ({
          subject: signatureId,
          environments,
          severity,
        })),
        expected,
      );
    });
  }
});

Deno.test("stale-environment findings pass the kernel's checks and keep their ids", async () => {
  const view = viewOf({
    SOC_EAST: "2026-02-28T12:00:00Z",
    SOC_NORTH: "2026-02-28T10:00:00Z",
    SOC_WEST: "2026-02-28T10:00:00Z",
  });
  const run = () =>
    runDetectors(view, [{
      plugin: staleEnvironment as never,
      options: { maxLagMinutes: 60 },
      origin: "test",
    }]);
  const first = await run();
  assert.deepEqual(first.errors, []);
  assert.deepEqual(first.drifts.map(({ signatureId }) => signatureId), [
    "*@SOC_NORTH",
    "*@SOC_WEST",
  ]);
  assert.deepEqual(
    (await run()).drifts.map(({ driftId }) => driftId),
    first.drifts.map(({ driftId }) => driftId),
  );
});

Deno.test("stale-environment options: default, and strict checks", async (t) => {
  const registry = new PluginRegistry();
  registry.register(staleEnvironment as Plugin, '"examples/stale_environment.ts"');
  const resolve = (options?: Record<string, unknown>) =>
    resolveDetectorRuns(registry, {
      ...defaultConfig(),
      path: "jrm.config.json",
      detectors: options ? { "stale-environment": options } : {},
    });
  await t.step("no options get the default of 60 minutes", () => {
    const expected: StaleEnvironmentOptions = { maxLagMinutes: 60 };
    assert.deepEqual(resolve()[0].options, expected);
  });
  const refused: [string, Record<string, unknown>, string][] = [
    [
      "an unknown key",
      { maxLag: 5 },
      'Unknown option "maxLag": detector "stale-environment" takes only "maxLagMinutes"',
    ],
    [
      "a string",
      { maxLagMinutes: "5" },
      'Option "maxLagMinutes" must be a number of minutes, not "5"',
    ],
    ["a negative number", { maxLagMinutes: -1 }, 'Option "maxLagMinutes" must be 0 or more'],
  ];
  for (const [what, options, problem] of refused) {
    await t.step(`${what} is refused`, () => {
      assert.throws(() => resolve(options), {
        name: "UsageError",
        message:
          `Invalid options for detector "stale-environment" in config "jrm.config.json": ${problem}`,
      });
    });
  }
});

/** Run `jrm federate` in its own process, from `cwd`. */
function federate(cwd: string, args: string[]): Promise<CliRun> {
  return runJrm(["federate", "--json", "--now=2026-03-01T00:00:00Z", ...args], { cwd });
}

async function staleDrifts(reportPath: string) {
  const report = JSON.parse(await Deno.readTextFile(reportPath));
  return (report.crossEnvDrifts as (DriftFinding & { detector: string })[])
    .filter(({ driftType }) => driftType === "STALE_ENVIRONMENT");
}

Deno.test("jrm federate --plugin examples/stale_environment.ts reports a frozen environment", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const corpus = await _writeFrozenCorpus(dir, 8);
    assert.equal(corpus.lagMinutes, 70);
    const run = await federate(ROOT, [
      "--packets",
      dir,
      "--plugin",
      "examples/stale_environment.ts",
      "--out",
      `${dir}/report.json`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const [drift, ...more] = await staleDrifts(`${dir}/report.json`);
    assert.deepEqual(more, []);
    assert.equal(drift.detector, "stale-environment");
    assert.equal(drift.signatureId, "*@SOC_WEST");
    assert.deepEqual(drift.environments, ["SOC_EAST", "SOC_NORTH", "SOC_WEST"]);
    assert.deepEqual(drift.evidence, {
      windowEnd: {
        SOC_WEST: "2026-02-28T10:10:00Z",
        SOC_EAST: "2026-02-28T11:20:00Z",
        SOC_NORTH: "2026-02-28T11:20:00Z",
      },
      lagMinutes: 70,
      maxLagMinutes: 60,
    });

    const relaxed = await federate(ROOT, [
      "--packets",
      dir,
      "--plugin",
      "examples/stale_environment.ts",
      "--option",
      "stale-environment.maxLagMinutes=90",
      "--out",
      `${dir}/relaxed.json`,
    ]);
    assert.equal(relaxed.code, 0, relaxed.stderr);
    assert.deepEqual(await staleDrifts(`${dir}/relaxed.json`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm federate --config loads the plugin and its options from the config file", async () => {
  const dir = await Deno.makeTempDir();
  // The config sits at the repository root (as a user's would), so "./examples/…" resolves
  // against it; the run starts elsewhere, to show the path is relative to the file, not
  // to the working directory. `*.tmp` is ignored by git.
  const config = await Deno.makeTempFile({ dir: ROOT, prefix: ".stale_env_test_", suffix: ".tmp" });
  try {
    await _writeFrozenCorpus(dir, 3);
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        plugins: ["./examples/stale_environment.ts"],
        detectors: { "stale-environment": { maxLagMinutes: 5 } },
      }),
    );
    const run = await federate(dir, [
      "--packets",
      dir,
      "--config",
      config,
      "--out",
      `${dir}/report.json`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const [drift, ...more] = await staleDrifts(`${dir}/report.json`);
    assert.deepEqual(more, []);
    assert.equal(drift.signatureId, "*@SOC_WEST");
    assert.equal(drift.evidence.lagMinutes, 20);
    assert.equal(drift.evidence.maxLagMinutes, 5);
  } finally {
    await Deno.remove(config);
    await Deno.remove(dir, { recursive: true });
  }
});
