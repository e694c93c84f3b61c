/**
 * `mod.ts` as a library user meets it: imported by path from a script
 * outside the repository and run with a plain `deno run` (no `--config`, no
 * import map), which only works when every module it reaches, the hub's
 * workers included, names its npm dependencies by pinned `npm:` specifiers.
 *
 * @module
 */

import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { withTempDir } from "./_cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The script a user would write: federate the fixtures, build and check one packet. */
function userScript(root: string): string {
  const mod = pathToFileURL(`${root}mod.ts`).href;
  return `import {
  buildPacket, builtinRegistry, buildReport, defaultConfig, expandInputs, ingestFiles,
  loadKeyring, openLedger, publish, resolveDetectorRuns, runDetectors, validate,
} from ${JSON.stringify(mod)};

const registry = builtinRegistry();
const keyring = await loadKeyring(registry, ${JSON.stringify(`${root}fixtures/keyring.json`)});
const packets = await expandInputs([${JSON.stringify(`${root}fixtures/packets`)}]);
// Workers from two: they load their own modules, which must resolve without a config too.
const ingestion = await ingestFiles(packets, { keyring, workers: 2 });
const runs = resolveDetectorRuns(registry, defaultConfig());
const detection = await runDetectors(ingestion.state.view(), runs);
const report = buildReport(ingestion, detection, "2026-03-01T00:00:00Z");

// Writing a packet loads the zip writer on first use.
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const { bytes } = await buildPacket(new Map([
  ["truth_snapshot.json", json({})],
  ["authority_slice.json", json({ environmentId: "E" })],
  ["decision_lineage.jsonl", new Uint8Array()],
  ["drift_signal.jsonl", new Uint8Array()],
  ["memory_graph.json", json({ nodesAdded: [], edgesAdded: [] })],
  ["canon_entry.json", json({ entries: {} })],
]), { environmentId: "E", windowStart: "2026-01-01T00:00:00Z", windowEnd: "2026-01-01T00:10:00Z", part: 1 });
const built = await validate(bytes, { source: "built.zip" });

// The advisory engine, over a ledger in memory.
using ledger = openLedger(":memory:");
const published = await publish(ledger, report, { now: new Date("2026-03-01T00:00:00Z") });

console.log(JSON.stringify({
  ingested: report.packetsIngested,
  rejected: report.packetsRejected.length,
  drifts: report.crossEnvDrifts.length,
  built: built.reasonCode,
  advisories: published.created.length,
}));
`;
}

Deno.test("a script outside the repository imports mod.ts with a plain deno run", async () => {
  await withTempDir("library_use_", async (dir) => {
    assert.ok(relative(ROOT, dir).startsWith(".."), `${dir} is outside ${ROOT}`);
    await Deno.writeTextFile(`${dir}/federate.ts`, userScript(ROOT));
    // The same DENO_DIR as this process (inherited), so the npm packages come from its cache.
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-read", "federate.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    const expected = JSON.parse(await Deno.readTextFile(`${ROOT}fixtures/expected_drift.json`));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), {
      ingested: 9,
      rejected: 0,
      drifts: expected.length,
      built: "ACCEPTED",
      advisories: expected.length,
    });
  });
});

/** Every file the library is made of: what mod.ts and the workers can reach. */
async function libraryFiles(): Promise<string[]> {
  const files = ["mod.ts"];
  for (const dir of ["core", "plugins"]) {
    const walk = async (path: string): Promise<void> => {
      for await (const entry of Deno.readDir(`${ROOT}${path}`)) {
        const child = `${path}/${entry.name}`;
        if (entry.isDirectory) await walk(child);
        else if (child.endsWith(".ts")) files.push(child);
      }
    };
    await walk(dir);
  }
  return files.sort();
}

Deno.test("the library names npm packages as pinned in deno.json, never by a bare name", async () => {
  const imports: Record<string, string> = JSON.parse(
    await Deno.readTextFile(`${ROOT}deno.json`),
  ).imports;
  const problems: string[] = [];
  let pinned = 0;
  for (const file of await libraryFiles()) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    for (const [bare, target] of Object.entries(imports)) {
      // An import or export of the bare name (or a path under it); a string "postgres" is not one.
      const bareImport = new RegExp(
        `(?:\\bfrom\\s*|\\bimport\\s*\\(?\\s*)["']${escape(bare)}(?:/[^"']*)?["']`,
      );
      if (bareImport.test(text)) problems.push(`${file} imports "${bare}" by its bare name`);
      // The same package under another version would load twice.
      const name = target.replace(/^npm:/, "").replace(/@[^@/]+$/, "");
      for (const [specifier] of text.matchAll(new RegExp(`npm:${escape(name)}@[^"'/\\s]+`, "g"))) {
        if (specifier !== target) {
          problems.push(`${file}: ${specifier}, but deno.json pins ${target}`);
        } else pinned++;
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(pinned > 0, "the library imports its npm packages by pinned specifiers");
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
