/**
 * Migrating reference-built packets (the spec's last section): a packet whose
 * manifest the reference builder wrote (snake_case keys, sensor times) is
 * read with the gate's reader, limits and checks, all but the manifest's key
 * names and time forms; its signature is verified as the reference made it
 * (over the snake_case manifest without `signature`, `deepsigma-v1`); only
 * then is a new manifest written: camelCase keys, RFC 3339 times naming the
 * same instants, the packet name derived from the new window, every data
 * file byte for byte, `migratedFrom` recording the legacy packet, and a new
 * signature. The result must pass the gate.
 *
 * Nothing here depends on the clock or the key used to sign: the same
 * archive always gives the same manifest (leaving out `signature`), so
 * migrating it twice gives a duplicate, never an equivocation.
 *
 * @module
 */

import { JsonNumber, parseLossless } from "./canonical_json.ts";
import type { CallerOption, Violation } from "./errors.ts";
import { type GateResult, judge, readPacketFile, type SignatureStatus, validate } from "./gate.ts";
import type { ArchiveLimits } from "./archive.ts";
import { readArchive, resolveLimits } from "./archive.ts";
import { type Manifest, MANIFEST_FILE, MANIFEST_KEYS, readPacket, sha256Ref } from "./packet.ts";
import { Keyring, type PacketSignature, type Signer } from "./signer.ts";
import { assemble, CANONICAL_FORMS, packetNameFor, signedBytes, signManifest } from "./writer.ts";
import type { CanonicalForm } from "./canonical_json.ts";

/** The `signerId` a migrated manifest's signature records. */
export const MIGRATION_SIGNER_ID = "jrm-migrate";

/** The keys of the reference builder's manifest (`asdict(PacketManifest)`), in its order. */
export const LEGACY_MANIFEST_KEYS = [
  "packet_name",
  "environment_id",
  "window_start",
  "window_end",
  "part",
  "files",
  "event_count",
  "size_bytes",
  "created_at",
] as const;

/** What `migratedFrom` records of the legacy packet. */
export interface MigratedFrom {
  /** The legacy manifest's `packet_name`. */
  packetName: string;
  /** `sha256:` and the hex SHA-256 of the original archive. */
  archiveSha256: string;
  /** The legacy signature's value, or null when the packet was unsigned. */
  signatureValue: string | null;
}

/** Options of {@link migratePacket}. */
export interface MigrateOptions {
  /** Where the bytes came from, for messages. */
  source?: string;
  /** The keys the legacy signature is checked with (the environments' keys). */
  keyring?: Keyring;
  /** Migrate a packet that carries no signature (its `migratedFrom.signatureValue` is null). */
  allowUnsigned?: boolean;
  /** Sign the new manifest with this key instead of the environment's. */
  signer?: Signer;
  /** The key id to record when signing with {@link MigrateOptions.signer}; its own by default. */
  signKeyId?: string;
  /** The offset (`±hh:mm`) given to legacy times that carry none; without it such times are refused. */
  assumeOffset?: string;
  /** Archive and JSON limits, as the gate takes them. */
  limits?: Partial<ArchiveLimits>;
  /** The clock the migrated packet's times are checked against, RFC 3339 (the gate's `now`). */
  now?: string;
  /** Seconds its times may be ahead of the clock (the gate's `maxClockSkew`). */
  maxClockSkew?: number;
}

/** The outcome of migrating one packet. */
export interface MigrationResult {
  /** Where the packet came from. */
  source: string;
  /** Whether a migrated packet was made. */
  accepted: boolean;
  /** `ACCEPTED`, or the code of the first violation. */
  reasonCode: string;
  /** Every reason the packet was refused. */
  violations: Violation[];
  /**
   * The signature status of the packet the verdict is about: the migrated
   * packet's (`verified` or `unsigned`) when accepted, the legacy packet's
   * when refused.
   */
  signature: SignatureStatus;
  /** What was found of the legacy signature (`verified`, or `unsigned` when allowed). */
  legacySignature: SignatureStatus;
  /** The environment, when the legacy manifest names one. */
  environmentId: string | null;
  /** The migrated packet's name (without `.zip`), when migrated. */
  packetName: string | null;
  /** What the migrated manifest records of the legacy packet, when it could be read. */
  migratedFrom?: MigratedFrom;
  /** The migrated manifest, when migrated. */
  manifest?: Record<string, unknown>;
  /** The migrated archive, when migrated. */
  bytes?: Uint8Array;
  /** `sha256:` digest of the migrated archive, when migrated. */
  digest?: string;
}

const OFFSET = /^[+-](\d\d):(\d\d)$/;

/**
 * Whether text is a UTC offset as RFC 3339 writes it: `±hh:mm`, hours to 23, minutes to 59.
 * @param text the offset
 * @returns true for `+00:00`, `-05:30`; false for `+0000`, `Z`, `+24:00`
 * @example
 * ```ts
 * import { isUtcOffset } from "./migrate.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isUtcOffset("+05:30"), true);
 * assert.equal(isUtcOffset("+0530"), false);
 * ```
 */
export function isUtcOffset(text: string): boolean {
  const match = OFFSET.exec(text);
  return match !== null && Number(match[1]) <= 23 && Number(match[2]) <= 59;
}

// The forms the spec's migration reads: date, `T`, time with seconds and an optional fraction,
// then `Z`, `±hh:mm`, the basic `±hhmm`, or nothing.
const LEGACY_TIME =
  /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d|[+-]\d\d\d\d)?$/;
const SNORT_TIME = /^\d\d\/\d\d(?:\/\d\d)?-\d\d:\d\d:\d\d(?:\.\d+)?$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * A legacy time in RFC 3339, or why it cannot be one (and the caller's
 * setting that would make it one, when there is such a setting).
 */
export type LegacyTime = { time: string } | { problem: string; option?: CallerOption };

/**
 * Turn a time as the reference builder copied it into RFC 3339 naming the
 * same instant: the basic offset `±hhmm` becomes `±hh:mm`, the fraction is
 * kept as written, a time without an offset gets `assumeOffset` (and is
 * refused without one); anything that names no instant (Snort's yearless
 * `02/28-10:00:01.123456`) is refused, never guessed.
 * @param value the legacy time
 * @param assumeOffset `±hh:mm` for times that carry no offset, when the user gave one
 * @returns the RFC 3339 text, or the problem (a phrase, to follow the quoted value and a colon)
 *   and, for a missing offset, `option: "assumeOffset"`
 * @example
 * ```ts
 * import { normalizeLegacyTime } from "./migrate.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(normalizeLegacyTime("2026-02-28T10:00:00.000000+0000"),
 *   { time: "2026-02-28T10:00:00.000000+00:00" });
 * assert.deepEqual(normalizeLegacyTime("2026-02-28T10:00:00", "-05:00"),
 *   { time: "2026-02-28T10:00:00-05:00" });
 * assert.ok("problem" in normalizeLegacyTime("02/28-10:00:01.123456"));
 * ```
 */
export function normalizeLegacyTime(value: string, assumeOffset?: string): LegacyTime {
  if (SNORT_TIME.test(value)) {
    return {
      problem: "Snort's month/day form names no instant (no year, no offset); it is never guessed",
    };
  }
  const match = LEGACY_TIME.exec(value);
  if (!match) {
    return {
      problem:
        "not a date-time YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z, ±hh:mm or ±hhmm, so it names no instant",
    };
  }
  const [, year, month, day, hour, minute, second, fraction = "", offset] = match;
  const y = Number(year);
  const m = Number(month);
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1];
  if (
    m < 1 || m > 12 || Number(day) < 1 || Number(day) > days || Number(hour) > 23 ||
    Number(minute) > 59 || Number(second) > 59
  ) {
    return { problem: "no such date or time of day" };
  }
  let zone: string;
  if (offset === undefined) {
    if (assumeOffset === undefined) {
      return {
        problem:
          "no UTC offset, so it names no instant; an offset is only ever assumed when one is given",
        option: "assumeOffset",
      };
    }
    zone = assumeOffset;
  } else {
    zone = offset === "Z" || offset.includes(":")
      ? offset
      : `${offset.slice(0, 3)}:${offset.slice(3)}`;
  }
  if (zone !== "Z" && !isUtcOffset(zone)) return { problem: "no such UTC offset" };
  return { time: `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction}${zone}` };
}

/** JSON text of a value with control characters escaped, for messages a terminal shows. */
function quote(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function violation(code: Violation["code"], message: string): Violation {
  return { code, entry: MANIFEST_FILE, message };
}

function result(
  source: string,
  violations: Violation[],
  fields: Partial<MigrationResult> = {},
): MigrationResult {
  return {
    source,
    accepted: violations.length === 0,
    reasonCode: violations[0]?.code ?? "ACCEPTED",
    violations,
    signature: "unchecked",
    legacySignature: "unchecked",
    environmentId: null,
    packetName: null,
    ...fields,
  };
}

type Tree = Record<string, unknown>;
const isObject = (v: unknown): v is Tree =>
  v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof JsonNumber);
const isWhole = (v: unknown, min: number) =>
  v instanceof JsonNumber && Number.isSafeInteger(v.valueOf()) && v.valueOf() >= min;

/** The legacy manifest's fields, checked as far as migration needs them. */
interface LegacyManifest {
  tree: Tree;
  packetName: string;
  environmentId: string;
  part: JsonNumber;
  signature?: PacketSignature;
  /** Keys the spec does not know, kept as they are. */
  extras: [string, unknown][];
}

function checkLegacyManifest(tree: Tree): { manifest?: LegacyManifest; violations: Violation[] } {
  const violations: Violation[] = [];
  const fail = (message: string) => violations.push(violation("MIGRATE_MANIFEST_INVALID", message));
  const missing = LEGACY_MANIFEST_KEYS.filter((key) => !Object.hasOwn(tree, key));
  if (missing.length > 0) {
    fail(
      `Legacy manifest lacks ${
        missing.map((k) => `"${k}"`).join(", ")
      } (a reference-built manifest has ${LEGACY_MANIFEST_KEYS.map((k) => `"${k}"`).join(", ")})`,
    );
  }
  const field = (key: string, ok: boolean, what: string) => {
    if (Object.hasOwn(tree, key) && !ok) {
      fail(`Legacy manifest field "${key}" must be ${what}, not ${quote(tree[key])}`);
    }
  };
  field("packet_name", typeof tree.packet_name === "string", "a string");
  field(
    "environment_id",
    typeof tree.environment_id === "string" && tree.environment_id !== "",
    "a non-empty string",
  );
  for (const key of ["window_start", "window_end", "created_at"]) {
    field(key, typeof tree[key] === "string", "a string");
  }
  field("part", isWhole(tree.part, 1), "a whole number from 1");
  field("event_count", isWhole(tree.event_count, 0), "a whole number");
  field("size_bytes", isWhole(tree.size_bytes, 0), "a whole number");
  field("files", isObject(tree.files), "an object");
  const signature = tree.signature;
  if (
    signature !== undefined &&
    !(isObject(signature) && typeof signature.algorithm === "string" &&
      typeof signature.value === "string" &&
      (signature.keyId === undefined || typeof signature.keyId === "string") &&
      (signature.canonicalization === undefined || typeof signature.canonicalization === "string"))
  ) {
    fail(
      `Legacy manifest field "signature" must be {"algorithm": string, "value": string, …}, not ${
        quote(signature)
      }`,
    );
  }
  const known = new Set<string>([...LEGACY_MANIFEST_KEYS, "signature"]);
  const extras: [string, unknown][] = [];
  for (const [key, value] of Object.entries(tree)) {
    if (known.has(key)) continue;
    if (MANIFEST_KEYS.includes(key) || key === "migratedFrom") {
      fail(
        `Legacy manifest holds ${
          quote(key)
        } beside its snake_case keys; a reference-built manifest has no such key`,
      );
    }
    extras.push([key, value]);
  }
  if (violations.length > 0) return { violations };
  return {
    violations,
    manifest: {
      tree,
      packetName: tree.packet_name as string,
      environmentId: tree.environment_id as string,
      part: tree.part as JsonNumber,
      signature: signature as PacketSignature | undefined,
      extras,
    },
  };
}

/** Read the legacy packet: every gate check that does not depend on the manifest's key names. */
function readLegacy(
  bytes: Uint8Array,
  source: string,
  limits: Partial<ArchiveLimits> | undefined,
): { legacy?: LegacyManifest; entries?: Map<string, Uint8Array>; violations: Violation[] } {
  const read = readPacket(bytes, { source, limits });
  if (read.packet) {
    return {
      violations: [violation(
        "MIGRATE_NOT_LEGACY",
        `Packet "${source}" already has a manifest in the spec's form; there is nothing to migrate`,
      )],
    };
  }
  const snakeCase = read.violations.some((v) => v.code === "MANIFEST_SNAKE_CASE");
  const others = read.violations.filter((v) => v.code !== "MANIFEST_SNAKE_CASE");
  if (!snakeCase || others.length > 0) return { violations: others };
  // readPacket read the archive under the same limits, so this cannot fail.
  const resolved = resolveLimits(limits);
  const entries = new Map(readArchive(bytes, resolved).map((entry) => [entry.name, entry.data]));
  const tree = parseLossless(entries.get(MANIFEST_FILE)!, {
    maxDepth: resolved.maxJsonDepth,
    file: MANIFEST_FILE,
  }) as Tree;
  const checked = checkLegacyManifest(tree);
  return { legacy: checked.manifest, entries, violations: checked.violations };
}

/** The legacy signature's verdict, made by the gate's own signature check. */
async function checkLegacySignature(
  legacy: LegacyManifest,
  source: string,
  options: MigrateOptions,
): Promise<{ status: SignatureStatus; violations: Violation[]; bytes?: Uint8Array }> {
  const signature = legacy.signature;
  if (signature === undefined && options.allowUnsigned) {
    return { status: "unsigned", violations: [] };
  }
  if (options.keyring === undefined) {
    const message = signature === undefined
      ? `Packet "${legacy.packetName}" is not signed`
      : `Packet "${legacy.packetName}" is signed, but no key is configured to verify it`;
    return {
      status: signature === undefined ? "unsigned" : "unchecked",
      violations: [
        violation(signature === undefined ? "SIGNATURE_MISSING" : "SIGNATURE_KEY_UNKNOWN", message),
      ],
    };
  }
  const form = (signature?.canonicalization ?? "deepsigma-v1") as CanonicalForm;
  const bytes = signature && CANONICAL_FORMS.includes(form)
    ? signedBytes(legacy.tree, form)
    : undefined;
  // The gate judges the signature over what the reference signed; only the names it reads differ.
  const verdict: GateResult = await judge({
    source,
    violations: [],
    manifest: {
      packetName: legacy.packetName,
      environmentId: legacy.environmentId,
      signature,
    } as Manifest,
    signedBytes: bytes,
  }, { keyring: options.keyring, requireSignature: true });
  return { status: verdict.signature, violations: verdict.violations, bytes };
}

/** The key that signs the migrated manifest, or a violation saying why there is none. */
async function chooseSigner(
  legacy: LegacyManifest,
  signedLegacy: Uint8Array | undefined,
  options: MigrateOptions,
): Promise<{ signer?: Signer; keyId?: string; violation?: Violation }> {
  if (options.signer) return { signer: options.signer, keyId: options.signKeyId };
  const env = legacy.environmentId;
  const signature = legacy.signature;
  if (signature && signedLegacy && options.keyring) {
    for (const signer of options.keyring.candidates(env, signature.algorithm, signature.keyId)) {
      if (!(await signer.verify(signedLegacy, signature.value))) continue;
      if (!signer.canSign) {
        return {
          violation: violation(
            "SIGNATURE_UNSUPPORTED",
            `The ${signer.algorithm} key that verified packet "${legacy.packetName}" is a public key and cannot sign the migrated manifest; give a key to sign with`,
          ),
        };
      }
      return { signer, keyId: signature.keyId ?? signer.keyId };
    }
  }
  // An unsigned packet (allowed) is signed with the first key of its environment that can sign.
  const entries = options.keyring?.entries ?? [];
  const own = entries.find((entry) => entry.environment === env && entry.signer.canSign) ??
    entries.find((entry) => entry.environment === "*" && entry.signer.canSign);
  return own ? { signer: own.signer, keyId: own.signer.keyId } : {};
}

/**
 * Read a legacy packet file through the gate's bounded read (only a regular
 * file, no larger than `limits.maxTotalBytes`) and migrate it; a file that
 * cannot be read is refused with the violation that says why.
 * @param path the legacy packet file
 * @param options as for {@link migratePacket} (`source` defaults to `path`)
 * @returns the result
 * @example
 * ```ts
 * import { migrateFile } from "./migrate.ts";
 * import assert from "node:assert/strict";
 * const result = await migrateFile("/dev/zero");
 * assert.equal(result.reasonCode, "FILE_NOT_REGULAR");
 * ```
 */
export async function migrateFile(
  path: string,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const bytes = readPacketFile(path, options.limits);
  if (!(bytes instanceof Uint8Array)) return result(options.source ?? path, [bytes]);
  return await migratePacket(bytes, { ...options, source: options.source ?? path });
}

/**
 * Migrate one reference-built packet (see the module doc): check it, verify
 * its legacy signature, write the new manifest, sign it, and check the new
 * packet with the gate.
 * @param bytes the legacy archive
 * @param options keys to verify with, key to sign with, `allowUnsigned`, `assumeOffset`, limits
 * @returns the verdict, with the migrated archive and manifest when accepted
 * @example
 * ```ts
 * import { migratePacket } from "./migrate.ts";
 * import assert from "node:assert/strict";
 * const result = await migratePacket(new Uint8Array([1, 2, 3]), { source: "junk.zip" });
 * assert.equal(result.accepted, false);
 * assert.equal(result.reasonCode, "ARCHIVE_NOT_ZIP");
 * ```
 */
export async function migratePacket(
  bytes: Uint8Array,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const source = options.source ?? "<bytes>";
  const read = readLegacy(bytes, source, options.limits);
  const legacy = read.legacy;
  if (!legacy || !read.entries) return result(source, read.violations);
  const migratedFrom: MigratedFrom = {
    packetName: legacy.packetName,
    archiveSha256: sha256Ref(bytes),
    signatureValue: legacy.signature?.value ?? null,
  };
  const known = { environmentId: legacy.environmentId, migratedFrom };

  const checked = await checkLegacySignature(legacy, source, options);
  const violations = [...checked.violations];
  const times: Record<string, string> = {};
  for (
    const [key, name] of [["window_start", "windowStart"], ["window_end", "windowEnd"], [
      "created_at",
      "createdAt",
    ]] as const
  ) {
    const value = legacy.tree[key] as string;
    const normalized = normalizeLegacyTime(value, options.assumeOffset);
    if ("problem" in normalized) {
      const refused = violation(
        "MIGRATE_TIME_INVALID",
        `Legacy manifest field "${key}" holds ${quote(value)}: ${normalized.problem}`,
      );
      if (normalized.option !== undefined) refused.option = normalized.option;
      violations.push(refused);
    } else {
      times[name] = normalized.time;
    }
  }
  const status = checked.status;
  if (violations.length > 0) {
    return result(source, violations, { ...known, signature: status, legacySignature: status });
  }

  const tree = legacy.tree;
  const packetName = packetNameFor(
    legacy.environmentId,
    times.windowStart,
    times.windowEnd,
    legacy.part.valueOf(),
  );
  let manifest: Tree = {
    packetName,
    environmentId: legacy.environmentId,
    windowStart: times.windowStart,
    windowEnd: times.windowEnd,
    part: legacy.part,
    files: tree.files,
    eventCount: tree.event_count,
    sizeBytes: tree.size_bytes,
    createdAt: times.createdAt,
    ...Object.fromEntries(legacy.extras),
    migratedFrom,
  };
  const chosen = await chooseSigner(legacy, checked.bytes, options);
  if (chosen.violation) {
    return result(source, [chosen.violation], {
      ...known,
      signature: status,
      legacySignature: status,
    });
  }
  if (chosen.signer) {
    manifest = await signManifest(manifest, chosen.signer, {
      signerId: MIGRATION_SIGNER_ID,
      keyId: chosen.keyId,
    });
  }
  const data = new Map([...read.entries].filter(([name]) => name !== MANIFEST_FILE));
  const migrated = await assemble(manifest, data);
  // The migrated packet is judged as any packet is: what it holds, and the signature just made.
  const keyring = chosen.signer
    ? new Keyring([{ environment: legacy.environmentId, signer: chosen.signer }])
    : undefined;
  const verdict = await validate(migrated, {
    source,
    keyring,
    requireSignature: keyring !== undefined,
    limits: options.limits,
    now: options.now,
    maxClockSkew: options.maxClockSkew,
  });
  if (!verdict.accepted) {
    return result(source, verdict.violations, {
      ...known,
      signature: status,
      legacySignature: status,
    });
  }
  return result(source, [], {
    ...known,
    signature: verdict.signature,
    legacySignature: status,
    packetName,
    manifest,
    bytes: migrated,
    digest: sha256Ref(migrated),
  });
}
