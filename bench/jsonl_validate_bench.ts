/**
 * Times checking the benchmark corpus's JSON-lines files two ways: the exact
 * path (`parseJsonLines` and `FAST_RECORD_CHECKS`, what `readPacket` does
 * when it keeps records) and `validateJsonLines` with `RECORD_SHAPES` and the
 * manifest's environment (what the hub does), in its JavaScript walk and in
 * its WebAssembly one (which the tool uses). Prints the median of each over
 * `--runs N` (default 5) passes over every packet, and the speed-ups.
 *
 * The corpus is the one `deno task bench` generates; run that first if it is
 * missing.
 *
 * @module
 */

import { readArchive } from "../core/archive.ts";
import { parseJsonLines } from "../core/json.ts";
import { validateJsonLinesJs, validateJsonLinesWasm } from "../core/jsonl_validate.ts";
import { FAST_RECORD_CHECKS, type JsonLinesFile, RECORD_SHAPES } from "../core/packet.ts";

const runsAt = Deno.args.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(Deno.args[runsAt + 1]) : 5;
const DIR = new URL("./.cache/corpus-4x25-5000e-5000s/packets/", import.meta.url);
const FILES: JsonLinesFile[] = ["decision_lineage.jsonl", "drift_signal.jsonl"];
const MAX_DEPTH = 64;

interface Input {
  file: JsonLinesFile;
  data: Uint8Array;
  environmentId: string;
}

const inputs: Input[] = [];
for await (const entry of Deno.readDir(DIR)) {
  if (!entry.name.endsWith(".zip")) continue;
  const archive = readArchive(await Deno.readFile(new URL(entry.name, DIR)), {
    maxEntryBytes: 1 << 30,
  });
  const manifest = archive.find((e) => e.name === "manifest.json")!;
  const { environmentId } = JSON.parse(new TextDecoder().decode(manifest.data));
  for (const e of archive) {
    if ((FILES as string[]).includes(e.name)) {
      inputs.push({ file: e.name as JsonLinesFile, data: e.data, environmentId });
    }
  }
}
if (inputs.length === 0) throw new Error(`No packets in ${DIR.pathname}: run "deno task bench"`);
const totalBytes = inputs.reduce((sum, input) => sum + input.data.length, 0);
const totalLines = inputs.reduce(
  (sum, input) => sum + input.data.reduce((n, byte) => n + (byte === 0x0a ? 1 : 0), 0),
  0,
);

function exactPath(): number {
  let records = 0;
  for (const { file, data, environmentId } of inputs) {
    const values = parseJsonLines(data, { maxDepth: MAX_DEPTH, file });
    const check = FAST_RECORD_CHECKS[file]!;
    for (const value of values) {
      if (!check(value)) throw new Error(`The exact path refused a record of ${file}`);
      const env = (value as Record<string, unknown>).environmentId;
      if (env !== undefined && env !== environmentId) throw new Error("Environment mismatch");
    }
    records += values.length;
  }
  return records;
}

function validator(walk: typeof validateJsonLinesWasm): number {
  let records = 0;
  for (const { file, data, environmentId } of inputs) {
    const { shape } = RECORD_SHAPES[file];
    const count = walk(data, MAX_DEPTH, shape, undefined, { environmentId }) ?? -1;
    if (count < 0) throw new Error(`The validator was not sure of a file ${file}`);
    records += count;
  }
  return records;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function time(name: string, run: () => number): number {
  const times: number[] = [];
  let records = 0;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    records = run();
    times.push(performance.now() - start);
  }
  const ms = median(times);
  console.log(
    `${name.padEnd(40)} ${ms.toFixed(0).padStart(6)} ms  ${
      (totalBytes / 1e6 / (ms / 1000)).toFixed(0).padStart(5)
    } MB/s  ${records} records  (runs: ${times.map((t) => t.toFixed(0)).join(", ")})`,
  );
  return ms;
}

console.log(
  `${inputs.length} JSON-lines files, ${(totalBytes / 1e6).toFixed(1)} MB, ${totalLines} lines`,
);
const before = time("parseJsonLines + FAST_RECORD_CHECKS", exactPath);
const js = time("validateJsonLines, JavaScript walk", () => validator(validateJsonLinesJs));
const wasm = time("validateJsonLines, WebAssembly walk", () => validator(validateJsonLinesWasm));
console.log(
  `speed-up over the exact path: JavaScript ${(before / js).toFixed(2)}x, WebAssembly ${
    (before / wasm).toFixed(2)
  }x (WebAssembly over JavaScript ${(js / wasm).toFixed(2)}x)`,
);
