/**
 * The stateful hub's commands: `hub ingest` (packets into the store, once),
 * `hub report` (the report of what the store holds, reading no packet) and
 * `hub status` (what the store holds, per environment).
 *
 * The store is `--store FILE`, else `$JRM_STORE`, else
 * `./.jrm/ledger.sqlite`: the same file as the advisory ledger. `hub ingest`
 * takes every option `federate` takes (cli/federate.ts builds both).
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import type { Advisory } from "../core/advisory.ts";
import { UsageError, type Violation } from "../core/errors.ts";
import { escapeForTerminal as esc } from "../core/text.ts";
import { type AtomicWriter, openAtomic, writeFileAtomic } from "../core/fs.ts";
import { openSqliteHubStore } from "../core/hub_store_sqlite.ts";
import { loadConfig } from "../core/config.ts";
import {
  ingestIntoStore,
  reportFromStore,
  statusOfStore,
  type StoreIngestOutcome,
  type StoreIngestResult,
  type StoreReport,
  writeGraphFromStore,
} from "../core/stateful_hub.ts";
import { sqliteStorePath as storePath } from "./store.ts";
import {
  collect,
  color,
  err,
  guardFiles,
  ledgerInputs,
  out,
  outJson,
  parseCount,
  resolveRunClock,
  setExitCode,
} from "./common.ts";
import {
  federationSetup,
  gateOptionsFromFlags,
  guardHubFiles,
  reportRejected,
  withFederationOptions,
} from "./federate.ts";
import { progress } from "./progress.ts";
import { registryFor } from "./registry.ts";
import { render } from "./report.ts";
import { table } from "./table.ts";

/** The options of `hub ingest` besides those of `federate`. */
type IngestOwnFlags = {
  store?: string;
  out?: string;
  publish?: true;
  lockTimeout: number;
};

/** How long `hub ingest` waits for another ingest by default, in seconds. */
const DEFAULT_LOCK_TIMEOUT_SECONDS = 60;

/**
 * `jrm hub ingest`.
 * @returns the command
 */
export function hubIngestCommand() {
  // Built untyped and typed once (IngestFlags): see withHubOptions in cli/federate.ts.
  const command = new Command("ingest")
    .description(
      "gate packets and fold them into the store's state once; detect drift on what changed",
    )
    .option("--store <file>", "the store (default: $JRM_STORE, else ./.jrm/ledger.sqlite)")
    .option("--out <path>", "also write the federation report of the store (JSON)")
    .option("--publish", "publish the report's drift as advisories, in the same transaction")
    .addOption(
      new Option(
        "--lock-timeout <seconds>",
        "how long to wait for another ingest holding the store",
      ).argParser(parseCount("--lock-timeout")).default(DEFAULT_LOCK_TIMEOUT_SECONDS),
    ) as unknown as Command;
  return withFederationOptions(command as Command<[], IngestOwnFlags>).action(async (flags) => {
    const path = storePath(flags.store);
    const files = await guardHubFiles(
      flags,
      [
        { flag: "--out", path: flags.out },
        { flag: "--graph-out", path: flags.graphOut },
        { flag: "--html", path: flags.html },
      ],
      ledgerInputs(path),
    );
    const { config, registry, detectors, limits, clock, generatedAt } = await federationSetup(
      flags,
    );
    const gate = await gateOptionsFromFlags(flags, config, registry, clock);
    const pause = testPause();
    let graph: AtomicWriter | undefined;
    if (flags.graphOut) graph = await openAtomic(flags.graphOut);
    const bar = progress("packets", flags.json === true);
    let result: StoreIngestResult;
    let report: StoreReport | undefined;
    try {
      using store = openSqliteHubStore(path);
      result = await ingestIntoStore(store, files, {
        ...gate,
        detectors,
        detectionLimits: limits,
        at: generatedAt,
        lock: {
          timeoutMs: flags.lockTimeout * 1000,
          onWait: (ms) =>
            err(`waiting up to ${ms / 1000} s for another ingest to finish with "${esc(path)}"`),
        },
        onProgress: (done, total) => bar.update(done, total),
        afterPacket: (done) => pause(`packet:${done}`),
        beforeCommit: async (tx) => {
          bar.finish();
          const needed = flags.out !== undefined || flags.html !== undefined || flags.publish;
          if (needed) report = await reportFromStore(tx, generatedAt);
          let advisories: Advisory[] | undefined;
          if (flags.publish) {
            advisories = (await tx.publishAdvisories(report!, { now: new Date(generatedAt) }))
              .advisories;
          }
          if (flags.html) advisories = await tx.advisories();
          // Rendered before anything is written, so a failing reporter leaves no output.
          const html = flags.html
            ? await render(registry, report!, "html", undefined, advisories)
            : undefined;
          if (graph) await writeGraphFromStore(tx, (line) => graph!.write(line));
          if (flags.out) await writeFileAtomic(flags.out, JSON.stringify(report, null, 2) + "\n");
          if (flags.html) await writeFileAtomic(flags.html, html!);
          await graph?.commit();
          await pause("commit");
        },
      });
    } catch (error) {
      await graph?.abort();
      throw error;
    } finally {
      bar.finish();
    }
    if (flags.json) outJson({ store: path, ...result });
    else printIngest(path, result, flags.out);
    for (const { detector, hook, message } of result.detection.errors) {
      err(
        `error: detector "${esc(detector)}" failed in "${esc(hook)}": ${
          esc(message.split("\n")[0])
        }`,
      );
    }
    if (result.detection.errors.length > 0) {
      err("error: a detector failed; its drifts are as before this ingest");
    }
    const rejected = result.outcomes.filter((o) => refusal(o) !== undefined).length;
    const refused = reportRejected(
      rejected,
      result.outcomes.length,
      `\`jrm hub report\` lists them and why`,
    );
    if (result.withdrawn.length > 0) {
      err(
        `error: ${result.withdrawn.length} packet(s) ingested before are refused from now on (equivocation); their entries were withdrawn`,
      );
    }
    if (refused || result.withdrawn.length > 0 || result.detection.errors.length > 0) {
      setExitCode(1);
    } else if (flags.detailedExitcode && result.drift.current > 0) {
      setExitCode(2);
    }
  });
}

/** Why an ingest's packet is refused: a rejection, or a copy of a refused packet; else undefined. */
function refusal(outcome: StoreIngestOutcome): Violation[] | undefined {
  if (outcome.kind === "rejected") return outcome.violations;
  if (outcome.kind === "duplicate") return outcome.refused?.violations;
  return undefined;
}

function printIngest(path: string, result: StoreIngestResult, outPath?: string): void {
  const count = (kind: string) => result.outcomes.filter((o) => o.kind === kind).length;
  out(color.bold(`Ingested into "${esc(path)}" (ingest ${result.ingestId})`));
  const rows: string[][] = [
    [
      "packets",
      `${count("accepted")} accepted, ${count("rejected")} rejected, ${
        count("duplicate")
      } duplicate, ${result.withdrawn.length} withdrawn`,
    ],
    [
      "detection",
      result.detection.mode === "incremental"
        ? `incremental (${result.detection.signatures} signature(s) changed)`
        : result.detection.mode,
    ],
    [
      "drift",
      `${result.drift.current} (${result.drift.appeared.length} new, ${result.drift.gone.length} gone)`,
    ],
  ];
  if (outPath) rows.push(["report", `"${esc(outPath)}"`]);
  out(table(["", ""], rows).split("\n").slice(1).join("\n"));
  const rejected = result.outcomes.filter((o) => refusal(o) !== undefined);
  if (rejected.length > 0) {
    out("");
    out(color.red(`${rejected.length} packet(s) rejected:`));
    for (const packet of rejected) {
      const copy = packet.kind === "duplicate" ? ` (a copy of "${esc(packet.duplicateOf)}")` : "";
      out(`  ${esc(packet.source)}${copy}`);
      for (const v of refusal(packet)!) {
        out(`    ${color.yellow(esc(v.code))}  ${esc(v.message)}`);
      }
    }
  }
  if (result.withdrawn.length > 0) {
    out("");
    out(color.red(`${result.withdrawn.length} packet(s) withdrawn (equivocation):`));
    for (const packet of result.withdrawn) {
      out(`  ${esc(packet.packetName)} (${esc(packet.source)})`);
    }
  }
}

/**
 * `jrm hub report`.
 * @returns the command
 */
export function hubReportCommand() {
  return new Command("report")
    .description("write the federation report of what the store holds, reading no packet")
    .option("--store <file>", "the store (default: $JRM_STORE, else ./.jrm/ledger.sqlite)")
    .requiredOption("--out <path>", "where to write the federation report (JSON)")
    .option("--html <path>", "also write the report as one self-contained HTML page")
    .option("--graph-out <path>", "write the merged memory graph here (JSON lines, streamed)")
    .option(
      "--now <time>",
      "the report's time (RFC 3339; default: SOURCE_DATE_EPOCH, else the current time)",
    )
    .option(
      "--plugin <path>",
      "load a reporter plugin module (repeatable)",
      collect,
      [] as string[],
    )
    .option("--config <path>", "config file (default: ./jrm.config.json when present)")
    .option("--json", "print only JSON on stdout")
    .action(async (flags) => {
      const generatedAt = resolveRunClock(flags).stamp;
      const registry = flags.html
        ? await registryFor(await loadConfig(flags.config), flags.plugin)
        : undefined;
      const path = storePath(flags.store);
      guardFiles([
        { flag: "--out", path: flags.out },
        { flag: "--graph-out", path: flags.graphOut },
        { flag: "--html", path: flags.html },
      ], ledgerInputs(path));
      using store = openSqliteHubStore(path, { readOnly: true });
      let graph: AtomicWriter | undefined;
      if (flags.graphOut) graph = await openAtomic(flags.graphOut);
      let report: StoreReport;
      try {
        report = await store.read(async (reader) => {
          const report = await reportFromStore(reader, generatedAt);
          const html = registry
            ? await render(registry, report, "html", undefined, await reader.advisories())
            : undefined;
          if (graph) await writeGraphFromStore(reader, (line) => graph!.write(line));
          await writeFileAtomic(flags.out, JSON.stringify(report, null, 2) + "\n");
          if (flags.html) await writeFileAtomic(flags.html, html!);
          await graph?.commit();
          return report;
        });
      } catch (error) {
        await graph?.abort();
        throw error;
      }
      if (flags.json) outJson(report);
      else {
        out(`Report of "${esc(path)}" written to "${esc(flags.out)}"`);
        out(
          `${report.environments.length} environment(s), ${report.packetsIngested} packet(s), ${report.crossEnvDrifts.length} drift(s), ${report.driftsGone.length} gone`,
        );
      }
    });
}

/**
 * `jrm hub status`.
 * @returns the command
 */
export function hubStatusCommand() {
  return new Command("status")
    .description("show what the store holds: per environment, the last ingest, drift, size")
    .option("--store <file>", "the store (default: $JRM_STORE, else ./.jrm/ledger.sqlite)")
    .option("--json", "print only JSON on stdout")
    .action(async (flags) => {
      const path = storePath(flags.store);
      using store = openSqliteHubStore(path, { readOnly: true });
      const status = await store.read((reader) => statusOfStore(reader));
      if (flags.json) {
        outJson({ path, ...status });
        return;
      }
      const { store: figures, lastIngest, drifts } = status;
      out(color.bold(`Store "${esc(path)}"`));
      out(
        table(["", ""], [
          [
            "size",
            `${(figures.sizeBytes / 1e6).toFixed(1)} MB (schema version ${figures.schemaVersion})`,
          ],
          [
            "packets",
            `${figures.accepted} accepted, ${figures.equivocation} refused for equivocation, ${figures.rejected} rejected, ${figures.duplicates} duplicate`,
          ],
          [
            "last ingest",
            lastIngest
              ? `${lastIngest.at}: ${lastIngest.accepted} accepted, ${lastIngest.rejected} rejected, ${lastIngest.duplicates} duplicate, detection ${lastIngest.detection}`
              : "none",
          ],
          ["drift", `${drifts.current.length} current, ${drifts.gone} gone`],
          [
            "advisories",
            Object.entries(status.advisories).map(([s, n]) => `${s} ${n}`).join(", ") || "none",
          ],
        ]).split("\n").slice(1).join("\n"),
      );
      if (status.environments.length > 0) {
        out("");
        out(table(
          [
            "ENVIRONMENT",
            "PACKETS",
            "LATEST WINDOW",
            "SIGNATURES",
            "GRAPH NODES",
            "GRAPH EDGES",
            "LAST INGEST",
          ],
          status.environments.map((e) => [
            esc(e.environmentId),
            String(e.packets),
            esc(e.windowEnd),
            String(e.signatures),
            String(e.graphNodes),
            String(e.graphEdges),
            e.lastIngest ?? "",
          ]),
        ));
      }
      if (drifts.current.length > 0) {
        const shown = drifts.current.slice(0, 20);
        out("");
        out(table(
          ["TYPE", "SIGNATURE", "ENVIRONMENTS", "FIRST SEEN", "LAST SEEN"],
          shown.map((d) => [
            esc(d.driftType),
            esc(d.signatureId),
            esc(d.environments.join(",")),
            d.life.firstSeenAt,
            d.life.lastSeenAt,
          ]),
        ));
        if (drifts.current.length > shown.length) {
          out(color.dim(`... and ${drifts.current.length - shown.length} more (--json lists all)`));
        }
      }
    });
}

/**
 * A test-only pause inside the ingest's transaction, so a test can kill the
 * process, or start another one, at a known moment: `JRM_TEST_INGEST_PAUSE`
 * = `<stage>:<file>` (stage `packet:<n>` after the n-th packet, or `commit`
 * just before the commit). At that stage the process writes `<file>`, then
 * waits for `<file>.go` to appear, at most 60 seconds.
 */
function testPause(): (stage: string) => Promise<void> {
  let setting: string | undefined;
  try {
    setting = Deno.env.get("JRM_TEST_INGEST_PAUSE");
  } catch {
    setting = undefined;
  }
  const at = setting?.indexOf(":", setting.startsWith("packet:") ? 7 : 0) ?? -1;
  if (!setting || at < 0) return () => Promise.resolve();
  const stage = setting.slice(0, at);
  const file = setting.slice(at + 1);
  return async (reached) => {
    if (reached !== stage) return;
    await Deno.writeTextFile(file, `${Deno.pid}\n`);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try {
        await Deno.stat(`${file}.go`);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    throw new UsageError(`Test pause "${stage}" was never released`);
  };
}
