/**
 * The advisory commands: `advisory publish`, `accept`, `decline`, `list` and
 * `show`, over the ledger of `core/store.ts`.
 *
 * The ledger is `--store FILE`, else `$JRM_STORE`, else
 * `./.jrm/ledger.sqlite`. Times are recorded from `--now`, else
 * `SOURCE_DATE_EPOCH`, else the clock. The commands need read and write
 * access to the ledger's directory (and the report and `--out` files) and
 * `--allow-env=JRM_STORE,SOURCE_DATE_EPOCH`; nothing else.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import {
  accept,
  type Advisory,
  ADVISORY_STATUSES,
  type AdvisoryTransition,
  decline,
  DEFAULT_PUBLISHER,
  getAdvisory,
  listAdvisories,
  publish,
  type PublishResult,
  type ReportOrigin,
} from "../core/advisory.ts";
import { UsageError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import { readAnyReportFile, referenceAdvisories } from "../core/reference_report.ts";
import { escapeForTerminal } from "../core/text.ts";
import { color, guardFiles, ledgerInputs, out, outJson } from "./common.ts";
import { storeLocation, storeOption as anyStoreOption, withLedger } from "./store.ts";

/**
 * The `advisory` command group.
 * @returns the commander command, with its subcommands
 * @example
 * ```ts
 * import { advisoryCommand } from "./advisory.ts";
 * import assert from "node:assert/strict";
 * const names = advisoryCommand().commands.map((c) => c.name());
 * assert.deepEqual(names, ["publish", "accept", "decline", "list", "show", "export"]);
 * ```
 */
export function advisoryCommand() {
  const advisory = new Command("advisory").description(
    "turn drift into advisories that operators accept or decline, kept in a shared ledger",
  );

  advisory.command("publish")
    .description("publish a federation report's drift as advisories (idempotent)")
    .requiredOption(
      "--from <report>",
      "the federation report (JSON): jrm's, or the reference hub's (published for review)",
    )
    .option("--out <file>", "also write the report's advisories, as they now stand, as JSON")
    .option("--by <name>", "who publishes, for the history", DEFAULT_PUBLISHER)
    .option("--allow-older-report", "publish a report older than the newest one already published")
    .addOption(storeOption())
    .addOption(nowOption())
    .option("--json", "print only JSON on stdout")
    .action(async (options) => {
      const location = storeLocation(options.store);
      const path = location.display;
      const outFile = options.out;
      guardFiles([{ flag: "--out", path: outFile }], [
        { what: "report", path: options.from },
        ...ledgerInputs(location.kind === "sqlite" ? location.path : undefined),
      ]);
      const { report, origin } = await readAnyReportFile(options.from);
      const now = timeToRecord(options.now);
      const result = await withLedger(location, "create", (ledger) =>
        publish(ledger, report, {
          now,
          by: options.by,
          allowOlderReport: options.allowOlderReport,
          origin,
          // Written before COMMIT: if it cannot be written, the ledger keeps nothing.
          beforeCommit: outFile === undefined ? undefined : (done) =>
            writeFileAtomic(
              outFile,
              JSON.stringify({ advisories: done.advisories }, null, 2) + "\n",
            ),
        }));
      if (options.json) outJson({ ledger: path, origin, ...result });
      else printPublished(options.from, path, result, origin);
    });

  addDecisionCommand(advisory, "accept");
  addDecisionCommand(advisory, "decline");

  advisory.command("list")
    .description("list advisories, most severe first")
    .addOption(new Option("--status <status>", "only this status").choices(ADVISORY_STATUSES))
    .option("--type <driftType>", "only this drift type")
    .option("--env <environment>", "only advisories involving this environment")
    .addOption(storeOption())
    .option("--json", "print only JSON on stdout")
    .action(async (options) => {
      const advisories = await withLedger(
        storeLocation(options.store),
        "read",
        (ledger) =>
          listAdvisories(ledger, {
            status: options.status,
            driftType: options.type,
            environment: options.env,
          }),
      );
      if (options.json) {
        outJson({ advisories });
        return;
      }
      if (advisories.length === 0) out("No advisories");
      for (const advisory of advisories) out(summaryLine(advisory));
    });

  advisory.command("show")
    .description("show one advisory with its history")
    .argument("<id>", "the advisory id")
    .addOption(storeOption())
    .option("--json", "print only JSON on stdout")
    .action(async (id, options) => {
      const advisory = await withLedger(
        storeLocation(options.store),
        "read",
        (ledger) => getAdvisory(ledger, id),
      );
      if (options.json) outJson(advisory);
      else printAdvisory(advisory);
    });

  advisory.command("export")
    .description("write the ledger's advisories in another tool's format")
    .addOption(
      new Option("--format <format>", "reference: the reference pipeline's advisory list")
        .choices(["reference"] as const).default("reference" as const),
    )
    .option("--out <file>", "write to this file (atomically) instead of stdout")
    .addOption(storeOption())
    .action(async (options) => {
      const location = storeLocation(options.store);
      guardFiles(
        [{ flag: "--out", path: options.out }],
        ledgerInputs(location.kind === "sqlite" ? location.path : undefined),
      );
      const advisories = await withLedger(
        location,
        "read",
        (ledger) => listAdvisories(ledger),
      );
      const exported = referenceAdvisories(advisories);
      // On stdout as JSON (its escaping keeps the value); out() would escape inside strings.
      if (options.out === undefined) outJson(exported);
      else await writeFileAtomic(options.out, JSON.stringify(exported, null, 2) + "\n");
    });

  return advisory;
}

/** What sets `accept` and `decline` apart; the rest of the two commands is one. */
const DECISIONS = {
  accept: {
    description: "accept a published advisory",
    who: "who accepts",
    reasonRequired: false,
    decide: accept,
  },
  decline: {
    description: "decline a published advisory, saying why",
    who: "who declines",
    reasonRequired: true,
    decide: decline,
  },
};

function addDecisionCommand(advisory: Command, name: keyof typeof DECISIONS): void {
  const { description, who, reasonRequired, decide } = DECISIONS[name];
  advisory.command(name)
    .description(description)
    .argument("<id>", "the advisory id")
    .requiredOption("--by <name>", who)
    .addOption(new Option("--reason <text>", "why").makeOptionMandatory(reasonRequired))
    .addOption(storeOption())
    .addOption(nowOption())
    .option("--json", "print only JSON on stdout")
    .action(async (id, options) => {
      const now = timeToRecord(options.now);
      const done = await withLedger(
        storeLocation(options.store),
        "write",
        (ledger) => decide(ledger, id, { by: options.by, reason: options.reason, now }),
      );
      printDecision(done, options.json);
    });
}

function storeOption() {
  return anyStoreOption("the ledger");
}

function nowOption() {
  return new Option("--now <iso>", "the time to record (default: $SOURCE_DATE_EPOCH, else now)");
}

function timeToRecord(option: string | undefined): Date | undefined {
  if (option !== undefined) {
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
    const time = new Date(option);
    if (!iso.test(option) || Number.isNaN(time.getTime())) {
      throw new UsageError(`--now needs an ISO 8601 date-time with a zone, not "${option}"`);
    }
    return time;
  }
  const epoch = readEnv("SOURCE_DATE_EPOCH", false);
  if (epoch === undefined || epoch === "") return undefined;
  if (!/^\d{1,15}$/.test(epoch)) {
    throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not "${epoch}"`);
  }
  return new Date(Number(epoch) * 1000);
}

/**
 * An environment variable. Without permission to read it, a variable that
 * chooses where data goes is an error (guessing could write to the wrong
 * ledger); an optional one counts as unset.
 */
function readEnv(name: string, required: boolean): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    if (!required) return undefined;
    throw new UsageError(`Cannot read ${name}: give --store, or run with --allow-env=${name}`);
  }
}

// ---------------------------------------------------------------- printing

/** Data from reports, ledgers and operators reaches the terminal only with its controls escaped. */
const safe = escapeForTerminal;

function summaryLine(advisory: Advisory): string {
  const targets = advisory.sourceEnv === null
    ? advisory.targetEnvs.join(", ")
    : `${advisory.sourceEnv} → ${advisory.targetEnvs.join(", ")}`;
  return [
    safe(advisory.advisoryId),
    statusText(advisory.status, 9),
    safe(advisory.severity).padEnd(8),
    safe(advisory.driftType).padEnd(19),
    safe(advisory.signatureId),
    safe(targets),
  ].join("  ");
}

function statusText(status: Advisory["status"], width = 0): string {
  const text = safe(status).padEnd(width);
  switch (status) {
    case "published":
      return color.yellow(text);
    case "accepted":
      return color.green(text);
    case "declined":
      return color.red(text);
    default:
      return color.dim(text);
  }
}

function printPublished(
  report: string,
  ledger: string,
  result: PublishResult,
  origin: ReportOrigin,
): void {
  const kind = origin === "reference" ? " (a reference hub report)" : "";
  out(
    `Published "${safe(report)}"${kind} to ledger "${
      safe(ledger)
    }": ${result.advisories.length} advisories (${result.created.length} new, ${result.reopened.length} reopened, ${result.changed.length} changed, ${result.unchanged.length} unchanged), ${result.resolved.length} resolved`,
  );
  const byId = new Map(result.advisories.map((a) => [a.advisoryId, a]));
  const sections: [string, string[]][] = [
    ["new", result.created],
    ["reopened", result.reopened],
    ["changed", result.changed],
  ];
  for (const [label, ids] of sections) {
    for (const id of ids) {
      const advisory = byId.get(id)!;
      out(
        `  ${label.padEnd(8)}  ${safe(id)}  ${safe(advisory.severity)}  ${
          safe(advisory.recommendation)
        }`,
      );
    }
  }
  for (const id of result.resolved) out(`  ${"resolved".padEnd(8)}  ${safe(id)}`);
  if (result.uncovered.length > 0) {
    out(
      color.dim(
        `  ${result.uncovered.length} open advisory(ies) not in the report were left as they were: the report does not cover their environments or drift type`,
      ),
    );
  }
}

function printDecision(advisory: Advisory, json: boolean | undefined): void {
  if (json) {
    outJson(advisory);
    return;
  }
  const last = advisory.history[advisory.history.length - 1];
  const verb = advisory.status === "accepted" ? "Accepted" : "Declined";
  out(
    `${verb} ${safe(advisory.advisoryId)} (${safe(advisory.driftType)} on "${
      safe(advisory.signatureId)
    }") by ${safe(last.by)}: ${safe(advisory.recommendation)}`,
  );
}

function printAdvisory(advisory: Advisory): void {
  const field = (name: string, value: string) => out(`${(name + ":").padEnd(16)}${safe(value)}`);
  out(`${color.bold(safe(advisory.advisoryId))}  ${statusText(advisory.status)}`);
  field("drift type", safe(advisory.driftType));
  field("severity", advisory.severity);
  field("signature", safe(advisory.signatureId));
  field("environments", safe(advisory.environments.join(", ")));
  field("source", safe(advisory.sourceEnv ?? "(none)"));
  field("targets", safe(advisory.targetEnvs.join(", ")));
  field("action", advisory.action);
  field("recommendation", safe(advisory.recommendation));
  field("drift", `${advisory.detail.driftId} from ${safe(advisory.detail.detector)}`);
  field("description", safe(advisory.detail.description));
  field("evidence", safe(JSON.stringify(advisory.detail.evidence)));
  field("fingerprint", advisory.evidenceFingerprint);
  field("created", advisory.createdAt);
  field("updated", advisory.updatedAt);
  out("history:");
  for (const entry of advisory.history) out(`  ${historyLine(entry)}`);
}

function historyLine(entry: AdvisoryTransition): string {
  const move = `${safe(entry.from ?? "(new)")} → ${safe(entry.to)}`;
  const reason = entry.reason === null ? "" : `: ${safe(entry.reason)}`;
  return `${safe(entry.at)}  ${safe(entry.by)}  ${move}${reason}`;
}
