/**
 * Inspecting a packet: everything the gate decides without keys or scope
 * ({@link inspect}, {@link inspectFile}); the gate's `judge`
 * (core/gate.ts) finishes the verdict with the signature and scope checks.
 *
 * This module and what it imports do not load zod, so the hub's workers,
 * which run {@link inspectFile}, start faster; a packet that needs the
 * schemas makes {@link inspectFile} throw `SchemasNotLoaded` there
 * (core/inspect_worker.ts then loads them and inspects it again).
 *
 * @module
 */

import { type ArchiveLimits, InflateArena, resolveLimits } from "./archive.ts";
import type { GraphFacts, GraphFactsOptions } from "./graph_facts.ts";
import { makeCanonTexts } from "./canon_texts.ts";
import type { CanonicalForm } from "./canonical_json.ts";
import { PacketError, type Violation } from "./errors.ts";
import { readRegularFile } from "./fs.ts";
import {
  _readPacketInto,
  type CanonTexts,
  DATA_FILES,
  type Manifest,
  MANIFEST_FILE,
  type Packet,
  type ReadResult,
  sha256Ref,
} from "./packet.ts";
import { compareInstants, parseInstant } from "./instant.ts";
import { samePacketKey } from "./order.ts";
import { CANONICAL_FORMS, packetNameFor, signedBytes } from "./writer.ts";

/**
 * Everything the gate can decide about a packet without keys or scope: what
 * reading found, plus hashes, listing, environment, window and name checks,
 * and the bytes its signature covers. Plain data, so a worker can make it
 * and post it back; the gate's `judge` finishes the verdict.
 */
export interface Inspection {
  /** Where the packet came from. */
  source: string;
  /** `sha256:` digest of the archive, when it could be read. */
  digest?: string;
  /** Violations found so far. */
  violations: Violation[];
  /** The manifest, when it could be read. */
  manifest?: Manifest;
  /** `canon_entry.json`, when the packet could be read. */
  canonEntry?: Packet["canonEntry"];
  /** `memory_graph.json`, when the packet could be read (without its records when {@link graphFacts} holds them). */
  memoryGraph?: Packet["memoryGraph"];
  /**
   * `memory_graph.json`'s nodes and edges as identities, hashes and lines in
   * a few buffers (when {@link inspectFile} was asked for them), for a cheap
   * hand-over between threads: they are transferred, not copied.
   */
  graphFacts?: GraphFacts;
  /** The canonical bytes the signature covers, when signed with a known canonicalization. */
  signedBytes?: Uint8Array;
  /**
   * What every archive of this packet shares (`samePacketKey` in
   * core/order.ts: the manifest without its signature), when the manifest
   * could be read.
   */
  sameness?: string;
  /**
   * `canon_entry.json`'s entries as JSON text in one buffer, for a cheap
   * hand-over between threads ({@link inspectFile} gives them so, and
   * `canonEntry.entries` is then empty): the buffer is transferred, not
   * copied, and the hub decodes and parses only the entries it keeps.
   */
  canonTexts?: CanonTexts;
}

/** Turn an inspection's canon entries into {@link CanonTexts}. */
function packCanon(inspection: Inspection): void {
  const canon = inspection.canonEntry;
  if (!canon || inspection.canonTexts) return;
  const entries = canon.entries;
  const keys = Object.keys(entries);
  const texts = new Array<string>(keys.length);
  const renamed: [number, string][] = [];
  for (let i = 0; i < keys.length; i++) {
    const entry = entries[keys[i]];
    texts[i] = JSON.stringify(entry);
    const id = entry.signatureId;
    if (typeof id === "string" && id !== keys[i]) renamed.push([i, id]);
  }
  inspection.canonEntry = { ...canon, entries: {} };
  inspection.canonTexts = makeCanonTexts(keys, texts, renamed);
}

/**
 * Inspect a read packet: the checks that need neither keys nor scope.
 * @param read what `readPacket` gave
 * @returns the inspection
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspect } from "./inspect.ts";
 * import { readPacket } from "./packet.ts";
 * const inspection = inspect(readPacket(new Uint8Array([1]), { source: "x.zip" }));
 * assert.equal(inspection.violations[0].code, "ARCHIVE_NOT_ZIP");
 * ```
 */
export function inspect(read: ReadResult): Inspection {
  if (!read.packet) return { source: read.source, violations: [...read.violations] };
  const packet = read.packet;
  const signature = packet.manifest.signature;
  const form = (signature?.canonicalization ?? "deepsigma-v1") as CanonicalForm;
  const signed = signature && CANONICAL_FORMS.includes(form)
    ? signedBytes(packet.manifestTree, form)
    : undefined;
  return {
    source: read.source,
    digest: packet.digest,
    violations: [...read.violations, ...checkContents(packet)],
    manifest: packet.manifest,
    canonEntry: packet.canonEntry,
    ...(packet.canonTexts ? { canonTexts: packet.canonTexts } : {}),
    memoryGraph: packet.memoryGraph,
    ...(packet.graphFacts ? { graphFacts: packet.graphFacts } : {}),
    signedBytes: signed,
    // The sameness key hashes the deepsigma-v1 bytes, which a default signature already made.
    sameness: signed && form === "deepsigma-v1"
      ? sha256Ref(signed)
      : samePacketKey(packet.manifestTree),
  };
}

/**
 * Read a packet file through the one bounded path (`readRegularFile`): only
 * a regular file (a symbolic link to one is followed), no larger than the
 * archive's total limit (`maxTotalBytes`), checked before a byte is read.
 * @param path the packet file
 * @param limits archive limits; `maxTotalBytes` bounds the file
 * @returns the bytes, or the violation that says why they cannot be read
 *   (`FILE_UNREADABLE`, `FILE_NOT_REGULAR`, `LIMIT_TOTAL_SIZE`, `FILE_CHANGED`)
 * @example
 * ```ts
 * import { readPacketFile } from "./inspect.ts";
 * import assert from "node:assert/strict";
 * const read = readPacketFile("/dev/zero");
 * assert.ok(!(read instanceof Uint8Array) && read.code === "FILE_NOT_REGULAR");
 * ```
 */
export function readPacketFile(
  path: string,
  limits?: Partial<ArchiveLimits>,
): Uint8Array | Violation {
  try {
    return readRegularFile(path, {
      what: "packet",
      maxBytes: resolveLimits(limits).maxTotalBytes,
    });
  } catch (error) {
    if (error instanceof PacketError) return error.violation;
    throw error;
  }
}

/**
 * Read a packet file and inspect it: what the hub's workers do with each
 * path. A file that cannot be read is one violation (see
 * {@link readPacketFile}), not an error, so one vanished file never ends a
 * run. The canon entries come as text (`canonTexts`; `canonEntry.entries` is
 * empty), and with `graph` the memory graph's records as {@link GraphFacts}.
 * @param path the packet file
 * @param limits archive and JSON limits
 * @param graph the hash key for the graph's identities and whether to write its lines
 * @returns the inspection, with the archive's digest when the file was read
 * @example
 * ```ts
 * import { inspectFile } from "./inspect.ts";
 * import assert from "node:assert/strict";
 * assert.equal(inspectFile("no/such/packet.zip").violations[0].code, "FILE_UNREADABLE");
 * assert.equal(inspectFile("/dev/zero").violations[0].code, "FILE_NOT_REGULAR");
 * ```
 */
export function inspectFile(
  path: string,
  limits?: Partial<ArchiveLimits>,
  graph?: GraphFactsOptions,
): Inspection {
  const bytes = readPacketFile(path, limits);
  if (!(bytes instanceof Uint8Array)) return { source: path, violations: [bytes] };
  const inspection = inspect(
    _readPacketInto(
      bytes,
      { source: path, limits, materializeRecords: false, canonAsText: true, graph },
      inspectArena,
    ),
  );
  inspection.digest ??= sha256Ref(bytes);
  packCanon(inspection);
  return inspection;
}

/**
 * The buffer {@link inspectFile} inflates into, one per thread: an inspection
 * keeps no entry bytes (only parsed values, texts and the fresh signed bytes),
 * and inspectFile returns before anything reads again.
 */
const inspectArena = new InflateArena();

function checkContents(packet: Packet): Violation[] {
  const violations: Violation[] = [];
  const { manifest } = packet;
  const listed = manifest.files;
  // Own keys only: `"constructor" in listed` is true for any object.
  const isListed = (name: string) => Object.hasOwn(listed, name);
  for (const name of DATA_FILES) {
    if (!isListed(name)) {
      violations.push({
        code: "FILE_UNLISTED",
        entry: name,
        message: `Entry "${name}" is not listed in the manifest's "files"`,
      });
    }
  }
  for (const [name, expected] of Object.entries(listed)) {
    const actual = packet.entryHashes.get(name);
    if (name === MANIFEST_FILE) {
      violations.push({
        code: "SCHEMA_INVALID",
        entry: MANIFEST_FILE,
        message: `Entry "${MANIFEST_FILE}" lists itself in "files"; a manifest cannot hash itself`,
      });
    } else if (actual === undefined) {
      violations.push({
        code: "FILE_MISSING",
        entry: name,
        message: `Entry "${name}" is listed in the manifest but not in the archive`,
      });
    } else if (actual !== expected) {
      violations.push({
        code: "HASH_MISMATCH",
        entry: name,
        message: `Entry "${name}" has hash ${actual}, the manifest says ${expected}`,
      });
    }
  }
  for (const name of packet.entries.keys()) {
    if (name !== MANIFEST_FILE && !isListed(name) && !DATA_FILES.includes(name as never)) {
      violations.push({
        code: "FILE_UNLISTED",
        entry: name,
        message: `Entry "${name}" is in the archive but not listed in the manifest`,
      });
    }
  }

  const env = manifest.environmentId;
  const named: [string, unknown][] = [
    ["truth_snapshot.json", packet.truthSnapshot.environmentId],
    ["authority_slice.json", packet.authoritySlice.environmentId],
    ["memory_graph.json", (packet.memoryGraph as Record<string, unknown>).environmentId],
    ["canon_entry.json", packet.canonEntry.environmentId],
  ];
  // Records that readPacket did not keep (Packet.recordCounts) were checked
  // against the manifest's environment while being read; their arrays are empty.
  for (
    const [file, records] of [
      ["decision_lineage.jsonl", packet.decisionLineage],
      ["drift_signal.jsonl", packet.driftSignals],
    ] as const
  ) {
    const other = (records as Record<string, unknown>[]).find((record) =>
      record.environmentId !== undefined && record.environmentId !== env
    );
    if (other) named.push([file, other.environmentId]);
  }
  for (const [file, found] of named) {
    if (found !== undefined && found !== env) {
      violations.push({
        code: "ENVIRONMENT_MISMATCH",
        entry: file,
        message: `Entry "${file}" names environment ${
          JSON.stringify(found)
        }, the manifest "${env}"`,
      });
    }
  }

  const start = parseInstant(manifest.windowStart);
  const end = parseInstant(manifest.windowEnd);
  if (start && end && compareInstants(start, end) > 0) {
    violations.push({
      code: "WINDOW_INVALID",
      entry: MANIFEST_FILE,
      message:
        `Entry "${MANIFEST_FILE}" has windowStart "${manifest.windowStart}" after windowEnd "${manifest.windowEnd}"`,
    });
  }
  const expectedName = packetNameFor(env, manifest.windowStart, manifest.windowEnd, manifest.part);
  if (manifest.packetName !== expectedName) {
    violations.push({
      code: "PACKET_NAME_MISMATCH",
      entry: MANIFEST_FILE,
      message:
        `Packet name "${manifest.packetName}" does not match its environment, window and part (expected "${expectedName}")`,
    });
  }
  return violations;
}
