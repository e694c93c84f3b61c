import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { callHook, expectBytesOrText, loadPluginModule } from "../core/plugin.ts";
import type { FederationReport, ReportDrift } from "../core/report.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { _writeFrozenCorpus } from "./_frozen_corpus.ts";
import markdownReporter, { markdownCell } from "./markdown_reporter.ts";
import { runJrm, withTempDir } from "../tests/_cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function drift(fields: Partial<ReportDrift>): ReportDrift {
  return {
    driftId: "drift-000000000000000000000000",
    driftType: "VERSION_SKEW",
    severity: "medium",
    environments: ["SOC_EAST", "SOC_WEST"],
    signatureId: "sig-1",
    detail: "rev 3 against rev 4",
    evidence: {},
    detector: "version-skew",
    ...fields,
  };
}

function reportOf(crossEnvDrifts: ReportDrift[]): FederationReport {
  return {
    generatedAt: "2026-03-01T00:00:00Z",
    environments: ["SOC_EAST", "SOC_WEST"],
    crossEnvDrifts,
  } as unknown as FederationReport;
}

/** The table's rows (no header, no separator), each split into its cells. */
function rows(markdown: string): string[][] {
  return markdown.split("\n").filter((line) => line.startsWith("| ")).slice(2)
    .map((line) => line.slice(2, -2).split(/(?<!\\) \| /));
}

Deno.test("markdown reporter: loaded as a plugin module, it renders one row per drift, most severe first", async () => {
  const registry = builtinRegistry();
  await loadPluginModule(registry, "examples/markdown_reporter.ts");
  const reporter = registry.reporter("markdown");
  assert.ok(reporter, "no reporter of the markdown format after loading the module");
  const report = reportOf([
    drift({ severity: "low", signatureId: "sig-low" }),
    drift({
      severity: "high",
      signatureId: "sig-high",
      resolution: {
        action: "align",
        source: "SOC_WEST",
        targets: ["SOC_EAST"],
        recommendation: "Move SOC_EAST to rev 4",
      },
    }),
  ]);
  const text = await callHook(
    reporter,
    "render",
    () => reporter.render(report, {}),
    expectBytesOrText,
  );
  assert.equal(typeof text, "string");
  assert.deepEqual(rows(text as string), [
    [
      "high",
      "VERSION\\_SKEW",
      "sig-high",
      "SOC\\_EAST, SOC\\_WEST",
      "align with SOC\\_WEST: SOC\\_EAST",
      "Move SOC\\_EAST to rev 4",
    ],
    [
      "low",
      "VERSION\\_SKEW",
      "sig-low",
      "SOC\\_EAST, SOC\\_WEST",
      "review: SOC\\_EAST, SOC\\_WEST",
      'Review drift VERSION\\_SKEW on signature "sig-low" in SOC\\_EAST, SOC\\_WEST: rev 3 against rev 4',
    ],
  ]);
  assert.match(text as string, /^Report generated at 2026-03-01T00:00:00Z: 2 drift\(s\)\.$/m);
});

Deno.test("markdown reporter: a hostile subject stays inside its cell", async () => {
  const text = await markdownReporter.render(
    reportOf([drift({ signatureId: "a|b\n| injected | row |\u001b[31m" })]),
    {},
  ) as string;
  const table = rows(text);
  assert.equal(table.length, 1);
  assert.equal(table[0].length, 6);
  assert.equal(table[0][2], "a\\|b \\| injected \\| row \\| \\[31m");
  assert.ok(!text.includes("\u001b"), "an escape character reached the table");
  assert.equal(markdownCell("*x* <b>"), "\\*x\\* \\<b\\>");
});

Deno.test("markdown reporter: no drift, no table", async () => {
  const text = await markdownReporter.render(reportOf([]), {}) as string;
  assert.match(text, /: 0 drift\(s\)\.\n$/);
  assert.doesNotMatch(text, /\|/);
});

Deno.test("jrm report --plugin examples/markdown_reporter.ts --format markdown writes the drifts of a federation", async () => {
  await withTempDir("jrm-markdown-reporter-", async (dir) => {
    await _writeFrozenCorpus(dir, 3);
    const federate = await runJrm([
      "federate",
      "--now=2026-03-01T00:00:00Z",
      "--packets",
      dir,
      "--plugin",
      "examples/stale_environment.ts",
      "--option",
      "stale-environment.maxLagMinutes=5",
      "--out",
      `${dir}/report.json`,
    ]);
    assert.equal(federate.code, 0, federate.stderr);
    const report: FederationReport = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.ok(report.crossEnvDrifts.length > 1);

    const run = await runJrm([
      "report",
      "--from",
      `${dir}/report.json`,
      "--plugin",
      "examples/markdown_reporter.ts",
      "--format",
      "markdown",
      "--out",
      `${dir}/drifts.md`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), `Wrote "${dir}/drifts.md"`);
    const table = rows(await Deno.readTextFile(`${dir}/drifts.md`));
    assert.equal(table.length, report.crossEnvDrifts.length);
    assert.ok(
      table.some((cells) =>
        cells[1] === "STALE\\_ENVIRONMENT" && cells[2] === "\\*@SOC\\_WEST" &&
        cells[4] === "review: SOC\\_WEST"
      ),
      JSON.stringify(table),
    );
    const order = ["critical", "high", "medium", "low"];
    const ranks = table.map(([severity]) => order.indexOf(severity));
    assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b));
  });
});

Deno.test("jrm report --config loads the reporter from the config's plugins", async () => {
  await withTempDir("jrm-markdown-config-", async (dir) => {
    await Deno.writeTextFile(
      `${dir}/report.json`,
      JSON.stringify({
        reportVersion: 2,
        generatedAt: "2026-03-01T00:00:00Z",
        environments: ["SOC_EAST", "SOC_WEST"],
        packetsIngested: 0,
        packetsRejected: [],
        duplicates: [],
        crossEnvDrifts: [drift({})],
        mergedGraph: { nodes: 0, edges: 0, perEnvironment: {} },
        environmentStats: {},
        detectors: [],
        detectorErrors: [],
      }),
    );
    // The config sits beside the report, not in the working directory; it names the example by
    // its absolute path, as a config outside the repository would.
    await Deno.writeTextFile(
      `${dir}/jrm.config.json`,
      JSON.stringify({ plugins: [`${ROOT}examples/markdown_reporter.ts`] }),
    );
    const run = await runJrm([
      "report",
      "--from",
      `${dir}/report.json`,
      "--config",
      `${dir}/jrm.config.json`,
      "--format",
      "markdown",
      "--out",
      `${dir}/drifts.md`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(rows(await Deno.readTextFile(`${dir}/drifts.md`)).map((cells) => cells[2]), [
      "sig-1",
    ]);

    const without = await runJrm([
      "report",
      "--from",
      `${dir}/report.json`,
      "--format",
      "markdown",
      "--out",
      `${dir}/other.md`,
    ]);
    assert.equal(without.code, 2);
    assert.match(without.stderr, /No reporter renders the "markdown" format/);
  });
});
