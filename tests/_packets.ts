/**
 * A builder of JRM-X packets for tests: six valid data files, and hooks to
 * break any part of a packet at the moment it matters — a data file before
 * it is hashed, the manifest before or after signing, the archive's entries
 * after the manifest was computed (tampering).
 *
 * ```ts
 * const { bytes } = await buildTestPacket();                       // valid, unsigned
 * const signed = await buildTestPacket({ signer: await hmacSigner() });
 * const altered = await buildTestPacket({
 *   editEntries: (entries) => entries.set("truth_snapshot.json", json({})),
 * });                                                              // HASH_MISMATCH
 * ```
 *
 * Every call makes fresh objects, so one test's edits never leak into another.
 *
 * @module
 */

import { writeArchive } from "../core/archive.ts";
import { createSigner } from "../core/keyring.ts";
import { MANIFEST_FILE } from "../core/packet.ts";
import { Keyring, type Signer } from "../core/signer.ts";
import {
  describeFiles,
  packetNameFor,
  serializeManifest,
  signManifest,
  type SignOptions,
} from "../core/writer.ts";
import { exportPem } from "../plugins/signers/ed25519.ts";
import { builtinRegistry } from "../plugins/builtin.ts";

const encoder = new TextEncoder();

/** The environment of a test packet unless told otherwise. */
export const TEST_ENV = "SOC_EAST";
/** The window of a test packet unless told otherwise. */
export const TEST_WINDOW = {
  windowStart: "2026-02-28T10:00:00Z",
  windowEnd: "2026-02-28T10:10:00Z",
} as const;
/** An HMAC key long enough to draw no warning. */
export const TEST_KEY = "test-only-hmac-key-0123456789abcdef";

/** The root of the repository, as a path ending in `/`. */
export const REPO_ROOT = new URL("../", import.meta.url).pathname;

/**
 * UTF-8 bytes of a value as a pretty JSON document (newline-terminated).
 * @param value any JSON value
 * @returns the bytes
 */
export function json(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, null, 2) + "\n");
}

/**
 * UTF-8 bytes of records as JSON lines (one compact record a line, newline-terminated).
 * @param records the records; none gives an empty file
 * @returns the bytes
 */
export function jsonl(records: readonly unknown[]): Uint8Array {
  return encoder.encode(records.map((record) => JSON.stringify(record) + "\n").join(""));
}

/**
 * UTF-8 bytes of text, for files written by hand (broken JSON, exact spellings).
 * @param value the text
 * @returns the bytes
 */
export function text(value: string): Uint8Array {
  return encoder.encode(value);
}

/**
 * The six data files of a valid packet, freshly made. Sensitive fields for
 * redaction tests: `src_ip` and `user` in `decision_lineage.jsonl` (nested
 * at several depths, on two lines), `user` nested in `truth_snapshot.json`;
 * `memory_graph.json` and `drift_signal.jsonl` hold neither.
 * @param environmentId the environment every file names
 * @returns the files by name, in spec order
 */
export function dataFiles(environmentId: string = TEST_ENV): Map<string, Uint8Array> {
  return new Map([
    [
      "truth_snapshot.json",
      json({
        environmentId,
        eventCount: 2,
        claimCount: 3,
        severityHistogram: { high: 1, low: 1 },
        topSignatures: [{ signatureId: "SIG-001", hits: 2, lastAnalyst: { user: "alice" } }],
      }),
    ],
    [
      "authority_slice.json",
      json({
        environmentId,
        publisherRole: "soc-publisher",
        allowedActions: ["publish"],
        scopeAllowlist: [environmentId],
        redactionPolicy: { redact: ["src_ip", "user"] },
      }),
    ],
    [
      "decision_lineage.jsonl",
      jsonl([
        {
          eventId: "evt-1",
          lane: "fast",
          whyBullets: ["rule SIG-001 matched"],
          claims: [{ claimId: "c-1", user: "bob" }],
          metadata: { src_ip: "10.0.0.1", user: "alice", peer: { src_ip: "10.0.0.9" } },
        },
        { eventId: "evt-2", lane: "slow", metadata: { src_ip: "10.0.0.2", port: 443 } },
      ]),
    ],
    [
      "drift_signal.jsonl",
      jsonl([{
        driftId: "drift-1",
        driftType: "VERSION_SKEW",
        severity: "low",
        detectedAt: "2026-02-28T10:05:00Z",
        evidenceRefs: ["evt-1"],
        fingerprint: { key: "SIG-001" },
        notes: "local rev behind",
        recommendedAction: "review",
      }]),
    ],
    [
      "memory_graph.json",
      json({
        nodesAdded: [
          { nodeId: "n-1", kind: "host", label: "web-1", properties: { role: "frontend" } },
          { nodeId: "n-2", kind: "host" },
        ],
        edgesAdded: [{ sourceId: "n-1", targetId: "n-2", kind: "talks_to" }],
      }),
    ],
    [
      "canon_entry.json",
      json({
        environmentId,
        generatedAt: "2026-02-28T10:10:00Z",
        entries: {
          "SIG-001": {
            signatureId: "SIG-001",
            rev: 3,
            previousRev: 2,
            patchId: "p-3",
            lineage: ["p-1", "p-2"],
            changes: [{ action: "set", field: "threshold", from: 5, to: 7 }],
            confidence: 0.8,
          },
        },
      }),
    ],
  ]);
}

/** What {@link buildTestPacket} can be told; every hook is optional. */
export interface TestPacketOptions {
  /** The environment of the data files and the manifest; {@link TEST_ENV} by default. */
  environmentId?: string;
  /** Window start; {@link TEST_WINDOW} by default. */
  windowStart?: string;
  /** Window end; {@link TEST_WINDOW} by default. */
  windowEnd?: string;
  /** Part number; 1 by default. */
  part?: number;
  /** Data files to replace (bytes) or leave out (`null`), before they are hashed. */
  files?: Record<string, Uint8Array | null>;
  /** Change the data files before they are hashed (entries added here are listed). */
  editFiles?: (files: Map<string, Uint8Array>) => void;
  /** Change the manifest before it is signed (a broken field, an extra key). */
  editManifest?: (manifest: Record<string, unknown>) => void;
  /** Sign the manifest with this signer. */
  signer?: Signer;
  /** Signature options (signer id, key id, canonical form). */
  sign?: SignOptions;
  /** Change the manifest after signing (tampering with a signed manifest). */
  editSigned?: (manifest: Record<string, unknown>) => void;
  /**
   * Change the archive's entries last: `manifest.json` (already serialized)
   * comes first, then the data files. Setting, adding or deleting entries here
   * changes the archive without touching the manifest.
   */
  editEntries?: (entries: Map<string, Uint8Array>) => void;
}

/** What {@link buildTestPacket} made. */
export interface TestPacket {
  /** The zip archive's bytes. */
  bytes: Uint8Array;
  /** The manifest as written into the archive (after signing and `editSigned`). */
  manifest: Record<string, unknown>;
  /** The archive's entries by name, as written. */
  entries: Map<string, Uint8Array>;
  /** The packet's name as the spec gives it (`.zip` not included). */
  name: string;
}

/**
 * The manifest the writer gives data files: name, environment, window, part,
 * hashes, event count, size, `createdAt` at the window end.
 * @param files the data files
 * @param options environment, window and part (defaults as {@link buildTestPacket})
 * @returns a fresh manifest object
 */
export function manifestFor(
  files: Map<string, Uint8Array>,
  options: Pick<TestPacketOptions, "environmentId" | "windowStart" | "windowEnd" | "part"> = {},
): Record<string, unknown> {
  const environmentId = options.environmentId ?? TEST_ENV;
  const windowStart = options.windowStart ?? TEST_WINDOW.windowStart;
  const windowEnd = options.windowEnd ?? TEST_WINDOW.windowEnd;
  const part = options.part ?? 1;
  const lineage = new TextDecoder().decode(files.get("decision_lineage.jsonl") ?? new Uint8Array());
  const described = describeFiles(files);
  return {
    packetName: packetNameFor(environmentId, windowStart, windowEnd, part),
    environmentId,
    windowStart,
    windowEnd,
    part,
    files: described.files,
    eventCount: lineage.split("\n").filter((line) => line.trim() !== "").length,
    sizeBytes: described.sizeBytes,
    createdAt: windowEnd,
  };
}

/**
 * Build a test packet, valid unless a hook breaks it.
 * @param options what to change, and when
 * @returns the archive bytes, with the manifest and entries that went into it
 */
export async function buildTestPacket(options: TestPacketOptions = {}): Promise<TestPacket> {
  const environmentId = options.environmentId ?? TEST_ENV;
  const files = dataFiles(environmentId);
  for (const [name, data] of Object.entries(options.files ?? {})) {
    if (data === null) files.delete(name);
    else files.set(name, data);
  }
  options.editFiles?.(files);
  let manifest = manifestFor(files, options);
  options.editManifest?.(manifest);
  if (options.signer) manifest = await signManifest(manifest, options.signer, options.sign);
  options.editSigned?.(manifest);
  const entries = new Map([[MANIFEST_FILE, serializeManifest(manifest)], ...files]);
  options.editEntries?.(entries);
  const bytes = await writeArchive([...entries].map(([name, data]) => ({ name, data })));
  return {
    bytes,
    manifest,
    entries,
    name: packetNameFor(
      environmentId,
      options.windowStart ?? TEST_WINDOW.windowStart,
      options.windowEnd ?? TEST_WINDOW.windowEnd,
      options.part ?? 1,
    ),
  };
}

/**
 * An HMAC-SHA256 signer made by the built-in plugin.
 * @param key the shared secret; {@link TEST_KEY} by default
 * @param keyId the key id the signer carries
 * @returns the signer
 */
export async function hmacSigner(key: string = TEST_KEY, keyId?: string): Promise<Signer> {
  const created = await createSigner(builtinRegistry(), "hmac-sha256", {
    bytes: encoder.encode(key),
    origin: "test key",
    keyId,
  });
  return created.signer;
}

/** A fresh Ed25519 key pair as PEM text, with signers made from each half. */
export interface Ed25519Keys {
  /** `PRIVATE KEY` PEM. */
  privatePem: string;
  /** `PUBLIC KEY` PEM. */
  publicPem: string;
  /** A signer from the private key (signs and verifies). */
  signer: Signer;
  /** A signer from the public key (verifies only). */
  verifier: Signer;
}

/**
 * Make a fresh Ed25519 key pair and its signers.
 * @returns the PEMs and signers
 */
export async function ed25519Keys(): Promise<Ed25519Keys> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const privatePem = await exportPem(pair.privateKey);
  const publicPem = await exportPem(pair.publicKey);
  const make = async (pem: string) =>
    (await createSigner(builtinRegistry(), "ed25519", {
      bytes: encoder.encode(pem),
      origin: "test key",
    })).signer;
  return { privatePem, publicPem, signer: await make(privatePem), verifier: await make(publicPem) };
}

/**
 * A keyring of signers, each serving one environment (or `*`).
 * @param entries `[environment, signer]` pairs, in order
 * @returns the keyring
 */
export function keyringOf(...entries: [string, Signer][]): Keyring {
  return new Keyring(entries.map(([environment, signer]) => ({ environment, signer })));
}
