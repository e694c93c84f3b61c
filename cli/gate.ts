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
  resolveSigner,
  setExitCode,
  withKeyOptions,
  withKeyringOptions,
  withLimitOptions,
} from "./common.ts";

/** A gate result as printed with `--json`: no packet bytes. */
export function resultJson(result: GateResult): Record<string, unknown> {
  return {
    source: result.source,
    accepted: result.accepted,
    reasonCode: result.reasonCode,
    signature: result.signature,
    packetName: result.packet?.manifest.packetName ?? null,
    environmentId: result.packet?.manifest.environmentId ?? null,
    digest: result.packet?.digest ?? null,
    violations: result.violations,
  };
}

function printResult(result: GateResult): void {
  const status = result.accepted ? color.green("ACCEPTED") : color.red("REJECTED");
  const signature = result.accepted ? color.dim(` (signature ${result.signature})`) : "";
  out(`${status}  ${esc(result.source)}${signature}`);
  for (const violation of result.violations) {
    out(`  ${color.yellow(violation.code)}  ${esc(violation.message)}`);
  }
}

async function gateFiles(
  registry: PluginRegistry,
  packets: string[],
  options: Parameters<typeof resolveKeyring>[1] & {
    requireSignature?: boolean;
    allowEnv?: string[];
    json?: boolean;
  } & Parameters<typeof limitsFrom>[0],
): Promise<void> {
  if (packets.length === 0) throw new UsageError("Give at least one --packet");
  // No outputs: the guard only clears what an earlier command in this process declared.
  const guard = guardFiles([], []);
  const keyring = await resolveKeyring(registry, options);
  const files = await packetFiles(packets, guard);
  const results: GateResult[] = [];
  for (const file of files) {
    const result = await validateFile(file, {
      keyring,
      requireSignature: options.requireSignature,
      allowedEnvs: options.allowEnv && options.allowEnv.length > 0 ? options.allowEnv : undefined,
      limits: limitsFrom(options),
    });
    results.push(result);
    if (!options.json) printResult(result);
  }
  const rejected = results.filter((r) => !r.accepted).length;
  if (options.json) {
    outJson({
      accepted: results.length - rejected,
      rejected,
      results: results.map(resultJson),
    });
  } else if (results.length > 1) {
    out(`${results.length - rejected} accepted, ${rejected} rejected`);
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

  withLimitOptions(withKeyringOptions(
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
  )).action(async (options) => {
    await gateFiles(registry, options.packet, options as never);
  });

  withKeyringOptions(
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
  ).action(async (options) => {
    if (options.allowEnv.length === 0) throw new UsageError("Give at least one --allow-env");
    await gateFiles(registry, options.packet, options as never);
  });

  withKeyOptions(
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
  ).action(async (options) => {
    if (options.field.length === 0) throw new UsageError("Give at least one --field");
    guardFiles([{ flag: "--out", path: options.out }], [
      { what: "packet", path: options.packet },
      { what: "key file", path: options.keyFile },
    ]);
    const signer = await resolveSigner(registry, options);
    const bytes = await readPacketInput(options.packet);
    // Re-signing must never bless a packet that was not trustworthy to begin with.
    const keyring = signer ? new Keyring([{ environment: "*", signer }]) : undefined;
    const checked = await validate(bytes, { source: options.packet, keyring });
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
  return withKeyOptions(
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
  ).action(async (options) => {
    // Without --out the packet is rewritten in place, on purpose; --out must be another file.
    guardFiles([{ flag: "--out", path: options.out }], [
      { what: "packet", path: options.packet },
      { what: "key file", path: options.keyFile },
    ]);
    const signer = await resolveSigner(registry, options);
    if (!signer) throw new UsageError("Signing needs a key: --key-file or --key-env");
    const bytes = await readPacketInput(options.packet);
    const checked = await validate(bytes, { source: options.packet });
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
  return withKeyringOptions(
    new Command("verify")
      .description("check a packet's signature (and everything the gate checks)")
      .option(
        "--packet <path>",
        "packet file, directory or glob (repeatable)",
        collect,
        [] as string[],
      )
      .option("--json", "print only JSON on stdout"),
  ).action(async (options) => {
    if (!options.keyFile && !options.keyEnv && !options.keyring) {
      throw new UsageError("Verifying needs a key: --key-file, --key-env or --keyring");
    }
    await gateFiles(registry, options.packet, { ...options, requireSignature: true } as never);
  });
}

/** `jrm pack`. */
export function packCommand(registry: PluginRegistry) {
  return withKeyOptions(
    new Command("pack")
      .description("build a packet from a directory holding the six data files")
      .requiredOption("--dir <path>", "directory with the six data files")
      .requiredOption("--env <id>", "environment id")
      .requiredOption("--window-start <iso>", "window start, ISO 8601")
      .requiredOption("--window-end <iso>", "window end, ISO 8601")
      .requiredOption("--part <n>", "part number, from 1", parseCount("--part"))
      .requiredOption("--out <path>", "where to write the packet")
      .option("--signer-id <id>", "signerId to record", "local")
      .option("--json", "print only JSON on stdout"),
  ).action(async (options) => {
    if (options.part < 1) throw new UsageError("--part must be 1 or more");
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
    const checked = await validate(readPacket(bytes, { source: options.out }));
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
