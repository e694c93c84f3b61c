/**
 * `deno task bench --serve`: packets pushed to `jrm hub serve` by 16
 * concurrent clients, against `jrm hub ingest` of the same packets from disk.
 *
 * The corpus is the main benchmark's (4 environments × 25 packets, 5,000
 * events with a graph node each, 5,000 signatures; `--quick`: 4 × 5, 500,
 * 500), generated and cached the same way (bench/bench.ts). Each run starts
 * from an empty store; runs interleave the two ways. It prints, as medians:
 * packets per second both ways, and the p50 and p99 latency of one push (from
 * sending the request to the answer, queueing included).
 *
 * @module
 */

import { generateCorpus, writePackets } from "../fixtures/corpus.ts";
import hmacSha256 from "../plugins/signers/hmac_sha256.ts";
import type { Signer } from "../core/signer.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const runsAt = args.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
const CLIENTS = 16;
const SHAPE = quick
  ? { environments: 4, packets: 5, events: 500, signatures: 500 }
  : { environments: 4, packets: 25, events: 5000, signatures: 5000 };
const ENVS = ["SOC_EAST", "SOC_NORTH", "SOC_SOUTH", "SOC_WEST"];
const ROOT = new URL("..", import.meta.url).pathname;
const CACHE =
  `${ROOT}bench/.cache/corpus-${SHAPE.environments}x${SHAPE.packets}-${SHAPE.events}e-${SHAPE.signatures}s-graph`;
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];
const V8_FLAGS = ["--v8-flags=--max-semi-space-size=2"];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The main benchmark's corpus (the same generator, parameters and cache). */
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
  const corpus = await generateCorpus({
    environments: ENVS,
    packetsPerEnvironment: SHAPE.packets - 1,
    signatures: SHAPE.signatures,
    eventsPerPacket: SHAPE.events,
    graph: "per-event",
    signers,
  });
  await writePackets(`${CACHE}/packets`, corpus.packets);
  await Deno.writeTextFile(`${CACHE}/expected.json`, JSON.stringify(corpus.expected));
  await Deno.writeTextFile(`${CACHE}/DONE`, "");
}

const NOW = "2026-12-31T00:00:00Z";

/** `hub ingest` of every packet from disk into an empty store: seconds. */
async function ingestRun(store: string): Promise<number> {
  const started = performance.now();
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...V8_FLAGS,
      ...PERMISSIONS,
      `${ROOT}cli.ts`,
      "hub",
      "ingest",
      "--store",
      store,
      "--packets",
      `${CACHE}/packets`,
      "--keyring",
      `${CACHE}/keyring.json`,
      "--require-signature",
      "--now",
      NOW,
      "--json",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0 && code !== 2) {
    throw new Error(`hub ingest failed (${code}): ${new TextDecoder().decode(stderr)}`);
  }
  return (performance.now() - started) / 1000;
}

/** Every packet pushed by {@link CLIENTS} clients to a fresh server: seconds and latencies. */
async function serveRun(store: string, files: Uint8Array[]): Promise<{
  seconds: number;
  latencies: number[];
}> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...V8_FLAGS,
      ...PERMISSIONS,
      `${ROOT}cli.ts`,
      "hub",
      "serve",
      "--store",
      store,
      "--listen",
      "127.0.0.1:0",
      "--keyring",
      `${CACHE}/keyring.json`,
      "--now",
      NOW,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const { promise: listening, resolve } = Promise.withResolvers<string>();
  const reading = (async () => {
    for await (const chunk of child.stderr) {
      text += new TextDecoder().decode(chunk);
      const match = /listening on (http:\/\/\S+)/.exec(text);
      if (match) resolve(match[1]);
    }
  })();
  const url = await Promise.race([
    listening,
    child.status.then(() => {
      throw new Error(`hub serve exited: ${text}`);
    }),
  ]);
  const queue = [...files.keys()];
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const sent = performance.now();
      const response = await fetch(`${url}/v1/packets`, {
        method: "POST",
        headers: { "content-type": "application/zip" },
        body: files[i] as Uint8Array<ArrayBuffer>,
      });
      await response.body?.cancel();
      if (response.status !== 201) throw new Error(`push ${i}: ${response.status}`);
      latencies.push((performance.now() - sent) / 1000);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  child.kill("SIGTERM");
  await child.status;
  await reading;
  return { seconds, latencies };
}

await ensureCorpus();
const names = [...Deno.readDirSync(`${CACHE}/packets`)].map((e) => e.name).filter((n) =>
  n.endsWith(".zip")
).sort();
const files = names.map((name) => Deno.readFileSync(`${CACHE}/packets/${name}`));
const work = await Deno.makeTempDir({ prefix: "jrm-serve-bench-" });
const ingest: number[] = [];
const pushed: number[] = [];
const p50: number[] = [];
const p99: number[] = [];
try {
  for (let run = 0; run < RUNS; run++) {
    ingest.push(await ingestRun(`${work}/ingest-${run}.sqlite`));
    const { seconds, latencies } = await serveRun(`${work}/serve-${run}.sqlite`, files);
    pushed.push(seconds);
    p50.push(percentile(latencies, 50));
    p99.push(percentile(latencies, 99));
    console.error(
      `run ${run + 1}/${RUNS}: hub ingest ${ingest[run].toFixed(2)} s, hub serve ${
        seconds.toFixed(2)
      } s (load ${Deno.loadavg()[0].toFixed(2)})`,
    );
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
const count = files.length;
console.log(
  `${count} packets (${SHAPE.environments} environments, ${SHAPE.events} events each), medians of ${RUNS} runs:`,
);
console.log(
  `  hub ingest from disk: ${median(ingest).toFixed(2)} s, ${
    (count / median(ingest)).toFixed(1)
  } packets/s (one process, start-up included)`,
);
console.log(
  `  hub serve, ${CLIENTS} clients: ${median(pushed).toFixed(2)} s, ${
    (count / median(pushed)).toFixed(1)
  } packets/s; one push p50 ${(median(p50) * 1000).toFixed(0)} ms, p99 ${
    (median(p99) * 1000).toFixed(0)
  } ms`,
);
