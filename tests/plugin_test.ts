import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadPluginModule, PluginRegistry, validatePlugin } from "../core/plugin.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import * as staleEnvironmentModule from "../examples/stale_environment.ts";
import { type CliRun, oneErrorLine, runJrm, withTempDir } from "./_cli.ts";

const EXAMPLE = fileURLToPath(new URL("../examples/stale_environment.ts", import.meta.url));
const PACKETS = fileURLToPath(new URL("../fixtures/packets", import.meta.url));

/** Run `jrm …` in its own process, from the repository root. */
function jrm(args: string[]): Promise<CliRun> {
  return runJrm(args, { env: { SOURCE_DATE_EPOCH: "" } });
}

/** The prefix of each test's temporary directory. */
const TEMP_PREFIX = "plugin_test_";

/** A detector module's source, with no imports, so it runs from any directory. */
function detectorSource(fields: string, detect = "detect: () => []"): string {
  return `export default {\n  kind: "detector",\n  version: "1.0.0",\n  driftTypes: ["X"],\n  ${fields},\n  ${detect},\n};\n`;
}

Deno.test("loadPluginModule() loads a plugin from a path and names the file as its origin", async () => {
  const registry = builtinRegistry();
  const [plugin] = await loadPluginModule(registry, EXAMPLE);
  assert.equal(plugin.name, "stale-environment");
  assert.deepEqual(registry.detectors().map(({ name }) => name), [
    "version-skew",
    "posture-divergence",
    "refinement-conflict",
    "stale-environment",
  ]);
  const listed = registry.list().find(({ plugin }) => plugin.name === "stale-environment");
  assert.equal(listed?.origin, `"${EXAMPLE}"`);
});

Deno.test("loadPluginModule() registers an already imported module as compiled in", async () => {
  const registry = builtinRegistry();
  await loadPluginModule(registry, "examples/stale_environment.ts", staleEnvironmentModule);
  const listed = registry.list().find(({ plugin }) => plugin.name === "stale-environment");
  assert.equal(listed?.origin, '"examples/stale_environment.ts" (compiled in)');
});

Deno.test("loadPluginModule() resolves a path with URL-special characters from the working directory", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const path = `${dir}/odd #1 ?100%.ts`;
    await Deno.writeTextFile(path, detectorSource('name: "odd"'));
    const [plugin] = await loadPluginModule(new PluginRegistry(), path);
    assert.equal(plugin.name, "odd");
  });
});

Deno.test("PluginRegistry.register() replaces a plugin only when it asks to override", () => {
  const registry = builtinRegistry();
  const replacement = {
    kind: "detector" as const,
    name: "version-skew",
    version: "2.0.0",
    driftTypes: ["VERSION_SKEW"],
    detect: () => [],
  };
  assert.throws(() => registry.register(replacement, '"mine.ts"'), {
    message: 'Cannot load plugin "version-skew" from "mine.ts": a detector of that name is ' +
      'already registered from built-in (set "override: true" to replace it)',
  });
  registry.register({ ...replacement, override: true }, '"mine.ts"');
  const listed = registry.list().find(({ plugin }) => plugin.name === "version-skew");
  assert.equal(listed?.plugin.version, "2.0.0");
  assert.equal(listed?.origin, '"mine.ts"');
});

Deno.test("validatePlugin() names the plugin and the problem", async (t) => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "a kind that is an Object member",
      { kind: "constructor", name: "x", version: "1" },
      'Cannot load plugin "x" in "p.ts": "kind" must be one of "detector", "signer", "reporter", not "constructor"',
    ],
    [
      "default options that are not an object",
      { kind: "detector", name: "x", version: "1", driftTypes: [], detect() {}, defaultOptions: 5 },
      'Cannot load plugin "x" in "p.ts": "defaultOptions" must be an object',
    ],
    [
      "a missing version",
      { kind: "detector", name: "x", driftTypes: [], detect() {} },
      'Cannot load plugin "x" in "p.ts": "version" is missing or not a string',
    ],
    [
      "a scope the stateful hub does not know",
      { kind: "detector", name: "x", version: "1", driftTypes: [], detect() {}, scope: "env" },
      'Cannot load plugin "x" in "p.ts": "scope" must be "signature" or "federation", not "env"',
    ],
  ];
  for (const [what, value, message] of cases) {
    await t.step(what, () => {
      assert.throws(() => validatePlugin(value, 'plugin at position 0 in "p.ts"'), {
        name: "UsageError",
        message,
      });
    });
  }
});

Deno.test("jrm plugins list --plugin loads a plugin from a path", async () => {
  const run = await jrm(["plugins", "list", "--json", "--plugin", "examples/stale_environment.ts"]);
  assert.equal(run.code, 0, run.stderr);
  const rows = JSON.parse(run.stdout) as { name: string; origin: string }[];
  assert.deepEqual(rows.find(({ name }) => name === "stale-environment"), {
    kind: "detector",
    name: "stale-environment",
    version: "1.0.0",
    origin: '"examples/stale_environment.ts"',
    description: "An environment's newest window lags the others' by more than maxLagMinutes",
  });
});

Deno.test("jrm plugins list --config loads the config's plugins relative to the config file", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    await Deno.mkdir(`${dir}/plugins`);
    await Deno.writeTextFile(`${dir}/plugins/mine.ts`, detectorSource('name: "mine"'));
    await Deno.writeTextFile(`${dir}/jrm.config.json`, '{ "plugins": ["./plugins/mine.ts"] }');
    const run = await jrm(["plugins", "list", "--json", "--config", `${dir}/jrm.config.json`]);
    assert.equal(run.code, 0, run.stderr);
    const rows = JSON.parse(run.stdout) as { name: string; origin: string }[];
    assert.equal(
      rows.find(({ name }) => name === "mine")?.origin,
      `"${dir}/./plugins/mine.ts"`,
    );
  });
});

Deno.test("jrm plugins list --plugin refuses a broken plugin with one line naming the file, exit 2", async (t) => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const cases: { name: string; source: string; error: (path: string) => string }[] = [
      {
        name: "no default export",
        source: 'export const detector = { kind: "detector", name: "x" };\n',
        error: (path) => `Cannot load plugin file "${path}": it has no default export`,
      },
      {
        name: "a nameless plugin",
        source: detectorSource('name: "first"').replace("export default {", "const first = {") +
          `export default [first, { kind: "detector", version: "1", driftTypes: [], detect: () => [] }];\n`,
        error: (path) =>
          `Cannot load plugin at position 1 in "${path}": "name" is missing or not a non-empty string`,
      },
      {
        name: "a hook that is not a function",
        source: detectorSource('name: "lazy"', 'detect: "later"'),
        error: (path) => `Cannot load plugin "lazy" in "${path}": hook "detect" is not a function`,
      },
      {
        name: "a bad kind",
        source: detectorSource('name: "typo"').replace('kind: "detector"', 'kind: "detecter"'),
        error: (path) =>
          `Cannot load plugin "typo" in "${path}": "kind" must be one of "detector", "signer", "reporter", not "detecter"`,
      },
      {
        name: "a duplicate name without override",
        source: detectorSource('name: "version-skew"'),
        error: (path) =>
          `Cannot load plugin "version-skew" from "${path}": a detector of that name is already registered from built-in (set "override: true" to replace it)`,
      },
      {
        name: "an empty list",
        source: "export default [];\n",
        error: (path) => `Cannot load plugin file "${path}": its default export is an empty list`,
      },
      {
        name: "a syntax error",
        source: 'export default {\n  kind: "detector",, name: "x",\n};\n',
        error: (path) =>
          `Cannot load plugin file "${path}": SyntaxError: Unexpected token \`,\`. ` +
          "Expected identifier, string literal, numeric literal or [ for the computed key " +
          `(at file://${path}:2:20)`,
      },
      {
        name: "a missing file",
        source: "",
        error: (path) => `Cannot load plugin file "${path}": Module not found "file://${path}".`,
      },
    ];
    for (const [index, { name, source, error }] of cases.entries()) {
      await t.step(name, async () => {
        const path = `${dir}/broken_${index}.ts`;
        if (source !== "") await Deno.writeTextFile(path, source);
        const line = oneErrorLine(await jrm(["plugins", "list", "--plugin", path]), 2);
        assert.equal(line, `error: ${error(path)}`);
      });
    }
  });
});

Deno.test("jrm federate refuses bad detector options from the config or flags, exit 2", async (t) => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const config = `${dir}/jrm.config.json`;
    const cases: { name: string; detectors: unknown; flags?: string[]; error: string }[] = [
      {
        name: "an unknown option key in the config",
        detectors: { "stale-environment": { maxLag: 5 } },
        error: `Invalid options for detector "stale-environment" in config "${config}": ` +
          'Unknown option "maxLag": detector "stale-environment" takes only "maxLagMinutes"',
      },
      {
        name: "an option of the wrong type in the config",
        detectors: { "stale-environment": { maxLagMinutes: "soon" } },
        error: `Invalid options for detector "stale-environment" in config "${config}": ` +
          'Option "maxLagMinutes" must be a number of minutes, not "soon"',
      },
      {
        name: "an unknown detector in the config",
        detectors: { "stale-enviroment": { maxLagMinutes: 5 } },
        error: `Unknown detector "stale-enviroment" in config "${config}" (known: version-skew, ` +
          "posture-divergence, refinement-conflict, stale-environment)",
      },
      {
        name: "an option of the wrong type in --option, over a good config",
        detectors: { "stale-environment": { maxLagMinutes: 5 } },
        flags: ["--option", "stale-environment.maxLagMinutes=soon"],
        error: 'Invalid options for detector "stale-environment" in --option: ' +
          'Option "maxLagMinutes" must be a number of minutes, not "soon"',
      },
    ];
    for (const { name, detectors, flags = [], error } of cases) {
      await t.step(name, async () => {
        await Deno.writeTextFile(config, JSON.stringify({ plugins: [EXAMPLE], detectors }));
        const run = await jrm([
          "federate",
          "--packets",
          PACKETS,
          "--config",
          config,
          "--out",
          `${dir}/report.json`,
          ...flags,
        ]);
        assert.equal(oneErrorLine(run, 2), `error: ${error}`);
        await assert.rejects(Deno.stat(`${dir}/report.json`), Deno.errors.NotFound);
      });
    }
  });
});

Deno.test("jrm federate reports a failing detector by name, writes the report and exits 1", async (t) => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const cases: { name: string; detect: string; reason: string; message: string }[] = [
      {
        name: "a detector that throws",
        detect: 'detect() { throw new Error("boom"); }',
        reason: "threw",
        message: "boom",
      },
      {
        name: "a finding that names an unknown environment",
        detect: 'detect: () => [{ driftType: "X", signatureId: "sig-1", environments: ' +
          '["SOC_MARS"], severity: "low", detail: "", evidence: {} }]',
        reason: "invalid-result",
        message: 'finding 0 names unknown environment "SOC_MARS"',
      },
      {
        name: "a finding whose resolution asks an environment outside it to act",
        detect: 'detect: () => [{ driftType: "X", signatureId: "sig-1", environments: ' +
          '["SOC_EAST"], severity: "low", detail: "", evidence: {}, resolution: { action: ' +
          '"review", source: null, targets: ["SOC_WEST"], recommendation: "Look" } }]',
        reason: "invalid-result",
        message: 'finding 0 has a malformed "resolution": "targets" names "SOC_WEST", ' +
          "which is not one of the finding's environments",
      },
    ];
    for (const [index, { name, detect, reason, message }] of cases.entries()) {
      await t.step(name, async () => {
        const plugin = `${dir}/failing_${index}.ts`;
        const report = `${dir}/report_${index}.json`;
        await Deno.writeTextFile(plugin, detectorSource('name: "failing"', detect));
        const run = await jrm([
          "federate",
          "--packets",
          PACKETS,
          "--plugin",
          plugin,
          "--out",
          report,
          "--json",
        ]);
        assert.equal(run.code, 1, run.stderr);
        // Warnings (e.g. unsigned packets) may come first; the errors are these two lines.
        assert.deepEqual(run.stderr.split("\n").filter((line) => !line.startsWith("warning: ")), [
          `error: detector "failing" failed in "detect": ${message}`,
          "error: a detector failed; the drift list is incomplete",
          "",
        ]);
        const written = JSON.parse(await Deno.readTextFile(report));
        assert.deepEqual(written.detectorErrors, [{
          detector: "failing",
          hook: "detect",
          reason,
          message,
        }]);
        assert.deepEqual(JSON.parse(run.stdout).detectorErrors, written.detectorErrors);
        // The other detectors still ran.
        assert.ok(written.crossEnvDrifts.length > 0);
      });
    }
  });
});
