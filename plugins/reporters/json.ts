/**
 * The `json` reporter: the federation report as indented JSON, byte for byte
 * what `jrm federate --out` writes, so every format goes through a reporter.
 *
 * @module
 */

import { defineReporter } from "../../core/plugin.ts";
import type { FederationReport } from "../../core/report.ts";

/**
 * The built-in `json` reporter.
 *
 * @example
 * ```ts
 * import jsonReporter from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * const text = await jsonReporter.render({ environments: ["SOC_EAST"] } as never, {});
 * assert.equal(text, '{\n  "environments": [\n    "SOC_EAST"\n  ]\n}\n');
 * ```
 */
const jsonReporter = defineReporter<FederationReport>({
  kind: "reporter",
  name: "json",
  version: "1.0.0",
  format: "json",
  description: "the federation report as indented JSON",
  render: (report) => JSON.stringify(report, null, 2) + "\n",
});

export default jsonReporter;
