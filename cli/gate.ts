/**
 * The trust-layer commands: `gate validate`, `gate scope`, `gate redact`,
 * `sign`, `verify` and `pack`.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import { readInputFile, writeFileAtomic } from "../core/fs.ts";
import { resolveLimits } from "../core/archive.ts";
import { type GateResult, redact, validate, validateFile } from "../core/gate.ts";
import { parseInstant } from "../core/instant.ts";
import {
  equivocationViolation,
  judgeEquivocation,
  type PacketCandidate,
  packetOrderKey,
  samePacketKey,
} from "../core/order.ts";
import { DATA_FILES, readPacket } from "../core/packet.ts";
import type { PluginRegistry } from "../core/plugin.ts";
import { Keyring } from "../core/signer.ts";
import { escapeForTerminal as esc } from "../core/text.ts";
import { assemble, buildPacket, signManifest } from "../core/writer.ts";
import {
  collect,
  color,
  err,
  guardFiles,
  limitsFrom,
  out,
  outJson,
  packetFiles,
  parseCount,
  resolveKeyring,
  resolveRunClock,
  resolveSigner,
  setExitCode,
  withClockOptions,
  withFlagHint,
  withKeyOptions,
  withKeyringOptions,
  withLimitOptions,
} from "./common.ts";

/** A gate result as printed with `--json`: no packet bytes. */
export function resultJson(result: GateResult): Record<string, unknown> {
  return checkedJson({
    result,
    packetName: result.packet?.manifest.packetName ?? null,
    environmentId: result.packet?.manifest.environmentId ?? null,
    digest: result.packet?.digest ?? null,
  });
}

function printResult(result: GateResult): void {
  const status = result.accepted ? color.green("ACCEPTED") : color.red("REJECTED");
  const signature = result.accepted ? color.dim(` (signature ${result.signature})`) : "";
  out(`${status}  ${esc(result.source)}${signature}`);
  for (const violation of result.violations) {
    out(
      `  ${color.yellow(violation.code)}  ${
        esc(withFlagHint(violation.message, violation.option))
      }`,
    );
  }
}

/** One packet's verdict as `gate validate` prints it, without the packet's bytes. */
interface Checked {
  result: GateResult;
  packetName: string | null;
  environmentId: string | null;
  digest: string | null;
}

function checkedJson(checked: Checked): Record<string, unknown> {
  return {
    source: checked.result.source,
    accepted: checked.result.accepted,
    reasonCode: checked.result.reasonCode,
    signature: checked.result.signature,
    packetName: checked.packetName,
    environmentId: checked.environmentId,
    digest: checked.digest,
    violations: checked.result.violations,
  };
}

async function gateFiles(
  registry: PluginRegistry,
  packets: string[],
  options: Parameters<typeof resolveKeyring>[1] & {
    requireSignature?: boolean;
    allowEnv?: string[];
    json?: boolean;
    now?: string;
    maxClockSkew?: number;
  } & Parameters<typeof limitsFrom>[0],
): Promise<void> {
  if (packets.length === 0) throw new UsageError("Give at least one --packet");
  const clock = resolveRunClock(options);
  // No outputs: the guard only clears what an earlier command in this process declared.
  const guard = guardFiles([], []);
  const keyring = await resolveKeyring(registry, options);
  const files = await packetFiles(packets, guard);
  const checked: Checked[] = [];
  const candidates: { index: number; candidate: PacketCandidate }[] = [];
  for (const file of files) {
    const { packet, ...result } = await validateFile(file, {
      keyring,
      requireSignature: options.requireSignature,
      allowedEnvs: options.allowEnv && options.allowEnv.length > 0 ? options.allowEnv : undefined,
      limits: limitsFrom(options),
      now: clock.now,
      maxClockSkew: clock.maxClockSkew,
    });
    const orderKey = packet && packetOrderKey(packet.manifest);
    if (result.accepted && packet && orderKey) {
      candidates.push({
        index: checked.length,
        candidate: {
          source: file,
          digest: packet.digest,
          orderKey,
          sameness: samePacketKey(packet.manifestTree),
        },
      });
    }
    checked.push({
      result,
      packetName: packet?.manifest.packetName ?? null,
      environmentId: packet?.manifest.environmentId ?? null,
      digest: packet?.digest ?? null,
    });
  }
  // Packets that passed every check may still contradict each other: judged among them all.
  const verdicts = judgeEquivocation(candidates.map((c) => c.candidate));
  verdicts.forEach((verdict, i) => {
    if (verdict.kind !== "equivocation") return;
    const item = checked[candidates[i].index];
    const violation = equivocationViolation(
      { packetName: item.packetName!, environmentId: item.environmentId! },
      verdict.conflictsWith,
    );
    item.result = {
      ...item.result,
      accepted: false,
      reasonCode: violation.code,
      violations: [...item.result.violations, violation],
    };
  });
  const rejected = checked.filter((c) => !c.result.accepted).length;
  if (options.json) {
    outJson({
      accepted: checked.length - rejected,
      rejected,
      results: checked.map(checkedJson),
    });
  } else {
    for (const item of checked) printResult(item.result);
    if (checked.length > 1) out(`${checked.length - rejected} accepted, ${rejected} rejected`);
  }
  if (!keyring) {
    err("warning: no key configured; signatures were not checked (use --key-file or --keyring)");
  }
  if (rejected > 0) setExitCode(1);
}

/** The `gate` command group. */
export function gateCommand(registry: PluginRegistry) {
  const gate = new Command("gate").description(
    "decide whether packets can be trusted: integrity, signature, scope, redaction",
  );

  withClockOptions(withLimitOptions(withKeyringOptions(
    gate.command("validate")
      .description("check packets: archive safety, schemas, hashes, names and signatures")
      .option(
        "--packet <path>",
        "packet file, directory or glob (repeatable)",
        collect,
        [] as string[],
      )
      .option("--require-signature", "reject unsigned packets (needs a key)")
      .option(
        "--allow-env <env>",
        "accept only these environments (repeatable)",
        collect,
        [] as string[],
      )
      .option("--json", "print only JSON on stdout"),
  ))).action(async (options) => {
    await gateFiles(registry, options.packet, options as never);
  });

  withClockOptions(withKeyringOptions(
    gate.command("scope")
      .description("check that packets come from allowed environments")
      .option(
        "--packet <path>",
        "packet file, directory or glob (repeatable)",
        collect,
        [] as string[],
      )
      .option("--allow-env <env>", "an allowed environment (repeatable)", collect, [] as string[])
      .option("--json", "print only JSON on stdout"),
  )).action(async (options) => {
    if (options.allowEnv.length === 0) throw new UsageError("Give at least one --allow-env");
    await gateFiles(registry, options.packet, options as never);
  });

  withClockOptions(withKeyOptions(
    gate.command("redact")
      .description('write a copy of a packet with sensitive fields replaced by "[REDACTED]"')
      .requiredOption("--packet <path>", "the packet to redact (left untouched)")
      .requiredOption("--out <path>", "where to write the redacted packet")
      .option(
        "--field <name>",
        "field to redact, at any depth (repeatable)",
        collect,
        [] as string[],
      )
      .option("--json", "print only JSON on stdout"),
  )).action(async (options) => {
    if (options.field.length === 0) throw new UsageError("Give at least one --field");
    const clock = resolveRunClock(options);
    guardFiles([{ flag: "--out", path: options.out }], [
      { what: "packet", path: options.packet },
      { what: "key file", path: options.keyFile },
    ]);
    const signer = await resolveSigner(registry, options);
    const bytes = await readPacketInput(options.packet);
    // Re-signing must never bless a packet that was not trustworthy to begin with.
    const keyring = signer ? new Keyring([{ environment: "*", signer }]) : undefined;
    const checked = await validate(bytes, {
      source: options.packet,
      keyring,
      now: clock.now,
      maxClockSkew: clock.maxClockSkew,
    });
    if (!checked.accepted) {
      if (options.json) outJson({ redacted: false, input: resultJson(checked) });
      else printResult(checked);
      throw new UsageError(
        `Packet "${options.packet}" was rejected (${checked.reasonCode}); not redacting it`,
        1,
      );
    }
    const { bytes: redacted, replaced } = await redact(checked.packet!, options.field, { signer });
    await writeFileAtomic(options.out, redacted);
    const total = Object.values(replaced).reduce((a, b) => a + b, 0);
    if (options.json) {
      outJson({ redacted: true, out: options.out, replaced, signed: signer !== undefined });
    } else {
      out(
        `Wrote "${esc(options.out)}": ${total} value(s) redacted${
          Object.entries(replaced).map(([f, n]) => `, ${n} in ${esc(f)}`).join("")
        }; ${signer ? "re-signed" : "signature removed (no key given)"}`,
      );
    }
  });
  return gate;
}

/** A packet a command rewrites: unreadable is a usage error, bounded as every packet read. */
function readPacketInput(path: string): Promise<Uint8Array> {
  return readInputFile(path, "packet", resolveLimits().maxTotalBytes);
}

/** `jrm sign`. */
export function signCommand(registry: PluginRegistry) {
  return withClockOptions(withKeyOptions(
    new Command("sign")
      .description("sign a packet's manifest (rewrites the packet atomically)")
      .requiredOption("--packet <path>", "the packet to sign")
      .option("--out <path>", "write the signed packet here instead of rewriting the input")
      .option("--signer-id <id>", "signerId to record", "local")
      .addOption(
        new Option("--canonicalization <form>", "canonical form to sign")
          .choices(["deepsigma-v1", "jcs"] as const).default("deepsigma-v1" as const),
      )
      .option("--json", "print only JSON on stdout"),
  )).action(async (options) => {
    const clock = resolveRunClock(options);
    // Without --out the packet is rewritten in place, on purpose; --out must be another file.
    guardFiles([{ flag: "--out", path: options.out }], [
      { what: "packet", path: options.packet },
      { what: "key file", path: options.keyFile },
    ]);
    const signer = await resolveSigner(registry, options);
    if (!signer) throw new UsageError("Signing needs a key: --key-file or --key-env");
    const bytes = await readPacketInput(options.packet);
    const checked = await validate(bytes, {
      source: options.packet,
      now: clock.now,
      maxClockSkew: clock.maxClockSkew,
    });
    if (!checked.accepted) {
      if (!options.json) printResult(checked);
      throw new UsageError(
        `Packet "${options.packet}" was rejected (${checked.reasonCode}); not signing it`,
        1,
      );
    }
    const packet = checked.packet!;
    const manifest = await signManifest(packet.manifestTree, signer, {
      signerId: options.signerId,
      keyId: options.keyId,
      canonicalization: options.canonicalization,
    });
    const target = options.out ?? options.packet;
    await writeFileAtomic(target, await assemble(manifest, packet.entries));
    if (options.json) outJson({ signed: true, out: target, signature: manifest.signature });
    else {out(
        `Signed "${esc(target)}" with ${esc(signer.algorithm)}${
          options.keyId ? ` (key id "${esc(options.keyId)}")` : ""
        }`,
      );}
  });
}

/** `jrm verify`. */
export function verifyCommand(registry: PluginRegistry) {
  return withClockOptions(withKeyringOptions(
    new Command("verify")
      .description("check a packet's signature (and everything the gate checks)")
      .option(
        "--packet <path>",
        "packet file, directory or glob (repeatable)",
        collect,
        [] as string[],
      )
      .option("--json", "print only JSON on stdout"),
  )).action(async (options) => {
    if (!options.keyFile && !options.keyEnv && !options.keyring) {
      throw new UsageError("Verifying needs a key: --key-file, --key-env or --keyring");
    }
    await gateFiles(registry, options.packet, { ...options, requireSignature: true } as never);
  });
}

/** `jrm pack`. */
export function packCommand(registry: PluginRegistry) {
  return withClockOptions(withKeyOptions(
    new Command("pack")
      .description("build a packet from a directory holding the six data files")
      .requiredOption("--dir <path>", "directory with the six data files")
      .requiredOption("--env <id>", "environment id")
      .requiredOption("--window-start <time>", "window start, RFC 3339 (e.g. 2026-02-28T10:00:00Z)")
      .requiredOption("--window-end <time>", "window end, RFC 3339")
      .requiredOption("--part <n>", "part number, from 1", parseCount("--part"))
      .requiredOption("--out <path>", "where to write the packet")
      .option("--signer-id <id>", "signerId to record", "local")
      .option("--json", "print only JSON on stdout"),
  )).action(async (options) => {
    if (options.part < 1) throw new UsageError("--part must be 1 or more");
    for (
      const [flag, value] of [["--window-start", options.windowStart], [
        "--window-end",
        options.windowEnd,
      ]]
    ) {
      if (parseInstant(value) === undefined) {
        throw new UsageError(
          `${flag} "${value}" is not an RFC 3339 date-time with an offset (such as 2026-02-28T10:00:00Z)`,
        );
      }
    }
    const clock = resolveRunClock(options);
    guardFiles([{ flag: "--out", path: options.out }], [
      ...DATA_FILES.map((name) => ({ what: "data file", path: `${options.dir}/${name}` })),
      { what: "key file", path: options.keyFile },
    ]);
    const signer = await resolveSigner(registry, options);
    const files = new Map<string, Uint8Array>();
    // A data file becomes one entry: it may not be larger than an entry may inflate to.
    const maxBytes = resolveLimits().maxEntryBytes;
    for (const name of DATA_FILES) {
      files.set(name, await readInputFile(`${options.dir}/${name}`, "data file", maxBytes));
    }
    const { name, bytes } = await buildPacket(files, {
      environmentId: options.env,
      windowStart: options.windowStart,
      windowEnd: options.windowEnd,
      part: options.part,
      signer,
      sign: { signerId: options.signerId, keyId: options.keyId },
    });
    const checked = await validate(readPacket(bytes, { source: options.out }), {
      now: clock.now,
      maxClockSkew: clock.maxClockSkew,
    });
    if (!checked.accepted) {
      if (!options.json) printResult(checked);
      throw new UsageError(
        `The files in "${options.dir}" do not make a valid packet (${checked.reasonCode})`,
        1,
      );
    }
    await writeFileAtomic(options.out, bytes);
    if (options.json) {
      outJson({ packed: true, out: options.out, packetName: name, signed: !!signer });
    } else {out(
        `Wrote "${esc(options.out)}" (${esc(name)}${
          signer ? `, signed with ${esc(signer.algorithm)}` : ", unsigned"
        })`,
      );}
  });
}
