/**
 * `jrm`: the command-line entry. Parses flags, loads plugins, prints and
 * exits; everything else lives in the library.
 *
 * Exit codes: 0 success, 1 a packet was rejected or a command failed,
 * 2 bad usage (flags, missing files, bad config).
 *
 * @module
 */

// First: may start the hub's workers before the modules below load (see cli/early.ts).
import "./cli/early.ts";
import { Command, CommanderError } from "@commander-js/extra-typings";
import { PacketError, PluginError, UsageError } from "./core/errors.ts";
import { builtinRegistry } from "./plugins/builtin.ts";
import { err, errRaw, outRaw, withFlagHint } from "./cli/common.ts";
import { cleanUpOnSignals } from "./cli/signals.ts";
import { advisoryCommand } from "./cli/advisory.ts";
import { completionsCommand } from "./cli/completions.ts";
import { federateCommand, hubCommand, pluginsCommand } from "./cli/federate.ts";
import { hubIngestCommand, hubReportCommand, hubStatusCommand } from "./cli/hub.ts";
import { hubServeCommand } from "./cli/serve.ts";
import { reportCommand } from "./cli/report.ts";
import { gateCommand, packCommand, signCommand, verifyCommand } from "./cli/gate.ts";
import { migrateCommand } from "./cli/migrate.ts";
import { storeCommand } from "./cli/store.ts";

/** The tool's version, as `jrm --version` prints it. */
export const VERSION = "0.1.0";

/**
 * Build the `jrm` program.
 * @returns the commander program, not yet parsed
 */
export function buildProgram() {
  const registry = builtinRegistry();
  const program = new Command("jrm")
    .description("Federation layer for JRM-X packets: trust gate, drift hub, advisories")
    .version(VERSION, "-V, --version", "print the version")
    .option("--debug", "print stack traces for errors")
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false })
    .exitOverride();
  for (
    const command of [
      federateCommand(),
      gateCommand(registry),
      signCommand(registry),
      verifyCommand(registry),
      packCommand(registry),
      migrateCommand(registry),
      hubCommand(hubIngestCommand(), hubReportCommand(), hubStatusCommand(), hubServeCommand()),
      advisoryCommand(),
      storeCommand(),
      reportCommand(),
      pluginsCommand(),
      completionsCommand(),
    ]
  ) {
    program.addCommand(command);
  }
  const exitOverride = (command: Command<unknown[], Record<string, unknown>>) => {
    command.exitOverride();
    // Errors stay on one line: commander puts its "Did you mean" hint on a second one.
    command.configureOutput({
      // Help is ours; errors quote the command line, so err() escapes them.
      writeOut: outRaw,
      writeErr: errRaw,
      outputError: (text) => err(text.trimEnd().replace(/\s*\n\s*/g, " ")),
    });
    for (const sub of command.commands) exitOverride(sub as never);
  };
  exitOverride(program as never);
  return program;
}

/**
 * Run the CLI with arguments; returns the exit code.
 * @param args the command-line arguments
 * @returns 0, 1 or 2
 */
export async function main(args: string[]): Promise<number> {
  // A run ended by SIGINT or SIGTERM leaves no temporary output file behind.
  using _signals = cleanUpOnSignals();
  const debug = args.includes("--debug");
  try {
    await buildProgram().parseAsync(args, { from: "user" });
    return Deno.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === "commander.helpDisplayed" || error.code === "commander.version" ||
        error.code === "commander.help"
      ) {
        return 0;
      }
      return 2;
    }
    if (debug) printStack(error);
    if (error instanceof UsageError) {
      if (!debug) err(`error: ${withFlagHint(error.message, error.option)}`);
      return error.exitCode;
    }
    if (error instanceof PluginError || error instanceof PacketError) {
      if (!debug) err(`error: ${error.message}`);
      return 1;
    }
    if (!debug) {
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      err(`error: ${message} (run with --debug for details)`);
    }
    return 1;
  }
}

/** The error on one escaped line (its message may quote a packet), then its stack frames. */
function printStack(error: unknown): void {
  const head = String(error);
  const stack = error instanceof Error ? error.stack ?? head : head;
  err(head);
  const frames = stack.startsWith(head) ? stack.slice(head.length) : stack;
  for (const line of frames.split("\n")) if (line.trim() !== "") err(line);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
