/**
 * A worker that reads and inspects packets off the main thread: inflate,
 * hash, parse and schema-check are the costly part of ingestion, and they
 * need no keys. The main thread judges signatures and scope and folds the
 * results in window order.
 *
 * Protocol: the worker receives `{ id, source, bytes, limits }` (bytes
 * transferred) and posts `{ id, inspection }` or `{ id, error }`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { inspect } from "./gate.ts";
import { readPacket, sha256Ref } from "./packet.ts";
import type { ArchiveLimits } from "./archive.ts";

self.onmessage = (event: MessageEvent) => {
  const { id, source, bytes, limits } = event.data as {
    id: number;
    source: string;
    bytes: Uint8Array;
    limits?: Partial<ArchiveLimits>;
  };
  try {
    const inspection = inspect(readPacket(bytes, { source, limits, materializeRecords: false }));
    inspection.digest ??= sha256Ref(bytes);
    self.postMessage({ id, inspection });
  } catch (error) {
    self.postMessage({
      id,
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
    });
  }
};

// Tell the pool this worker has loaded and can take packets.
self.postMessage({ ready: true });
