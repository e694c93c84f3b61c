/**
 * Writing packets: building one from its six data files, signing a manifest,
 * and re-packing a packet with new data (redaction). Everything a producer
 * or the gate writes goes through here, so the manifest's hashes, sizes and
 * signature are always computed the same way.
 *
 * @module
 */

import { writeArchive } from "./archive.ts";
import { type CanonicalForm, canonicalize } from "./canonical_json.ts";
import { UsageError } from "./errors.ts";
import { formatInstant, parseInstant } from "./instant.ts";
import { DATA_FILES, MANIFEST_FILE, sha256Ref } from "./packet.ts";
import type { PacketSignature, Signer } from "./signer.ts";

/** Options for signing a manifest. */
export interface SignOptions {
  /** Written as `signature.signerId`; `local` by default, as the reference writes. */
  signerId?: string;
  /** Written as `signature.keyId`; the signer's key id by default. */
  keyId?: string;
  /** The canonical form to sign; `deepsigma-v1` by default (then not written). */
  canonicalization?: CanonicalForm;
}

/** The canonical forms a signature may name. */
export const CANONICAL_FORMS: readonly CanonicalForm[] = ["deepsigma-v1", "jcs"];

/**
 * The bytes a manifest's signature covers: the manifest without its
 * `signature` key, in the canonical form the signature names.
 * @param manifestTree the manifest, as read with number spellings kept
 * @param form the canonical form
 * @returns the signed bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signedBytes } from "./writer.ts";
 * const bytes = signedBytes({ b: 1, a: "x", signature: { algorithm: "hmac-sha256", value: "" } });
 * assert.equal(new TextDecoder().decode(bytes), '{"a":"x","b":1}');
 * ```
 */
export function signedBytes(
  manifestTree: Record<string, unknown>,
  form: CanonicalForm = "deepsigma-v1",
): Uint8Array {
  const { signature: _signature, ...unsigned } = manifestTree;
  return canonicalize(unsigned, form);
}

/**
 * Sign a manifest: a new manifest object with `signature` set.
 * @param manifestTree the manifest (an existing signature is replaced)
 * @param signer a signer that can sign
 * @param options signer id, key id, canonical form
 * @returns the signed manifest
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signManifest } from "./writer.ts";
 * import hmacSha256 from "../plugins/signers/hmac_sha256.ts";
 * const { signer } = await hmacSha256.createSigner({ bytes: new TextEncoder().encode("signing-key"), origin: "example" });
 * const signed = await signManifest({ a: 1 }, signer);
 * assert.equal((signed.signature as { value: string }).value.length, 64);
 * ```
 */
export async function signManifest(
  manifestTree: Record<string, unknown>,
  signer: Signer,
  options: SignOptions = {},
): Promise<Record<string, unknown>> {
  if (!signer.canSign) {
    throw new UsageError(`The ${signer.algorithm} key given is a public key and cannot sign`);
  }
  const form = options.canonicalization ?? "deepsigma-v1";
  const value = await signer.sign(signedBytes(manifestTree, form));
  const signature: PacketSignature = {
    algorithm: signer.algorithm,
    value,
    signerId: options.signerId ?? "local",
  };
  const keyId = options.keyId ?? signer.keyId;
  if (keyId !== undefined) signature.keyId = keyId;
  if (form !== "deepsigma-v1") signature.canonicalization = form;
  const { signature: _old, ...unsigned } = manifestTree;
  return { ...unsigned, signature };
}

/**
 * Serialize a manifest as the tool writes it: two-space indented JSON with
 * every number in its original spelling.
 * @param manifestTree the manifest
 * @returns UTF-8 bytes, newline-terminated
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serializeManifest } from "./writer.ts";
 * assert.equal(new TextDecoder().decode(serializeManifest({ a: 1 })), '{\n  "a": 1\n}\n');
 * ```
 */
export function serializeManifest(manifestTree: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(manifestTree, null, 2) + "\n");
}

/**
 * Put a manifest and data files into an archive: the manifest first, then the
 * entries in the order given. The manifest's `files` and `sizeBytes` must
 * already describe the data (see {@link describeFiles}).
 * @param manifestTree the manifest
 * @param files data entries by name, in archive order
 * @returns the zip bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assemble } from "./writer.ts";
 * const zip = await assemble({ a: 1 }, new Map([["x.json", new TextEncoder().encode("{}")]]));
 * assert.equal(zip[0], 0x50);
 * assert.equal(zip[1], 0x4b);
 * ```
 */
export function assemble(
  manifestTree: Record<string, unknown>,
  files: Map<string, Uint8Array>,
): Promise<Uint8Array> {
  return writeArchive([
    { name: MANIFEST_FILE, data: serializeManifest(manifestTree) },
    ...[...files].filter(([name]) => name !== MANIFEST_FILE).map(([name, data]) => ({
      name,
      data,
    })),
  ]);
}

/**
 * Hash and size data files as the manifest records them.
 * @param files data entries by name
 * @returns `files` (name → `sha256:…`, sorted by name) and `sizeBytes` (the data files' total size)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFiles } from "./writer.ts";
 * const { sizeBytes } = describeFiles(new Map([["a.json", new Uint8Array(3)]]));
 * assert.equal(sizeBytes, 3);
 * ```
 */
export function describeFiles(
  files: Map<string, Uint8Array>,
): { files: Record<string, string>; sizeBytes: number } {
  const hashes: Record<string, string> = {};
  let sizeBytes = 0;
  for (const name of [...files.keys()].sort()) {
    if (name === MANIFEST_FILE) continue;
    const data = files.get(name)!;
    hashes[name] = sha256Ref(data);
    sizeBytes += data.length;
  }
  return { files: hashes, sizeBytes };
}

/** What {@link buildPacket} needs besides the data files. */
export interface BuildOptions {
  /** The producing environment. */
  environmentId: string;
  /** Window start, RFC 3339 (UTC `Z` recommended). */
  windowStart: string;
  /** Window end, RFC 3339. */
  windowEnd: string;
  /** Part number, from 1. */
  part: number;
  /** `createdAt`; the window end by default, so builds are reproducible. */
  createdAt?: string;
  /** Sign with this signer, when given. */
  signer?: Signer;
  /** Signature options. */
  sign?: SignOptions;
}

/**
 * The packet name the spec gives a packet:
 * `JRM_X_PACKET_<ENV>_<YYYYMMDDTHHMMSS>_<YYYYMMDDTHHMMSS>_partNN`, times in UTC.
 * @param environmentId the environment
 * @param windowStart window start, RFC 3339
 * @param windowEnd window end, RFC 3339
 * @param part the part number
 * @returns the name, without `.zip`
 * @throws UsageError when a time is not an RFC 3339 date-time with an offset
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packetNameFor } from "./writer.ts";
 * assert.equal(
 *   packetNameFor("SOC_EAST", "2026-02-28T10:00:00Z", "2026-02-28T10:10:00Z", 1),
 *   "JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01",
 * );
 * ```
 */
export function packetNameFor(
  environmentId: string,
  windowStart: string,
  windowEnd: string,
  part: number,
): string {
  const stamp = (iso: string) => {
    const instant = parseInstant(iso);
    if (instant === undefined) {
      throw new UsageError(`"${iso}" is not an RFC 3339 date-time with an offset`);
    }
    return formatInstant(instant).slice(0, 19).replace(/[-:]/g, "");
  };
  return `JRM_X_PACKET_${environmentId}_${stamp(windowStart)}_${stamp(windowEnd)}_part${
    String(part).padStart(2, "0")
  }`;
}

/**
 * Build a packet archive from its six data files.
 * @param files the six data files by name (any other entry is listed in the manifest too)
 * @param options environment, window, part, and an optional signer
 * @returns the packet name and the zip bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPacket } from "./writer.ts";
 * import { readPacket } from "./packet.ts";
 * const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
 * const { name, bytes } = await buildPacket(new Map([
 *   ["truth_snapshot.json", json({})],
 *   ["authority_slice.json", json({ environmentId: "SOC_EAST" })],
 *   ["decision_lineage.jsonl", new Uint8Array()],
 *   ["drift_signal.jsonl", new Uint8Array()],
 *   ["memory_graph.json", json({ nodesAdded: [], edgesAdded: [] })],
 *   ["canon_entry.json", json({ entries: {} })],
 * ]), { environmentId: "SOC_EAST", windowStart: "2026-02-28T10:00:00Z", windowEnd: "2026-02-28T10:10:00Z", part: 1 });
 * assert.equal(readPacket(bytes).packet?.manifest.packetName, name);
 * ```
 */
export async function buildPacket(
  files: Map<string, Uint8Array>,
  options: BuildOptions,
): Promise<{ name: string; bytes: Uint8Array }> {
  const missing = DATA_FILES.filter((name) => !files.has(name));
  if (missing.length > 0) {
    throw new UsageError(
      `Cannot build a packet without ${missing.map((n) => `"${n}"`).join(", ")}`,
    );
  }
  const name = packetNameFor(
    options.environmentId,
    options.windowStart,
    options.windowEnd,
    options.part,
  );
  const lineage = new TextDecoder().decode(files.get("decision_lineage.jsonl")!);
  const eventCount = lineage.split("\n").filter((line) => line.trim() !== "").length;
  const described = describeFiles(files);
  let manifest: Record<string, unknown> = {
    packetName: name,
    environmentId: options.environmentId,
    windowStart: options.windowStart,
    windowEnd: options.windowEnd,
    part: options.part,
    files: described.files,
    eventCount,
    sizeBytes: described.sizeBytes,
    createdAt: options.createdAt ?? options.windowEnd,
  };
  if (options.signer) manifest = await signManifest(manifest, options.signer, options.sign);
  const ordered = new Map<string, Uint8Array>();
  for (const entry of DATA_FILES) ordered.set(entry, files.get(entry)!);
  for (const [entry, data] of files) if (!ordered.has(entry)) ordered.set(entry, data);
  return { name, bytes: await assemble(manifest, ordered) };
}
