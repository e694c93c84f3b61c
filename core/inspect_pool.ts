/**
 * A pool of packet-inspecting workers (core/inspect_worker.ts): each reads a
 * packet file and inspects it (inflate, hash, parse, schema checks) off the
 * main thread.
 *
 * This module imports nothing but types and the error classes, so a program
 * can start the pool before it loads anything heavy: {@link prewarmInspectors}
 * at the top of an entry point lets the workers load while the program's own
 * modules do, on the core that would otherwise idle. The hub then adopts the
 * warm pool ({@link takePrewarmedInspectors}).
 *
 * @module
 */

import type { ArchiveLimits } from "./archive.ts";
import { UsageError } from "./errors.ts";
import type { Inspection } from "./gate.ts";
import type { GraphFactsOptions } from "./graph_facts.ts";

/**
 * How many workers ingesting `packets` packets wants: none below a handful
 * (starting them costs more than they save), else one per core, at most four.
 * @param packets how many packet files
 * @returns the worker count
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultWorkers } from "./inspect_pool.ts";
 * assert.equal(defaultWorkers(3), 0);
 * ```
 */
export function defaultWorkers(packets: number): number {
  if (packets < 4) return 0;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency ?? 1));
}

/** A pool of inspect workers. */
export class InspectorPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, { resolve(i: Inspection): void; reject(e: Error): void }>();
  readonly #load: number[] = [];
  readonly #ready: boolean[] = [];
  #nextId = 0;
  #failed = 0;
  readonly #readiness = Promise.withResolvers<boolean>();

  /**
   * Start workers; each loads its modules in the background.
   * @param count how many workers
   */
  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL("./inspect_worker.ts", import.meta.url), {
        type: "module",
      });
      worker.onmessage = (event: MessageEvent) => {
        if (event.data?.ready) {
          this.#ready[i] = true;
          this.#readiness.resolve(true);
          return;
        }
        const { id, inspection, error } = event.data;
        const pending = this.#pending.get(id);
        this.#pending.delete(id);
        this.#load[i]--;
        if (!pending) return;
        if (error) {
          const failure = new Error(typeof error === "string" ? error : error.message);
          if (typeof error === "object" && error.name === "UsageError") {
            pending.reject(new UsageError(failure.message));
          } else pending.reject(failure);
        } else pending.resolve(inspection);
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        // A dead worker takes no more packets; what it held fails the run loudly.
        this.#ready[i] = false;
        this.#failed++;
        if (this.#failed === this.#workers.length) this.#readiness.resolve(false);
        const failure = new Error(`Packet inspector worker failed: ${event.message}`);
        for (const pending of this.#pending.values()) pending.reject(failure);
        this.#pending.clear();
      };
      this.#workers.push(worker);
      this.#load.push(0);
      this.#ready.push(false);
    }
  }

  /** How many workers the pool has. */
  get size(): number {
    return this.#workers.length;
  }

  /** Whether any worker has finished loading. */
  get ready(): boolean {
    return this.#ready.includes(true);
  }

  /**
   * Wait until a worker has loaded.
   * @returns true when one has, false when every worker failed first
   */
  whenReady(): Promise<boolean> {
    return this.#readiness.promise;
  }

  /**
   * Read and inspect a packet file on the least busy ready worker.
   * @param path the packet file (the worker reads it)
   * @param limits archive and JSON limits
   * @param graph the hash key for the graph's identities and whether to write its lines
   * @returns the inspection
   * @throws {Error} when no worker is ready (check {@link ready} first)
   */
  inspect(
    path: string,
    limits?: Partial<ArchiveLimits>,
    graph?: GraphFactsOptions,
  ): Promise<Inspection> {
    let index = -1;
    for (let i = 0; i < this.#workers.length; i++) {
      if (this.#ready[i] && (index === -1 || this.#load[i] < this.#load[index])) index = i;
    }
    if (index === -1) return Promise.reject(new Error("No packet inspector worker is ready"));
    const id = this.#nextId++;
    this.#load[index]++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#workers[index].postMessage({ id, path, limits, graph });
    });
  }

  /** Stop every worker. */
  close(): void {
    for (const worker of this.#workers) worker.terminate();
    this.#workers.length = 0;
    this.#readiness.resolve(false);
  }
}

let prewarmed: InspectorPool | undefined;

/**
 * Start a pool now, for the next {@link takePrewarmedInspectors} to adopt.
 * Workers keep a program running until closed: a program that prewarms and
 * then does not ingest ends with `Deno.exit`, or calls
 * `takePrewarmedInspectors()?.close()`.
 * @param count how many workers
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prewarmInspectors, takePrewarmedInspectors } from "./inspect_pool.ts";
 * prewarmInspectors(1);
 * const pool = takePrewarmedInspectors();
 * assert.equal(pool?.size, 1);
 * pool?.close();
 * ```
 */
export function prewarmInspectors(count: number): void {
  prewarmed?.close();
  prewarmed = count > 0 ? new InspectorPool(count) : undefined;
}

/**
 * Take the pool {@link prewarmInspectors} started, if any; the caller owns it.
 * @returns the pool, or undefined
 */
export function takePrewarmedInspectors(): InspectorPool | undefined {
  const pool = prewarmed;
  prewarmed = undefined;
  return pool;
}
