/**
 * What running a detector in a worker costs on the bench corpus (run
 * `deno task bench` once first, which generates it): the structured clone of
 * the view, and a detector that reads every entry run in a worker against
 * the same detector in place; then the three built-ins both ways.
 *
 * ```sh
 * deno run -A --v8-flags=--max-semi-space-size=2 bench/detector_worker_bench.ts [--cpu] [--rounds N]
 * ```
 *
 * `--cpu` measures the process's CPU time (every thread) instead of wall
 * time: on a machine shared with other work, wall time says more about the
 * neighbours than about the code. Prints medians and every round.
 *
 * @module
 */

import process from "node:process";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { snapshotView } from "../core/detector_host.ts";
import { type DetectorRun, runDetectors } from "../core/drift.ts";
import { ingestFiles } from "../core/hub.ts";
import { expandInputs } from "../core/inputs.ts";
import { loadKeyring } from "../core/keyring.ts";
import { loadPluginModule, PluginRegistry } from "../core/plugin.ts";
import { builtinRegistry } from "../plugins/builtin.ts";

const CORPUS = new URL("./.cache/corpus-4x25-5000e-5000s/", import.meta.url).pathname;
const CPU = Deno.args.includes("--cpu");
const roundsAt = Deno.args.indexOf("--rounds");
const ROUNDS = roundsAt >= 0 ? Number(Deno.args[roundsAt + 1]) : 9;

/** A detector that reads every entry, as real ones do, and finds nothing. */
const READER = `export default {
  kind: "detector", name: "reader", version: "1.0.0", driftTypes: [],
  detect(view) {
    let revs = 0;
    for (const id of view.signatures()) {
      for (const held of view.entries(id)) if (Number.isInteger(held.entry.rev)) revs++;
    }
    return revs < 0 ? [null] : [];
  },
};
`;

async function time(work: () => unknown): Promise<number> {
  if (CPU) {
    const start = process.cpuUsage();
    await work();
    const spent = process.cpuUsage(start);
    return (spent.user + spent.system) / 1000;
  }
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function moduleRuns(paths: string[]): Promise<DetectorRun[]> {
  const registry = new PluginRegistry();
  for (const path of paths) await loadPluginModule(registry, path);
  return resolveDetectorRuns(registry, defaultConfig());
}

const files = await expandInputs([`${CORPUS}packets`]);
const keyring = await loadKeyring(builtinRegistry(), `${CORPUS}keyring.json`);
const view = (await ingestFiles(files, { keyring })).state.view();
const entries = view.signatures().reduce((sum, id) => sum + view.entries(id).length, 0);
console.log(`${view.signatures().length} signatures, ${entries} entries; ${CPU ? "CPU" : "wall"}`);

const reader = await Deno.makeTempFile({ suffix: ".ts" });
await Deno.writeTextFile(reader, READER);
const readerRuns = await moduleRuns([reader]);
const readerInPlace = readerRuns.map(({ module: _module, ...run }) => run);
const builtins = resolveDetectorRuns(builtinRegistry(), defaultConfig());
const builtinModules = await moduleRuns(
  ["version_skew", "posture_divergence", "refinement_conflict"].map((name) =>
    new URL(`../plugins/detectors/${name}.ts`, import.meta.url).pathname
  ),
);

const rows = new Map<string, number[]>();
const add = (label: string, ms: number) => rows.set(label, [...(rows.get(label) ?? []), ms]);
for (let round = 0; round < ROUNDS; round++) {
  const snapshot = snapshotView(view);
  add("structuredClone of the view", await time(() => structuredClone(snapshot)));
  add("reader, in a worker", await time(() => runDetectors(view, readerRuns)));
  add("reader, in place", await time(() => runDetectors(view, readerInPlace)));
  add("built-ins, in place", await time(() => runDetectors(view, builtins)));
  add("built-ins, 3 workers", await time(() => runDetectors(view, builtinModules)));
}
await Deno.remove(reader);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
for (const [label, values] of rows) {
  console.log(
    `${label.padEnd(30)} median ${median(values).toFixed(0).padStart(5)} ms   ${
      values.map((ms) => ms.toFixed(0)).join(" ")
    }`,
  );
}
