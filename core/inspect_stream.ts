/**
 * Packet files read and inspected as a stream: on the hub's worker threads
 * when there are enough of them to pay for the threads, else on this one,
 * with a bounded number in flight, so memory does not grow with the number
 * of packets. Used by the stateful hub (core/stateful_hub.ts), which does not
 * need window order: its store orders what it keeps.
 *
 * @module
 */

import type { ArchiveLimits } from "./archive.ts";
import { inspectFile, type Inspection } from "./inspect.ts";
import { defaultWorkers, InspectorPool, takePrewarmedInspectors } from "./inspect_pool.ts";

/** Options of {@link inspectFiles}. */
export interface InspectStreamOptions {
  /** Archive and JSON limits. */
  limits?: Partial<ArchiveLimits>;
  /** Worker threads; 0 inspects on this thread. Default: one per core (at most 4) from 4 packets on. */
  workers?: number;
}

/**
 * Read and inspect packet files, yielding each inspection in the order of
 * `paths` (workers inspect ahead of the consumer, a few packets per worker).
 * @param paths packet files
 * @param options limits and workers
 * @returns the inspections, one per path, in order
 * @example
 * ```ts
 * import { inspectFiles } from "./inspect_stream.ts";
 * import assert from "node:assert/strict";
 * const codes = [];
 * for await (const inspection of inspectFiles(["/nonexistent/p.zip"], { workers: 0 })) {
 *   codes.push(inspection.violations[0].code);
 * }
 * assert.deepEqual(codes, ["FILE_UNREADABLE"]);
 * ```
 */
export async function* inspectFiles(
  paths: readonly string[],
  options: InspectStreamOptions = {},
): AsyncGenerator<Inspection> {
  const workers = options.workers ?? defaultWorkers(paths.length);
  const warm = takePrewarmedInspectors();
  let pool: InspectorPool | undefined;
  if (warm && warm.size === workers) pool = warm;
  else {
    warm?.close();
    pool = workers > 0 ? new InspectorPool(workers) : undefined;
  }
  const limits = options.limits;
  const inFlight: Promise<Inspection>[] = [];
  const depth = Math.max(1, workers * 3);
  let next = 0;
  try {
    while (next < paths.length || inFlight.length > 0) {
      while (next < paths.length && inFlight.length < depth) {
        const path = paths[next++];
        // Until a worker has loaded, this thread inspects the packet itself.
        const pending = pool?.ready
          ? pool.inspect(path, limits)
          : Promise.resolve().then(() => inspectFile(path, limits));
        // Awaited below in order; if an earlier one throws, this one must not go unhandled.
        pending.catch(() => {});
        inFlight.push(pending);
        if (!pool?.ready) break;
      }
      yield await inFlight.shift()!;
    }
  } finally {
    pool?.close();
  }
}
