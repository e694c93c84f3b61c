/**
 * `deno task bench`: the federation benchmark.
 *
 * Generates (deterministically, cached in `bench/.cache/`) a corpus of
 * 4 environments × 25 packets with 5,000 events per packet and 5,000
 * signatures, HMAC-signed, with planted drift of every type. Each packet's
 * memory graph holds a node per event and an edge for every second node,
 * some of them announced again in the next window (`graph: "per-event"` in
 * fixtures/corpus.ts): about half of the corpus. Then, as whole processes,
 * several times each, interleaved:
 *
 * - the floor any validator pays: inflating and SHA-256 hashing every entry
 *   once, single-threaded, at native speed (Python's zlib + hashlib);
 * - `jrm federate` with HMAC verification against the keyring, with
 *   `--graph-out` and without.
 *
 * It prints medians of wall time, CPU time, MB/s of unzipped data, packets/s and peak
 * memory (from `/usr/bin/time -v`), our time as a ratio of the floor, what
 * `--graph-out` adds, checks that the planted drift is found exactly, and
 * times drift detection at 1× and 10× the signatures to show it is linear.
 * Memory must grow slower than the history: `federate` also runs on the same
 * shape with 4× the packets (a corpus of its own), and the two peaks are
 * compared.
 *
 * Flags: `--runs N` (default 5), `--quick` (a small corpus, for a smoke run),
 * `--small-graph` (50 graph nodes per packet, the default corpus before the
 * per-event graph), `--snapshot-canon` (every packet carries the environment's
 * whole canon), `--compact-json` (JSON files without white space),
 * `--no-history` (skip the 4× run), `--serve` (bench/serve_bench.ts instead:
 * packets pushed to `hub serve` against `hub ingest`), `--cli PATH` (run another checkout's
 * `cli.ts` on the same corpus, e.g. a baseline made with `git worktree add`);
 * each corpus is cached separately. `--stateful` measures `hub ingest`
 * instead (bench/stateful_bench.ts).
 *
 * @module
 */

import { generateCorpus, writePackets } from "../fixtures/corpus.ts";
import hmacSha256 from "../plugins/signers/hmac_sha256.ts";
import type { Signer } from "../core/signer.ts";
import { runDetectors } from "../core/drift.ts";
import { FederationState } from "../core/hub.ts";
import { readPacket } from "../core/packet.ts";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { buildPacket } from "../core/writer.ts";

const args = Deno.args;
if (args.includes("--serve")) {
  // Pushes to `jrm hub serve` against `jrm hub ingest` (bench/serve_bench.ts reads the same flags).
  await import("./serve_bench.ts");
  Deno.exit(0);
}
const quick = args.includes("--quick");
const runsAt = args.indexOf("--runs");
/** Runs of each measurement (`--runs`). */
export const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : (quick ? 2 : 5);
/** Every packet carries the whole canon (see CorpusOptions.snapshotCanon). */
const SNAPSHOT = args.includes("--snapshot-canon");
/** JSON files written without white space (see CorpusOptions.compactJson). */
const COMPACT = args.includes("--compact-json");
/** 50 graph nodes per packet rather than one per event (see CorpusOptions.graph). */
const SMALL_GRAPH = args.includes("--small-graph");
/** Skip the run on 4× the packets. */
const NO_HISTORY = args.includes("--no-history");
/** The corpus: environments, packets per environment, events and signatures per packet. */
export const SHAPE = quick
  ? { environments: 4, packets: 5, events: 500, signatures: 500 }
  : { environments: 4, packets: 25, events: 5000, signatures: 5000 };
/** The history whose peak memory is compared with SHAPE's: the same, with 4× the packets. */
const HISTORY = { ...SHAPE, packets: SHAPE.packets * 4 };
const ENVS = ["SOC_EAST", "SOC_NORTH", "SOC_SOUTH", "SOC_WEST"].slice(0, SHAPE.environments);
const ROOT = new URL("..", import.meta.url).pathname;
const cliAt = args.indexOf("--cli");
/** The `cli.ts` measured. */
export const CLI = cliAt >= 0 ? args[cliAt + 1] : `${ROOT}cli.ts`;

/** Where the corpus of a shape is cached (the flags' variants apart). */
export function cacheOf(shape: typeof SHAPE): string {
  return `${ROOT}bench/.cache/corpus-${shape.environments}x${shape.packets}-${shape.events}e-${shape.signatures}s${
    SMALL_GRAPH ? "" : "-graph"
  }${SNAPSHOT ? "-snapshot" : ""}${COMPACT ? "-compact" : ""}`;
}
const CACHE = cacheOf(SHAPE);

/** The V8 flags of `deno task jrm` (see deno.json), so the benchmark runs what users run. */
export const V8_FLAGS = ["--v8-flags=--max-semi-space-size=2"];

/**
 * The median.
 * @param values the samples
 * @returns their median
 */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Generate the corpus of a shape into its cache, unless it is there.
 * @param shape the corpus shape
 * @returns when the corpus is there
 */
export async function ensureCorpus(shape: typeof SHAPE): Promise<void> {
  const cache = cacheOf(shape);
  try {
    await Deno.stat(`${cache}/DONE`);
    return;
  } catch { /* generate */ }
  console.error(`generating corpus in ${cache} ...`);
  await Deno.remove(cache, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${cache}/packets`, { recursive: true });
  const signers: Record<string, Signer> = {};
  const keys = [];
  for (const env of ENVS) {
    const key = `bench-hmac-key-${env}-0123456789abcdef0123456789`;
    await Deno.writeTextFile(`${cache}/${env}.key`, key + "\n");
    signers[env] =
      (await hmacSha256.createSigner({ bytes: new TextEncoder().encode(key), origin: env }))
        .signer;
    keys.push({ environment: env, file: `${env}.key` });
  }
  await Deno.writeTextFile(`${cache}/keyring.json`, JSON.stringify({ keys }, null, 2));
  // The generator's last window has two parts: packets - 1 windows make `packets` packets.
  const corpus = await generateCorpus({
    environments: ENVS,
    packetsPerEnvironment: shape.packets - 1,
    signatures: shape.signatures,
    eventsPerPacket: shape.events,
    snapshotCanon: SNAPSHOT,
    compactJson: COMPACT,
    graph: SMALL_GRAPH ? "small" : "per-event",
    signers,
  });
  await writePackets(`${cache}/packets`, corpus.packets);
  await Deno.writeTextFile(`${cache}/expected.json`, JSON.stringify(corpus.expected));
  await Deno.writeTextFile(`${cache}/DONE`, "");
}

/** One measured process: wall time, CPU time, peak memory, its stdout. */
export interface Measured {
  seconds: number;
  /** User and system CPU time of the process and its threads. */
  cpuSeconds: number;
  peakMb: number;
  stdout: string;
}

/**
 * Run a process under `/usr/bin/time -v` and measure it.
 * @param command the command and its arguments
 * @param env environment variables to add
 * @returns what was measured
 */
export async function timed(
  command: string[],
  env: Record<string, string> = {},
): Promise<Measured> {
  const started = performance.now();
  const output = await new Deno.Command("/usr/bin/time", {
    args: ["-v", ...command],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(output.stderr);
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(`${command.join(" ")} failed (${output.code}):\n${stderr.slice(-2000)}`);
  }
  const rss = stderr.match(/Maximum resident set size \(kbytes\): (\d+)/);
  const cpu = (what: string) =>
    Number(stderr.match(new RegExp(`${what} time \\(seconds\\): ([\\d.]+)`))?.[1] ?? NaN);
  return {
    seconds,
    cpuSeconds: cpu("User") + cpu("System"),
    peakMb: rss ? Number(rss[1]) / 1024 : NaN,
    stdout,
  };
}

const FLOOR_SCRIPT = `
import sys, zipfile, hashlib, os
total = 0
for name in sorted(os.listdir(sys.argv[1])):
    with zipfile.ZipFile(os.path.join(sys.argv[1], name)) as z:
        for info in z.infolist():
            data = z.read(info)
            hashlib.sha256(data).hexdigest()
            total += len(data)
print(total)
`;

async function corpusFacts(): Promise<{ files: number; zipped: number }> {
  let files = 0;
  let zipped = 0;
  for await (const entry of Deno.readDir(`${CACHE}/packets`)) {
    files++;
    zipped += (await Deno.stat(`${CACHE}/packets/${entry.name}`)).size;
  }
  return { files, zipped };
}

function detectionScaling(): Promise<{ small: number; large: number; ratio: number }> {
  // A synthetic state: 4 environments, S and 10·S signatures with drift in every 7th.
  const build = async (signatures: number) => {
    const state = new FederationState();
    for (const env of ENVS) {
      const entries: Record<string, unknown> = {};
      for (let i = 0; i < signatures; i++) {
        const drift = i % 7 === 0 && env === ENVS[0];
        entries[`s${i}`] = {
          rev: drift ? 3 : 2,
          patchId: drift ? `s${i}-x` : `s${i}-p2`,
          lineage: [`s${i}-p1`],
          confidence: drift ? 0.1 : 0.5,
        };
      }
      const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
      const { bytes } = await buildPacket(
        new Map([
          ["truth_snapshot.json", json({})],
          ["authority_slice.json", json({ environmentId: env })],
          ["decision_lineage.jsonl", new Uint8Array()],
          ["drift_signal.jsonl", new Uint8Array()],
          ["memory_graph.json", json({ nodesAdded: [], edgesAdded: [] })],
          ["canon_entry.json", json({ environmentId: env, entries })],
        ]),
        {
          environmentId: env,
          windowStart: "2026-01-01T00:00:00Z",
          windowEnd: "2026-01-01T00:10:00Z",
          part: 1,
        },
      );
      await state.fold(readPacket(bytes, { limits: { maxEntryBytes: 1 << 30 } }).packet!);
    }
    return state.view();
  };
  const runs = resolveDetectorRuns(builtinRegistry(), defaultConfig());
  return (async () => {
    // Both states built first, one run of each to warm up, then rounds that alternate the two,
    // so that neither size is measured colder or in a slower minute than the other.
    const views = [await build(SHAPE.signatures), await build(SHAPE.signatures * 10)];
    const samples: number[][] = [[], []];
    for (let round = -1; round < 7; round++) {
      for (const [i, view] of views.entries()) {
        const started = performance.now();
        await runDetectors(view, runs);
        if (round >= 0) samples[i].push(performance.now() - started);
      }
    }
    const [small, large] = samples.map(median);
    return { small, large, ratio: large / small };
  })();
}

if (import.meta.main && args.includes("--stateful")) {
  // Not awaited here: stateful_bench.ts imports this module, which must finish evaluating first.
  import("./stateful_bench.ts").then(({ benchStateful }) => benchStateful());
} else if (import.meta.main) {
  await ensureCorpus(SHAPE);
  if (!NO_HISTORY) await ensureCorpus(HISTORY);
  const { files, zipped } = await corpusFacts();
  const floorRuns: Measured[] = [];
  const ourRuns: Measured[] = [];
  const noGraphRuns: Measured[] = [];
  const report = `${CACHE}/report.json`;
  /** `jrm federate` as users run it (`deno task jrm`), with HMAC verification required. */
  const federate = (cache: string, out: string, extra: string[] = []) =>
    timed([
      Deno.execPath(),
      "run",
      ...V8_FLAGS,
      "--allow-read",
      "--allow-write",
      "--allow-env",
      CLI,
      "federate",
      "--packets",
      `${cache}/packets`,
      "--keyring",
      `${cache}/keyring.json`,
      "--require-signature",
      "--out",
      out,
      ...extra,
    ], { NO_COLOR: "1" });
  const withGraph = (cache: string) => ["--graph-out", `${cache}/graph.jsonl`];
  const load = () => Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
  const loadAtStart = load();
  for (let run = 0; run < RUNS; run++) {
    floorRuns.push(await timed(["python3", "-c", FLOOR_SCRIPT, `${CACHE}/packets`]));
    ourRuns.push(await federate(CACHE, report, withGraph(CACHE)));
    noGraphRuns.push(await federate(CACHE, `${CACHE}/report-no-graph.json`));
    const last = (runs: Measured[]) =>
      `${runs.at(-1)!.seconds.toFixed(2)} s (CPU ${runs.at(-1)!.cpuSeconds.toFixed(2)} s) ${
        runs.at(-1)!.peakMb.toFixed(0)
      } MB`;
    console.error(
      `run ${run + 1}: floor ${last(floorRuns)}, --graph-out ${last(ourRuns)}, without ${
        last(noGraphRuns)
      }; load ${load()}`,
    );
  }
  // Memory must grow slower than the history: the same run on 4× the packets.
  const historyRuns: Measured[] = [];
  const historyCache = cacheOf(HISTORY);
  for (let run = 0; run < (NO_HISTORY ? 0 : RUNS); run++) {
    historyRuns.push(
      await federate(historyCache, `${historyCache}/report.json`, withGraph(historyCache)),
    );
    const last = historyRuns.at(-1)!;
    console.error(
      `history run ${run + 1}: ${last.seconds.toFixed(2)} s ${last.peakMb.toFixed(0)} MB`,
    );
  }
  const unzipped = Number(floorRuns[0].stdout.trim());
  const result = JSON.parse(await Deno.readTextFile(report));
  const expected: { driftType: string; signatureId: string; environments: string[] }[] = JSON.parse(
    await Deno.readTextFile(`${CACHE}/expected.json`),
  );
  const key = (d: { driftType: string; signatureId: string; environments: string[] }) =>
    `${d.driftType} ${d.signatureId} ${[...d.environments].sort().join(",")}`;
  const found = new Set<string>(result.crossEnvDrifts.map(key));
  const wanted = new Set(expected.map(key));
  const exact = found.size === wanted.size && [...wanted].every((k) => found.has(k));
  const floor = median(floorRuns.map((r) => r.seconds));
  const ours = median(ourRuns.map((r) => r.seconds));
  const noGraph = median(noGraphRuns.map((r) => r.seconds));
  const peak = median(ourRuns.map((r) => r.peakMb));
  const floorCpu = median(floorRuns.map((r) => r.cpuSeconds));
  const oursCpu = median(ourRuns.map((r) => r.cpuSeconds));
  const mb = unzipped / 1e6;
  const scaling = await detectionScaling();
  const lines = [
    `cli: ${CLI}`,
    `corpus: ${files} packets, ${(zipped / 1e6).toFixed(1)} MB zipped, ${
      mb.toFixed(1)
    } MB unzipped (${CACHE})`,
    `runs: ${RUNS} of each, interleaved, medians; ${navigator.hardwareConcurrency} cores; load average ${loadAtStart} at the start, ${load()} at the end`,
    `floor (python zlib+sha256, 1 thread): ${floor.toFixed(2)} s, ${
      (mb / floor).toFixed(0)
    } MB/s, peak ${median(floorRuns.map((r) => r.peakMb)).toFixed(0)} MB`,
    `jrm federate (HMAC verified, --graph-out): ${ours.toFixed(2)} s, ${
      (mb / ours).toFixed(0)
    } MB/s, ${(files / ours).toFixed(1)} packets/s, peak ${peak.toFixed(0)} MB`,
    `jrm federate without --graph-out:          ${noGraph.toFixed(2)} s, peak ${
      median(noGraphRuns.map((r) => r.peakMb)).toFixed(0)
    } MB; --graph-out adds ${((ours / noGraph - 1) * 100).toFixed(0)}% (CPU time: ${
      ((oursCpu / median(noGraphRuns.map((r) => r.cpuSeconds)) - 1) * 100).toFixed(0)
    }%)`,
    `ratio to floor: ${(ours / floor).toFixed(2)}x (${
      (noGraph / floor).toFixed(2)
    }x without --graph-out)`,
    // Less moved by other processes than wall time: what the run costs, whatever it waited for.
    `CPU time (user + system): floor ${floorCpu.toFixed(2)} s, federate --graph-out ${
      oursCpu.toFixed(2)
    } s, ${
      (oursCpu / floorCpu).toFixed(2)
    }x (on ${navigator.hardwareConcurrency} idle cores the ratio to floor cannot go below ${
      (oursCpu / floorCpu / navigator.hardwareConcurrency).toFixed(2)
    }x)`,
    ...(historyRuns.length === 0 ? [] : [
      `peak memory: ${peak.toFixed(0)} MB with ${files} packets, ${
        median(historyRuns.map((r) => r.peakMb)).toFixed(0)
      } MB with ${HISTORY.environments * HISTORY.packets} (×${
        (median(historyRuns.map((r) => r.peakMb)) / peak).toFixed(2)
      }; ${median(historyRuns.map((r) => r.seconds)).toFixed(2)} s)`,
    ]),
    `accepted ${result.packetsIngested}/${files}, rejected ${result.packetsRejected.length}; planted drift found exactly: ${
      exact ? "yes" : "NO"
    } (${found.size} found, ${wanted.size} planted)`,
    `detection: ${scaling.small.toFixed(1)} ms at ${SHAPE.signatures} signatures, ${
      scaling.large.toFixed(1)
    } ms at ${SHAPE.signatures * 10} (×${scaling.ratio.toFixed(1)} for ×10 entries)`,
  ];
  console.log(lines.join("\n"));
  if (!exact || result.packetsIngested !== files) Deno.exit(1);
}
