/**
 * A worker that reads and inspects packet files off the main thread: reading,
 * inflate, hash, parse and schema checks are the costly part of ingestion,
 * and they need no keys. The main thread judges signatures and scope and
 * folds the results in window order (core/inspect_pool.ts runs the workers).
 *
 * Protocol: the worker receives `{ id, path, limits, graph }` and posts
 * `{ id, inspection }` or `{ id, error }`; once loaded it posts `{ ready: true }`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { inspectFile } from "./inspect.ts";
import { SchemasNotLoaded } from "./packet.ts";
import type { ArchiveLimits } from "./archive.ts";
import { graphFactsBuffers, type GraphFactsOptions } from "./graph_facts.ts";

self.onmessage = async (event: MessageEvent) => {
  const { id, path, limits, graph } = event.data as {
    id: number;
    path: string;
    limits?: Partial<ArchiveLimits>;
    graph?: GraphFactsOptions;
  };
  try {
    let inspection;
    try {
      inspection = inspectFile(path, limits, graph);
    } catch (error) {
      // The worker starts without zod; the first packet that needs a schema loads it.
      if (!(error instanceof SchemasNotLoaded)) throw error;
      await import("./packet_schemas.ts");
      inspection = inspectFile(path, limits, graph);
    }
    // The canon entries' and the graph's buffers move to the main thread rather than being copied.
    const canon = inspection.canonTexts;
    const transfer = canon ? [canon.bytes.buffer, canon.ends.buffer] : [];
    if (inspection.graphFacts) transfer.push(...graphFactsBuffers(inspection.graphFacts));
    self.postMessage({ id, inspection }, transfer);
  } catch (error) {
    self.postMessage({
      id,
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
    });
  }
};

// Tell the pool this worker has loaded and can take packets.
self.postMessage({ ready: true });
