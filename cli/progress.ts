/**
 * Progress on stderr for long runs: packets done / total and the rate, on one
 * line rewritten in place — only when stderr is a terminal and the command
 * was not asked for JSON.
 *
 * @module
 */

import { errRaw } from "./common.ts";

/** Something that reports progress. */
export interface Progress {
  /** Report `done` of `total`. */
  update(done: number, total: number): void;
  /** Clear the line. */
  finish(): void;
}

/**
 * A progress reporter, or a silent one when stderr is not a terminal or `quiet` is set.
 * @param label what is counted, e.g. `packets`
 * @param quiet true for `--json`
 * @returns the reporter
 */
export function progress(label: string, quiet: boolean): Progress {
  if (quiet || !Deno.stderr.isTerminal()) return { update() {}, finish() {} };
  const started = performance.now();
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (done < total && now - last < 100) return;
      last = now;
      const rate = done / Math.max((now - started) / 1000, 0.001);
      const text = `  ${label} ${done}/${total}  ${rate.toFixed(1)}/s`;
      errRaw(`\r\x1b[2K${text}`);
      shown = true;
    },
    finish() {
      if (shown) errRaw("\r\x1b[2K");
    },
  };
}
