/**
 * `jrm migrate`: turn packets built by the reference pipeline into packets
 * in the spec's form (core/migrate.ts), each written atomically to
 * `DIR/<packetName>.zip`. An identical file already there is left as it is;
 * a different one is never overwritten.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import { writeNewFileAtomic } from "../core/fs.ts";
import { createSigner } from "../core/keyring.ts";
import {
  isUtcOffset,
  migrateFile,
  MIGRATION_SIGNER_ID,
  type MigrationResult,
} from "../core/migrate.ts";
import type { PluginRegistry } from "../core/plugin.ts";
import { readKeyFile, type Signer } from "../core/signer.ts";
import { escapeForTerminal } from "../core/text.ts";
import {
  color,
  err,
  guardFiles,
  limitsFrom,
  out,
  outJson,
  packetFiles,
  resolveKeyring,
  resolveRunClock,
  setExitCode,
  withClockOptions,
  withFlagHint,
  withKeyringOptions,
  withLimitOptions,
} from "./common.ts";

/** What happened to one packet. */
type Outcome = "migrated" | "unchanged" | "refused";

/** One packet's line of the summary. */
interface Migrated {
  result: MigrationResult;
  outcome: Outcome;
  /** The output file, when there is one (written now, or found identical). */
  out: string | null;
}

/**
 * The `migrate` command.
 * @param registry the plugins (signers)
 * @returns the commander command
 * @example
 * ```ts
 * import { migrateCommand } from "./migrate.ts";
 * import { builtinRegistry } from "../plugins/builtin.ts";
 * import assert from "node:assert/strict";
 * assert.equal(migrateCommand(builtinRegistry()).name(), "migrate");
 * ```
 */
export function migrateCommand(registry: PluginRegistry) {
  return withClockOptions(withLimitOptions(withKeyringOptions(
    new Command("migrate")
      .description(
        "rewrite packets built by the reference pipeline (snake_case manifest) in the spec's form",
      )
      .option("--packets <paths...>", "legacy packet files, directories or globs")
      .requiredOption("--out-dir <dir>", "where the migrated packets go, as <packetName>.zip")
      .option(
        "--sign-key-file <path>",
        "sign the migrated manifests with this key instead of each environment's",
      )
      .addOption(
        new Option("--sign-algorithm <name>", "algorithm of --sign-key-file").default(
          "hmac-sha256",
        ),
      )
      .option("--sign-key-id <id>", "key id to record with --sign-key-file")
      .option("--allow-unsigned", "migrate packets that carry no signature (recorded as null)")
      .option(
        "--assume-offset <+hh:mm>",
        "UTC offset of legacy times written without one (never assumed otherwise)",
        parseOffset,
      )
      .option("--json", "print only JSON on stdout"),
  ))).action(async (options) => {
    const packets = options.packets ?? [];
    const clock = resolveRunClock(options);
    if (packets.length === 0) {
      throw new UsageError("Give at least one legacy packet with --packets");
    }
    if (options.signKeyFile === undefined && options.signKeyId !== undefined) {
      throw new UsageError("--sign-key-id needs --sign-key-file");
    }
    // Outputs are made with a link, never over an existing file, so no input can be overwritten.
    const guard = guardFiles([], []);
    const keyring = await resolveKeyring(registry, options);
    if (!keyring && !options.allowUnsigned) {
      throw new UsageError(
        "Migrating checks each packet's signature with its environment's key: give --keyring, --key-file or --key-env (or --allow-unsigned for packets that carry none)",
      );
    }
    const signer = options.signKeyFile === undefined
      ? undefined
      : await signingKey(registry, options.signKeyFile, options.signAlgorithm, options.signKeyId);
    const files = await packetFiles(packets, guard);
    const done: Migrated[] = [];
    for (const file of files) {
      const result = await migrateFile(file, {
        keyring,
        allowUnsigned: options.allowUnsigned,
        signer,
        signKeyId: options.signKeyId,
        assumeOffset: options.assumeOffset,
        limits: limitsFrom(options),
        now: clock.now,
        maxClockSkew: clock.maxClockSkew,
      });
      const migrated = await place(result, options.outDir);
      done.push(migrated);
      if (!options.json) printMigrated(migrated);
    }
    const count = (outcome: Outcome) => done.filter((m) => m.outcome === outcome).length;
    const refused = count("refused");
    if (options.json) {
      outJson({
        accepted: done.length - refused,
        rejected: refused,
        migrated: count("migrated"),
        unchanged: count("unchanged"),
        outDir: options.outDir,
        results: done.map(migratedJson),
      });
    } else if (done.length > 1) {
      out(`${count("migrated")} migrated, ${count("unchanged")} unchanged, ${refused} refused`);
    }
    if (!keyring) {
      err(
        "warning: no key configured; only unsigned packets were migrated" +
          (signer ? "" : ", and they stay unsigned"),
      );
    }
    if (refused > 0) setExitCode(1);
  });
}

function parseOffset(value: string): string {
  if (!isUtcOffset(value)) {
    throw new UsageError(
      `--assume-offset needs a UTC offset written ±hh:mm (e.g. +00:00 or -05:00), not "${value}"`,
    );
  }
  return value;
}

async function signingKey(
  registry: PluginRegistry,
  path: string,
  algorithm: string,
  keyId: string | undefined,
): Promise<Signer> {
  const created = await createSigner(registry, algorithm, await readKeyFile(path, keyId));
  for (const warning of created.warnings) err(`warning: ${warning}`);
  if (!created.signer.canSign) {
    throw new UsageError(
      `The ${algorithm} key in "${path}" is a public key; --sign-key-file needs one that can sign`,
    );
  }
  return created.signer;
}

/** Write a migrated packet to its place, never over a different file. */
async function place(result: MigrationResult, outDir: string): Promise<Migrated> {
  if (!result.accepted) return { result, outcome: "refused", out: null };
  const target = `${outDir.replace(/\/+$/, "") || "/"}/${result.packetName}.zip`;
  const written = await writeNewFileAtomic(target, result.bytes!);
  if (written === "written") return { result, outcome: "migrated", out: target };
  if (written === "identical") return { result, outcome: "unchanged", out: target };
  const violation = {
    code: "MIGRATE_OUTPUT_CONFLICT" as const,
    message:
      `"${target}" already exists and differs from this packet's migration; it is left as it is`,
  };
  return {
    result: { ...result, accepted: false, reasonCode: violation.code, violations: [violation] },
    outcome: "refused",
    out: null,
  };
}

/** One packet as `--json` gives it: the gate's result fields, plus where it went. */
function migratedJson({ result, outcome, out }: Migrated): Record<string, unknown> {
  return {
    source: result.source,
    accepted: result.accepted,
    reasonCode: result.reasonCode,
    signature: result.signature,
    packetName: result.packetName,
    environmentId: result.environmentId,
    digest: result.digest ?? null,
    violations: result.violations,
    status: outcome,
    out,
    legacySignature: result.legacySignature,
    migratedFrom: result.migratedFrom ?? null,
  };
}

/** Packet data and file names reach the terminal only with their controls escaped. */
const safe = escapeForTerminal;

function printMigrated({ result, outcome, out: target }: Migrated): void {
  if (outcome === "refused") {
    out(`${color.red("REFUSED")}   ${safe(result.source)}`);
    for (const violation of result.violations) {
      out(
        `  ${color.yellow(violation.code)}  ${
          safe(withFlagHint(violation.message, violation.option))
        }`,
      );
    }
    return;
  }
  const legacy = result.legacySignature === "verified"
    ? "legacy signature verified"
    : color.yellow("legacy packet UNSIGNED (--allow-unsigned)");
  const signature = result.manifest?.signature as { algorithm: string } | undefined;
  const now = signature
    ? `signed ${safe(signature.algorithm)} by "${MIGRATION_SIGNER_ID}"`
    : color.yellow("left unsigned (no key)");
  const label = outcome === "migrated" ? color.green("MIGRATED ") : color.dim("UNCHANGED");
  const note = outcome === "unchanged" ? "already there, identical; " : "";
  out(
    `${label} ${safe(result.source)} -> ${safe(target!)} ${
      color.dim(`(${note}${legacy}; ${now})`)
    }`,
  );
}
