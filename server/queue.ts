/**
 * A bounded queue that runs its tasks one at a time: ingestion into the store
 * is serial, and a full queue is refused at once (503) instead of piling up
 * bodies in memory.
 *
 * @module
 */

import { HttpError } from "./http_error.ts";

/**
 * Serial task runner with a fixed capacity.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SerialQueue } from "./queue.ts";
 * const queue = new SerialQueue(1);
 * const { promise, resolve } = Promise.withResolvers<number>();
 * const first = queue.run(() => promise);
 * await assert.rejects(queue.run(() => Promise.resolve(2)), /queue is full/);
 * resolve(1);
 * assert.equal(await first, 1);
 * assert.equal(await queue.run(() => Promise.resolve(3)), 3);
 * ```
 */
export class SerialQueue {
  #capacity: number;
  #depth = 0;
  #tail: Promise<unknown> = Promise.resolve();

  /** @param capacity how many tasks may wait or run at once */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Tasks waiting or running. */
  get depth(): number {
    return this.#depth;
  }

  /**
   * Run a task after those before it.
   * @param task the work
   * @returns what the task returns
   * @throws {HttpError} 503 `QUEUE_FULL` with `Retry-After: 1` when full
   */
  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#depth >= this.#capacity) {
      return Promise.reject(
        new HttpError(503, "QUEUE_FULL", "The ingest queue is full; try again", {
          "retry-after": "1",
        }),
      );
    }
    this.#depth++;
    const result = this.#tail.then(task).finally(() => this.#depth--);
    this.#tail = result.catch(() => {});
    return result;
  }

  /** Wait until every task taken so far has finished. */
  async drain(): Promise<void> {
    while (this.#depth > 0) await this.#tail;
  }
}
