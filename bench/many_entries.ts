/**
 * Peak memory of `jrm federate` and `jrm hub replay` on one packet with very
 * many small canon entries (1,000,000 by default, the `--max-canon-entries`
 * default): `deno run -A bench/many_entries.ts [--entries N] [--runs N] [--rich] [--cli PATH]`
 * (`--rich`: entries of about 150 bytes instead of 60; `--cli`: another checkout's cli.ts, to
 * compare).
 *
 * Generates the packet once (cached in `bench/.cache/many-<N>/`), then runs
 * each command as a whole process under `/usr/bin/time -v` and prints its
 * wall time, peak resident memory and exit code.
 *
 * @module
 */

import { buildPacket } from "../core/writer.ts";

const args = Deno.args;
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const ENTRIES = option("--entries", 1_000_000);
const RUNS = option("--runs", 1);
/** Entries with a patch, lineage and confidence (about 150 bytes each) instead of about 60. */
const RICH = args.includes("--rich");
const ROOT = new URL("..", import.meta.url).pathname;
const CACHE = `${ROOT}bench/.cache/many-${ENTRIES}${RICH ? "-rich" : ""}`;
const ENV = "SOC_EAST";
const encoder = new TextEncoder();

async function ensurePacket(): Promise<string> {
  const dir = `${CACHE}/packets`;
  try {
    for await (const entry of Deno.readDir(dir)) return `${dir}/${entry.name}`;
  } catch { /* generate */ }
  await Deno.mkdir(dir, { recursive: true });
  // Written as the attack wrote it: one small entry per line, about 60 bytes each.
  const parts = ['{"environmentId": "SOC_EAST", "entries": {\n'];
  for (let i = 0; i < ENTRIES; i++) {
    const id = `sig-${String(i).padStart(7, "0")}`;
    const more = RICH
      ? `, "previousRev": ${
        i % 7 + 1
      }, "patchId": "${id}-p3", "lineage": ["${id}-p1", "${id}-p2"], "confidence": 0.${i % 10}`
      : "";
    parts.push(`${i === 0 ? "" : ",\n"}"${id}": {"signatureId": "${id}", "rev": ${i % 7}${more}}`);
  }
  parts.push("\n}}\n");
  const json = (value: unknown) => encoder.encode(JSON.stringify(value));
  const files = new Map<string, Uint8Array>([
    ["truth_snapshot.json", json({ environmentId: ENV })],
    ["authority_slice.json", json({ environmentId: ENV })],
    ["decision_lineage.jsonl", new Uint8Array()],
    ["drift_signal.jsonl", new Uint8Array()],
    ["memory_graph.json", json({ nodesAdded: [], edgesAdded: [] })],
    ["canon_entry.json", encoder.encode(parts.join(""))],
  ]);
  const { name, bytes } = await buildPacket(files, {
    environmentId: ENV,
    windowStart: "2026-02-28T10:00:00Z",
    windowEnd: "2026-02-28T10:10:00Z",
    part: 1,
  });
  const path = `${dir}/${name}.zip`;
  await Deno.writeFile(path, bytes);
  console.error(
    `packet: ${ENTRIES} entries, canon_entry.json ${
      (files.get("canon_entry.json")!.length / 1e6).toFixed(1)
    } MB, ${(bytes.length / 1e6).toFixed(1)} MB zipped`,
  );
  return path;
}

async function timed(
  command: string[],
): Promise<{ seconds: number; peakMb: number; code: number }> {
  const started = performance.now();
  const output = await new Deno.Command("/usr/bin/time", {
    args: ["-v", ...command],
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(output.stderr);
  const rss = stderr.match(/Maximum resident set size \(kbytes\): (\d+)/);
  const code = Number(stderr.match(/Exit status: (\d+)/)?.[1] ?? output.code);
  if (code !== 0) console.error(stderr.split("\n").filter((l) => !/^\t/.test(l)).join("\n"));
  return { seconds, peakMb: rss ? Number(rss[1]) / 1024 : NaN, code };
}

const packet = await ensurePacket();
const jrm = [
  Deno.execPath(),
  "run",
  "--v8-flags=--max-semi-space-size=2",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  args.includes("--cli") ? args[args.indexOf("--cli") + 1] : `${ROOT}cli.ts`,
];
const common = ["--packets", packet, "--now", "2026-03-01T00:00:00Z"];
for (let run = 0; run < RUNS; run++) {
  for (
    const [label, command] of [
      ["federate", ["federate", ...common, "--out", `${CACHE}/report.json`]],
      ["hub replay", ["hub", "replay", ...common, "--out", `${CACHE}/state.json`]],
    ] as const
  ) {
    const { seconds, peakMb, code } = await timed([...jrm, ...command]);
    console.log(
      `${label.padEnd(10)} ${ENTRIES} entries: ${seconds.toFixed(2)} s, peak ${
        peakMb.toFixed(0)
      } MB, exit ${code}`,
    );
  }
}
