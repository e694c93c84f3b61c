/**
 * `deno task bench --stateful`: what `jrm hub ingest` costs next to
 * `jrm federate`, on the benchmark's corpus (4 environments × 25 packets,
 * 5,000 signatures, 5,000 events and a graph node per event per packet).
 *
 * - a store is made once by ingesting every packet but the newest (one
 *   `hub ingest` of 99);
 * - then, interleaved, as whole processes with no output flags: `hub ingest`
 *   of the newest packet into a fresh copy of that store (the incremental
 *   ingest), `federate` over all 100 (its report to a temporary file, as it
 *   needs one), and `hub ingest` of all 100 in one batch into an empty store;
 * - and inside one process: `ingestIntoStore` of the newest packet into a
 *   copy of the store, next to `ingestFiles` and `runDetectors` over all 100.
 *
 * It prints medians and the ratios issue 15 asks for (incremental at most a
 * fifth of `federate` as processes and a twentieth inside the process; the
 * batch of 100 at most twice `federate`), and checks that the incremental
 * store reports what `federate` reports.
 *
 * @module
 */

import {
  cacheOf,
  CLI,
  ensureCorpus,
  type Measured,
  median,
  RUNS,
  SHAPE,
  timed,
  V8_FLAGS,
} from "./bench.ts";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { runDetectors } from "../core/drift.ts";
import { ingestFiles } from "../core/hub.ts";
import { openSqliteHubStore } from "../core/hub_store_sqlite.ts";
import { loadKeyring } from "../core/keyring.ts";
import { ingestIntoStore, reportFromStore } from "../core/stateful_hub.ts";
import { builtinRegistry } from "../plugins/builtin.ts";

/**
 * Run the stateful benchmark and print its figures.
 * @returns when done
 */
export async function benchStateful(): Promise<void> {
  await ensureCorpus(SHAPE);
  const cache = cacheOf(SHAPE);
  // Names sort by environment, then window: the last is the newest packet of the last environment.
  const files = [...Deno.readDirSync(`${cache}/packets`)].map((e) => `${cache}/packets/${e.name}`)
    .sort();
  const newest = files.at(-1)!;
  const earlier = files.slice(0, -1);
  const work = await Deno.makeTempDir({ dir: cache, prefix: "stateful-" });
  try {
    const env = { NO_COLOR: "1", JRM_STORE: "", SOURCE_DATE_EPOCH: "" };
    const jrm = (...args: string[]) => [
      Deno.execPath(),
      "run",
      ...V8_FLAGS,
      "--allow-read",
      "--allow-write",
      "--allow-env",
      CLI,
      ...args,
    ];
    const keys = ["--keyring", `${cache}/keyring.json`, "--require-signature"];
    const base = `${work}/base.sqlite`;
    console.error(`making a store of ${earlier.length} packets ...`);
    const made = await timed(
      jrm("hub", "ingest", "--store", base, "--packets", ...earlier, ...keys),
      env,
    );
    const runs = Math.min(RUNS, 3);
    const incremental: Measured[] = [];
    const federate: Measured[] = [];
    const batch: Measured[] = [];
    for (let run = 0; run < runs; run++) {
      const copy = `${work}/run.sqlite`;
      await Deno.copyFile(base, copy);
      incremental.push(
        await timed(jrm("hub", "ingest", "--store", copy, "--packets", newest, ...keys), env),
      );
      federate.push(
        await timed(
          jrm("federate", "--packets", ...files, ...keys, "--out", `${work}/federate.json`),
          env,
        ),
      );
      const fresh = `${work}/batch.sqlite`;
      await Deno.remove(fresh).catch(() => {});
      batch.push(
        await timed(jrm("hub", "ingest", "--store", fresh, "--packets", ...files, ...keys), env),
      );
      const s = (m: Measured) => `${m.seconds.toFixed(2)} s ${m.peakMb.toFixed(0)} MB`;
      console.error(
        `run ${run + 1}: incremental ${s(incremental.at(-1)!)}, federate ${
          s(federate.at(-1)!)
        }, batch of ${files.length} ${s(batch.at(-1)!)}`,
      );
    }
    // Inside one process: the work alone, start-up and module loading left out.
    const keyring = await loadKeyring(builtinRegistry(), `${cache}/keyring.json`);
    const detectors = resolveDetectorRuns(builtinRegistry(), defaultConfig());
    const at = "2026-12-01T00:00:00Z";
    const inside: number[] = [];
    const insideFederate: number[] = [];
    let same = true;
    for (let run = 0; run < runs; run++) {
      const copy = `${work}/inside.sqlite`;
      await Deno.copyFile(base, copy);
      let started = performance.now();
      {
        using store = openSqliteHubStore(copy);
        await ingestIntoStore(store, [newest], { keyring, requireSignature: true, detectors, at });
      }
      inside.push((performance.now() - started) / 1000);
      started = performance.now();
      const ingestion = await ingestFiles(files, { keyring, requireSignature: true });
      const detection = await runDetectors(ingestion.state.view(), detectors);
      insideFederate.push((performance.now() - started) / 1000);
      if (run === 0) {
        using store = openSqliteHubStore(copy, { readOnly: true });
        const report = await store.read((reader) => reportFromStore(reader, at));
        const ids = (drifts: { driftId: string }[]) => drifts.map((d) => d.driftId).join();
        same = report.packetsIngested === files.length &&
          ids(report.crossEnvDrifts) === ids(detection.drifts);
      }
    }
    const m = (list: Measured[]) => median(list.map((r) => r.seconds));
    const peak = (list: Measured[]) => median(list.map((r) => r.peakMb));
    const [inc, fed, all] = [m(incremental), m(federate), m(batch)];
    const [incIn, fedIn] = [median(inside), median(insideFederate)];
    console.log([
      `cli: ${CLI}`,
      `corpus: ${files.length} packets (${cache}); store of ${earlier.length} made in ${
        made.seconds.toFixed(2)
      } s, ${((await Deno.stat(base)).size / 1e6).toFixed(0)} MB`,
      `runs: ${runs} of each, interleaved, medians; load average ${
        Deno.loadavg().map((l) => l.toFixed(1)).join(" ")
      } at the end`,
      `hub ingest of 1 new packet into the store of ${earlier.length} (process): ${
        inc.toFixed(2)
      } s, peak ${peak(incremental).toFixed(0)} MB`,
      `federate over all ${files.length} (process): ${fed.toFixed(2)} s, peak ${
        peak(federate).toFixed(0)
      } MB; incremental / federate: ${(inc / fed).toFixed(3)} (at most 0.2 wanted)`,
      `inside the process: ingestIntoStore of 1 packet ${
        incIn.toFixed(2)
      } s, ingestFiles + runDetectors over ${files.length} ${fedIn.toFixed(2)} s; ratio ${
        (incIn / fedIn).toFixed(3)
      } (at most 0.05 wanted)`,
      `hub ingest of all ${files.length} in one batch (process): ${all.toFixed(2)} s, peak ${
        peak(batch).toFixed(0)
      } MB; batch / federate: ${(all / fed).toFixed(2)} (at most 2 wanted)`,
      `the incremental store reports federate's drifts: ${same ? "yes" : "NO"}`,
    ].join("\n"));
    if (!same) Deno.exit(1);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
