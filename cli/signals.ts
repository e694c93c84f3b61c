/**
 * What the CLI does on SIGINT and SIGTERM: remove the temporary files of the
 * outputs being written (core/fs.ts keeps the list), then exit 130 or 143 as
 * a shell expects of a process ended by those signals. Only the CLI exits;
 * the library only removes.
 *
 * @module
 */

import { removeTempFilesSync } from "../core/fs.ts";

/** The signals handled and the exit code of each (128 + the signal's number). */
const SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;

/** Who handles SIGINT and SIGTERM instead of the exit, while set (see {@link handleSignals}). */
let takeover: ((signal: Deno.Signal) => void) | undefined;

/**
 * Let a long-running command (`hub serve`) handle SIGINT and SIGTERM itself,
 * e.g. to drain its work and exit 0, until disposed.
 * @param handler called with the signal
 * @returns a handle whose disposal gives the signals back to the default exit
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { handleSignals } from "./signals.ts";
 * const seen: string[] = [];
 * using _handled = handleSignals((signal) => seen.push(signal));
 * assert.deepEqual(seen, []);
 * ```
 */
export function handleSignals(handler: (signal: Deno.Signal) => void): Disposable {
  const previous = takeover;
  takeover = handler;
  return {
    [Symbol.dispose]() {
      takeover = previous;
    },
  };
}

/**
 * Handle SIGINT and SIGTERM until disposed: temporary files are removed and
 * the process exits 130 or 143.
 * @returns a handle whose disposal removes the handlers
 * @example
 * ```ts
 * import { cleanUpOnSignals } from "./signals.ts";
 * using _signals = cleanUpOnSignals();
 * ```
 */
export function cleanUpOnSignals(): Disposable {
  const installed: [Deno.Signal, () => void][] = [];
  for (const [signal, code] of SIGNALS) {
    const listener = () => {
      if (takeover !== undefined) return takeover(signal);
      removeTempFilesSync();
      Deno.exit(code);
    };
    try {
      Deno.addSignalListener(signal, listener);
      installed.push([signal, listener]);
    } catch { /* a platform without this signal (SIGTERM on Windows) */ }
  }
  return {
    [Symbol.dispose]() {
      for (const [signal, listener] of installed) Deno.removeSignalListener(signal, listener);
    },
  };
}
