/**
 * Start the packet-inspecting workers before the program loads, when the
 * command line asks to ingest enough packets for workers to pay off: they
 * then load on the core that would otherwise wait while the main thread loads
 * the CLI. A hint only: the hub adopts the pool when it wants that many
 * workers and closes it otherwise.
 *
 * @module
 */

import { defaultWorkers, prewarmInspectors } from "../core/inspect_pool.ts";

/** Commands that ingest packets with `--packets`. */
const INGESTING = ["federate", "replay", "ingest"];

/**
 * Prewarm the hub's workers when `args` ingest at least a handful of packets.
 * @param args the command-line arguments
 * @returns how many workers were started
 */
export function prewarmFor(args: readonly string[]): number {
  if (!args.some((arg) => INGESTING.includes(arg))) return 0;
  if (args.includes("--help") || args.includes("-h")) return 0;
  let packets = 0;
  for (let i = args.indexOf("--packets") + 1; i > 0 && i < args.length; i++) {
    const arg = args[i];
    if (arg.startsWith("-")) break;
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
  if (workers > 0) prewarmInspectors(workers);
  return workers;
}
