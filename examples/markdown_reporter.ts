/**
 * An example reporter plugin, `markdown`: the drifts of a federation report as
 * a Markdown table, one row per drift, most severe first, with who must act
 * (the drift's resolution) and the recommendation. Paste it into a ticket or
 * a pull request.
 *
 * ```sh
 * deno task jrm report --from report.json --plugin examples/markdown_reporter.ts \
 *   --format markdown --out drifts.md
 * ```
 *
 * Everything in the table comes from packets and plugins, so every cell is
 * escaped: Markdown's special characters get a backslash, control characters
 * (a line break would end the row) become spaces.
 *
 * A reporter outside this repository imports the kernel through the library's
 * public module instead of `../core/…`:
 * `import { defineReporter, resolutionOf } from "<path or URL of your checkout>/mod.ts";`.
 *
 * @module
 */

import { resolutionOf } from "../core/drift.ts";
import { defineReporter } from "../core/plugin.ts";
import type { FederationReport, ReportDrift } from "../core/report.ts";

const SEVERITY_ORDER = ["critical", "high", "medium", "low"];

/**
 * One table cell: Markdown's special characters escaped, control characters
 * (line breaks included) made spaces.
 * @param text the cell's text
 * @returns the text, safe inside one table cell
 */
export function markdownCell(text: string): string {
  return text
    // deno-lint-ignore no-control-regex -- the control characters are what is replaced
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
    .replace(/[\\`*_{}[\]()<>#+!|~]/g, (character) => `\\${character}`);
}

function rank(drift: ReportDrift): number {
  const index = SEVERITY_ORDER.indexOf(drift.severity);
  return index < 0 ? SEVERITY_ORDER.length : index;
}

/** Who must act: `align with X: A, B`, `review (reference X): A`, `review: A, B`. */
function whoActs(drift: ReportDrift): string {
  const { action, source, targets } = resolutionOf(drift);
  const reference = source === null
    ? ""
    : action === "align"
    ? ` with ${source}`
    : ` (reference ${source})`;
  return `${action}${reference}: ${targets.join(", ")}`;
}

/**
 * The `markdown` reporter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import markdown from "./markdown_reporter.ts";
 *
 * const report = {
 *   generatedAt: "2026-03-01T00:00:00Z",
 *   environments: ["SOC_EAST", "SOC_WEST"],
 *   crossEnvDrifts: [{
 *     driftId: "drift-1", driftType: "VERSION_SKEW", severity: "medium",
 *     environments: ["SOC_EAST", "SOC_WEST"], signatureId: "sig|1",
 *     detail: "rev 3 vs rev 4", evidence: {}, detector: "version-skew",
 *     resolution: {
 *       action: "align", source: "SOC_EAST", targets: ["SOC_WEST"],
 *       recommendation: "Move SOC_WEST to rev 4",
 *     },
 *   }],
 * };
 * const text = await markdown.render(report as never, {});
 * assert.match(text as string, /^\| medium \| VERSION\\_SKEW \| sig\\\|1 \| SOC\\_EAST, SOC\\_WEST \|/m);
 * assert.match(text as string, /align with SOC\\_EAST: SOC\\_WEST \| Move SOC\\_WEST to rev 4 \|$/m);
 * ```
 */
const markdownReporter = defineReporter<FederationReport>({
  kind: "reporter",
  name: "markdown",
  version: "1.0.0",
  format: "markdown",
  description: "the drifts as a Markdown table, most severe first, with who must act",
  render(report) {
    const drifts = [...report.crossEnvDrifts].sort((a, b) =>
      rank(a) - rank(b) || a.driftType.localeCompare(b.driftType) ||
      a.signatureId.localeCompare(b.signatureId)
    );
    const lines = [
      `# Drift across ${markdownCell(report.environments.join(", "))}`,
      "",
      `Report generated at ${markdownCell(report.generatedAt)}: ${drifts.length} drift(s).`,
    ];
    if (drifts.length > 0) {
      lines.push(
        "",
        "| severity | drift type | subject | environments | who acts | recommendation |",
        "| --- | --- | --- | --- | --- | --- |",
      );
      for (const drift of drifts) {
        const cells = [
          drift.severity,
          drift.driftType,
          drift.signatureId,
          drift.environments.join(", "),
          whoActs(drift),
          resolutionOf(drift).recommendation,
        ];
        lines.push(`| ${cells.map(markdownCell).join(" | ")} |`);
      }
    }
    return lines.join("\n") + "\n";
  },
});

export default markdownReporter;
