/**
 * The gate: whether a packet can be trusted.
 *
 * {@link validate} checks everything the packet format promises (archive
 * safety, schemas, hashes, environment and name agreement, no time in the
 * future) and, when keys are configured, the signature. {@link enforceScope}
 * limits accepted packets to a set of environments. {@link redact} makes a
 * new packet with sensitive fields replaced, hashes recomputed and the
 * signature renewed or removed.
 *
 * @module
 */

import type { ArchiveLimits } from "./archive.ts";
import { type CanonicalForm, parseLossless } from "./canonical_json.ts";
import { UsageError, type Violation } from "./errors.ts";
import {
  type Manifest,
  MANIFEST_FILE,
  type Packet,
  readPacket,
  type ReadResult,
} from "./packet.ts";
import { inspect, type Inspection, readPacketFile } from "./inspect.ts";
import { futureTimeViolations, resolveClock } from "./order.ts";
// The schemas that decide what the reader's plain checks refuse: loaded wherever the gate is.
import "./packet_schemas.ts";
import { FALLBACK_ENVIRONMENT, type Keyring, type Signer } from "./signer.ts";
import {
  assemble,
  CANONICAL_FORMS,
  describeFiles,
  signManifest,
  type SignOptions,
} from "./writer.ts";

/** Canon entries as JSON text (defined with the packet reader). */
export type { CanonTexts } from "./packet.ts";
export { inspect, inspectFile, readPacketFile } from "./inspect.ts";
export type { Inspection } from "./inspect.ts";

/** What was found of a packet's signature. */
export type SignatureStatus =
  /** checked against a configured key and valid */
  | "verified"
  /** the packet carries no signature */
  | "unsigned"
  /** signed, but no key was configured, so not checked */
  | "unchecked"
  /** checked and not valid (see the violations) */
  | "invalid";

/** The gate's verdict on one packet. */
export interface GateResult {
  /** Where the packet came from. */
  source: string;
  /** Whether the packet can be trusted. */
  accepted: boolean;
  /** `ACCEPTED`, or the code of the first violation. */
  reasonCode: string;
  /** Every violation found, each with a stable code and a message. */
  violations: Violation[];
  /** What was found of the signature. */
  signature: SignatureStatus;
  /** The packet, when it could be read (also when it was rejected for hashes, scope or signature). */
  packet?: Packet;
}

/** Options for {@link validate}. */
export interface GateOptions {
  /** Where the bytes came from, for messages (when validating bytes). */
  source?: string;
  /** Keys to check signatures with. When set, an unsigned packet is rejected. */
  keyring?: Keyring;
  /** Reject unsigned packets; needs a keyring (a signature nobody can check is no proof). */
  requireSignature?: boolean;
  /** When given, packets of any other environment get `SCOPE_VIOLATION`. */
  allowedEnvs?: readonly string[];
  /** Archive and JSON limits. */
  limits?: Partial<ArchiveLimits>;
  /**
   * The clock's time, RFC 3339: a `windowEnd` or `createdAt` later than it
   * plus {@link GateOptions.maxClockSkew} gets `WINDOW_IN_FUTURE`. Default:
   * the current time.
   */
  now?: string;
  /** How far ahead of the clock (whole seconds) a packet's times may be; default 900. */
  maxClockSkew?: number;
}

function verdict(
  source: string,
  violations: Violation[],
  signature: SignatureStatus,
  packet?: Packet,
): GateResult {
  return {
    source,
    accepted: violations.length === 0,
    reasonCode: violations[0]?.code ?? "ACCEPTED",
    violations,
    signature,
    packet,
  };
}

/**
 * Decide whether a packet can be trusted.
 * @param input archive bytes, or the result of {@link readPacket}
 * @param options keys, scope and limits
 * @returns the verdict, with every violation found
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validate } from "./gate.ts";
 * const result = await validate(new Uint8Array([1, 2, 3]), { source: "junk.zip" });
 * assert(!result.accepted);
 * assert.equal(result.reasonCode, "ARCHIVE_NOT_ZIP");
 * ```
 */
export async function validate(
  input: Uint8Array | ReadResult,
  options: GateOptions = {},
): Promise<GateResult> {
  const read = input instanceof Uint8Array
    ? readPacket(input, { source: options.source, limits: options.limits })
    : input;
  return { ...(await judge(inspect(read), options)), packet: read.packet };
}

/**
 * Read a packet file (through the one bounded path: only a regular file, no
 * larger than `limits.maxTotalBytes`) and decide whether it can be trusted.
 * A file that cannot be read is a rejected packet with the violation that
 * says why (`FILE_NOT_REGULAR`, `LIMIT_TOTAL_SIZE`, `FILE_UNREADABLE` …).
 * @param path the packet file
 * @param options keys, scope and limits (`source` defaults to `path`)
 * @returns the verdict
 * @example
 * ```ts
 * import { validateFile } from "./gate.ts";
 * import assert from "node:assert/strict";
 * const result = await validateFile("/dev/zero");
 * assert.equal(result.reasonCode, "FILE_NOT_REGULAR");
 * ```
 */
export async function validateFile(path: string, options: GateOptions = {}): Promise<GateResult> {
  const source = options.source ?? path;
  const bytes = readPacketFile(path, options.limits);
  if (!(bytes instanceof Uint8Array)) {
    return await judge({ source, violations: [bytes] }, options);
  }
  return await validate(bytes, { ...options, source });
}

/**
 * Finish a verdict: the clock (times in the future), scope and signature
 * checks on an inspection.
 * @param inspection what {@link inspect} found
 * @param options keys, scope and clock
 * @returns the verdict (without the packet)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspect, judge } from "./gate.ts";
 * import { readPacket } from "./packet.ts";
 * const result = await judge(inspect(readPacket(new Uint8Array([1]))));
 * assert(!result.accepted);
 * ```
 */
export async function judge(
  inspection: Inspection,
  options: Omit<GateOptions, "source" | "limits"> = {},
): Promise<GateResult> {
  if (options.requireSignature && !options.keyring) {
    throw new UsageError("Requiring a signature needs a key", { option: "keyring" });
  }
  const violations = [...inspection.violations];
  const manifest = inspection.manifest;
  if (!manifest) return verdict(inspection.source, violations, "unchecked");
  violations.push(...futureTimeViolations(manifest, resolveClock(options)));
  if (options.allowedEnvs) {
    violations.push(...scopeViolations(manifest.environmentId, options.allowedEnvs));
  }
  const signature = await checkSignature(
    manifest,
    inspection.signedBytes,
    options.keyring,
    violations,
  );
  return verdict(inspection.source, violations, signature);
}

async function checkSignature(
  manifest: Manifest,
  signed: Uint8Array | undefined,
  keyring: Keyring | undefined,
  violations: Violation[],
): Promise<SignatureStatus> {
  const signature = manifest.signature;
  if (!keyring) return signature ? "unchecked" : "unsigned";
  const fail = (code: Violation["code"], message: string): SignatureStatus => {
    violations.push({ code, entry: MANIFEST_FILE, message });
    return code === "SIGNATURE_MISSING" ? "unsigned" : "invalid";
  };
  if (!signature) {
    return fail("SIGNATURE_MISSING", `Packet "${manifest.packetName}" is not signed`);
  }
  const form = signature.canonicalization ?? "deepsigma-v1";
  if (!CANONICAL_FORMS.includes(form as CanonicalForm) || signed === undefined) {
    return fail("SIGNATURE_UNSUPPORTED", `Signature canonicalization "${form}" is not supported`);
  }
  const env = manifest.environmentId;
  if (signature.keyId !== undefined) {
    const owners = keyring.foreignKeyOwners(env, signature.keyId);
    if (owners.length > 0) {
      const whose = owners.includes(FALLBACK_ENVIRONMENT)
        ? "the fallback key, which serves only environments without keys of their own"
        : `a key of environment ${owners.map((owner) => `"${owner}"`).join(", ")}`;
      return fail(
        "SIGNATURE_KEY_UNKNOWN",
        `Signature key id "${signature.keyId}" names ${whose}, not a key of environment "${env}"`,
      );
    }
  }
  const signers: Signer[] = keyring.candidates(env, signature.algorithm, signature.keyId);
  if (signers.length === 0) {
    if (keyring.entries.every((entry) => entry.signer.algorithm !== signature.algorithm)) {
      return fail(
        "SIGNATURE_UNSUPPORTED",
        `Signature algorithm "${signature.algorithm}" is not one the configured keys use`,
      );
    }
    const keyText = signature.keyId ? ` with key id "${signature.keyId}"` : "";
    return fail(
      "SIGNATURE_KEY_UNKNOWN",
      `No ${signature.algorithm} key${keyText} is configured for environment "${env}"`,
    );
  }
  for (const signer of signers) {
    if (await signer.verify(signed, signature.value)) return "verified";
  }
  return fail(
    "SIGNATURE_INVALID",
    `Signature of packet "${manifest.packetName}" does not verify: signed with another key, or altered after signing`,
  );
}

/**
 * Check a packet's environment against an allow-list.
 * @param packet the packet
 * @param options `allowedEnvs`: the environments allowed
 * @returns accepted, or `SCOPE_VIOLATION`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { enforceScope } from "./gate.ts";
 * import type { Packet } from "./packet.ts";
 * const packet = { source: "p.zip", manifest: { environmentId: "SOC_WEST" } } as Packet;
 * const result = enforceScope(packet, { allowedEnvs: ["SOC_EAST"] });
 * assert(!result.accepted);
 * assert.equal(result.reasonCode, "SCOPE_VIOLATION");
 * ```
 */
export function enforceScope(
  packet: Packet,
  options: { allowedEnvs?: readonly string[] },
): { accepted: boolean; reasonCode: string; violations: Violation[] } {
  const violations = scopeViolations(packet.manifest.environmentId, options.allowedEnvs ?? []);
  return {
    accepted: violations.length === 0,
    reasonCode: violations[0]?.code ?? "ACCEPTED",
    violations,
  };
}

function scopeViolations(env: string, allowed: readonly string[]): Violation[] {
  return allowed.includes(env) ? [] : [{
    code: "SCOPE_VIOLATION",
    entry: MANIFEST_FILE,
    message: `Environment "${env}" is not in the allowed environments (${
      allowed.map((e) => `"${e}"`).join(", ") || "none"
    })`,
  }];
}

/** The value a redacted field gets. */
export const REDACTED = "[REDACTED]";

/** Options for {@link redact}. */
export interface RedactOptions {
  /** Re-sign with this signer; without one the stale signature is removed. */
  signer?: Signer;
  /** Signature options when re-signing. */
  sign?: SignOptions;
}

/** What {@link redact} made. */
export interface Redaction {
  /** The new packet's archive bytes. */
  bytes: Uint8Array;
  /** How many values were replaced, per entry (entries with none are omitted). */
  replaced: Record<string, number>;
}

/**
 * Make a new packet in which every listed field, at any depth, in every data
 * file (JSON and JSON lines), is replaced by `"[REDACTED]"`. Files without
 * such a field keep their exact bytes. The manifest (packet metadata, not
 * telemetry) is not redacted; its hashes and size are recomputed, and it is
 * re-signed when a signer is given, else its stale signature is removed.
 * @param packet a packet that was read (the input is not changed)
 * @param fields field names to redact
 * @param options signer
 * @returns the new archive and the count of replaced values per entry
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redact } from "./gate.ts";
 * import { readPacket } from "./packet.ts";
 * import { buildPacket } from "./writer.ts";
 * const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
 * const { bytes } = await buildPacket(new Map([
 *   ["truth_snapshot.json", json({})],
 *   ["authority_slice.json", json({ environmentId: "E" })],
 *   ["decision_lineage.jsonl", json({ eventId: "e1", metadata: { src_ip: "10.0.0.1" } })],
 *   ["drift_signal.jsonl", new Uint8Array()],
 *   ["memory_graph.json", json({ nodesAdded: [], edgesAdded: [] })],
 *   ["canon_entry.json", json({ entries: {} })],
 * ]), { environmentId: "E", windowStart: "2026-01-01T00:00:00Z", windowEnd: "2026-01-01T00:10:00Z", part: 1 });
 * const result = await redact(readPacket(bytes).packet!, ["src_ip"]);
 * assert.equal(result.replaced["decision_lineage.jsonl"], 1);
 * ```
 */
export async function redact(
  packet: Packet,
  fields: readonly string[],
  options: RedactOptions = {},
): Promise<Redaction> {
  const targets = new Set(fields);
  const replaced: Record<string, number> = {};
  const files = new Map<string, Uint8Array>();
  const encoder = new TextEncoder();
  for (const [name, data] of packet.entries) {
    if (name === MANIFEST_FILE) continue;
    let count = 0;
    let output = data;
    if (name.endsWith(".jsonl")) {
      const lines = new TextDecoder().decode(data).split("\n");
      const rewritten = lines.map((line) => {
        if (line.trim() === "") return line;
        const tree = parseLossless(line);
        const n = redactTree(tree, targets);
        count += n;
        return n > 0 ? JSON.stringify(tree) : line;
      });
      if (count > 0) output = encoder.encode(rewritten.join("\n"));
    } else if (name.endsWith(".json")) {
      const tree = parseLossless(data);
      count = redactTree(tree, targets);
      if (count > 0) output = encoder.encode(JSON.stringify(tree, null, 2) + "\n");
    }
    if (count > 0) replaced[name] = count;
    files.set(name, output);
  }
  const described = describeFiles(files);
  const { signature: _stale, ...unsigned } = packet.manifestTree;
  let manifest: Record<string, unknown> = {
    ...unsigned,
    files: described.files,
    sizeBytes: described.sizeBytes,
  };
  if (options.signer) manifest = await signManifest(manifest, options.signer, options.sign);
  return { bytes: await assemble(manifest, files), replaced };
}

/** Replace every value under a key in `targets`, at any depth; returns how many. Iterative, so depth cannot overflow the stack. */
function redactTree(root: unknown, targets: Set<string>): number {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== "object") continue;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    if (!Object.getPrototypeOf(node) || Object.getPrototypeOf(node) === Object.prototype) {
      for (const key of Object.keys(node)) {
        if (targets.has(key)) {
          Object.defineProperty(node, key, {
            value: REDACTED,
            enumerable: true,
            writable: true,
            configurable: true,
          });
          count++;
        } else {
          stack.push((node as Record<string, unknown>)[key]);
        }
      }
    }
  }
  return count;
}
