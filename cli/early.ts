/**
 * Imported first by `cli.ts`, for its side effect: when the command line
 * ingests enough packets, the hub's workers start loading now, while the rest
 * of the program loads on the main thread (see `cli/prewarm.ts`). Module
 * evaluation follows import order, so nothing heavy has run before this.
 *
 * @module
 */

import { prewarmFor } from "./prewarm.ts";

prewarmFor(Deno.args);
