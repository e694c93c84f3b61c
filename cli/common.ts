/**
 * What every command shares: output that respects `--json`, terminals and
 * `NO_COLOR`; key options; limit options.
 *
 * @module
 */

import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import type { ArchiveLimits } from "../core/archive.ts";
import { UsageError } from "../core/errors.ts";
import { createSigner, loadKeyring, singleKeyKeyring } from "../core/keyring.ts";
import type { PluginRegistry } from "../core/plugin.ts";
import {
  type KeyMaterial,
  type Keyring,
  readKeyEnv,
  readKeyFile,
  type Signer,
} from "../core/signer.ts";

const encoder = new TextEncoder();

/** Write text to stdout. */
export function out(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Write one line to stderr. */
export function err(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Print a value as JSON on stdout (two-space indent). */
export function outJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
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

/** ANSI colours, only when stdout is a terminal and `NO_COLOR` is not set. */
export const color = (() => {
  const on = colorEnabled(Deno.stdout);
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
export interface KeyOptions {
  keyFile?: string;
  keyEnv?: string;
  keyring?: string;
  algorithm: string;
  keyId?: string;
}

/** Add `--key-file`, `--key-env`, `--algorithm` and `--key-id` to a command. */
export function withKeyOptions<A extends unknown[], O extends OptionValues>(
  command: Command<A, O>,
) {
  return command
    .option("--key-file <path>", "read the key from a file (HMAC secret, or Ed25519 PEM)")
    .option("--key-env <name>", "read the key from an environment variable")
    .addOption(new Option("--algorithm <name>", "algorithm the key is for").default("hmac-sha256"))
    .option("--key-id <id>", "key id to write or to expect");
}

/** {@link withKeyOptions} plus `--keyring`. */
export function withKeyringOptions<A extends unknown[], O extends OptionValues>(
  command: Command<A, O>,
) {
  return withKeyOptions(command).option(
    "--keyring <path>",
    "keyring file mapping environments and key ids to keys",
  );
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
) {
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
    .option("--max-depth <n>", "deepest JSON nesting", parseCount("--max-depth"));
}

/** The limits the options set (unset ones keep their defaults). */
export function limitsFrom(options: {
  maxEntries?: number;
  maxEntryBytes?: number;
  maxTotalBytes?: number;
  maxRatio?: number;
  maxDepth?: number;
}): Partial<ArchiveLimits> {
  const limits: Partial<ArchiveLimits> = {};
  if (options.maxEntries !== undefined) limits.maxEntries = options.maxEntries;
  if (options.maxEntryBytes !== undefined) limits.maxEntryBytes = options.maxEntryBytes;
  if (options.maxTotalBytes !== undefined) limits.maxTotalBytes = options.maxTotalBytes;
  if (options.maxRatio !== undefined) limits.maxCompressionRatio = options.maxRatio;
  if (options.maxDepth !== undefined) limits.maxJsonDepth = options.maxDepth;
  return limits;
}

/**
 * The time a report is stamped with: `--now`, else `SOURCE_DATE_EPOCH`
 * (seconds), else the current time; so runs can be made byte-identical.
 */
export function resolveNow(flag?: string): string {
  if (flag !== undefined) {
    const time = Date.parse(flag);
    if (Number.isNaN(time)) throw new UsageError(`--now "${flag}" is not an ISO 8601 date-time`);
    return new Date(time).toISOString();
  }
  let epoch: string | undefined;
  try {
    epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  } catch {
    epoch = undefined;
  }
  if (epoch !== undefined && epoch !== "") {
    if (!/^\d+$/.test(epoch)) {
      throw new UsageError(`SOURCE_DATE_EPOCH "${epoch}" is not a whole number of seconds`);
    }
    return new Date(Number(epoch) * 1000).toISOString();
  }
  return new Date().toISOString();
}
