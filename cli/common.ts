/**
 * What every command shares: output that respects `--json`, terminals and
 * `NO_COLOR`; key options; limit options.
 *
 * @module
 */

import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import type { ArchiveLimits } from "../core/archive.ts";
import { type Config, DEFAULT_CONFIG_FILE } from "../core/config.ts";
import { type DetectionLimits, MAX_DETECTOR_TIMEOUT_SECONDS } from "../core/detector_host.ts";
import { type CallerOption, UsageError } from "../core/errors.ts";
import { type ProtectedOutputs, protectOutputs } from "../core/fs.ts";
import { expandPackets } from "../core/inputs.ts";
import { formatInstant, type Instant, instantFromMillis, parseInstant } from "../core/instant.ts";
import { createSigner, loadKeyring, singleKeyKeyring } from "../core/keyring.ts";
import { DEFAULT_MAX_CLOCK_SKEW } from "../core/order.ts";
import type { PluginRegistry } from "../core/plugin.ts";
import { isPostgresUrl } from "../core/store_url.ts";
import { escapeForTerminal, escapeJsonForTerminal, hasTerminalControls } from "../core/text.ts";
import {
  type KeyMaterial,
  type Keyring,
  readKeyEnv,
  readKeyFile,
  type Signer,
} from "../core/signer.ts";

const encoder = new TextEncoder();

/** Whether a reader still listens on each stream; see {@link writeStream}. */
const open = { stdout: true, stderr: true };

/**
 * Write all of `text` to a standard stream. A reader that went away (`jrm
 * federate … | head -1`) stops the printing only: the rest of the run goes on
 * and keeps its own exit code. Nothing can report a failing stderr, so any
 * error there stops printing to it.
 */
function writeStream(name: "stdout" | "stderr", text: string): void {
  if (!open[name]) return;
  const stream = name === "stdout" ? Deno.stdout : Deno.stderr;
  const bytes = encoder.encode(text);
  try {
    // writeSync may write less than it was given.
    for (let done = 0; done < bytes.length;) done += stream.writeSync(bytes.subarray(done));
  } catch (error) {
    if (name === "stdout" && !(error instanceof Deno.errors.BrokenPipe)) throw error;
    open[name] = false;
  }
}

/** Our own colour codes, the only escape sequences printing lets through (and only with colour on). */
// deno-lint-ignore no-control-regex -- matching them is the point
const OWN_COLOUR = /^\x1b\[(?:0|1|2|31|32|33)m$/;
// deno-lint-ignore no-control-regex -- as above
const COLOUR_OR_UNSAFE = /\x1b\[(?:0|1|2|31|32|33)m|[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/**
 * The last line of defence before a stream: every control character left in
 * text to print is escaped but line breaks (where `keepNewlines`) and our own
 * colour codes when colour is on. Callers escape untrusted fields themselves
 * ({@link escapeForTerminal}), so a newline in a field cannot forge a line;
 * this catches whatever a caller missed.
 */
function neutralize(text: string, keepNewlines: boolean, colour: boolean): string {
  if (!hasTerminalControls(text)) return text;
  return text.replace(COLOUR_OR_UNSAFE, (match) => {
    if (match.length > 1 && OWN_COLOUR.test(match)) {
      return colour ? match : escapeForTerminal(match);
    }
    return keepNewlines && match === "\n" ? match : escapeForTerminal(match);
  });
}

/**
 * Write text to stdout (a newline is added when missing). Fields that come
 * from packets, file names or plugins must be passed through
 * {@link escapeForTerminal} first; line breaks between them are kept.
 */
export function out(text: string): void {
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  writeStream("stdout", neutralize(body, true, colourOn) + "\n");
}

/** Write one line to stderr: every control character in it, a newline included, is escaped. */
export function err(text: string): void {
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  writeStream("stderr", neutralize(body, false, false) + "\n");
}

/**
 * Write trusted text (help, a completion script) to stdout as it is, with the
 * same handling of a closed reader as {@link out}.
 */
export function outRaw(text: string): void {
  writeStream("stdout", text);
}

/** Write trusted text to stderr as it is (progress lines); a failing stderr is ignored. */
export function errRaw(text: string): void {
  writeStream("stderr", text);
}

/**
 * Write JSON text to stdout piece by piece, as given (for output too large
 * for one string), escaped as {@link outJson} escapes it; the pieces must not
 * cut a character's escape or a surrogate pair.
 */
export function outJsonChunks(chunks: Iterable<string>): void {
  for (const chunk of chunks) writeStream("stdout", escapeJsonForTerminal(chunk));
}

/**
 * Print a value as JSON on stdout (two-space indent). JSON escapes C0
 * controls itself; DEL, C1 controls, U+2028/U+2029 and format controls such
 * as U+202E, which `JSON.stringify` leaves raw, become `\uXXXX` escapes too,
 * so the value is unchanged and the terminal safe.
 */
export function outJson(value: unknown): void {
  writeStream("stdout", escapeJsonForTerminal(JSON.stringify(value, null, 2)) + "\n");
}

function colorEnabled(stream: { isTerminal(): boolean }): boolean {
  let noColor: string | undefined;
  try {
    noColor = Deno.env.get("NO_COLOR");
  } catch {
    noColor = undefined;
  }
  return stream.isTerminal() && (noColor === undefined || noColor === "");
}

const colourOn = colorEnabled(Deno.stdout);

/** ANSI colours, only when stdout is a terminal and `NO_COLOR` is not set. */
export const color = (() => {
  const on = colourOn;
  const wrap = (code: number) => (text: string) => on ? `\x1b[${code}m${text}\x1b[0m` : text;
  return { red: wrap(31), green: wrap(32), yellow: wrap(33), bold: wrap(1), dim: wrap(2) };
})();

/** Set the process exit code, keeping the worst one seen. */
export function setExitCode(code: number): void {
  if (code > Deno.exitCode) Deno.exitCode = code;
}

/** Append a value to a repeatable option's list. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A whole, non-negative number parser for options. */
export function parseCount(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value)) {
      throw new UsageError(`Option ${name} needs a whole number, not "${value}"`);
    }
    return Number(value);
  };
}

/** Key options shared by the commands that check or make signatures. */
export type KeyOptions = {
  keyFile?: string;
  keyEnv?: string;
  keyring?: string;
  algorithm: string;
  keyId?: string;
};

/** Add `--key-file`, `--key-env`, `--algorithm` and `--key-id` to a command. */
export function withKeyOptions<A extends unknown[], O extends OptionValues>(
  command: Command<A, O>,
): Command<A, O & KeyOptions> {
  // The declared type, not the inferred chain: commander's typings parse every flag string, and
  // nesting helpers whose return types are inferred chains made `deno check` take many minutes.
  return command
    .option("--key-file <path>", "read the key from a file (HMAC secret, or Ed25519 PEM)")
    .option("--key-env <name>", "read the key from an environment variable")
    .addOption(new Option("--algorithm <name>", "algorithm the key is for").default("hmac-sha256"))
    .option("--key-id <id>", "key id to write or to expect") as unknown as Command<
      A,
      O & KeyOptions
    >;
}

/** {@link withKeyOptions} plus `--keyring`. */
export function withKeyringOptions<A extends unknown[], O extends OptionValues>(
  command: Command<A, O>,
): Command<A, O & KeyOptions> {
  return withKeyOptions(command).option(
    "--keyring <path>",
    "keyring file mapping environments and key ids to keys",
  ) as unknown as Command<A, O & KeyOptions>;
}

function keyMaterial(options: KeyOptions): KeyMaterial | Promise<KeyMaterial> | undefined {
  const given = [options.keyFile, options.keyEnv, options.keyring].filter((v) => v !== undefined);
  if (given.length > 1) {
    throw new UsageError("Give only one of --key-file, --key-env and --keyring");
  }
  if (options.keyFile !== undefined) return readKeyFile(options.keyFile, options.keyId);
  if (options.keyEnv !== undefined) return readKeyEnv(options.keyEnv, options.keyId);
  return undefined;
}

/** The keyring the options describe, or undefined when none is configured. Warnings go to stderr. */
export async function resolveKeyring(
  registry: PluginRegistry,
  options: KeyOptions,
): Promise<Keyring | undefined> {
  const material = await keyMaterial(options);
  let keyring: Keyring | undefined;
  if (material) keyring = await singleKeyKeyring(registry, options.algorithm, material);
  else if (options.keyring !== undefined) keyring = await loadKeyring(registry, options.keyring);
  // Warnings go to stderr even with --json: stdout stays pure JSON, nothing is hidden.
  if (keyring) { for (const warning of keyring.warnings) err(`warning: ${warning}`); }
  return keyring;
}

/** The signer the options describe (a single key that can sign), or undefined. */
export async function resolveSigner(
  registry: PluginRegistry,
  options: KeyOptions,
): Promise<Signer | undefined> {
  if (options.keyring !== undefined) {
    throw new UsageError("Signing needs one key (--key-file or --key-env), not a keyring");
  }
  const material = await keyMaterial(options);
  if (!material) return undefined;
  const { signer, warnings } = await createSigner(registry, options.algorithm, material);
  for (const warning of warnings) err(`warning: ${warning}`);
  return signer;
}

/** Add the archive and JSON limit options. */
export function withLimitOptions<A extends unknown[], O extends OptionValues>(
  command: Command<A, O>,
): Command<A, O & LimitOptions> {
  return command
    .option("--max-entries <n>", "most entries in one archive", parseCount("--max-entries"))
    .option(
      "--max-entry-bytes <n>",
      "most bytes one entry may inflate to",
      parseCount("--max-entry-bytes"),
    )
    .option(
      "--max-total-bytes <n>",
      "most bytes one archive may inflate to",
      parseCount("--max-total-bytes"),
    )
    .option("--max-ratio <n>", "highest compression ratio of one entry", parseCount("--max-ratio"))
    .option("--max-depth <n>", "deepest JSON nesting", parseCount("--max-depth"))
    .option(
      "--max-canon-entries <n>",
      "most canon entries in one packet",
      parseCount("--max-canon-entries"),
    ) as unknown as Command<A, O & LimitOptions>;
}

/** The archive and JSON limit options, as {@link withLimitOptions} adds them. */
export type LimitOptions = {
  maxEntries?: number;
  maxEntryBytes?: number;
  maxTotalBytes?: number;
  maxRatio?: number;
  maxDepth?: number;
  maxCanonEntries?: number;
};

/** The limits the options set (unset ones keep their defaults). */
export function limitsFrom(options: LimitOptions): Partial<ArchiveLimits> {
  const limits: Partial<ArchiveLimits> = {};
  if (options.maxEntries !== undefined) limits.maxEntries = options.maxEntries;
  if (options.maxEntryBytes !== undefined) limits.maxEntryBytes = options.maxEntryBytes;
  if (options.maxTotalBytes !== undefined) limits.maxTotalBytes = options.maxTotalBytes;
  if (options.maxRatio !== undefined) limits.maxCompressionRatio = options.maxRatio;
  if (options.maxDepth !== undefined) limits.maxJsonDepth = options.maxDepth;
  if (options.maxCanonEntries !== undefined) limits.maxCanonEntries = options.maxCanonEntries;
  return limits;
}

/** Add `--now` and `--max-clock-skew`: every command that reads packets checks their times against a clock. */
export function withClockOptions<A extends unknown[], O extends OptionValues>(
  command: Command<A, O>,
): Command<A, O & ClockOptions> {
  return command
    .option(
      "--now <time>",
      "the clock (RFC 3339): packets' times are checked against it, outputs stamped with it (default: the current time; SOURCE_DATE_EPOCH stamps outputs only)",
    )
    .option(
      "--max-clock-skew <seconds>",
      `how far a packet's windowEnd or createdAt may be ahead of the clock (default ${DEFAULT_MAX_CLOCK_SKEW})`,
      parseCount("--max-clock-skew"),
    ) as unknown as Command<A, O & ClockOptions>;
}

/** The clock options, as {@link withClockOptions} adds them. */
export type ClockOptions = {
  now?: string;
  maxClockSkew?: number;
};

/** The clock of one run, from `--now` and `--max-clock-skew`. */
export interface RunClock {
  /** The time packets are checked against, RFC 3339: `--now`, else the current time. */
  now: string;
  /** Seconds a packet's times may be ahead of `now`. */
  maxClockSkew: number;
  /** What outputs are stamped with: `--now`, else `SOURCE_DATE_EPOCH`, else `now`. */
  stamp: string;
}

/**
 * The clock of one run. `SOURCE_DATE_EPOCH` only stamps outputs (so runs can
 * be made byte-identical): it never moves the clock packets are checked
 * against. The skew comes from the flag, else the config, else the default.
 * @param flags `--now` and `--max-clock-skew`
 * @param configSkew the config file's `limits.maxClockSkew`, if any
 * @returns the clock
 * @throws UsageError when `--now` is not an RFC 3339 date-time with an offset, or `SOURCE_DATE_EPOCH` not whole seconds
 */
export function resolveRunClock(
  flags: { now?: string; maxClockSkew?: number },
  configSkew?: number,
): RunClock {
  let now: Instant;
  if (flags.now !== undefined) {
    const given = parseInstant(flags.now);
    if (given === undefined) {
      throw new UsageError(
        `--now "${flags.now}" is not an RFC 3339 date-time with an offset (such as 2026-03-01T00:00:00Z)`,
      );
    }
    now = given;
  } else now = instantFromMillis(Date.now());
  const text = formatInstant(now);
  return {
    now: text,
    maxClockSkew: flags.maxClockSkew ?? configSkew ?? DEFAULT_MAX_CLOCK_SKEW,
    stamp: flags.now !== undefined ? text : sourceDateEpoch() ?? text,
  };
}

/** `SOURCE_DATE_EPOCH` as an RFC 3339 time, when set. */
function sourceDateEpoch(): string | undefined {
  let epoch: string | undefined;
  try {
    epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  } catch {
    epoch = undefined;
  }
  if (epoch === undefined || epoch === "") return undefined;
  // Up to 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
  if (!/^\d+$/.test(epoch) || Number(epoch) > 253402300799) {
    throw new UsageError(`SOURCE_DATE_EPOCH "${epoch}" is not a whole number of seconds`);
  }
  return formatInstant({ seconds: Number(epoch), fraction: "" });
}

/** One input of a command, for {@link guardFiles}: what it is and its path (undefined: not given). */
export interface CommandInput {
  what: string;
  path: string | undefined;
}

/**
 * Declare a command's outputs and refuse, before anything is read, any output
 * that is another output or one of the inputs (packets, keys, config, ledger,
 * plugins, reports). Files read later through core/fs.ts (the key files a
 * keyring names, a config's plugins) are checked as they are read.
 * @param outputs the outputs, by flag
 * @param inputs the inputs known now
 * @returns the protected outputs
 */
export function guardFiles(
  outputs: { flag: string; path: string | undefined }[],
  inputs: CommandInput[],
): ProtectedOutputs {
  const guard = protectOutputs(outputs);
  for (const { what, path } of inputs) {
    if (path === undefined || path === "") continue;
    guard.checkInput(path, what);
  }
  return guard;
}

/** The inputs every command with `--config` reads: the config named, or the default one when present. */
export function configInput(path: string | undefined): CommandInput {
  if (path !== undefined) return { what: "config", path };
  try {
    Deno.lstatSync(DEFAULT_CONFIG_FILE);
    return { what: "config", path: DEFAULT_CONFIG_FILE };
  } catch {
    return { what: "config", path: undefined };
  }
}

/** A ledger and the files SQLite keeps beside it (none for a PostgreSQL store). */
export function ledgerInputs(path: string | undefined): CommandInput[] {
  if (path === undefined || isPostgresUrl(path)) return [];
  return ["", "-wal", "-shm", "-journal"].map((suffix) => ({
    what: "ledger",
    path: path + suffix,
  }));
}

/**
 * Expand packet inputs (files, directories, globs), print the links followed
 * on stderr (escaped), and refuse any packet that is one of the outputs.
 * @param inputs what `--packet`/`--packets` gave
 * @param guard the command's outputs
 * @returns the packet files
 */
export async function packetFiles(inputs: string[], guard: ProtectedOutputs): Promise<string[]> {
  const { files, warnings } = await expandPackets(inputs);
  for (const warning of warnings) err(`warning: ${escapeForTerminal(warning.message)}`);
  for (const file of files) guard.checkInput(file, "packet");
  return files;
}

/** Add `--detector-timeout` and `--max-findings`, the bounds of every detector, to a command. */
export function withDetectionOptions<A extends unknown[], O extends OptionValues>(
  command: Command<A, O>,
): Command<A, O & DetectionOptions> {
  // Declared, not inferred: see withKeyOptions.
  return command
    .option(
      "--detector-timeout <seconds>",
      "time budget of each detector, from the start of detect (default: 60)",
      parseSeconds("--detector-timeout"),
    )
    .option(
      "--max-findings <n>",
      "most findings one detector may return (default: 100000)",
      parsePositiveCount("--max-findings"),
    ) as unknown as Command<A, O & DetectionOptions>;
}

/** The detection options, as {@link withDetectionOptions} adds them. */
export type DetectionOptions = {
  detectorTimeout?: number;
  maxFindings?: number;
};

/**
 * The detection limits from the flags, else the config file, else the
 * defaults. The CLI always runs with `--unstable-worker-options` (deno.json,
 * `deno task compile`), so a detector's worker gets permissions of its own.
 */
export function detectionLimitsFrom(
  flags: DetectionOptions,
  config: Pick<Config, "detectorTimeout" | "maxFindings">,
): DetectionLimits {
  return {
    timeoutSeconds: flags.detectorTimeout ?? config.detectorTimeout,
    maxFindings: flags.maxFindings ?? config.maxFindings,
    restrictWorkers: true,
  };
}

function parseSeconds(name: string): (value: string) => number {
  return (value: string) => {
    const seconds = Number(value);
    if (
      !/^\d+(\.\d+)?$/.test(value) || !(seconds > 0) || seconds > MAX_DETECTOR_TIMEOUT_SECONDS
    ) {
      throw new UsageError(
        `Option ${name} needs a number of seconds above 0 and at most ${MAX_DETECTOR_TIMEOUT_SECONDS}, not "${value}"`,
      );
    }
    return seconds;
  };
}

function parsePositiveCount(name: string): (value: string) => number {
  return (value: string) => {
    const count = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(count) || count < 1) {
      throw new UsageError(`Option ${name} needs a whole number of at least 1, not "${value}"`);
    }
    return count;
  };
}

/** The CLI's flags for each setting a kernel error or violation can be about. */
const OPTION_FLAGS: Record<CallerOption, string> = {
  keyring: "--key-file, --key-env or --keyring",
  ledger: "--store",
  reason: "--reason",
  by: "--by",
  assumeOffset: "--assume-offset",
};

/**
 * A kernel message in the CLI's words: kernel messages name no flag, so the
 * flag of the setting they are about (their `option`) is added in parentheses.
 * @param message the kernel's message
 * @param option the setting it is about, if any
 * @returns the message for a CLI user
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withFlagHint } from "./common.ts";
 * assert.equal(withFlagHint("Declining needs a reason", "reason"), "Declining needs a reason (--reason)");
 * assert.equal(withFlagHint("Bad input", undefined), "Bad input");
 * ```
 */
export function withFlagHint(message: string, option: CallerOption | undefined): string {
  return option === undefined ? message : `${message} (${OPTION_FLAGS[option]})`;
}
