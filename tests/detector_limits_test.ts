/**
 * A detector must never take the run down: its time budget, the cap on its
 * findings, the worker a detector from a module runs in, and what the report
 * says when one fails; as a library call and as a spawned `jrm federate`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { defaultConfig, loadConfig, resolveDetectorRuns } from "../core/config.ts";
import { type DetectorRun, type FederationView, runDetectors } from "../core/drift.ts";
import { ingestFiles } from "../core/hub.ts";
import { expandInputs } from "../core/inputs.ts";
import { loadPluginModule, PluginRegistry } from "../core/plugin.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { type CliRun, oneErrorLine, runJrm, withTempDir } from "./_cli.ts";
import { _view } from "./_fake_view.ts";

const PACKETS = fileURLToPath(new URL("../fixtures/packets", import.meta.url));
const BUILTIN_DETECTORS = ["version-skew", "posture-divergence", "refinement-conflict"];
const TEMP_PREFIX = "detector_limits_test_";

/** A detector module's source with no imports, so it loads from any directory. */
function detectorModule(name: string, detect: string, top = ""): string {
  return `${top}\nexport default {\n  kind: "detector",\n  name: ${
    JSON.stringify(name)
  },\n  version: "1.0.0",\n  driftTypes: ["X"],\n  ${detect},\n};\n`;
}

/** The four ways of misbehaving the issue names, as `detect` members. */
const MISBEHAVING = {
  // The same finding a million times: the count alone must stop it.
  flood: 'detect: () => new Array(1_000_000).fill({ driftType: "X", signatureId: "s", ' +
    'environments: ["SOC_EAST"], severity: "low", detail: "", evidence: {} })',
  never: "detect: () => new Promise(() => {})",
  busy: "detect() { while (true) {} }",
  throws: 'detect() { throw new Error("boom"); }',
};

/** Write each detector module in `dir`; returns their paths, in order. */
async function writeModules(dir: string, modules: Record<string, string>): Promise<string[]> {
  const paths: string[] = [];
  for (const [name, source] of Object.entries(modules)) {
    const path = `${dir}/${name}.ts`;
    await Deno.writeTextFile(path, source);
    paths.push(path);
  }
  return paths;
}

/** The runs of the detectors in these module files (no built-ins), as the CLI resolves them. */
async function moduleRuns(paths: string[]): Promise<DetectorRun[]> {
  const registry = new PluginRegistry();
  for (const path of paths) await loadPluginModule(registry, path);
  return resolveDetectorRuns(registry, defaultConfig());
}

const VIEW: FederationView = _view({
  SOC_EAST: { "sig-1": { rev: 1 } },
  SOC_WEST: { "sig-1": { rev: 2 } },
});

// --- the library --------------------------------------------------------------------------------

Deno.test("runDetectors() runs a detector from a module in a worker and stops each way it misbehaves", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const paths = await writeModules(dir, {
      ...Object.fromEntries(
        Object.entries(MISBEHAVING).map(([name, detect]) => [name, detectorModule(name, detect)]),
      ),
      fine: detectorModule(
        "fine",
        'detect: (view) => [{ driftType: "X", signatureId: "sig-1", environments: view.environments(), ' +
          'severity: "low", detail: "", evidence: { n: view.entries("sig-1").length } }]',
      ),
    });
    const runs = await moduleRuns(paths);
    assert.ok(runs.every((run) => run.module !== undefined));
    const result = await runDetectors(VIEW, runs, { timeoutSeconds: 1 });
    assert.deepEqual(result.errors, [
      {
        detector: "flood",
        hook: "detect",
        reason: "too-many-findings",
        message: "returned 1000000 findings, more than the limit of 100000",
      },
      {
        detector: "never",
        hook: "detect",
        reason: "timeout",
        message: "did not finish within its time budget of 1 s",
      },
      {
        detector: "busy",
        hook: "detect",
        reason: "timeout",
        message: "did not finish within its time budget of 1 s",
      },
      { detector: "throws", hook: "detect", reason: "threw", message: "boom" },
    ]);
    // The detector after them ran, on a copy of the view.
    assert.deepEqual(result.drifts.map(({ detector, evidence }) => ({ detector, evidence })), [
      { detector: "fine", evidence: { n: 2 } },
    ]);
    assert.deepEqual(result.runs.map(({ name, findings }) => [name, findings]), [
      ["flood", 0],
      ["never", 0],
      ["busy", 0],
      ["throws", 0],
      ["fine", 1],
    ]);
  });
});

Deno.test("runDetectors() keeps none of the findings of a detector over the cap", async () => {
  const two = {
    kind: "detector" as const,
    name: "two",
    version: "1.0.0",
    driftTypes: ["X"],
    detect: () =>
      ["sig-1", "sig-2"].map((signatureId) => ({
        driftType: "X",
        signatureId,
        environments: ["SOC_EAST"],
        severity: "low" as const,
        detail: "",
        evidence: {},
      })),
  };
  const run = { plugin: two, options: {}, origin: "test" };
  const capped = await runDetectors(VIEW, [run], { maxFindings: 1 });
  assert.deepEqual(capped.drifts, []);
  assert.deepEqual(capped.errors, [{
    detector: "two",
    hook: "detect",
    reason: "too-many-findings",
    message: "returned 2 findings, more than the limit of 1",
  }]);
  assert.equal((await runDetectors(VIEW, [run], { maxFindings: 2 })).drifts.length, 2);
});

Deno.test("runDetectors() in place: a flood, a detector that never settles, one that runs past its budget", async (t) => {
  const inPlace = (name: string, detect: DetectorRun["plugin"]["detect"]): DetectorRun => ({
    plugin: { kind: "detector", name, version: "1.0.0", driftTypes: ["X"], detect },
    options: {},
    origin: "test",
  });
  await t.step("a million findings are refused by their count", async () => {
    const finding = {
      driftType: "X",
      signatureId: "s",
      environments: ["SOC_EAST"],
      severity: "low" as const,
      detail: "",
      evidence: {},
    };
    const result = await runDetectors(VIEW, [
      inPlace("flood", () => new Array(1_000_000).fill(finding)),
    ]);
    assert.equal(result.errors[0].reason, "too-many-findings");
  });
  await t.step("more findings than a spread into push() takes are all kept", async () => {
    // Spreading 150,000 values as arguments overflows V8's stack.
    const count = 150_000;
    const result = await runDetectors(VIEW, [
      inPlace("many", () =>
        Array.from({ length: count }, (_, index) => ({
          driftType: "X",
          signatureId: `s${index}`,
          environments: ["SOC_EAST"],
          severity: "low" as const,
          detail: "",
          evidence: {},
        }))),
    ], { maxFindings: count });
    assert.deepEqual(result.errors, []);
    assert.equal(result.drifts.length, count);
  });
  await t.step("a promise that never settles ends at the budget", async () => {
    const result = await runDetectors(VIEW, [inPlace("never", () => new Promise(() => {}))], {
      timeoutSeconds: 0.2,
    });
    assert.deepEqual(result.errors, [{
      detector: "never",
      hook: "detect",
      reason: "timeout",
      message: "did not finish within its time budget of 0.2 s",
    }]);
  });
  await t.step("a synchronous detector that ran past its budget has spent it", async () => {
    const result = await runDetectors(VIEW, [
      inPlace("slow", () => {
        const end = performance.now() + 300;
        while (performance.now() < end) { /* busy */ }
        return [];
      }),
    ], { timeoutSeconds: 0.1 });
    assert.equal(result.errors[0]?.reason, "timeout");
  });
});

Deno.test('runDetectors() reports a module that does not load in the worker under the hook "load"', async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    // Loads on the main thread (where the registry checks it), hangs or throws in a worker.
    const inWorker = 'const inWorker = typeof WorkerGlobalScope !== "undefined";';
    const paths = await writeModules(dir, {
      hangs: detectorModule(
        "hangs",
        "detect: () => []",
        `${inWorker}\nif (inWorker) await new Promise(() => {});`,
      ),
      breaks: detectorModule(
        "breaks",
        "detect: () => []",
        `${inWorker}\nif (inWorker) throw new Error("not here");`,
      ),
    });
    const result = await runDetectors(VIEW, await moduleRuns(paths), {
      timeoutSeconds: 1,
      loadTimeoutSeconds: 2,
    });
    assert.deepEqual(result.errors, [
      {
        detector: "hangs",
        hook: "load",
        reason: "timeout",
        message: "did not load within its time budget of 2 s",
      },
      { detector: "breaks", hook: "load", reason: "threw", message: "not here" },
    ]);
  });
});

Deno.test("runDetectors() keeps a detector's worker from ending itself or failing out of reach", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const paths = await writeModules(dir, {
      exits: detectorModule("exits", "detect() { Deno.exit(0); }"),
      closes: detectorModule("closes", "detect() { close(); }"),
      later: detectorModule(
        "later",
        'detect: () => new Promise(() => { setTimeout(() => { throw new Error("from a timer"); }, 0); })',
      ),
      badResult: detectorModule("badResult", "detect: () => [() => 1]"),
    });
    const result = await runDetectors(VIEW, await moduleRuns(paths), { timeoutSeconds: 5 });
    assert.deepEqual(result.errors.map(({ detector, reason }) => [detector, reason]), [
      ["exits", "threw"],
      ["closes", "threw"],
      ["later", "threw"],
      ["badResult", "invalid-result"],
    ]);
    assert.match(result.errors[0].message, /Deno\.exit\(\), which a detector must not do/);
    assert.match(result.errors[1].message, /close\(\), which a detector must not do/);
    assert.match(result.errors[2].message, /from a timer/);
    assert.match(result.errors[3].message, /cannot be sent/);
  });
});

Deno.test("runDetectors() with restricted workers: a detector reads, writes and sees nothing", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    await Deno.writeTextFile(`${dir}/secret.json`, '"secret"');
    await Deno.writeTextFile(`${dir}/helper.ts`, 'export const environment = "SOC_EAST";\n');
    const tries = {
      reads: `detect() { Deno.readTextFileSync(${
        JSON.stringify(`${dir}/secret.json`)
      }); return []; }`,
      writes: `detect() { Deno.writeTextFileSync(${
        JSON.stringify(`${dir}/out.txt`)
      }, "x"); return []; }`,
      env: 'detect() { Deno.env.get("HOME"); return []; }',
      // A specifier in a variable: Deno loads literal ones with the module, before it is restricted.
      imports: `async detect() { const at = ${
        JSON.stringify(`${dir}/secret.json`)
      }; await import(at, { with: { type: "json" } }); return []; }`,
    };
    const paths = await writeModules(dir, {
      ...Object.fromEntries(
        Object.entries(tries).map(([name, detect]) => [name, detectorModule(name, detect)]),
      ),
      // Its own imports load: the module's files are readable until it has loaded.
      helped: detectorModule(
        "helped",
        'detect: () => [{ driftType: "X", signatureId: "sig-1", environments: [environment], ' +
          'severity: "low", detail: "", evidence: {} }]',
        'import { environment } from "./helper.ts";',
      ),
    });
    const runs = await moduleRuns(paths);
    const restricted = await runDetectors(VIEW, runs, { timeoutSeconds: 5, restrictWorkers: true });
    assert.deepEqual(restricted.errors.map(({ detector, reason }) => [detector, reason]), [
      ["reads", "threw"],
      ["writes", "threw"],
      ["env", "threw"],
      ["imports", "threw"],
    ]);
    for (const { message } of restricted.errors) {
      assert.match(message, /Requires (read|write|env) access/);
    }
    assert.deepEqual(restricted.drifts.map(({ detector }) => detector), ["helped"]);
    await assert.rejects(Deno.stat(`${dir}/out.txt`), Deno.errors.NotFound);
    // The process kept its own permissions.
    assert.equal(await Deno.readTextFile(`${dir}/secret.json`), '"secret"');
    // Without restriction the same detectors can: the refusals above are the restriction's.
    const open = await runDetectors(VIEW, runs, { timeoutSeconds: 5 });
    assert.deepEqual(open.errors, []);
    await Deno.remove(`${dir}/out.txt`);
  });
});

Deno.test("runDetectors() gives a detector in a worker the same view as in place", async () => {
  const files = await expandInputs([PACKETS]);
  const ingestion = await ingestFiles(files, {});
  const view = ingestion.state.view();
  const inPlace = await runDetectors(view, resolveDetectorRuns(builtinRegistry(), defaultConfig()));
  const registry = new PluginRegistry();
  for (const name of ["version_skew", "posture_divergence", "refinement_conflict"]) {
    await loadPluginModule(
      registry,
      fileURLToPath(new URL(`../plugins/detectors/${name}.ts`, import.meta.url)),
    );
  }
  const runs = resolveDetectorRuns(registry, defaultConfig());
  assert.ok(runs.every((run) => run.module !== undefined));
  const inWorkers = await runDetectors(view, runs, { restrictWorkers: true });
  assert.deepEqual(inWorkers.errors, []);
  assert.ok(inPlace.drifts.length > 0);
  assert.deepEqual(inWorkers.drifts, inPlace.drifts);
});

Deno.test("a config file's detectorTimeout and maxFindings reach the limits; flags win", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const path = `${dir}/jrm.config.json`;
    await Deno.writeTextFile(path, JSON.stringify({ detectorTimeout: 2.5, maxFindings: 7 }));
    const config = await loadConfig(path);
    assert.equal(config.detectorTimeout, 2.5);
    assert.equal(config.maxFindings, 7);
    for (const bad of [{ detectorTimeout: 0 }, { maxFindings: 1.5 }, { maxFindings: 0 }]) {
      await Deno.writeTextFile(path, JSON.stringify(bad));
      await assert.rejects(loadConfig(path), {
        name: "UsageError",
        message: new RegExp(`^Config ".*" is invalid at "${Object.keys(bad)[0]}"`),
      });
    }
  });
});

// --- the command line ---------------------------------------------------------------------------

function jrm(args: string[]): Promise<CliRun> {
  return runJrm(args, { env: { SOURCE_DATE_EPOCH: "" } });
}

/** stderr without the warnings (unsigned packets) that may come first. */
function errorLines(run: CliRun): string[] {
  return run.stderr.split("\n").filter((line) => line !== "" && !line.startsWith("warning: "));
}

Deno.test("jrm federate writes the report when detectors flood, never settle, busy-loop or throw, and exits 1", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const paths = await writeModules(
      dir,
      Object.fromEntries(
        Object.entries(MISBEHAVING).map(([name, detect]) => [name, detectorModule(name, detect)]),
      ),
    );
    const report = `${dir}/report.json`;
    const run = await jrm([
      "federate",
      "--packets",
      PACKETS,
      ...paths.flatMap((path) => ["--plugin", path]),
      "--detector-timeout",
      "1",
      "--out",
      report,
      "--json",
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.doesNotMatch(run.stderr, /Top-level await|Maximum call stack|^\s+at /m);
    assert.deepEqual(errorLines(run), [
      'error: detector "flood" failed in "detect": returned 1000000 findings, more than the limit of 100000',
      'error: detector "never" failed in "detect": did not finish within its time budget of 1 s',
      'error: detector "busy" failed in "detect": did not finish within its time budget of 1 s',
      'error: detector "throws" failed in "detect": boom',
      "error: a detector failed; the drift list is incomplete",
    ]);
    const written = JSON.parse(await Deno.readTextFile(report));
    assert.deepEqual(
      written.detectorErrors.map(({ detector, hook, reason }: Record<string, string>) => [
        detector,
        hook,
        reason,
      ]),
      [
        ["flood", "detect", "too-many-findings"],
        ["never", "detect", "timeout"],
        ["busy", "detect", "timeout"],
        ["throws", "detect", "threw"],
      ],
    );
    assert.deepEqual(JSON.parse(run.stdout).detectorErrors, written.detectorErrors);
    // The built-ins still ran and their drift is in the report; the failed detectors kept nothing.
    assert.ok(written.crossEnvDrifts.length > 0);
    assert.ok(
      written.crossEnvDrifts.every(({ detector }: { detector: string }) =>
        BUILTIN_DETECTORS.includes(detector)
      ),
    );
  });
});

Deno.test("jrm federate --max-findings and the config's maxFindings cap every detector, built-ins too", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const config = `${dir}/jrm.config.json`;
    await Deno.writeTextFile(config, JSON.stringify({ maxFindings: 1, detectorTimeout: 30 }));
    const capped = async (args: string[]) => {
      const report = `${dir}/report.json`;
      const run = await jrm(["federate", "--packets", PACKETS, "--out", report, ...args]);
      const written = JSON.parse(await Deno.readTextFile(report));
      await Deno.remove(report);
      return { run, written };
    };
    const byConfig = await capped(["--config", config]);
    assert.equal(byConfig.run.code, 1, byConfig.run.stderr);
    // On the demo packets every built-in finds more than one drift.
    assert.deepEqual(
      byConfig.written.detectorErrors.map(({ detector, reason }: Record<string, string>) => [
        detector,
        reason,
      ]),
      BUILTIN_DETECTORS.map((name) => [name, "too-many-findings"]),
    );
    assert.deepEqual(byConfig.written.crossEnvDrifts, []);
    const byFlag = await capped(["--max-findings", "1"]);
    assert.equal(byFlag.written.detectorErrors.length, 3);
    const flagWins = await capped(["--config", config, "--max-findings", "1000"]);
    assert.deepEqual(flagWins.written.detectorErrors, []);
  });
});

Deno.test("jrm federate refuses a bad --detector-timeout or --max-findings with one line, exit 2", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--detector-timeout", "0"], /--detector-timeout needs a number of seconds above 0/],
    [["--detector-timeout", "soon"], /--detector-timeout needs a number of seconds .*"soon"/],
    [["--detector-timeout", "9999999"], /at most 2147483/],
    [["--max-findings", "0"], /--max-findings needs a whole number of at least 1, not "0"/],
    [["--max-findings", "1e3"], /--max-findings needs a whole number/],
  ];
  for (const [flags, message] of cases) {
    await t.step(flags.join(" "), async () => {
      const run = await jrm(["federate", "--packets", PACKETS, "--out", "/dev/null", ...flags]);
      assert.match(oneErrorLine(run, 2), message);
    });
  }
});
