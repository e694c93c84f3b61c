/**
 * The hub commands: `federate` (the main job), `hub replay` and
 * `plugins list`.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { type Config, loadConfig, parseOptionFlags, resolveDetectorRuns } from "../core/config.ts";
import type { DetectionLimits } from "../core/detector_host.ts";
import { type DetectorRun, resolutionOf, runDetectors } from "../core/drift.ts";
import { UsageError } from "../core/errors.ts";
import type { GateOptions } from "../core/gate.ts";
import { type AtomicWriter, openAtomic, writeChunksAtomic, writeFileAtomic } from "../core/fs.ts";
import { type GraphLinesSink, ingestFiles, type Ingestion } from "../core/hub.ts";
import type { PluginRegistry } from "../core/plugin.ts";
import { buildReport, type FederationReport } from "../core/report.ts";
import { escapeForTerminal as esc } from "../core/text.ts";
import {
  collect,
  color,
  type CommandInput,
  configInput,
  detectionLimitsFrom,
  type DetectionOptions,
  err,
  guardFiles,
  ledgerInputs,
  limitsFrom,
  out,
  outJson,
  outJsonChunks,
  packetFiles,
  resolveKeyring,
  resolveRunClock,
  type RunClock,
  setExitCode,
  withClockOptions,
  withDetectionOptions,
  withKeyringOptions,
  withLimitOptions,
} from "./common.ts";
import { progress } from "./progress.ts";
import { registryFor } from "./registry.ts";
import { render } from "./report.ts";
import { table } from "./table.ts";

/**
 * Add the options of every command that ingests packets: packets, keys,
 * scope, plugins, limits.
 * @param command the command
 * @returns the command, with the options
 */
export function withHubOptions<A extends unknown[], O extends Record<string, unknown>>(
  command: Command<A, O>,
): Command<A, O & HubFlags> {
  return withClockOptions(withLimitOptions(withKeyringOptions(
    command
      .option("--packets <paths...>", "packet files, directories or globs")
      .option(
        "--allow-env <env>",
        "accept only these environments (repeatable)",
        collect,
        [] as string[],
      )
      .option("--require-signature", "reject unsigned packets (needs a key)")
      .option("--plugin <path>", "load a plugin module (repeatable)", collect, [] as string[])
      .option("--config <path>", "config file (default: ./jrm.config.json when present)")
      .option("--json", "print only JSON on stdout"),
  ))) as unknown as Command<A, O & HubFlags>;
}

/** The flags {@link withHubOptions} adds. */
export type HubFlags = {
  packets?: string[];
  allowEnv: string[];
  requireSignature?: true;
  plugin: string[];
  config?: string;
  json?: true;
  keyFile?: string;
  keyEnv?: string;
  keyring?: string;
  algorithm: string;
  keyId?: string;
  maxEntries?: number;
  maxEntryBytes?: number;
  maxTotalBytes?: number;
  maxRatio?: number;
  maxDepth?: number;
  now?: string;
  maxClockSkew?: number;
  maxCanonEntries?: number;
};

/**
 * Declare the outputs and resolve the packets, refusing any output that is an
 * input or another output before a byte is read.
 * @param flags the hub flags (packets, keys, config, plugins)
 * @param outputs the command's outputs, by flag
 * @param inputs further inputs (e.g. the store)
 * @returns the packet files
 */
export async function guardHubFiles(
  flags: HubFlags,
  outputs: { flag: string; path: string | undefined }[],
  inputs: CommandInput[] = [],
): Promise<string[]> {
  if (!flags.packets || flags.packets.length === 0) {
    throw new UsageError("Give the packets to ingest with --packets");
  }
  const guard = guardFiles(outputs, [
    { what: "keyring", path: flags.keyring },
    { what: "key file", path: flags.keyFile },
    configInput(flags.config),
    ...flags.plugin.map((path) => ({ what: "plugin file", path })),
    ...inputs,
  ]);
  return await packetFiles(flags.packets, guard);
}

/**
 * The gate options the hub flags give: what every command that ingests
 * (`federate`, `hub replay`, `hub ingest`) reads packets with.
 * @param flags the parsed flags
 * @param config the config file
 * @param registry the plugins (signers)
 * @param clock the run's clock (packets' times are checked against it)
 * @returns the gate options
 */
export async function gateOptionsFromFlags(
  flags: HubFlags,
  config: Config,
  registry: PluginRegistry,
  clock: RunClock,
): Promise<Omit<GateOptions, "source">> {
  const keyring = await resolveKeyring(registry, flags);
  const allowEnvs = flags.allowEnv.length > 0 ? flags.allowEnv : config.allowEnvs;
  const requireSignature = flags.requireSignature ?? config.requireSignature;
  if (!keyring) {
    err("warning: no key configured; signatures were not checked (use --key-file or --keyring)");
  }
  return {
    keyring,
    requireSignature,
    allowedEnvs: allowEnvs,
    limits: { ...config.archiveLimits, ...limitsFrom(flags) },
    now: clock.now,
    maxClockSkew: clock.maxClockSkew,
  };
}

async function ingestFromFlags(
  flags: HubFlags,
  files: string[],
  config: Config,
  registry: PluginRegistry,
  clock: RunClock,
  graphLines?: GraphLinesSink,
): Promise<Ingestion> {
  const gate = await gateOptionsFromFlags(flags, config, registry, clock);
  const bar = progress("packets", flags.json === true);
  try {
    return await ingestFiles(files, {
      ...gate,
      onProgress: (done, total) => bar.update(done, total),
      graphLines,
    });
  } finally {
    bar.finish();
  }
}

function summarize(report: FederationReport, outPath: string): void {
  const rejected = report.packetsRejected.length;
  out(color.bold(`Federation report written to "${esc(outPath)}"`));
  out("");
  out(table(
    ["ENVIRONMENT", "PACKETS", "WINDOWS", "SIGNATURES", "GRAPH NODES"],
    Object.entries(report.environmentStats).map(([env, s]) => [
      esc(env),
      String(s.packets),
      `${esc(s.windowStart)} .. ${esc(s.windowEnd)}`,
      String(s.signatures),
      String(s.graphNodes),
    ]),
  ));
  out("");
  const byType = new Map<string, number>();
  const bySeverity = new Map<string, number>();
  for (const drift of report.crossEnvDrifts) {
    byType.set(drift.driftType, (byType.get(drift.driftType) ?? 0) + 1);
    bySeverity.set(drift.severity, (bySeverity.get(drift.severity) ?? 0) + 1);
  }
  const counts = (map: Map<string, number>) =>
    [...map].sort().map(([key, n]) => `${esc(key)} ${n}`).join(", ") || "none";
  out(
    table(["", ""], [
      [
        "packets",
        `${report.packetsIngested} accepted, ${rejected} rejected, ${report.duplicates.length} duplicate`,
      ],
      ["drift", `${report.crossEnvDrifts.length} (${counts(byType)})`],
      ["severity", counts(bySeverity)],
      ["detectors", report.detectors.map((d) => esc(`${d.name}@${d.version}`)).join(", ")],
    ]).split("\n").slice(1).join("\n"),
  );
  if (report.crossEnvDrifts.length > 0) {
    const shown = report.crossEnvDrifts.slice(0, 20);
    out("");
    out(table(
      ["TYPE", "SEVERITY", "SIGNATURE", "ACTION", "TARGETS", "DRIFT ID"],
      shown.map((d) => {
        const { action, source, targets } = resolutionOf(d);
        return [
          esc(d.driftType),
          d.severity === "high" || d.severity === "critical"
            ? color.red(esc(d.severity))
            : esc(d.severity),
          esc(d.signatureId),
          esc(
            source === null ? action : `${action} ${action === "align" ? "with" : "ref"} ${source}`,
          ),
          targets.map(esc).join(","),
          esc(d.driftId),
        ];
      }),
    ));
    if (report.crossEnvDrifts.length > shown.length) {
      out(
        color.dim(
          `... and ${report.crossEnvDrifts.length - shown.length} more in "${esc(outPath)}"`,
        ),
      );
    }
  }
  if (rejected > 0) {
    out("");
    out(color.red(`${rejected} packet(s) rejected:`));
    for (const packet of report.packetsRejected) {
      out(`  ${esc(packet.source)}`);
      for (const v of packet.violations) out(`    ${color.yellow(v.code)}  ${esc(v.message)}`);
    }
  }
}

/**
 * Add every option of `federate` but `--out` and `--store` (whose meaning
 * differs by command): {@link withHubOptions}, the outputs, detector
 * options, the clock and `--detailed-exitcode`. `hub ingest` takes the same,
 * so an option added here reaches both (and must be added to FederationFlags).
 * @param command the command
 * @returns the command, with the options
 */
export function withFederationOptions<A extends unknown[], O extends Record<string, unknown>>(
  command: Command<A, O>,
): Command<A, O & FederationFlags> {
  // Typed as withHubOptions is, for the same reason.
  withDetectionOptions(withHubOptions(
    withDetectorOptionFlags(
      (command as unknown as Command)
        .option("--graph-out <path>", "write the merged memory graph here (JSON lines, streamed)")
        .option("--html <path>", "also write the report as one self-contained HTML page"),
    ).addOption(
      new Option("--detailed-exitcode", "exit 0 with no drift, 2 with drift, 1 on error"),
    ),
  ));
  return command as unknown as Command<A, O & FederationFlags>;
}

/**
 * Add `--option` and `--threshold`: the detectors' options, as `federate`,
 * `hub ingest` and `hub serve` take them (read by {@link federationSetup}).
 * @param command the command
 * @returns the same command
 */
export function withDetectorOptionFlags(command: Command): Command {
  return command
    .option(
      "--option <detector.key=value>",
      "a detector option, e.g. posture-divergence.threshold=0.25 (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--threshold <decimal>",
      "shorthand for --option posture-divergence.threshold=<decimal>",
    );
}

/** The flags {@link withFederationOptions} adds. */
export type FederationFlags = HubFlags & DetectionOptions & {
  graphOut?: string;
  html?: string;
  option: string[];
  threshold?: string;
  detailedExitcode?: true;
};

/**
 * What the federation flags set up before any packet is read: the config,
 * the plugins, the detectors with their options and limits, the run's clock
 * and the report's time.
 * @param flags the parsed flags
 * @returns config, registry, detector runs, detection limits, clock, generatedAt
 */
export async function federationSetup(flags: FederationFlags): Promise<{
  config: Config;
  registry: PluginRegistry;
  detectors: DetectorRun[];
  limits: DetectionLimits;
  clock: RunClock;
  generatedAt: string;
}> {
  const config = await loadConfig(flags.config);
  const clock = resolveRunClock(flags, config.clock.maxClockSkew);
  const registry = await registryFor(config, flags.plugin);
  const optionFlags = parseOptionFlags(flags.option);
  if (flags.threshold !== undefined) {
    (optionFlags["posture-divergence"] ??= {}).threshold = flags.threshold;
  }
  const detectors = resolveDetectorRuns(registry, config, optionFlags, "--option");
  const limits = detectionLimitsFrom(flags, config);
  return { config, registry, detectors, limits, clock, generatedAt: clock.stamp };
}

/** `jrm federate`. */
export function federateCommand() {
  return withFederationOptions(
    new Command("federate")
      .description("ingest packets from every environment and report cross-environment drift")
      .requiredOption("--out <path>", "where to write the federation report (JSON)")
      .option("--store <file>", "show this ledger's advisories in the HTML page"),
  ).action(async (flags) => {
    const files = await guardHubFiles(
      flags,
      [
        { flag: "--out", path: flags.out },
        { flag: "--graph-out", path: flags.graphOut },
        { flag: "--html", path: flags.html },
      ],
      ledgerInputs(flags.store),
    );
    const { config, registry, detectors, limits, clock, generatedAt } = await federationSetup(
      flags,
    );
    let graph: AtomicWriter | undefined;
    if (flags.graphOut) graph = await openAtomic(flags.graphOut);
    let report: FederationReport;
    try {
      const ingestion = await ingestFromFlags(
        flags,
        files,
        config,
        registry,
        clock,
        graph ? (lines) => graph!.write(lines) : undefined,
      );
      const detection = await runDetectors(ingestion.state.view(), detectors, limits);
      report = buildReport(ingestion, detection, generatedAt);
      // Everything is rendered before anything is written, so a failing reporter leaves no output.
      const html = flags.html ? await render(registry, report, "html", flags.store) : undefined;
      await writeFileAtomic(flags.out, JSON.stringify(report, null, 2) + "\n");
      if (flags.html) await writeFileAtomic(flags.html, html!);
      await graph?.commit();
    } catch (error) {
      await graph?.abort();
      throw error;
    }
    if (flags.json) outJson(report);
    else summarize(report, flags.out);
    // On stderr, with --json too: stdout may be piped into a tool that reads only the JSON.
    for (const { detector, hook, message } of report.detectorErrors) {
      err(
        `error: detector "${esc(detector)}" failed in "${esc(hook)}": ${
          esc(message.split("\n")[0])
        }`,
      );
    }
    if (report.detectorErrors.length > 0) {
      err("error: a detector failed; the drift list is incomplete");
    }
    const rejected = reportRejected(
      report.packetsRejected.length,
      ingested(report),
      `"${esc(flags.out)}" lists them and why`,
    );
    if (report.detectorErrors.length > 0 || rejected) {
      setExitCode(1);
    } else if (flags.detailedExitcode && report.crossEnvDrifts.length > 0) {
      setExitCode(2);
    }
  });
}

/**
 * `jrm hub`, with `replay` and the subcommands given (the stateful hub's,
 * from cli/hub.ts, which imports this module).
 * @param more further subcommands
 * @returns the command
 */
export function hubCommand(...more: Command[]) {
  const hub = new Command("hub").description("the hub's per-environment state");
  hub.addCommand(
    withHubOptions(
      new Command("replay")
        .description(
          "ingest packets in window order and write the per-environment state detection reads",
        )
        .requiredOption("--out <path>", "where to write the state (JSON)"),
    ).action(async (flags) => {
      const files = await guardHubFiles(flags, [{ flag: "--out", path: flags.out }]);
      const config = await loadConfig(flags.config);
      const clock = resolveRunClock(flags, config.clock.maxClockSkew);
      const registry = await registryFor(config, flags.plugin);
      const ingestion = await ingestFromFlags(flags, files, config, registry, clock);
      const rejected = ingestion.outcomes.filter((o) => o.kind === "rejected");
      // Streamed: a state of a million signatures is too large for one string.
      const chunks = () =>
        ingestion.state.toJSONChunks({ generatedAt: clock.stamp }, {
          packetsRejected: rejected.map((o) => o.kind === "rejected" ? o.result.source : "")
            .sort(),
          duplicates: ingestion.outcomes.flatMap((o) => o.kind === "duplicate" ? [o.source] : [])
            .sort(),
          equivocations: equivocations(ingestion),
        });
      await writeChunksAtomic(flags.out, chunks());
      if (flags.json) outJsonChunks(chunks());
      else {
        const stats = ingestion.state.stats();
        out(`Hub state written to "${esc(flags.out)}"`);
        out(table(
          ["ENVIRONMENT", "PACKETS", "LATEST WINDOW END", "SIGNATURES"],
          Object.entries(stats).map((
            [env, s],
          ) => [esc(env), String(s.packets), esc(s.windowEnd), String(s.signatures)]),
        ));
      }
      const hint = `"${esc(flags.out)}" lists them, \`jrm gate validate\` says why`;
      if (reportRejected(rejected.length, ingestion.outcomes.length, hint)) setExitCode(1);
    }),
  );
  for (const command of more) hub.addCommand(command);
  return hub;
}

/** `jrm plugins` (with `list`). */
export function pluginsCommand() {
  const plugins = new Command("plugins").description("the plugins in use");
  plugins.addCommand(
    new Command("list")
      .description("list built-in and loaded plugins")
      .option(
        "--plugin <path>",
        "also load this plugin module (repeatable)",
        collect,
        [] as string[],
      )
      .option("--config <path>", "config file (default: ./jrm.config.json when present)")
      .option("--json", "print only JSON on stdout")
      .action(async (flags) => {
        const config = await loadConfig(flags.config);
        const registry = await registryFor(config, flags.plugin);
        const rows = registry.list().map(({ plugin, origin }) => ({
          kind: plugin.kind,
          name: plugin.name,
          version: plugin.version,
          origin,
          description: plugin.description ?? "",
        }));
        if (flags.json) outJson(rows);
        else {
          out(table(
            ["KIND", "NAME", "VERSION", "ORIGIN", "DESCRIPTION"],
            rows.map((r) => [r.kind, r.name, r.version, r.origin, r.description].map(esc)),
          ));
        }
      }),
  );
  return plugins;
}

/** The packets refused for equivocation, each with its digest and the digests it contradicts. */
function equivocations(
  ingestion: Ingestion,
): { source: string; digest: string | null; equivocatesWith: string[] }[] {
  return ingestion.outcomes.flatMap((outcome) => {
    if (outcome.kind !== "rejected") return [];
    const violation = outcome.result.violations.find((v) => v.code === "EQUIVOCATION");
    return violation
      ? [{
        source: outcome.result.source,
        digest: outcome.digest ?? null,
        equivocatesWith: violation.equivocatesWith ?? [],
      }]
      : [];
  }).sort((a, b) => a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
}

/** How many inputs a report accounts for: accepted, rejected and duplicates. */
function ingested(report: FederationReport): number {
  return report.packetsIngested + report.packetsRejected.length + report.duplicates.length;
}

/**
 * Say on stderr (with `--json` too) that packets were rejected: the outputs
 * are written, but they do not cover every input, so the run exits 1.
 * @returns whether any was
 */
export function reportRejected(rejected: number, total: number, where: string): boolean {
  if (rejected === 0) return false;
  err(`error: ${rejected} of ${total} packet(s) rejected; ${where}`);
  return true;
}
