/**
 * The `html` reporter: the federation report as one self-contained HTML file
 * for an analyst's browser, air-gapped included. Everything is inline; a
 * Content-Security-Policy allows only the page's own script and style (by
 * SHA-256 hash, computed at render time) and `data:` images, so even a bug
 * cannot make the page load anything.
 *
 * Sections: a summary (environments, packets accepted, rejected and
 * duplicate, drift by type and severity, detectors); the drift matrix, one
 * row per drifting signature and one column per environment, each cell the
 * rev and confidence seen there, coloured where a drift's resolution names
 * the environment as a target (see {@link driftMatrix}); the rejected packets
 * with their reasons;
 * and the advisories with their status when the context gives the ledger's
 * advisories.
 *
 * Safety. Everything from packets (signature ids, environment ids, messages,
 * evidence) is attacker-controlled. The static parts are written through a
 * template that escapes every value; the matrix's data travels as JSON in a
 * `<script type="application/json">` with `<`, `>`, `&`, U+2028 and U+2029
 * escaped, and the page's script builds the matrix with `textContent` only.
 *
 * Scale. The script builds a row's elements the first time it is shown and
 * shows at most 1,000 rows at a time (with "show more" and "show all"), so
 * tens of thousands of drifting signatures stay usable; the filter box and
 * the sortable headers work on all of them. The hash `#filter=<text>` (and
 * `&sort=<column>&dir=desc`, column `signature`, `types`, `severity` or an
 * environment id) prefills the filter and the order, so a filtered view can
 * be linked to.
 *
 * @module
 */

import { resolutionOf } from "../../core/drift.ts";
import { defineReporter } from "../../core/plugin.ts";
import type { FederationReport, ReportDrift } from "../../core/report.ts";
import { SCRIPT, STYLE } from "./html_client.generated.ts";

/**
 * One advisory as this report shows it: the fields it reads from the ledger's
 * advisories (any other field is ignored).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import htmlReporter, { type HtmlAdvisory } from "./html.ts";
 * const advisory: HtmlAdvisory = {
 *   advisoryId: "adv-00000000000000000001", driftType: "VERSION_SKEW", severity: "low",
 *   signatureId: "sig-0001", sourceEnv: "SOC_NORTH", targetEnvs: ["SOC_EAST"],
 *   recommendation: "Move SOC_EAST to rev 4", status: "published", updatedAt: "2026-03-01T00:00:00Z",
 * };
 * const page = await htmlReporter.render({
 *   reportVersion: 1, generatedAt: "2026-03-01T00:00:00Z", environments: [],
 *   packetsIngested: 0, packetsRejected: [], duplicates: [], crossEnvDrifts: [],
 *   mergedGraph: { nodes: 0, edges: 0, perEnvironment: {} }, environmentStats: {},
 *   detectors: [], detectorErrors: [],
 * }, { advisories: [advisory] });
 * assert(String(page).includes("Move SOC_EAST to rev 4"));
 * ```
 */
export interface HtmlAdvisory {
  /** `adv-` and hex digits. */
  advisoryId: string;
  /** The drift type it is about. */
  driftType: string;
  /** The latest drift's severity. */
  severity: string;
  /** The signature concerned. */
  signatureId: string;
  /** The reference environment, or null when there is none. */
  sourceEnv: string | null;
  /** The environments asked to act. */
  targetEnvs: string[];
  /** What to do, in one sentence. */
  recommendation: string;
  /** `published`, `accepted`, `declined` or `resolved`. */
  status: string;
  /** When it last changed, ISO 8601. */
  updatedAt: string;
  /** Who accepted or declined it, from its history; null while undecided. */
  decidedBy?: string | null;
  /** Why, as the operator said; null when no reason was given. */
  decisionReason?: string | null;
}

/**
 * What a drift's resolution asks of an environment in a matrix cell: `align`
 * (a target that must take the source's state), `review` (a target that must
 * be reviewed) or `source` (the reference). Only targets are coloured.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CellRole } from "./html.ts";
 * const roles: CellRole[] = ["align", "source"];
 * assert.equal(roles.length, 2);
 * ```
 */
export type CellRole = "align" | "review" | "source";

/**
 * What one environment holds for one drifting signature, from the drifts' evidence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { driftMatrix } from "./html.ts";
 * const matrix = driftMatrix({
 *   environments: ["A", "B"],
 *   crossEnvDrifts: [{
 *     driftId: "drift-1", driftType: "POSTURE_DIVERGENCE", severity: "medium", signatureId: "sig-1",
 *     environments: ["A", "B"], detail: "posture", detector: "posture-divergence",
 *     evidence: { A: { confidence: 0.1 }, B: { confidence: 0.6 }, threshold: "0.3" },
 *   }],
 * } as never);
 * const cell = matrix.rows[0].cells[1];
 * assert.equal(cell?.confidence, 0.6);
 * assert.equal(cell.roles[0], "review");
 * ```
 */
export interface MatrixCell {
  /** The revision, when the evidence gives one. */
  rev: number | string | null;
  /** The confidence, when the evidence gives one (a number when it is numeric). */
  confidence: number | string | null;
  /** The patch, when the evidence gives one. */
  patchId: string | null;
  /** What the row's drifts ask of this environment; empty when it need not act. */
  roles: CellRole[];
}

/**
 * One drift as a matrix row lists it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { driftMatrix } from "./html.ts";
 * const matrix = driftMatrix({
 *   environments: ["A", "B"],
 *   crossEnvDrifts: [{
 *     driftId: "drift-1", driftType: "POSTURE_DIVERGENCE", severity: "medium", signatureId: "sig-1",
 *     environments: ["A", "B"], detail: "posture", detector: "posture-divergence",
 *     evidence: { A: { confidence: 0.1 }, B: { confidence: 0.6 }, threshold: "0.3" },
 *   }],
 * } as never);
 * assert.equal(matrix.rows[0].drifts[0].driftId, "drift-1");
 * ```
 */
export interface MatrixDrift {
  /** The drift's id. */
  driftId: string;
  /** Its type. */
  driftType: string;
  /** Its severity. */
  severity: string;
  /** Its one-sentence description. */
  detail: string;
  /** Its resolution's action. */
  action: string;
  /** Its resolution's source, or null. */
  source: string | null;
  /** Its resolution's targets. */
  targets: string[];
  /** Its resolution's recommendation. */
  recommendation: string;
}

/**
 * One drifting signature: its drifts and, per environment, its cell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { driftMatrix } from "./html.ts";
 * const matrix = driftMatrix({
 *   environments: ["A", "B"],
 *   crossEnvDrifts: [{
 *     driftId: "drift-1", driftType: "POSTURE_DIVERGENCE", severity: "medium", signatureId: "sig-1",
 *     environments: ["A", "B"], detail: "posture", detector: "posture-divergence",
 *     evidence: { A: { confidence: 0.1 }, B: { confidence: 0.6 }, threshold: "0.3" },
 *   }],
 * } as never);
 * const [row] = matrix.rows;
 * assert.equal(row.signatureId, "sig-1");
 * assert.equal(row.severity, "medium");
 * ```
 */
export interface MatrixRow {
  /** The signature. */
  signatureId: string;
  /** Its drift types, sorted. */
  driftTypes: string[];
  /** The highest severity among its drifts. */
  severity: string;
  /** One cell per environment of {@link DriftMatrix.environments}; null where there is no entry. */
  cells: (MatrixCell | null)[];
  /** Its drifts. */
  drifts: MatrixDrift[];
}

/**
 * The drift matrix: environments as columns, drifting signatures as rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { driftMatrix } from "./html.ts";
 * const matrix = driftMatrix({
 *   environments: ["A", "B"],
 *   crossEnvDrifts: [{
 *     driftId: "drift-1", driftType: "POSTURE_DIVERGENCE", severity: "medium", signatureId: "sig-1",
 *     environments: ["A", "B"], detail: "posture", detector: "posture-divergence",
 *     evidence: { A: { confidence: 0.1 }, B: { confidence: 0.6 }, threshold: "0.3" },
 *   }],
 * } as never);
 * assert.equal(matrix.environments.join(), "A,B");
 * assert.equal(matrix.rows.length, 1);
 * ```
 */
export interface DriftMatrix {
  /** The columns: the report's environments, then any other environment a drift names. */
  environments: string[];
  /** One row per drifting signature, most severe first, then by signature id. */
  rows: MatrixRow[];
}

const SEVERITY_ORDER = ["low", "medium", "high", "critical"];
const STATUS_ORDER = ["published", "accepted", "declined", "resolved"];
const CELL_ROLES: readonly CellRole[] = ["align", "review", "source"];
const PAGE_SIZE = 1000;

const severityRank = (severity: string) => SEVERITY_ORDER.indexOf(severity);
const byCodePoint = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0;
const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The environment entries of a drift's evidence, by environment id. */
function entriesOf(drift: ReportDrift, columns: Set<string>): Map<string, Record<string, unknown>> {
  const entries = new Map<string, Record<string, unknown>>();
  for (const [key, value] of Object.entries(drift.evidence)) {
    if (columns.has(key) && isRecord(value)) entries.set(key, value);
  }
  return entries;
}

function scalar(value: unknown): number | string | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string") return value;
  return null;
}

function numeric(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
    return Number(value);
  }
  return null;
}

/**
 * Build the drift matrix of a report: one row per drifting signature, one
 * cell per environment holding the rev, confidence and patch its drifts'
 * evidence gives, and what each drift's resolution asks of it: the cells of
 * the resolution's targets are marked `align` or `review` (the only coloured
 * cells), the source's `source`. A drift without a resolution asks every
 * environment to review (`resolutionOf` in `core/drift.ts`). The matrix reads
 * no drift type's evidence layout beyond showing `rev`, `confidence` and
 * `patchId` where an environment's evidence has them.
 * @param report the federation report
 * @returns the matrix
 * @example
 * ```ts
 * import { driftMatrix } from "./html.ts";
 * import assert from "node:assert/strict";
 *
 * const evidence = { A: { rev: 3 }, B: { rev: 4 }, C: { rev: 3 } };
 * const matrix = driftMatrix({
 *   environments: ["A", "B", "C"],
 *   crossEnvDrifts: [{
 *     driftId: "drift-1", driftType: "ROLLOUT_LAG", severity: "low", signatureId: "sig-1",
 *     environments: ["A", "B", "C"], detail: "skew", evidence, detector: "rollout-lag",
 *     resolution: { action: "align", source: "B", targets: ["A", "C"], recommendation: "Move A, C to 4" },
 *   }],
 * } as never);
 * assert.deepEqual(matrix.rows[0].cells.map((cell) => cell?.roles), [["align"], ["source"], ["align"]]);
 * ```
 */
export function driftMatrix(report: FederationReport): DriftMatrix {
  const environments = [...report.environments];
  const extra = new Set<string>();
  for (const drift of report.crossEnvDrifts) {
    for (const env of drift.environments) if (!environments.includes(env)) extra.add(env);
  }
  environments.push(...[...extra].sort(byCodePoint));
  const columns = new Set(environments);
  const bySignature = new Map<string, ReportDrift[]>();
  for (const drift of report.crossEnvDrifts) {
    const list = bySignature.get(drift.signatureId) ?? [];
    list.push(drift);
    bySignature.set(drift.signatureId, list);
  }
  const rows: MatrixRow[] = [];
  for (const [signatureId, drifts] of bySignature) {
    const cells = new Map<string, MatrixCell>();
    const cellOf = (env: string) => {
      let cell = cells.get(env);
      if (!cell) cells.set(env, cell = { rev: null, confidence: null, patchId: null, roles: [] });
      return cell;
    };
    const mark = (envs: readonly (string | null)[], role: CellRole) => {
      for (const env of envs) {
        if (env === null || !columns.has(env)) continue;
        const cell = cellOf(env);
        if (!cell.roles.includes(role)) cell.roles.push(role);
      }
    };
    const resolutions = drifts.map(resolutionOf);
    drifts.forEach((drift, index) => {
      for (const [env, entry] of entriesOf(drift, columns)) {
        const cell = cellOf(env);
        const confidence = numeric(entry.confidence) ?? scalar(entry.confidence);
        cell.rev ??= scalar(entry.rev);
        cell.confidence ??= confidence;
        cell.patchId ??= typeof entry.patchId === "string" ? entry.patchId : null;
      }
      const { action, source, targets } = resolutions[index];
      mark(targets, action === "align" ? "align" : "review");
      mark([source], "source");
    });
    for (const cell of cells.values()) {
      cell.roles.sort((a, b) => CELL_ROLES.indexOf(a) - CELL_ROLES.indexOf(b));
    }
    const severity = drifts.map((d) =>
      d.severity
    ).sort((a, b) => severityRank(b) - severityRank(a))[0];
    rows.push({
      signatureId,
      driftTypes: [...new Set(drifts.map((d) => d.driftType))].sort(byCodePoint),
      severity,
      cells: environments.map((env) => cells.get(env) ?? null),
      drifts: drifts.map((d, index) => ({
        driftId: d.driftId,
        driftType: d.driftType,
        severity: d.severity,
        detail: d.detail,
        action: resolutions[index].action,
        source: resolutions[index].source,
        targets: resolutions[index].targets,
        recommendation: resolutions[index].recommendation,
      })),
    });
  }
  rows.sort((a, b) =>
    severityRank(b.severity) - severityRank(a.severity) || byCodePoint(a.signatureId, b.signatureId)
  );
  return { environments, rows };
}

// --- HTML writing ----------------------------------------------------------

/** Markup that is already safe; everything else interpolated into {@link markup} is escaped. */
class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]);
}

function fragment(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(fragment).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

/**
 * A template whose every interpolated value is escaped, unless it is itself
 * {@link SafeHtml}; lists are joined. (Not named `html`: `deno fmt` would
 * reformat the markup, and with it the page's bytes.)
 */
function markup(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  values.forEach((value, index) => out += fragment(value) + strings[index + 1]);
  return new SafeHtml(out);
}

/** JSON that can sit inside a `<script>` element: no `<`, `>`, `&` or line separators as such. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

async function cspHash(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return `'sha256-${btoa(String.fromCharCode(...digest))}'`;
}

const count = (n: number) => n.toLocaleString("en-US");

function advisoriesFrom(context: Record<string, unknown>): HtmlAdvisory[] | null {
  const given = context.advisories;
  if (given === undefined || given === null) return null;
  if (!Array.isArray(given)) {
    throw new TypeError(
      `Cannot render the HTML report: "advisories" must be a list, not ${typeof given}`,
    );
  }
  const text = (value: unknown) => typeof value === "string" ? value : String(value ?? "");
  return given.filter(isRecord).map((a) => ({
    advisoryId: text(a.advisoryId),
    driftType: text(a.driftType),
    severity: text(a.severity),
    signatureId: text(a.signatureId),
    sourceEnv: typeof a.sourceEnv === "string" ? a.sourceEnv : null,
    targetEnvs: Array.isArray(a.targetEnvs) ? a.targetEnvs.map(text) : [],
    recommendation: text(a.recommendation),
    status: text(a.status),
    updatedAt: text(a.updatedAt),
    ...lastDecision(a),
  }));
}

/** The operator and reason of an advisory's latest accept or decline, from its history. */
function lastDecision(
  advisory: Record<string, unknown>,
): { decidedBy: string | null; decisionReason: string | null } {
  if (typeof advisory.decidedBy === "string") {
    return {
      decidedBy: advisory.decidedBy,
      decisionReason: typeof advisory.decisionReason === "string" ? advisory.decisionReason : null,
    };
  }
  const history = Array.isArray(advisory.history) ? advisory.history.filter(isRecord) : [];
  const decision = history.findLast((h) => h.to === "accepted" || h.to === "declined");
  if (decision === undefined) return { decidedBy: null, decisionReason: null };
  return {
    decidedBy: typeof decision.by === "string" ? decision.by : null,
    decisionReason: typeof decision.reason === "string" ? decision.reason : null,
  };
}

/** The page's refresh interval from the render context: a whole number of seconds, or none. */
function refreshFrom(context: Record<string, unknown>): number | null {
  const given = context.refreshSeconds;
  if (given === undefined || given === null) return null;
  if (typeof given !== "number" || !Number.isInteger(given) || given < 1) {
    throw new TypeError(
      `Cannot render the HTML report: "refreshSeconds" must be a whole number of seconds`,
    );
  }
  return given;
}

/** A class-name-safe form of a value: known statuses and severities pass, anything else is `other`. */
function classOf(value: string): string {
  return [...STATUS_ORDER, ...SEVERITY_ORDER].includes(value) ? value : "other";
}

function badge(kind: string, text: string): SafeHtml {
  return markup`<span class="badge ${kind}">${text}</span>`;
}

/** Severities in order: the known ones, then any other a drift gives. */
function severitiesOf(severities: string[]): string[] {
  const others = new Set(severities.filter((s) => !SEVERITY_ORDER.includes(s)));
  return [...SEVERITY_ORDER, ...[...others].sort(byCodePoint)];
}

function summarySection(report: FederationReport): SafeHtml {
  const drifts = report.crossEnvDrifts;
  const types = [...new Set(drifts.map((d) => d.driftType))].sort(byCodePoint);
  const severities = severitiesOf(drifts.map((d) => d.severity));
  const tally = (type: string | null, severity: string | null) =>
    drifts.filter((d) =>
      (type === null || d.driftType === type) && (severity === null || d.severity === severity)
    ).length;
  const rejected = report.packetsRejected.length;
  const duplicates = report.duplicates.length;
  const cards: [string, number, string][] = [
    ["Environments", report.environments.length, ""],
    ["Packets accepted", report.packetsIngested, "ok"],
    ["Packets rejected", rejected, rejected ? "bad" : ""],
    ["Duplicate packets", duplicates, duplicates ? "warn" : ""],
    ["Drifts", drifts.length, drifts.length ? "warn" : "ok"],
  ];
  const card = ([label, n, tone]: [string, number, string]) =>
    markup`<div class="card ${tone}"><div class="n">${
      count(n)
    }</div><div class="label">${label}</div></div>`;
  const errors = report.detectorErrors.length === 0 ? "" : markup`
<div class="alert" role="alert"><strong>A detector failed: the drift list is incomplete.</strong><ul>${
    report.detectorErrors.map((e) =>
      markup`<li>detector <code>${e.detector}</code> failed in <code>${e.hook}</code>: ${e.message}</li>`
    )
  }</ul></div>`;
  const typeRow = (type: string) =>
    markup`
<tr><th scope="row">${type}</th>${
      severities.map((s) => {
        const n = tally(type, s);
        return markup`<td class="num ${n ? `sev-${classOf(s)}` : "zero"}">${count(n)}</td>`;
      })
    }<td class="num total">${count(tally(type, null))}</td></tr>`;
  const environmentRow = (env: string) => {
    const stats = Object.hasOwn(report.environmentStats, env)
      ? report.environmentStats[env]
      : undefined;
    if (!stats) {
      return markup`
<tr><th scope="row">${env}</th><td colspan="4" class="none">no statistics</td></tr>`;
    }
    return markup`
<tr><th scope="row">${env}</th><td class="num">${
      count(stats.packets)
    }</td><td>${stats.windowStart} .. ${stats.windowEnd}</td><td class="num">${
      count(stats.signatures)
    }</td><td class="num">${count(stats.graphNodes)} / ${count(stats.graphEdges)}</td></tr>`;
  };
  const detectors = report.detectors.length === 0
    ? "none ran"
    : report.detectors.map((d, i) =>
      markup`${i > 0 ? ", " : ""}<code>${d.name}@${d.version}</code> (${count(d.findings)})`
    );
  return markup`
<section id="summary" aria-labelledby="summary-title">
<h2 id="summary-title">Summary</h2>
<div class="cards">${cards.map(card)}</div>${errors}
<div class="columns">
<div>
<h3>Drifts by type and severity</h3>
<table class="grid" id="drift-counts">
<thead><tr><th scope="col">Type</th>${
    severities.map((s) => markup`<th scope="col" class="num">${s}</th>`)
  }<th scope="col" class="num">Total</th></tr></thead>
<tbody>${
    types.length === 0
      ? markup`<tr><td colspan="${
        severities.length + 2
      }" class="none">No cross-environment drift</td></tr>`
      : types.map(typeRow)
  }</tbody>
<tfoot><tr><th scope="row">Total</th>${
    severities.map((s) => markup`<td class="num">${count(tally(null, s))}</td>`)
  }<td class="num total">${count(drifts.length)}</td></tr></tfoot>
</table>
</div>
<div>
<h3>Environments</h3>
<table class="grid" id="environments">
<thead><tr><th scope="col">Environment</th><th scope="col" class="num">Packets</th><th scope="col">Windows</th><th scope="col" class="num">Signatures</th><th scope="col" class="num">Graph nodes / edges</th></tr></thead>
<tbody>${
    report.environments.length === 0
      ? markup`<tr><td colspan="5" class="none">No environment had an accepted packet</td></tr>`
      : report.environments.map(environmentRow)
  }</tbody>
</table>
<p class="meta">Detectors: ${detectors}</p>
</div>
</div>
</section>`;
}

function matrixSection(matrix: DriftMatrix): SafeHtml {
  const rows = matrix.rows.length;
  const header = (key: string, label: string, className = "") =>
    markup`<th scope="col"${
      className ? markup` class="${className}"` : ""
    } data-sort="${key}" aria-sort="none"><button type="button">${label}</button></th>`;
  return markup`
<section id="matrix-section" aria-labelledby="matrix-title">
<h2 id="matrix-title">Drift matrix <span class="sub">${count(rows)} drifting signature${
    rows === 1 ? "" : "s"
  }</span></h2>
<ul class="legend" aria-label="Legend">
<li><span class="swatch act-align"></span><span class="tag">A</span> must align with the drift's reference</li>
<li><span class="swatch act-review"></span><span class="tag">R</span> must be reviewed</li>
<li><span class="swatch agree"></span><span class="tag">S</span> the reference (the source) a drift aligns others with</li>
<li><span class="swatch agree"></span>need not act</li>
<li><span class="swatch missing"></span>— no entry in that environment</li>
</ul>
<div class="toolbar"><label for="filter">Filter</label> <input id="filter" type="search" autocomplete="off" spellcheck="false" placeholder="signature, drift type, severity, drift id, patch, or an environment to see where it must act"> <span id="matrix-status" role="status" aria-live="polite"></span></div>
<noscript><p class="alert">The drift matrix needs JavaScript; the JSON report holds the same drifts.</p></noscript>
<div class="matrix-wrap">
<table id="matrix" class="grid matrix">
<thead><tr>${header("signature", "Signature")}${header("types", "Drift types")}${
    header("severity", "Severity")
  }${matrix.environments.map((env, i) => header(`env:${i}`, env, "env"))}</tr></thead>
<tbody></tbody>
</table>
</div>
<div class="more"><button type="button" id="show-more" hidden>Show ${
    count(PAGE_SIZE)
  } more</button> <button type="button" id="show-all" hidden>Show all</button></div>
</section>`;
}

function rejectedSection(report: FederationReport): SafeHtml {
  const rejected = report.packetsRejected;
  const violation = (v: { code: string; message: string; entry?: string }) =>
    markup`<li><code>${v.code}</code> ${v.message}${
      v.entry !== undefined ? markup` <span class="entry">(${v.entry})</span>` : ""
    }</li>`;
  const packets = rejected.length === 0
    ? markup`
<p class="none">No packet was rejected.</p>`
    : markup`
<table class="grid" id="rejected-table">
<thead><tr><th scope="col">Source</th><th scope="col">Packet</th><th scope="col">Environment</th><th scope="col">Reason</th><th scope="col">Violations</th></tr></thead>
<tbody>${
      rejected.map((p) =>
        markup`
<tr><td class="path">${p.source}</td><td>${p.packetName ?? "—"}</td><td>${
          p.environmentId ?? "—"
        }</td><td>${badge("reason", p.reasonCode)}</td><td><ul class="violations">${
          p.violations.map(violation)
        }</ul></td></tr>`
      )
    }</tbody>
</table>`;
  const duplicates = report.duplicates.length === 0 ? "" : markup`
<h3>Duplicate packets <span class="sub">${count(report.duplicates.length)}</span></h3>
<table class="grid" id="duplicates-table">
<thead><tr><th scope="col">Source</th><th scope="col">Same content as</th><th scope="col">Digest</th></tr></thead>
<tbody>${
    report.duplicates.map((d) =>
      markup`
<tr><td class="path">${d.source}</td><td class="path">${d.duplicateOf}</td><td><code>${d.digest}</code></td></tr>`
    )
  }</tbody>
</table>`;
  return markup`
<section id="rejected" aria-labelledby="rejected-title">
<h2 id="rejected-title">Rejected packets <span class="sub">${
    count(rejected.length)
  }</span></h2>${packets}${duplicates}
</section>`;
}

function advisoriesSection(advisories: HtmlAdvisory[] | null): SafeHtml {
  if (advisories === null) {
    return markup`
<section id="advisories" aria-labelledby="advisories-title">
<h2 id="advisories-title">Advisories</h2>
<p class="none">No advisory ledger was given for this report.</p>
</section>`;
  }
  const statusRank = (status: string) => {
    const rank = STATUS_ORDER.indexOf(status);
    return rank === -1 ? STATUS_ORDER.length : rank;
  };
  // Open questions first: a published advisory waits for a decision.
  const sorted = [...advisories].sort((a, b) =>
    statusRank(a.status) - statusRank(b.status) ||
    severityRank(b.severity) - severityRank(a.severity) ||
    byCodePoint(a.signatureId, b.signatureId) || byCodePoint(a.advisoryId, b.advisoryId)
  );
  const statuses = [...new Set(sorted.map((a) => a.status))];
  const status = (value: string) => badge(`status status-${classOf(value)}`, value);
  const tallies = statuses.length === 0
    ? markup`<span class="none">The ledger holds no advisory.</span>`
    : statuses.map((s) =>
      markup`<span class="tally">${status(s)} ${
        count(sorted.filter((a) => a.status === s).length)
      }</span> `
    );
  const table = sorted.length === 0 ? "" : markup`
<table class="grid" id="advisories-table">
<thead><tr><th scope="col">Status</th><th scope="col">Advisory</th><th scope="col">Type</th><th scope="col">Severity</th><th scope="col">Signature</th><th scope="col">Source</th><th scope="col">Targets</th><th scope="col">Recommendation</th><th scope="col">Decision</th><th scope="col">Updated</th></tr></thead>
<tbody>${
    sorted.map((a) =>
      markup`
<tr><td>${
        status(a.status)
      }</td><td class="nowrap"><code>${a.advisoryId}</code></td><td>${a.driftType}</td><td>${
        badge(`sev-${classOf(a.severity)}`, a.severity)
      }</td><td>${a.signatureId}</td><td>${a.sourceEnv ?? "—"}</td><td>${
        a.targetEnvs.join(", ") || "—"
      }</td><td>${a.recommendation}</td><td>${
        a.decidedBy
          ? markup`${a.decidedBy}${a.decisionReason ? markup`: ${a.decisionReason}` : ""}`
          : "—"
      }</td><td class="nowrap">${a.updatedAt}</td></tr>`
    )
  }</tbody>
</table>`;
  return markup`
<section id="advisories" aria-labelledby="advisories-title">
<h2 id="advisories-title">Advisories <span class="sub">${count(advisories.length)}</span></h2>
<p class="statuses">${tallies}</p>${table}
</section>`;
}

/**
 * The matrix as compact JSON for the page's script: `[sig, [type], sev, [cell], [drift]]`,
 * a cell `[rev, confidence, role bits, patch]`, a drift `[type, sev, id, detail, action,
 * source column or -1, [target column], recommendation]`.
 */
function matrixData(matrix: DriftMatrix) {
  const types = [...new Set(matrix.rows.flatMap((row) => row.driftTypes))].sort(byCodePoint);
  const severities = [
    ...SEVERITY_ORDER,
    ...new Set(
      matrix.rows.flatMap((row) => row.drifts.map((d) => d.severity)).filter((s) =>
        !SEVERITY_ORDER.includes(s)
      ),
    ),
  ];
  const mask = (roles: CellRole[]) =>
    roles.reduce((bits, role) => bits | (1 << CELL_ROLES.indexOf(role)), 0);
  const column = new Map(matrix.environments.map((env, index) => [env, index]));
  return {
    envs: matrix.environments,
    types,
    sevs: severities,
    page: PAGE_SIZE,
    rows: matrix.rows.map((row) => [
      row.signatureId,
      row.driftTypes.map((type) => types.indexOf(type)),
      severities.indexOf(row.severity),
      row.cells.map((cell) =>
        cell === null ? 0 : [cell.rev, cell.confidence, mask(cell.roles), cell.patchId]
      ),
      row.drifts.map((d) => [
        types.indexOf(d.driftType),
        severities.indexOf(d.severity),
        d.driftId,
        d.detail,
        d.action,
        d.source === null ? -1 : column.get(d.source) ?? -1,
        d.targets.flatMap((env) => column.has(env) ? [column.get(env)!] : []),
        d.recommendation,
      ]),
    ]),
  };
}

/**
 * The built-in `html` reporter. Its context may hold `advisories`, a list of
 * {@link HtmlAdvisory} from the ledger, shown with their status.
 *
 * @example
 * ```ts
 * import htmlReporter from "./html.ts";
 * import assert from "node:assert/strict";
 *
 * const page = await htmlReporter.render({
 *   reportVersion: 1, generatedAt: "2026-03-01T00:00:00Z", environments: [],
 *   packetsIngested: 0, packetsRejected: [], duplicates: [], crossEnvDrifts: [],
 *   mergedGraph: { nodes: 0, edges: 0, perEnvironment: {} }, environmentStats: {},
 *   detectors: [], detectorErrors: [],
 * }, {});
 * assert.match(String(page), /^<!DOCTYPE html>/);
 * assert.match(String(page), /content="default-src 'none'; script-src 'sha256-/);
 * ```
 */
const htmlReporter = defineReporter<FederationReport>({
  kind: "reporter",
  name: "html",
  version: "1.1.0",
  format: "html",
  description: "one self-contained HTML page: summary, drift matrix, rejected packets, advisories",
  async render(report, context) {
    const advisories = advisoriesFrom(context ?? {});
    const refresh = refreshFrom(context ?? {});
    const matrix = driftMatrix(report);
    const csp = [
      "default-src 'none'",
      `script-src ${await cspHash(SCRIPT)}`,
      `style-src ${await cspHash(STYLE)}`,
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
    ].join("; ");
    const environments = report.environments.length;
    const page = markup`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${new SafeHtml(csp)}">
<meta name="referrer" content="no-referrer">${
      refresh === null ? "" : markup`
<meta http-equiv="refresh" content="${String(refresh)}">`
    }
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="jrm-federation html reporter 1.1.0">
<title>JRM federation report ${report.generatedAt}</title>
<link rel="icon" href="data:,">
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<header><h1>JRM federation report</h1><span class="meta">generated ${report.generatedAt} · ${
      count(environments)
    } environment${
      environments === 1 ? "" : "s"
    }</span><nav><a href="#summary">Summary</a><a href="#matrix-section">Drift matrix</a><a href="#rejected">Rejected packets</a><a href="#advisories">Advisories</a></nav></header>
<main>${summarySection(report)}${matrixSection(matrix)}${rejectedSection(report)}${
      advisoriesSection(advisories)
    }
</main>
<footer>Self-contained report: it loads nothing from any network. The JSON report holds the full evidence of every drift.</footer>
<script type="application/json" id="jrm-data">${new SafeHtml(
      scriptJson(matrixData(matrix)),
    )}</script>
<script>${new SafeHtml(SCRIPT)}</script>
</body>
</html>
`;
    return page.value;
  },
});

export default htmlReporter;
