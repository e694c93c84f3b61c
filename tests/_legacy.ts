/**
 * Packets built as the reference (Python) pipeline's packet builder builds
 * them, for the migration tests: the manifest is `asdict(PacketManifest)`
 * (snake_case keys) with the window copied from the sensor's first and last
 * event times as the sensor wrote them; every JSON file is
 * `json.dumps(obj, indent=2, sort_keys=True)`, every JSON-lines record
 * `json.dumps(record, sort_keys=True)`; the data files go into the zip first
 * and `manifest.json` last; and the reference `PacketSigner` signs with
 * HMAC-SHA256 over `json.dumps(manifest, sort_keys=True, separators=(",", ":"))`
 * of the manifest without `signature`, adding
 * `{"algorithm": "hmac-sha256", "value": …, "signerId": "local"}`.
 *
 * The HMAC is computed here with `node:crypto` over the canonical bytes, not
 * with jrm's signer plugin, so the tests check jrm against the reference's
 * algorithm rather than against itself.
 *
 * @module
 */

import { createHash, createHmac } from "node:crypto";
import { writeArchive } from "../core/archive.ts";
import { canonicalString } from "../core/canonical_json.ts";

const encoder = new TextEncoder();

/** The times each sensor writes, as the reference builder copies them into the window. */
export const SENSOR_TIMES = {
  /** Suricata EVE: fraction, and a basic offset without a colon. */
  suricata: {
    windowStart: "2026-02-28T10:00:00.000000+0000",
    windowEnd: "2026-02-28T10:10:00.000000+0000",
  },
  /** Snort fast.log: month/day, no year, no offset. */
  snort: { windowStart: "02/28-10:00:01.123456", windowEnd: "02/28-10:09:59.654321" },
  /** The Copilot agent log: RFC 3339 already. */
  copilot: { windowStart: "2026-02-28T10:00:00Z", windowEnd: "2026-02-28T10:10:00Z" },
} as const;

/** The HMAC key the legacy test packets are signed with. */
export const LEGACY_KEY = "reference-pipeline-shared-secret-0123456789";

/**
 * JSON text as Python's `json.dumps(value, indent=indent, sort_keys=True)`
 * writes it (ASCII only, `", "`/`": "` separators without an indent, floats
 * as Python's repr): what the reference builder writes.
 * @param value a JSON value (numbers written as deepsigma-v1 writes them)
 * @param indent spaces per level, or undefined for one line
 * @returns the text
 */
export function pythonJson(value: unknown, indent?: number): string {
  const write = (node: unknown, depth: number): string => {
    if (node === null || typeof node !== "object") return canonicalString(node);
    const pad = indent === undefined ? "" : "\n" + " ".repeat(indent * (depth + 1));
    const end = indent === undefined ? "" : "\n" + " ".repeat(indent * depth);
    const items = Array.isArray(node)
      ? node.map((item) => write(item, depth + 1))
      : Object.keys(node).sort().map((key) =>
        `${canonicalString(key)}: ${write((node as Record<string, unknown>)[key], depth + 1)}`
      );
    if (items.length === 0) return Array.isArray(node) ? "[]" : "{}";
    const separator = indent === undefined ? ", " : ",";
    const [open, close] = Array.isArray(node) ? ["[", "]"] : ["{", "}"];
    return `${open}${pad}${items.join(separator + pad)}${end}${close}`;
  };
  return write(value, 0);
}

/**
 * The reference's packet name: `_compact_ts` keeps the digits and `T` of each
 * time and takes the first 15 (so a Snort time gives digits without a year).
 * @param env the environment
 * @param windowStart the window start as written
 * @param windowEnd the window end as written
 * @param part the part number
 * @returns the name, without `.zip`
 */
export function referencePacketName(
  env: string,
  windowStart: string,
  windowEnd: string,
  part: number,
): string {
  const compact = (ts: string) => ts.replace(/[^0-9T]/g, "").slice(0, 15);
  return `JRM_X_PACKET_${env}_${compact(windowStart)}_${compact(windowEnd)}_part${
    String(part).padStart(2, "0")
  }`;
}

/**
 * The reference `PacketSigner`'s signature over a manifest.
 * @param manifest the manifest (an existing `signature` is left out of what is signed)
 * @param key the shared secret
 * @returns the signature object the reference adds under `signature`
 */
export function referenceSignature(
  manifest: Record<string, unknown>,
  key: string,
): { algorithm: string; value: string; signerId: string } {
  const { signature: _signature, ...unsigned } = manifest;
  const value = createHmac("sha256", key).update(canonicalString(unsigned)).digest("hex");
  return { algorithm: "hmac-sha256", value, signerId: "local" };
}

/** One environment's stance on one signature, as the reference's canon entries hold it. */
export type LegacyCanon = Record<string, Record<string, unknown>>;

/** What {@link buildLegacyPacket} can be told. */
export interface LegacyPacketOptions {
  /** The environment. */
  environmentId: string;
  /** The sensor whose time form the window has; `suricata` by default. */
  sensor?: keyof typeof SENSOR_TIMES;
  /** The window, as the sensor wrote it; the sensor's sample times by default. */
  windowStart?: string;
  /** The window end, as the sensor wrote it. */
  windowEnd?: string;
  /** Part number; 1 by default. */
  part?: number;
  /** `created_at`, as Python's `isoformat()` writes it. */
  createdAt?: string;
  /** Canon entries by key. */
  canon?: LegacyCanon;
  /** Sign with this HMAC key; unsigned when null. {@link LEGACY_KEY} by default. */
  key?: string | null;
  /** Change the manifest before it is signed. */
  editManifest?: (manifest: Record<string, unknown>) => void;
  /** Change the manifest after it was signed (tampering). */
  editSigned?: (manifest: Record<string, unknown>) => void;
  /** Change the archive's entries last (after the manifest was written). */
  editEntries?: (entries: Map<string, Uint8Array>) => void;
}

/** What {@link buildLegacyPacket} made. */
export interface LegacyPacket {
  /** The zip archive. */
  bytes: Uint8Array;
  /** The manifest as written (with its signature). */
  manifest: Record<string, unknown>;
  /** The six data files, in the reference's order. */
  files: Map<string, Uint8Array>;
  /** The reference's packet name (`packet_name`). */
  name: string;
}

/** Canon entries with a drift of every type between SOC_EAST and SOC_WEST. */
export const LEGACY_CANON: Record<string, LegacyCanon> = {
  SOC_EAST: {
    "SID-2019401": {
      rev: 4,
      previousRev: 3,
      patchId: "p-east-4",
      lineage: ["p-1"],
      confidence: 0.9,
    },
    "SID-2024897": { rev: 2, patchId: "p-2", confidence: 0.95 },
    "SID-3000001": { rev: 1, patchId: "p-1", confidence: 0.5 },
    "SID-4000001": { rev: 2, patchId: "p-2", confidence: 0.9 },
  },
  SOC_WEST: {
    "SID-2019401": {
      rev: 3,
      previousRev: 2,
      patchId: "p-west-3",
      lineage: ["p-1"],
      confidence: 0.9,
    },
    "SID-2024897": { rev: 2, patchId: "p-2", confidence: 0.35 },
    "SID-3000001": { rev: 1, patchId: "p-1", confidence: 0.5 },
    // 0.9 - 0.6 is 0.30000000000000004 in binary floating point: over 0.3 for the reference.
    "SID-4000001": { rev: 2, patchId: "p-2", confidence: 0.6 },
  },
};

/**
 * The six data files as the reference builder serializes them.
 * @param env the environment
 * @param window the window as the sensor wrote it
 * @param canon the canon entries
 * @returns the files, in the reference's order
 */
export function legacyDataFiles(
  env: string,
  window: { windowStart: string; windowEnd: string },
  canon: LegacyCanon,
): Map<string, Uint8Array> {
  const file = (value: unknown) => encoder.encode(pythonJson(value, 2));
  const lines = (records: unknown[]) =>
    encoder.encode(records.length ? records.map((r) => pythonJson(r)).join("\n") + "\n" : "");
  return new Map([
    ["truth_snapshot.json", file({ environmentId: env, ...window, eventCount: 2, claimCount: 2 })],
    [
      "authority_slice.json",
      file({
        environmentId: env,
        publisherRole: "local_pipeline",
        allowedActions: ["publish_packet"],
        scopeAllowlist: ["*"],
        redactionPolicy: "none",
      }),
    ],
    [
      "decision_lineage.jsonl",
      lines([1, 2].map((n) => ({
        eventId: `${env}-evt-${n}`,
        lane: "NOTIFY",
        whyBullets: [{ text: "signature matched", evidenceRef: `sha256:${n}`, confidence: 0.8 }],
        claims: [`claim-${n}`],
        metadata: { src_ip: `10.0.0.${n}` },
      }))),
    ],
    [
      "drift_signal.jsonl",
      lines([{
        driftId: `DS-${env}-1`,
        driftType: "FP_SPIKE",
        severity: "low",
        detectedAt: window.windowEnd,
        evidenceRefs: [`${env}-evt-1`],
        fingerprint: { key: "SID-2019401" },
        notes: "",
        recommendedAction: "",
      }]),
    ],
    [
      "memory_graph.json",
      file({
        nodesAdded: [{ nodeId: `${env}-evt-1`, kind: "event" }],
        edgesAdded: [],
        environmentId: env,
      }),
    ],
    [
      "canon_entry.json",
      file({ entries: canon, environmentId: env, generatedAt: "2026-02-28T10:10:01.000001+00:00" }),
    ],
  ]);
}

/**
 * Build a packet as the reference builder and signer do.
 * @param options environment, sensor, window, canon, key and hooks
 * @returns the archive, its manifest and data files, and the reference's name for it
 */
export async function buildLegacyPacket(options: LegacyPacketOptions): Promise<LegacyPacket> {
  const env = options.environmentId;
  const sensor = SENSOR_TIMES[options.sensor ?? "suricata"];
  const windowStart = options.windowStart ?? sensor.windowStart;
  const windowEnd = options.windowEnd ?? sensor.windowEnd;
  const part = options.part ?? 1;
  const files = legacyDataFiles(
    env,
    { windowStart, windowEnd },
    options.canon ?? LEGACY_CANON[env] ?? {},
  );
  const hashes: Record<string, string> = {};
  let size = 0;
  for (const [name, data] of files) {
    hashes[name] = "sha256:" + createHash("sha256").update(data).digest("hex");
    size += data.length;
  }
  const name = referencePacketName(env, windowStart, windowEnd, part);
  const manifest: Record<string, unknown> = {
    packet_name: name,
    environment_id: env,
    window_start: windowStart,
    window_end: windowEnd,
    part,
    files: hashes,
    event_count: 2,
    size_bytes: size,
    created_at: options.createdAt ?? "2026-02-28T10:10:01.123456+00:00",
  };
  options.editManifest?.(manifest);
  const key = options.key === undefined ? LEGACY_KEY : options.key;
  if (key !== null) manifest.signature = referenceSignature(manifest, key);
  options.editSigned?.(manifest);
  const entries = new Map([...files, ["manifest.json", encoder.encode(pythonJson(manifest, 2))]]);
  options.editEntries?.(entries);
  const bytes = await writeArchive([...entries].map(([entry, data]) => ({ name: entry, data })));
  return { bytes, manifest, files, name };
}

/** Python's `repr` of the small values the reference hub puts in its drift details. */
function pythonRepr(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`;
  if (typeof value === "string") return `'${value}'`;
  if (value !== null && typeof value === "object") {
    return `{${
      Object.entries(value).map(([k, v]) => `${pythonRepr(k)}: ${pythonRepr(v)}`).join(", ")
    }}`;
  }
  return String(value);
}

/**
 * The federation report the reference hub (`JRMHub.produce_report()`) makes
 * of these canon entries: version skew and posture divergence compared by
 * canon key, the spread in binary floating point, fixed severities; the drift
 * ids, random there, are numbered here so the output is reproducible.
 * @param canon each environment's canon entries, in the order the hub met them
 * @param generatedAt the report's time, as Python's `isoformat()` writes it
 * @param packetsIngested how many packets the hub read
 * @returns the report
 */
export function referenceHubReport(
  canon: Record<string, LegacyCanon>,
  generatedAt: string,
  packetsIngested: number,
): Record<string, unknown> {
  const envs = Object.keys(canon);
  const drifts: Record<string, unknown>[] = [];
  const id = () => `XDS-${String(drifts.length + 1).padStart(12, "0")}`;
  const keys = [...new Set(envs.flatMap((env) => Object.keys(canon[env])))];
  for (const key of keys) {
    const revs = envs.filter((env) => canon[env][key]?.rev !== undefined);
    const values = new Set(revs.map((env) => String(canon[env][key].rev)));
    if (revs.length >= 2 && values.size > 1) {
      drifts.push({
        driftId: id(),
        driftType: "VERSION_SKEW",
        severity: "medium",
        environments: revs,
        signatureId: key,
        detail: `Revisions: ${
          pythonRepr(Object.fromEntries(revs.map((env) => [env, [String(canon[env][key].rev)]])))
        }`,
      });
    }
  }
  for (const key of keys) {
    const held = envs.filter((env) => canon[env][key]?.confidence !== undefined);
    const confidences = held.map((env) => canon[env][key].confidence as number);
    if (held.length >= 2 && Math.max(...confidences) - Math.min(...confidences) > 0.3) {
      drifts.push({
        driftId: id(),
        driftType: "POSTURE_DIVERGENCE",
        severity: "high",
        environments: held,
        signatureId: "",
        detail: `Key ${key} confidence diverges: ${
          pythonRepr(Object.fromEntries(held.map((env, i) => [env, confidences[i]])))
        }`,
      });
    }
  }
  return {
    environments: envs,
    packetsIngested,
    crossEnvDrifts: drifts,
    mergedGraph: { globalNodes: [], globalEdges: [], environments: envs, mergedAt: generatedAt },
    generatedAt,
  };
}

/** SOC_EAST's canon in its earlier window: the signature one revision behind. */
const EAST_EARLIER: LegacyCanon = {
  ...LEGACY_CANON.SOC_EAST,
  "SID-2019401": { rev: 3, previousRev: 2, patchId: "p-east-3", lineage: ["p-1"], confidence: 0.9 },
};

/**
 * Write a sample of what a team running the reference pipeline has, for
 * docs/migrating.md: `legacy/` with packets built as the reference builds
 * them (SOC_EAST from Suricata in two windows, SOC_WEST from the Copilot
 * agent, SOC_NORTH from Snort), `keys/` and `keyring.json` with the secrets
 * they were signed with, and `reference-report.json`, the reference hub's
 * report on SOC_EAST and SOC_WEST.
 * @param dir the directory to write into (made when missing)
 * @returns when written
 */
export async function writeLegacyDemo(dir: string): Promise<void> {
  const keys = {
    SOC_EAST: LEGACY_KEY,
    SOC_WEST: `${LEGACY_KEY}-west`,
    SOC_NORTH: `${LEGACY_KEY}-north`,
  };
  await Deno.mkdir(`${dir}/legacy`, { recursive: true });
  await Deno.mkdir(`${dir}/keys`, { recursive: true });
  const packets = [
    await buildLegacyPacket({ environmentId: "SOC_EAST", canon: EAST_EARLIER, key: keys.SOC_EAST }),
    await buildLegacyPacket({
      environmentId: "SOC_EAST",
      windowStart: "2026-02-28T10:10:00.000000+0000",
      windowEnd: "2026-02-28T10:20:00.000000+0000",
      createdAt: "2026-02-28T10:20:01.654321+00:00",
      key: keys.SOC_EAST,
    }),
    await buildLegacyPacket({ environmentId: "SOC_WEST", sensor: "copilot", key: keys.SOC_WEST }),
    await buildLegacyPacket({
      environmentId: "SOC_NORTH",
      sensor: "snort",
      canon: LEGACY_CANON.SOC_WEST,
      key: keys.SOC_NORTH,
    }),
  ];
  for (const packet of packets) {
    await Deno.writeFile(`${dir}/legacy/${packet.name}.zip`, packet.bytes);
  }
  for (const [env, key] of Object.entries(keys)) {
    await Deno.writeTextFile(`${dir}/keys/${env}.key`, key + "\n");
  }
  await Deno.writeTextFile(
    `${dir}/keyring.json`,
    JSON.stringify(
      { keys: Object.keys(keys).map((env) => ({ environment: env, file: `keys/${env}.key` })) },
      null,
      2,
    ) + "\n",
  );
  const report = referenceHubReport(
    { SOC_EAST: LEGACY_CANON.SOC_EAST, SOC_WEST: LEGACY_CANON.SOC_WEST },
    "2026-02-28T10:30:00.000001+00:00",
    3,
  );
  await Deno.writeTextFile(`${dir}/reference-report.json`, JSON.stringify(report, null, 2) + "\n");
}

if (import.meta.main) {
  const [dir] = Deno.args;
  if (dir === undefined) {
    console.error("usage: deno run --allow-write=DIR tests/_legacy.ts DIR");
    Deno.exit(2);
  }
  await writeLegacyDemo(dir);
}
