/**
 * `jrm report`: render a federation report already made, with a reporter
 * plugin (HTML by default), optionally showing a ledger's advisories. The
 * same rendering serves `jrm federate --html`.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { type Advisory, listAdvisories } from "../core/advisory.ts";
import { UsageError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import { callHook, expectBytesOrText, type PluginRegistry } from "../core/plugin.ts";
import { type FederationReport, readReportFile } from "../core/report.ts";
import { resolveStorePath } from "../core/store.ts";
import { parseStoreLocation } from "../core/store_url.ts";
import { loadConfig } from "../core/config.ts";
import { collect, configInput, guardFiles, ledgerInputs, out } from "./common.ts";
import { escapeForTerminal as esc } from "../core/text.ts";
import { registryFor } from "./registry.ts";
import { withLedger } from "./store.ts";

/**
 * Render a report with the reporter of `format`.
 * @param registry the plugins
 * @param report the federation report
 * @param format the reporter's format, e.g. `html`
 * @param store a ledger whose advisories the page shows, if any
 * @param advisories the advisories to show, when the caller has them already (instead of `store`)
 * @param extra more of the reporter's context (e.g. the page's `refreshSeconds`)
 * @returns what the reporter made
 */
export async function render(
  registry: PluginRegistry,
  report: FederationReport,
  format: string,
  store?: string,
  advisories?: Advisory[],
  extra: Record<string, unknown> = {},
): Promise<Uint8Array | string> {
  const reporter = registry.reporter(format);
  if (!reporter) {
    const known = registry.reporters().map((r) => `"${r.format}"`).join(", ");
    throw new UsageError(`No reporter renders the "${format}" format (known: ${known})`);
  }
  const context: Record<string, unknown> = { ...extra };
  if (advisories !== undefined) {
    context.advisories = advisories;
  } else if (store !== undefined) {
    context.advisories = await withLedger(
      parseStoreLocation(store),
      "read",
      (ledger) => listAdvisories(ledger),
    );
  }
  return await callHook(
    reporter,
    "render",
    () => reporter.render(report, context),
    expectBytesOrText,
  );
}

/**
 * Render a report and write it atomically.
 * @param registry the plugins
 * @param report the federation report
 * @param format the reporter's format
 * @param path where to write
 * @param store a ledger whose advisories the page shows, if any
 */
export async function renderReport(
  registry: PluginRegistry,
  report: FederationReport,
  format: string,
  path: string,
  store?: string,
): Promise<void> {
  await writeFileAtomic(path, await render(registry, report, format, store));
}

/** `jrm report`. */
export function reportCommand() {
  return new Command("report")
    .description("render a federation report already made (HTML by default)")
    .requiredOption("--from <path>", "the federation report (JSON) written by jrm federate")
    .option("--html <path>", "write a self-contained HTML page")
    .option("--format <name>", "render with another reporter plugin (needs --out)")
    .option("--out <path>", "where --format writes")
    .option("--store <file>", "show this ledger's advisories (default: $JRM_STORE when set)")
    .option(
      "--plugin <path>",
      "load a reporter plugin module (repeatable)",
      collect,
      [] as string[],
    )
    .option("--config <path>", "config file (default: ./jrm.config.json when present)")
    .action(async (flags) => {
      if (!flags.html && !flags.format) {
        throw new UsageError("Give --html <path> or --format <name> --out <path>");
      }
      if (flags.format && !flags.out) throw new UsageError("--format needs --out <path>");
      const store = flags.store ?? storeFromEnv();
      guardFiles(
        [{ flag: "--html", path: flags.html }, { flag: "--out", path: flags.out }],
        [
          { what: "report", path: flags.from },
          configInput(flags.config),
          ...flags.plugin.map((path) => ({ what: "plugin file", path })),
          ...ledgerInputs(store),
        ],
      );
      const report = await readReportFile(flags.from);
      const registry = await registryFor(await loadConfig(flags.config), flags.plugin);
      if (flags.html) {
        await renderReport(registry, report, "html", flags.html, store);
        out(`Wrote "${esc(flags.html)}"`);
      }
      if (flags.format) {
        await renderReport(registry, report, flags.format, flags.out!, store);
        out(`Wrote "${esc(flags.out!)}"`);
      }
    });
}

function storeFromEnv(): string | undefined {
  try {
    const value = Deno.env.get("JRM_STORE");
    return value ? resolveStorePath(undefined, value) : undefined;
  } catch {
    return undefined;
  }
}
