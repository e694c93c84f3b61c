/**
 * `deno task bench`: the federation benchmark.
 *
 * Generates (deterministically, cached in `bench/.cache/`) a corpus of
 * 4 environments × 25 packets with 5,000 events per packet and 5,000
 * signatures, HMAC-signed, with planted drift of every type. Then, as whole
 * processes, several times each:
 *
 * - the floor any validator pays: inflating and SHA-256 hashing every entry
 *   once, single-threaded, at native speed (Python's zlib + hashlib);
 * - `jrm federate` with HMAC verification against the keyring.
 *
 * It prints medians of wall time, MB/s of unzipped data, packets/s and peak
 * memory (from `/usr/bin/time -v`), our time as a ratio of the floor, checks
 * that the planted drift is found exactly, and times drift detection at 1×
 * and 10× the signatures to show it is linear.
 *
 * Flags: `--runs N` (default 5), `--quick` (a small corpus, for a smoke run),
 * `--snapshot-canon` (every packet carries the environment's whole canon),
 * `--compact-json` (JSON files without white space); each corpus is cached
 * separately.
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
const quick = args.includes("--quick");
const runsAt = args.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : (quick ? 2 : 5);
/** Every packet carries the whole canon (see CorpusOptions.snapshotCanon). */
const SNAPSHOT = args.includes("--snapshot-canon");
/** JSON files written without white space (see CorpusOptions.compactJson). */
const COMPACT = args.includes("--compact-json");
const SHAPE = quick
  ? { environments: 4, packets: 5, events: 500, signatures: 500 }
  : { environments: 4, packets: 25, events: 5000, signatures: 5000 };
const ENVS = ["SOC_EAST", "SOC_NORTH", "SOC_SOUTH", "SOC_WEST"].slice(0, SHAPE.environments);
const ROOT = new URL("..", import.meta.url).pathname;
const CACHE =
  `${ROOT}bench/.cache/corpus-${SHAPE.environments}x${SHAPE.packets}-${SHAPE.events}e-${SHAPE.signatures}s${
    SNAPSHOT ? "-snapshot" : ""
  }${COMPACT ? "-compact" : ""}`;

/** The V8 flags of `deno task jrm` (see deno.json), so the benchmark runs what users run. */
const V8_FLAGS = ["--v8-flags=--max-semi-space-size=2"];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function ensureCorpus(): Promise<void> {
  try {
    await Deno.stat(`${CACHE}/DONE`);
    return;
  } catch { /* generate */ }
  console.error(`generating corpus in ${CACHE} ...`);
  await Deno.remove(CACHE, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${CACHE}/packets`, { recursive: true });
  const signers: Record<string, Signer> = {};
  const keys = [];
  for (const env of ENVS) {
    const key = `bench-hmac-key-${env}-0123456789abcdef0123456789`;
    await Deno.writeTextFile(`${CACHE}/${env}.key`, key + "\n");
    signers[env] =
      (await hmacSha256.createSigner({ bytes: new TextEncoder().encode(key), origin: env }))
        .signer;
    keys.push({ environment: env, file: `${env}.key` });
  }
  await Deno.writeTextFile(`${CACHE}/keyring.json`, JSON.stringify({ keys }, null, 2));
  // The generator's last window has two parts: packets - 1 windows make `packets` packets.
  const corpus = await generateCorpus({
    environments: ENVS,
    packetsPerEnvironment: SHAPE.packets - 1,
    signatures: SHAPE.signatures,
    eventsPerPacket: SHAPE.events,
    snapshotCanon: SNAPSHOT,
    compactJson: COMPACT,
    signers,
  });
  await writePackets(`${CACHE}/packets`, corpus.packets);
  await Deno.writeTextFile(`${CACHE}/expected.json`, JSON.stringify(corpus.expected));
  await Deno.writeTextFile(`${CACHE}/DONE`, "");
}

interface Measured {
  seconds: number;
  peakMb: number;
  stdout: string;
}

async function timed(command: string[], env: Record<string, string> = {}): Promise<Measured> {
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
  return { seconds, peakMb: rss ? Number(rss[1]) / 1024 : NaN, stdout };
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

if (import.meta.main) {
  await ensureCorpus();
  const { files, zipped } = await corpusFacts();
  const floorRuns: Measured[] = [];
  const ourRuns: Measured[] = [];
  const report = `${CACHE}/report.json`;
  /** `jrm federate` as users run it (`deno task jrm`), with HMAC verification required. */
  const federate = (packets: string[], out: string, extra: string[] = []) =>
    timed([
      Deno.execPath(),
      "run",
      ...V8_FLAGS,
      "--allow-read",
      "--allow-write",
      "--allow-env",
      `${ROOT}cli.ts`,
      "federate",
      "--packets",
      ...packets,
      "--keyring",
      `${CACHE}/keyring.json`,
      "--require-signature",
      "--out",
      out,
      ...extra,
    ], { NO_COLOR: "1" });
  for (let run = 0; run < RUNS; run++) {
    floorRuns.push(await timed(["python3", "-c", FLOOR_SCRIPT, `${CACHE}/packets`]));
    ourRuns.push(
      await federate([`${CACHE}/packets`], report, ["--graph-out", `${CACHE}/graph.jsonl`]),
    );
  }
  // Memory must not grow with the number of packets: the same run on a quarter of them.
  const quarter = [...Deno.readDirSync(`${CACHE}/packets`)]
    .map((entry) => `${CACHE}/packets/${entry.name}`).sort().filter((_, i) => i % 4 === 0);
  const quarterRuns: Measured[] = [];
  for (let run = 0; run < RUNS; run++) {
    quarterRuns.push(await federate(quarter, `${CACHE}/report-quarter.json`));
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
  const mb = unzipped / 1e6;
  const scaling = await detectionScaling();
  const lines = [
    `corpus: ${files} packets, ${(zipped / 1e6).toFixed(1)} MB zipped, ${
      mb.toFixed(1)
    } MB unzipped (${CACHE})`,
    `runs: ${RUNS} of each, medians; ${navigator.hardwareConcurrency} cores`,
    `floor (python zlib+sha256, 1 thread): ${floor.toFixed(2)} s, ${
      (mb / floor).toFixed(0)
    } MB/s, peak ${median(floorRuns.map((r) => r.peakMb)).toFixed(0)} MB`,
    `jrm federate (HMAC verified):       ${ours.toFixed(2)} s, ${(mb / ours).toFixed(0)} MB/s, ${
      (files / ours).toFixed(1)
    } packets/s, peak ${median(ourRuns.map((r) => r.peakMb)).toFixed(0)} MB`,
    `ratio to floor: ${(ours / floor).toFixed(2)}x`,
    `peak memory: ${
      median(quarterRuns.map((r) => r.peakMb)).toFixed(0)
    } MB with ${quarter.length} packets, ${
      median(ourRuns.map((r) => r.peakMb)).toFixed(0)
    } MB with ${files}`,
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
