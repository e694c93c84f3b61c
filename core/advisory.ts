/**
 * The advisory lifecycle: drift from a federation report becomes advisories
 * that operators accept or decline, remembered in the ledger
 * (`Ledger`, `core/store.ts`, through {@link AdvisoryLedger}).
 *
 * Identity. An advisory's id is `adv-` and 20 hex digits of SHA-256 over the
 * canonical JSON (RFC 8785) of the drift's type, signature and sorted
 * environments ({@link advisoryIdOf}), so the same drift maps to the same
 * advisory on every run and machine, and publishing a report again creates
 * nothing new. A drift that involves another set of environments is another
 * question, and another advisory.
 *
 * Evidence. Each advisory keeps the latest evidence and its fingerprint
 * ({@link evidenceFingerprint}): SHA-256 over the drift's type and evidence,
 * less the provenance fields (`packetName`, `windowEnd`, … as in
 * `Provenance`) of each environment's evidence, so a new packet window that
 * changes nothing compared does not re-ask a decision. A stored advisory's
 * fingerprint is recomputed from its stored evidence when a report is
 * published, so a ledger written under an earlier rule is not re-asked for
 * that alone.
 *
 * Recommendations come from the drift's resolution, which its detector
 * decided (see `Resolution` and `resolutionOf` in `core/drift.ts`): the
 * advisory's `sourceEnv`, `targetEnvs` and `recommendation` are the
 * resolution's `source`, `targets` and `recommendation`, and its `action`
 * ({@link advisoryActionOf}) is `move` for `align` (the targets take the
 * source's state), `hold` for `review` with a source (there is a reference,
 * but a person must look first) and `review` for `review` without one. A
 * drift without a resolution (a report of version 1, a detector that gives
 * none) asks every environment to review. The engine reads nothing else of a
 * drift's meaning: it names no drift type.
 *
 * Lifecycle (every transition is kept in the history: when, who, from, to,
 * why, and the drift id it was made on):
 *
 * | from | event | to |
 * | --- | --- | --- |
 * | (none) | drift published | `published` |
 * | `published` | `accept` / `decline` | `accepted` / `declined` |
 * | `published` | evidence or action changed | `published` (history entry, content updated) |
 * | `accepted`, `declined` | evidence changed | `published` (decision re-asked) |
 * | `accepted`, `declined` | action, source or targets changed (e.g. `move` became `hold`) | `published` (re-asked) |
 * | `accepted`, `declined` | same evidence and action | unchanged (not re-asked; stored detail follows the report) |
 * | `published`, `accepted`, `declined` | drift absent from a report that covers it | `resolved` |
 * | `resolved` | drift reported again | `published` |
 *
 * A decision is made only on a `published` advisory, checked inside the
 * write transaction, so two operators deciding the same advisory at once
 * cannot both succeed. A decision is not changed by deciding again (neither
 * accepted → declined nor the reverse); it is re-asked when what it was made
 * on changes or its drift comes back.
 *
 * A report "covers" an advisory when every environment of the advisory is in
 * the report's `environments` and a detector for its drift type ran without
 * error; only then does the drift's absence resolve it. A report missing an
 * environment (all its packets rejected) or a detector that failed says
 * nothing about the drift, and leaves the advisory as it was. A report older
 * (by `generatedAt`) than the newest one already published is refused unless
 * `allowOlderReport` is set, so a stale report cannot resolve current drift.
 *
 * A ledger holds advisories of one kind of report (`origin`): jrm's own, or
 * the reference hub's (core/reference_report.ts). Publishing one kind into a
 * ledger that holds advisories of the other is refused: the two hubs find
 * drift differently, so one's silence must not resolve the other's advisories.
 *
 * @module
 */

import { canonicalize, canonicalString } from "./canonical_json.ts";
import {
  type Provenance,
  type Resolution,
  resolutionOf,
  resolutionProblem,
  type Severity,
} from "./drift.ts";
import { parseJson } from "./json.ts";
import { UsageError } from "./errors.ts";
import { sha256Ref } from "./packet.ts";
import type { FederationReport, ReportDrift } from "./report.ts";
import { type AdvisoryLedger, jsonTextRows, type LedgerSql, type SqlValue } from "./ledger.ts";

/** Every status an advisory can have. */
export const ADVISORY_STATUSES = ["published", "accepted", "declined", "resolved"] as const;

/** An advisory's status. */
export type AdvisoryStatus = typeof ADVISORY_STATUSES[number];

/** The kinds of recommendation, see {@link Advisory.action}. */
export const ADVISORY_ACTIONS = ["move", "hold", "review"] as const;

/** A kind of recommendation. */
export type AdvisoryAction = typeof ADVISORY_ACTIONS[number];

/** One entry of an advisory's history. */
export interface AdvisoryTransition {
  /** ISO 8601 time of the transition. */
  at: string;
  /** Who made it: the operator, or the publisher for publish-driven transitions. */
  by: string;
  /** The status before; null when the advisory was created. */
  from: AdvisoryStatus | null;
  /** The status after (equal to `from` when only the evidence changed). */
  to: AdvisoryStatus;
  /** Why, when known. */
  reason: string | null;
  /** The drift the advisory carried at that moment. */
  driftId: string;
}

/** The drift an advisory is about, as last published. */
export interface AdvisoryDetail {
  /** The drift's content-derived id. */
  driftId: string;
  /** The drift's one-sentence description. */
  description: string;
  /** The detector that reported it. */
  detector: string;
  /** The values compared, as the report gave them. */
  evidence: Record<string, unknown>;
}

/** An advisory with its history. */
export interface Advisory {
  /** `adv-` and 20 lowercase hex digits, derived from the drift's identity. */
  advisoryId: string;
  /** The drift type. */
  driftType: string;
  /** Severity of the latest drift. */
  severity: Severity;
  /** The signature concerned. */
  signatureId: string;
  /** Every environment involved, sorted. */
  environments: string[];
  /** The reference environment, or null when there is none. */
  sourceEnv: string | null;
  /** The environments the recommendation asks to act. */
  targetEnvs: string[];
  /** The kind of recommendation: align the targets with the source, hold off, or review by hand. */
  action: AdvisoryAction;
  /** What to do, in one sentence. */
  recommendation: string;
  /** Where it is in its lifecycle. */
  status: AdvisoryStatus;
  /** The drift it is about. */
  detail: AdvisoryDetail;
  /** `sha256:` fingerprint of the compared evidence (see the module doc). */
  evidenceFingerprint: string;
  /** When it was first published. */
  createdAt: string;
  /** When its status or content last changed. */
  updatedAt: string;
  /** Every transition, oldest first. */
  history: AdvisoryTransition[];
}

/** Options of {@link publish}. */
export interface PublishOptions {
  /** The time to record; now by default. */
  now?: Date;
  /** Who publishes; `jrm` by default. */
  by?: string;
  /** Accept a report older than the newest one already published. */
  allowOlderReport?: boolean;
  /**
   * What kind of report this is: jrm's own (the default) or the reference
   * hub's. A ledger holds advisories of one kind only: publishing into a
   * ledger that holds advisories of the other kind is refused.
   */
  origin?: ReportOrigin;
  /**
   * Called inside the transaction, after every change and before `COMMIT`;
   * if it throws, nothing is kept. Use it for outputs that must exist only
   * if the ledger changed (e.g. `--out`).
   */
  beforeCommit?: (result: PublishResult) => void | Promise<void>;
}

/** What {@link publish} did; the lists of ids are sorted. */
export interface PublishResult {
  /** The advisories of the report's drifts, as they now stand, most severe first. */
  advisories: Advisory[];
  /** Advisories created. */
  created: string[];
  /** Advisories set back to `published` (changed evidence after a decision, or drift back after resolution). */
  reopened: string[];
  /** `published` advisories whose evidence changed. */
  changed: string[];
  /** Advisories the report confirms as they were. */
  unchanged: string[];
  /** Advisories whose drift the report no longer holds. */
  resolved: string[];
  /** Open advisories absent from the report that it does not cover, left as they were. */
  uncovered: string[];
}

/** Options of {@link accept} and {@link decline}. */
export interface DecisionOptions {
  /** Who decides. */
  by: string;
  /** Why; required to decline. */
  reason?: string;
  /** The time to record; now by default. */
  now?: Date;
}

/** Which advisories {@link listAdvisories} returns; all by default. */
export interface AdvisoryFilter {
  /** Only this status. */
  status?: string;
  /** Only this drift type. */
  driftType?: string;
  /** Only advisories involving this environment. */
  environment?: string;
}

/** The kinds of report a ledger's advisories can come from. */
export const REPORT_ORIGINS = ["jrm", "reference"] as const;

/** A kind of report: jrm's own, or the reference hub's (core/reference_report.ts). */
export type ReportOrigin = typeof REPORT_ORIGINS[number];

/**
 * No advisory has this id (exit code 1 on the command line, 404 over HTTP).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdvisoryNotFound } from "./advisory.ts";
 * const error = new AdvisoryNotFound("adv-1", 'No advisory "adv-1"');
 * assert.equal(error.exitCode, 1);
 * ```
 */
export class AdvisoryNotFound extends UsageError {
  /** The id asked for. */
  readonly advisoryId: string;
  /**
   * @param advisoryId the id asked for
   * @param message one line
   */
  constructor(advisoryId: string, message: string) {
    super(message, 1);
    this.name = "AdvisoryNotFound";
    this.advisoryId = advisoryId;
  }
}

/**
 * The advisory was already decided or resolved (exit code 1, HTTP 409).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdvisoryNotPublished } from "./advisory.ts";
 * const error = new AdvisoryNotPublished("adv-1", "accepted", "Cannot accept");
 * assert.equal(error.status, "accepted");
 * ```
 */
export class AdvisoryNotPublished extends UsageError {
  /** The advisory. */
  readonly advisoryId: string;
  /** Its status. */
  readonly status: AdvisoryStatus;
  /**
   * @param advisoryId the advisory
   * @param status its status
   * @param message one line
   */
  constructor(advisoryId: string, status: AdvisoryStatus, message: string) {
    super(message, 1);
    this.name = "AdvisoryNotPublished";
    this.advisoryId = advisoryId;
    this.status = status;
  }
}

/** Who publish-driven transitions are recorded as when no `by` is given. */
export const DEFAULT_PUBLISHER = "jrm";

/** Where an environment's value came from, not what was compared: left out of fingerprints. */
const PROVENANCE_FIELDS: readonly (keyof Provenance)[] = [
  "packetName",
  "source",
  "digest",
  "windowStart",
  "windowEnd",
  "part",
];

/**
 * The advisory action of a resolution: `move` for `align`, `hold` for a
 * `review` that has a source (a reference exists, but a person looks first),
 * `review` for one without.
 * @param resolution the drift's resolution
 * @returns the advisory's action
 * @example
 * ```ts
 * import { advisoryActionOf } from "./advisory.ts";
 * import assert from "node:assert/strict";
 * assert.equal(advisoryActionOf({ action: "align", source: "A" }), "move");
 * assert.equal(advisoryActionOf({ action: "review", source: "A" }), "hold");
 * assert.equal(advisoryActionOf({ action: "review", source: null }), "review");
 * ```
 */
export function advisoryActionOf(
  resolution: Pick<Resolution, "action" | "source">,
): AdvisoryAction {
  if (resolution.action === "align") return "move";
  return resolution.source === null ? "review" : "hold";
}

/**
 * The advisory id of a drift: `adv-` and the first 20 hex digits of SHA-256
 * over the canonical JSON of its type, signature and sorted environments.
 * @param drift the drift's identity
 * @returns the advisory id
 * @example
 * ```ts
 * import { advisoryIdOf } from "./advisory.ts";
 * import assert from "node:assert/strict";
 * const a = advisoryIdOf({ driftType: "ROLLOUT_LAG", signatureId: "sig-1", environments: ["B", "A"] });
 * const b = advisoryIdOf({ driftType: "ROLLOUT_LAG", signatureId: "sig-1", environments: ["A", "B"] });
 * assert.equal(a, b);
 * assert.match(a, /^adv-[0-9a-f]{20}$/);
 * ```
 */
export function advisoryIdOf(
  drift: Pick<ReportDrift, "driftType" | "signatureId" | "environments">,
): string {
  const identity = {
    driftType: drift.driftType,
    signatureId: drift.signatureId,
    environments: sortedEnvironments(drift.environments),
  };
  return "adv-" + sha256Ref(canonicalize(identity, "jcs")).slice(7, 27);
}

/**
 * The fingerprint of the evidence a drift compares (see the module doc for
 * which fields count): equal fingerprints mean there is nothing new to decide.
 * @param drift the drift
 * @returns `sha256:` and 64 hex digits
 * @example
 * ```ts
 * import { evidenceFingerprint } from "./advisory.ts";
 * import assert from "node:assert/strict";
 * const drift = (packetName: string, rev: number) => ({
 *   driftType: "ROLLOUT_LAG", environments: ["A", "B"],
 *   evidence: { A: { rev: 5, packetName }, B: { rev, packetName } },
 * });
 * assert.equal(evidenceFingerprint(drift("p1", 3)), evidenceFingerprint(drift("p2", 3)));
 * assert.notEqual(evidenceFingerprint(drift("p1", 3)), evidenceFingerprint(drift("p1", 4)));
 * ```
 */
export function evidenceFingerprint(
  drift: Pick<ReportDrift, "driftType" | "environments" | "evidence">,
): string {
  return sha256Ref(canonicalize(comparedEvidence(drift), "jcs"));
}

/**
 * Turn a report's drift into advisories, in one transaction: create the new
 * ones, update or reopen the known ones, resolve those whose drift the report
 * no longer holds (when it covers them), and record the publication.
 * Publishing the same report again changes no advisory; it only records the
 * publication.
 * @experimental The store contract it takes ({@link AdvisoryLedger}) may grow with the
 * stateful hub.
 * @param ledger the open ledger
 * @param report a federation report (checked with `parseReport`)
 * @param options time, publisher, `allowOlderReport`, `beforeCommit`
 * @returns what changed, and the report's advisories as they now stand
 * @throws {UsageError} when the report holds two drifts for one advisory or a
 *   malformed resolution, has an unreadable `generatedAt`, or is older than
 *   the newest published one;
 *   the ledger is then left as it was
 * @example
 * ```ts
 * import { publish } from "./advisory.ts";
 * import { openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * using ledger = openLedger(":memory:");
 * const report = {
 *   reportVersion: 2 as const, generatedAt: "2025-01-02T00:00:00Z", environments: ["A", "B"],
 *   packetsIngested: 2, packetsRejected: [], duplicates: [],
 *   crossEnvDrifts: [{
 *     driftId: "drift-1", driftType: "ROLLOUT_LAG", severity: "medium" as const,
 *     environments: ["A", "B"], signatureId: "sig-1", detail: "rev differs",
 *     evidence: { A: { rev: 5 }, B: { rev: 3 } }, detector: "rollout-lag",
 *     resolution: {
 *       action: "align" as const, source: "A", targets: ["B"],
 *       recommendation: "Move B to revision 5, as A has it",
 *     },
 *   }],
 *   mergedGraph: { nodes: 0, edges: 0, perEnvironment: {} }, environmentStats: {},
 *   detectors: [], detectorErrors: [],
 * };
 * const first = await publish(ledger, report, { now: new Date("2025-01-02T00:00:00Z") });
 * assert.equal(first.created.length, 1);
 * assert.equal(first.advisories[0].sourceEnv, "A");
 * assert.deepEqual(first.advisories[0].targetEnvs, ["B"]);
 * assert.equal(first.advisories[0].action, "move");
 * const again = await publish(ledger, report);
 * assert.deepEqual(again.created, []);
 * assert.deepEqual(again.unchanged, first.created);
 * ```
 */
export async function publish(
  ledger: AdvisoryLedger,
  report: FederationReport,
  options: PublishOptions = {},
): Promise<PublishResult> {
  return await ledger.write((sql) => publishWithin(sql, ledger.location, report, options));
}

/**
 * {@link publish} inside a write transaction the caller holds (e.g. an ingest
 * of the stateful hub, which publishes in its own transaction): the caller
 * commits, or rolls back when this throws.
 * @param sql the ledger's statements, in a write transaction
 * @param location the ledger's location, for messages
 * @param report a federation report
 * @param options as {@link publish} takes them; `beforeCommit` is called last
 * @returns what changed, and the report's advisories as they now stand
 * @throws {UsageError} as {@link publish}
 * @example
 * ```ts
 * import { publishWithin } from "./advisory.ts";
 * import { openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * using ledger = openLedger(":memory:");
 * const report = {
 *   reportVersion: 2 as const, generatedAt: "2025-01-02T00:00:00Z", environments: [],
 *   packetsIngested: 0, packetsRejected: [], duplicates: [], crossEnvDrifts: [],
 *   mergedGraph: { nodes: 0, edges: 0, perEnvironment: {} }, environmentStats: {},
 *   detectors: [], detectorErrors: [],
 * };
 * const result = await ledger.write((sql) => publishWithin(sql, ledger.location, report));
 * assert.deepEqual(result.created, []);
 * ```
 */
export async function publishWithin(
  sql: LedgerSql,
  location: string,
  report: FederationReport,
  options: PublishOptions = {},
): Promise<PublishResult> {
  const at = timestamp(options.now);
  const by = checkName(options.by ?? DEFAULT_PUBLISHER);
  const generatedAt = reportTime(report.generatedAt);
  const covered = coveredDriftTypes(report);
  const plans = planAdvisories(report.crossEnvDrifts);
  const reportEnvironments = new Set(report.environments);
  const origin = options.origin ?? "jrm";

  await refuseOtherOrigin(sql, location, origin);
  const newest = await sql.get("SELECT max(report_generated_at) AS newest FROM publications");
  if (
    !options.allowOlderReport && typeof newest?.newest === "string" && generatedAt < newest.newest
  ) {
    throw new UsageError(
      `The report was generated at ${generatedAt}, before the newest report already published (${newest.newest}); not publishing it`,
      1,
    );
  }
  const result: PublishResult = {
    advisories: [],
    created: [],
    reopened: [],
    changed: [],
    unchanged: [],
    resolved: [],
    uncovered: [],
  };
  for (const plan of plans.values()) {
    const row = await selectRow(sql, plan.advisoryId);
    if (row === undefined) {
      await insertAdvisory(sql, plan, at, origin);
      await addHistory(
        sql,
        plan.advisoryId,
        at,
        by,
        null,
        "published",
        "drift reported",
        plan.drift.driftId,
      );
      result.created.push(plan.advisoryId);
      continue;
    }
    const change = republished(row, plan);
    if (change === undefined) {
      result.unchanged.push(plan.advisoryId);
    } else {
      await addHistory(
        sql,
        plan.advisoryId,
        at,
        by,
        row.status,
        change.next,
        change.reason,
        plan.drift.driftId,
      );
      (change.next === row.status ? result.changed : result.reopened).push(plan.advisoryId);
    }
    // The stored drift follows the report even when nothing is re-asked (e.g. a newer window).
    if (change !== undefined || contentDiffers(row, plan)) {
      await updateAdvisory(sql, plan, change?.next ?? row.status, at);
    }
  }
  const open = await sql.all(
    "SELECT * FROM advisories WHERE status != 'resolved' ORDER BY advisory_id",
  ) as unknown as AdvisoryRow[];
  for (const row of open) {
    if (plans.has(row.advisory_id)) continue;
    const environments = _fromColumn(row.environments) as string[];
    if (covered.has(row.drift_type) && environments.every((e) => reportEnvironments.has(e))) {
      await setStatus(sql, row.advisory_id, "resolved", at);
      await addHistory(
        sql,
        row.advisory_id,
        at,
        by,
        row.status,
        "resolved",
        `drift no longer reported (report generated at ${generatedAt})`,
        row.drift_id,
      );
      result.resolved.push(row.advisory_id);
    } else {
      result.uncovered.push(row.advisory_id);
    }
  }
  await sql.run(
    "INSERT INTO publications (at, actor, report_generated_at, drifts) VALUES (?, ?, ?, ?)",
    [at, by, generatedAt, report.crossEnvDrifts.length],
  );
  result.advisories = await loadAdvisories(sql, [...plans.keys()]);
  await options.beforeCommit?.(result);
  return result;
}

/**
 * Accept a `published` advisory.
 * @experimental The store contract it takes ({@link AdvisoryLedger}) may grow with the
 * stateful hub.
 * @param ledger the open ledger
 * @param advisoryId the advisory
 * @param options who, why (optional), when
 * @returns the advisory as it now stands
 * @throws {UsageError} exit 1 for an unknown id or an advisory that is not
 *   `published`; exit 2 for a missing name
 * @example
 * ```ts
 * import { accept } from "./advisory.ts";
 * import { openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * using ledger = openLedger(":memory:");
 * await assert.rejects(
 *   () => accept(ledger, "adv-00000000000000000000", { by: "alice" }),
 *   /^AdvisoryNotFound: No advisory "adv-00000000000000000000"/,
 * );
 * ```
 */
export function accept(
  ledger: AdvisoryLedger,
  advisoryId: string,
  options: DecisionOptions,
): Promise<Advisory> {
  return decide(ledger, advisoryId, "accepted", options);
}

/**
 * Decline a `published` advisory; a reason is required.
 * @experimental The store contract it takes ({@link AdvisoryLedger}) may grow with the
 * stateful hub.
 * @param ledger the open ledger
 * @param advisoryId the advisory
 * @param options who, why, when
 * @returns the advisory as it now stands
 * @throws {UsageError} exit 1 for an unknown id or an advisory that is not
 *   `published`; exit 2 for a missing name or reason
 * @example
 * ```ts
 * import { decline } from "./advisory.ts";
 * import { UsageError } from "./errors.ts";
 * import { openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * using ledger = openLedger(":memory:");
 * await assert.rejects(
 *   () => decline(ledger, "adv-00000000000000000000", { by: "bob", reason: "" }),
 *   (error) => error instanceof UsageError && error.option === "reason",
 * );
 * ```
 */
export function decline(
  ledger: AdvisoryLedger,
  advisoryId: string,
  options: DecisionOptions,
): Promise<Advisory> {
  return decide(ledger, advisoryId, "declined", options);
}

/**
 * One advisory, with its history.
 * @experimental The store contract it takes ({@link AdvisoryLedger}) may grow with the
 * stateful hub.
 * @param ledger the open ledger
 * @param advisoryId the advisory
 * @returns the advisory
 * @throws {UsageError} exit 1 when there is no such advisory
 * @example
 * ```ts
 * import { getAdvisory } from "./advisory.ts";
 * import { openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * using ledger = openLedger(":memory:");
 * await assert.rejects(
 *   () => getAdvisory(ledger, "adv-nope"),
 *   (error) => (error as { exitCode: number }).exitCode === 1,
 * );
 * ```
 */
export async function getAdvisory(ledger: AdvisoryLedger, advisoryId: string): Promise<Advisory> {
  const [advisory] = await ledger.read((sql) => loadAdvisories(sql, [advisoryId]));
  if (advisory === undefined) throw unknownAdvisory(ledger.location, advisoryId);
  return advisory;
}

/**
 * The advisories that match a filter, most severe first, then by signature,
 * drift type and id.
 * @experimental The store contract it takes ({@link AdvisoryLedger}) may grow with the
 * stateful hub.
 * @param ledger the open ledger
 * @param filter status, drift type, environment; all optional
 * @returns the advisories, with their histories
 * @throws {UsageError} exit 2 for a status that does not exist
 * @example
 * ```ts
 * import { listAdvisories } from "./advisory.ts";
 * import { openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * using ledger = openLedger(":memory:");
 * assert.deepEqual(await listAdvisories(ledger, { status: "declined", environment: "A" }), []);
 * ```
 */
export async function listAdvisories(
  ledger: AdvisoryLedger,
  filter: AdvisoryFilter = {},
): Promise<Advisory[]> {
  const where: string[] = [];
  const values: SqlValue[] = [];
  if (filter.status !== undefined) {
    if (!(ADVISORY_STATUSES as readonly string[]).includes(filter.status)) {
      throw new UsageError(
        `Unknown status "${filter.status}": expected ${ADVISORY_STATUSES.join(", ")}`,
      );
    }
    where.push("status = ?");
    values.push(filter.status);
  }
  if (filter.driftType !== undefined) {
    where.push("drift_type = ?");
    values.push(filter.driftType);
  }
  if (filter.environment !== undefined) {
    where.push(`? IN ${jsonTextRows(ledger.backend, "environments")}`);
    values.push(filter.environment);
  }
  return await ledger.read(async (sql) => {
    const ids = (await sql.all(
      `SELECT advisory_id FROM advisories ${where.length ? `WHERE ${where.join(" AND ")}` : ""}`,
      values,
    )).map((row) => String(row.advisory_id));
    return await loadAdvisories(sql, ids);
  });
}

/**
 * What publishing a drift again does to its advisory: the next status and
 * why, or undefined when nothing it was decided on changed.
 */
function republished(
  row: AdvisoryRow,
  plan: Plan,
): { next: AdvisoryStatus; reason: string } | undefined {
  if (row.status === "resolved") return { next: "published", reason: "drift reported again" };
  // From the stored evidence, not the stored fingerprint: a rule that changed is not a change.
  const stored = rowDrift(row);
  if (evidenceFingerprint(stored) !== plan.fingerprint) {
    return {
      next: "published",
      reason: `evidence changed: ${describeChange(stored, plan.drift)}`,
    };
  }
  // A decision is made on what to do; when that changes (e.g. `move` became `hold`), it is asked again.
  if (
    row.action !== plan.action || row.source_env !== plan.sourceEnv ||
    row.target_envs !== JSON.stringify(plan.targetEnvs)
  ) {
    return { next: "published", reason: `recommendation changed: ${plan.recommendation}` };
  }
  return undefined;
}

// ---------------------------------------------------------------- decisions

async function decide(
  ledger: AdvisoryLedger,
  advisoryId: string,
  to: "accepted" | "declined",
  options: DecisionOptions,
): Promise<Advisory> {
  const by = checkName(options.by);
  const reason = checkReason(options.reason);
  if (to === "declined" && reason === null) {
    throw new UsageError("Declining needs a reason", { option: "reason" });
  }
  const at = timestamp(options.now);
  return await ledger.write(async (sql) => {
    const row = await selectRow(sql, advisoryId);
    if (row === undefined) throw unknownAdvisory(ledger.location, advisoryId);
    if (row.status !== "published") {
      const verb = to === "accepted" ? "accept" : "decline";
      throw new AdvisoryNotPublished(
        advisoryId,
        row.status as AdvisoryStatus,
        `Cannot ${verb} advisory "${advisoryId}": it is ${row.status}${await lastTransitionNote(
          sql,
          advisoryId,
          row.status,
        )}; only a published advisory can be accepted or declined`,
      );
    }
    await setStatus(sql, advisoryId, to, at);
    await addHistory(sql, advisoryId, at, by, "published", to, reason, row.drift_id);
    return (await loadAdvisories(sql, [advisoryId]))[0];
  });
}

async function lastTransitionNote(
  sql: LedgerSql,
  advisoryId: string,
  status: string,
): Promise<string> {
  const last = await sql.get(
    `SELECT at, actor, reason FROM advisory_history
     WHERE advisory_id = ? AND to_status = ? ORDER BY seq DESC LIMIT 1`,
    [advisoryId, status],
  );
  if (last === undefined) return "";
  const why = status === "resolved" && last.reason ? `, ${last.reason}` : "";
  return ` (by ${last.actor} at ${last.at}${why})`;
}

function unknownAdvisory(location: string, advisoryId: string): UsageError {
  return new AdvisoryNotFound(advisoryId, `No advisory "${advisoryId}" in ledger "${location}"`);
}

// ---------------------------------------------------------------- planning

/** What one drift becomes. */
interface Plan {
  advisoryId: string;
  drift: ReportDrift;
  environments: string[];
  sourceEnv: string | null;
  targetEnvs: string[];
  action: AdvisoryAction;
  recommendation: string;
  fingerprint: string;
}

function planAdvisories(drifts: ReportDrift[]): Map<string, Plan> {
  const plans = new Map<string, Plan>();
  for (const drift of drifts) {
    const advisoryId = advisoryIdOf(drift);
    const environments = sortedEnvironments(drift.environments);
    if (plans.has(advisoryId)) {
      throw new UsageError(
        `The report holds two ${drift.driftType} drifts for signature "${drift.signatureId}" in ${
          environments.join(", ")
        } (advisory "${advisoryId}"); a detector must report one`,
      );
    }
    // parseReport checks this; a report built in code may not have been through it.
    const problem = drift.resolution === undefined
      ? undefined
      : resolutionProblem(drift.resolution, drift.environments, false);
    if (problem !== undefined) {
      throw new UsageError(
        `The report's ${drift.driftType} drift for signature "${drift.signatureId}" has a malformed resolution: ${problem}`,
      );
    }
    const resolution = resolutionOf(drift);
    plans.set(advisoryId, {
      advisoryId,
      drift,
      environments,
      fingerprint: evidenceFingerprint(drift),
      sourceEnv: resolution.source,
      targetEnvs: resolution.targets,
      action: advisoryActionOf(resolution),
      recommendation: resolution.recommendation,
    });
  }
  return new Map([...plans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---------------------------------------------------------------- evidence

/**
 * What a drift compares: per environment its evidence less the provenance
 * fields, and the evidence keys that are not an environment's, whole.
 */
function comparedEvidence(
  drift: Pick<ReportDrift, "driftType" | "environments" | "evidence">,
): { driftType: string; environments: Record<string, unknown>; shared: Record<string, unknown> } {
  const environments = sortedEnvironments(drift.environments);
  const involved = new Set(environments);
  // fromEntries makes own properties, so an environment named "__proto__" stays a key.
  const perEnvironment = Object.fromEntries(environments.map((env) => {
    const value = Object.hasOwn(drift.evidence, env) ? drift.evidence[env] : undefined;
    if (value === undefined) return [env, {}];
    if (!isRecord(value)) return [env, value];
    return [
      env,
      Object.fromEntries(
        Object.entries(value).filter(([field]) =>
          !(PROVENANCE_FIELDS as readonly string[]).includes(field)
        ),
      ),
    ];
  }));
  const shared = Object.fromEntries(
    Object.entries(drift.evidence).filter(([key]) => !involved.has(key)),
  );
  return { driftType: drift.driftType, environments: perEnvironment, shared };
}

/** A short account of what the compared evidence changed, e.g. `B rev 3 → 4`. */
function describeChange(before: ReportDrift, after: ReportDrift): string {
  const was = comparedEvidence(before);
  const now = comparedEvidence(after);
  const changes: string[] = [];
  const note = (what: string, from: unknown, to: unknown) => {
    if (canonicalJson(from) !== canonicalJson(to)) {
      changes.push(`${what} ${canonicalJson(from)} → ${canonicalJson(to)}`);
    }
  };
  const keys = (...values: unknown[]) =>
    [...new Set(values.flatMap((value) => isRecord(value) ? Object.keys(value) : []))].sort();
  const field = (value: unknown, key: string) =>
    isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
  for (const env of Object.keys(now.environments).sort()) {
    const [from, to] = [field(was.environments, env), now.environments[env]];
    if (!isRecord(from) || !isRecord(to)) {
      note(env, from, to);
      continue;
    }
    for (const key of keys(from, to)) note(`${env} ${key}`, field(from, key), field(to, key));
  }
  for (const key of keys(was.shared, now.shared)) {
    note(key, field(was.shared, key), field(now.shared, key));
  }
  if (changes.length === 0) return `drift ${before.driftId} → ${after.driftId}`;
  const shown = changes.slice(0, 4).join(", ");
  return changes.length > 4 ? `${shown} and ${changes.length - 4} more` : shown;
}

function canonicalJson(value: unknown): string {
  if (value === undefined) return "(none)";
  const text = canonicalString(value, "jcs");
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function coveredDriftTypes(report: FederationReport): Set<string> {
  const failed = new Set(report.detectorErrors.map((e) => e.detector));
  return new Set(
    report.detectors.filter((d) => !failed.has(d.name)).flatMap((d) => d.driftTypes),
  );
}

// ---------------------------------------------------------------- rows

interface AdvisoryRow {
  advisory_id: string;
  drift_type: string;
  severity: string;
  signature_id: string;
  environments: string;
  source_env: string | null;
  target_envs: string;
  action: AdvisoryAction;
  recommendation: string;
  status: AdvisoryStatus;
  drift_id: string;
  description: string;
  detector: string;
  evidence: string;
  evidence_fingerprint: string;
  created_at: string;
  updated_at: string;
}

interface HistoryRow {
  advisory_id: string;
  at: string;
  actor: string;
  from_status: AdvisoryStatus | null;
  to_status: AdvisoryStatus;
  reason: string | null;
  drift_id: string;
}

async function selectRow(sql: LedgerSql, advisoryId: string): Promise<AdvisoryRow | undefined> {
  return await sql.get("SELECT * FROM advisories WHERE advisory_id = ?", [advisoryId]) as
    | AdvisoryRow
    | undefined;
}

function rowDrift(row: AdvisoryRow): ReportDrift {
  return {
    driftId: row.drift_id,
    driftType: row.drift_type,
    severity: row.severity as Severity,
    environments: _fromColumn(row.environments),
    signatureId: row.signature_id,
    detail: row.description,
    evidence: _fromColumn(row.evidence),
    detector: row.detector,
  };
}

/** The columns a plan sets, in the order of the statements below. */
function planColumns(plan: Plan): SqlValue[] {
  const { drift } = plan;
  return [
    drift.severity,
    plan.sourceEnv,
    JSON.stringify(plan.targetEnvs),
    plan.action,
    plan.recommendation,
    drift.driftId,
    drift.detail,
    drift.detector,
    canonicalString(drift.evidence, "jcs"),
    plan.fingerprint,
  ];
}

function contentDiffers(row: AdvisoryRow, plan: Plan): boolean {
  const stored = [
    row.severity,
    row.source_env,
    row.target_envs,
    row.action,
    row.recommendation,
    row.drift_id,
    row.description,
    row.detector,
    row.evidence,
    row.evidence_fingerprint,
  ];
  return planColumns(plan).some((value, i) => value !== stored[i]);
}

async function insertAdvisory(
  sql: LedgerSql,
  plan: Plan,
  at: string,
  origin: ReportOrigin,
): Promise<void> {
  await sql.run(
    `INSERT INTO advisories (severity, source_env, target_envs, action, recommendation, drift_id,
       description, detector, evidence, evidence_fingerprint,
       advisory_id, drift_type, signature_id, environments, status, created_at, updated_at, origin)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'published', ?, ?, ?)`,
    [
      ...planColumns(plan),
      plan.advisoryId,
      plan.drift.driftType,
      plan.drift.signatureId,
      JSON.stringify(plan.environments),
      at,
      at,
      origin,
    ],
  );
}

/**
 * Refuse to mix kinds of report in one ledger: the two hubs detect drift
 * differently, so the absence of a drift from one kind of report says nothing
 * about an advisory made from the other (it must not resolve it), and the same
 * drift would be re-asked with other evidence.
 */
async function refuseOtherOrigin(
  sql: LedgerSql,
  path: string,
  origin: ReportOrigin,
): Promise<void> {
  const other = await sql.get("SELECT count(*) AS n FROM advisories WHERE origin != ?", [origin]);
  const count = Number(other?.n ?? 0);
  if (count === 0) return;
  const theirs = origin === "jrm" ? "reference hub reports" : "jrm's own reports";
  const ours = origin === "jrm" ? "a jrm report" : "a reference hub report";
  throw new UsageError(
    `Ledger "${path}" holds ${count} ${
      count === 1 ? "advisory" : "advisories"
    } from ${theirs}; ${ours} is not published into it, because the two hubs find drift differently and one's silence must not resolve the other's advisories; publish it into another ledger`,
    { exitCode: 1, option: "ledger" },
  );
}

async function updateAdvisory(
  sql: LedgerSql,
  plan: Plan,
  status: AdvisoryStatus,
  at: string,
): Promise<void> {
  await sql.run(
    `UPDATE advisories SET severity = ?, source_env = ?, target_envs = ?, action = ?,
       recommendation = ?,
       drift_id = ?, description = ?, detector = ?, evidence = ?, evidence_fingerprint = ?,
       status = ?, updated_at = ?
     WHERE advisory_id = ?`,
    [...planColumns(plan), status, at, plan.advisoryId],
  );
}

async function setStatus(
  sql: LedgerSql,
  advisoryId: string,
  status: AdvisoryStatus,
  at: string,
): Promise<void> {
  await sql.run("UPDATE advisories SET status = ?, updated_at = ? WHERE advisory_id = ?", [
    status,
    at,
    advisoryId,
  ]);
}

async function addHistory(
  sql: LedgerSql,
  advisoryId: string,
  at: string,
  by: string,
  from: AdvisoryStatus | null,
  to: AdvisoryStatus,
  reason: string | null,
  driftId: string,
): Promise<void> {
  await sql.run(
    `INSERT INTO advisory_history (advisory_id, at, actor, from_status, to_status, reason, drift_id)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
    [advisoryId, at, by, from, to, reason, driftId],
  );
}

const SEVERITY_ORDER = `CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
  WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END`;

async function loadAdvisories(sql: LedgerSql, advisoryIds: string[]): Promise<Advisory[]> {
  const ids = JSON.stringify(advisoryIds);
  const rows = await sql.all(
    `SELECT * FROM advisories WHERE advisory_id IN ${jsonTextRows(sql.dialect, "?")}
     ORDER BY ${SEVERITY_ORDER}, signature_id, drift_type, advisory_id`,
    [ids],
  ) as unknown as AdvisoryRow[];
  const history = new Map<string, AdvisoryTransition[]>();
  const entries = await sql.all(
    `SELECT * FROM advisory_history WHERE advisory_id IN ${jsonTextRows(sql.dialect, "?")}
     ORDER BY seq`,
    [ids],
  ) as unknown as HistoryRow[];
  for (const entry of entries) {
    const list = history.get(entry.advisory_id) ?? [];
    list.push({
      at: entry.at,
      by: entry.actor,
      from: entry.from_status,
      to: entry.to_status,
      reason: entry.reason,
      driftId: entry.drift_id,
    });
    history.set(entry.advisory_id, list);
  }
  return rows.map((row) => ({
    advisoryId: row.advisory_id,
    driftType: row.drift_type,
    severity: row.severity as Severity,
    signatureId: row.signature_id,
    environments: _fromColumn(row.environments),
    sourceEnv: row.source_env,
    targetEnvs: _fromColumn(row.target_envs),
    action: row.action,
    recommendation: row.recommendation,
    status: row.status,
    detail: {
      driftId: row.drift_id,
      description: row.description,
      detector: row.detector,
      evidence: _fromColumn(row.evidence),
    },
    evidenceFingerprint: row.evidence_fingerprint,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    history: history.get(row.advisory_id) ?? [],
  }));
}

// ---------------------------------------------------------------- checks

function checkName(by: string): string {
  const name = by.trim();
  if (name === "") throw new UsageError("Give the name of who acts", { option: "by" });
  if (hasControl(name, false)) {
    throw new UsageError(`Name ${JSON.stringify(by)} holds control characters`);
  }
  if (name.length > 200) throw new UsageError("Name is longer than 200 characters");
  return name;
}

function checkReason(reason: string | undefined): string | null {
  const text = reason?.trim() ?? "";
  if (text === "") return null;
  if (hasControl(text, true)) throw new UsageError("Reason holds control characters");
  if (text.length > 4000) throw new UsageError("Reason is longer than 4000 characters");
  return text;
}

/** Names and reasons are shown on terminals, where control characters could forge output. */
function hasControl(text: string, allowLineBreaks: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (allowLineBreaks && (code === 0x09 || code === 0x0a)) continue;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

function timestamp(now: Date | undefined): string {
  const time = now ?? new Date();
  if (Number.isNaN(time.getTime())) throw new UsageError("The time to record is not a valid date");
  return time.toISOString();
}

function reportTime(generatedAt: string): string {
  const time = /^\d{4}-\d{2}-\d{2}T/.test(generatedAt) ? new Date(generatedAt) : undefined;
  if (time === undefined || Number.isNaN(time.getTime())) {
    throw new UsageError(`The report's generatedAt "${generatedAt}" is not an ISO 8601 date-time`);
  }
  return time.toISOString();
}

function sortedEnvironments(environments: readonly string[]): string[] {
  return [...new Set(environments)].sort();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON column read back, through `parseJson` (which works around V8's escaped-key bug). */
function _fromColumn(text: unknown): never {
  return parseJson(String(text), { maxDepth: 256 }) as never;
}
