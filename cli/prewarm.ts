/**
 * Start the packet-inspecting workers before the program loads, when the
 * command line asks to ingest enough packets for workers to pay off: they
 * then load on the core that would otherwise wait while the main thread loads
 * the CLI. Once loaded, they start reading the packets the hub is likely to
 * fold first (as many as it keeps in flight), which the hub takes when it
 * gets to them with the default limits. A hint only: the hub adopts the pool
 * when it wants that many workers and closes it otherwise, and folds in the
 * order the manifests give.
 *
 * @module
 */

import { defaultWorkers, prewarmInspectors } from "../core/inspect_pool.ts";
import { listPacketFiles } from "../core/packet_files.ts";

/** Commands that ingest packets with `--packets`. */
const INGESTING = ["federate", "replay"];

/**
 * Prewarm the hub's workers when `args` ingest at least a handful of packets.
 * @param args the command-line arguments
 * @returns how many workers were started
 */
export function prewarmFor(args: readonly string[]): number {
  if (!args.some((arg) => INGESTING.includes(arg))) return 0;
  if (args.includes("--help") || args.includes("-h")) return 0;
  const inputs: string[] = [];
  for (let i = args.indexOf("--packets") + 1; i > 0 && i < args.length; i++) {
    if (args[i].startsWith("-")) break;
    inputs.push(args[i]);
  }
  let packets = 0;
  for (const arg of inputs) {
    try {
      const info = Deno.statSync(arg);
      if (info.isFile) packets++;
      else if (info.isDirectory) {
        for (const entry of Deno.readDirSync(arg)) if (entry.name.endsWith(".zip")) packets++;
      }
    } catch {
      packets++; // a glob, or a path the CLI will complain about: count it, decide later
    }
    if (defaultWorkers(packets) > 0) break;
  }
  const workers = defaultWorkers(packets);
  if (workers === 0) return 0;
  // The packets the hub will most likely fold first, as many as it keeps in flight: the workers
  // start on them as soon as they load, while this thread is still loading the program.
  const files = listPacketFiles(inputs) ?? [];
  prewarmInspectors(workers, byWindowHint(files).slice(0, 3 * workers));
  return workers;
}

/** Packet names as the spec forms them: environment, window start and end, part. */
const PACKET_NAME = /JRM_X_PACKET_(.+)_(\d{8}T\d{6})_(\d{8}T\d{6})_part(\d+)\.zip$/i;

/**
 * Files in the order the hub folds them (window end, part, environment, path), as far as their
 * names tell; names of another form go last, in path order. Only a guess at what to read first:
 * the hub orders by the manifests.
 * @param files packet files
 * @returns a sorted copy
 */
export function byWindowHint(files: readonly string[]): string[] {
  const keyed = files.map((path) => {
    const m = PACKET_NAME.exec(path);
    return { path, key: m ? [m[3], m[4].padStart(9, "0"), m[1]] : ["~", "", ""] };
  });
  const compare = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0;
  keyed.sort((a, b) =>
    compare(a.key[0], b.key[0]) || compare(a.key[1], b.key[1]) || compare(a.key[2], b.key[2]) ||
    compare(a.path, b.path)
  );
  return keyed.map(({ path }) => path);
}
