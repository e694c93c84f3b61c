/**
 * Random federations for the stateful hub's tests: packets of a few
 * environments over a few windows, with canon entries and memory graphs drawn
 * from small pools (so signatures, nodes and edges meet across packets and
 * environments), duplicates (the same bytes, or another archive of the same
 * packet), equivocating pairs and forged packets; and the
 * batch `federate` (in process) to compare a store with.
 *
 * @module
 */

import { writeArchive } from "../core/archive.ts";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { type DetectorRun, runDetectors } from "../core/drift.ts";
import type { Keyring } from "../core/signer.ts";
import { ingestFiles } from "../core/hub.ts";
import { buildReport, type FederationReport } from "../core/report.ts";
import type { StoreReport } from "../core/stateful_hub.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import staleEnvironment from "../examples/stale_environment.ts";
import { buildTestPacket, hmacSigner, json, keyringOf } from "./_packets.ts";
import { random } from "./_random.ts";

/** One packet file of a generated federation. */
export interface GeneratedPacket {
  /** The file's name. */
  name: string;
  /** The archive. */
  bytes: Uint8Array;
  /** What it is. */
  role: "packet" | "copy" | "rezipped" | "equivocation" | "forged";
  /** For a copy (the same bytes) or a rezipped one (the same packet, other bytes): the name of the packet. */
  copyOf?: string;
}

/** A generated federation. */
export interface GeneratedFederation {
  /** Every file, in no particular order. */
  packets: GeneratedPacket[];
  /** The keyring that verifies every packet but the forged ones. */
  keyring: Keyring;
}

const SIGNATURES = ["sig-1", "sig-2", "sig-3", "sig-4", "sig-5", "sig-6"];
const NODES = ["n-1", "n-2", "n-3", "n-4", "n-5"];

/**
 * Make a random federation from a seed.
 * @param seed the seed
 * @param shape how many equivocating pairs, byte copies, rezipped copies and forged packets to add
 * @returns the packets and the keyring
 */
export async function generateFederation(
  seed: number,
  shape: {
    equivocations?: number;
    copies?: number;
    rezipped?: number;
    forged?: number;
    /** Environments (up to 4); 2 or 3 by default. */
    environments?: number;
    /** Windows per environment; 1 to 3 by default. */
    windows?: number;
  } = {},
): Promise<GeneratedFederation> {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)];
  const signer = await hmacSigner();
  const forger = await hmacSigner("another-key-of-the-same-length-0123");
  const envCount = 2 + Math.floor(next() * 2);
  const envs = ["SOC_A", "SOC_B", "SOC_C", "SOC_D"].slice(0, shape.environments ?? envCount);
  const packets: GeneratedPacket[] = [];
  const made: { name: string; bytes: Uint8Array; env: string; window: number; part: number }[] = [];
  const entriesOf = new Map<string, Map<string, Uint8Array>>();
  const start = Date.UTC(2026, 1, 28, 10);
  const iso = (minutes: number) => new Date(start + minutes * 60_000).toISOString();
  const packetAt = (env: string, window: number, part: number, variant: number, forged = false) => {
    const entries: Record<string, unknown> = {};
    for (const signatureId of SIGNATURES) {
      if (next() < 0.5) continue;
      const rev = 1 + Math.floor(next() * 3);
      entries[signatureId] = {
        signatureId,
        rev,
        previousRev: rev - 1,
        patchId: `${signatureId}-p${rev}${next() < 0.2 ? "x" : ""}`,
        lineage: [`${signatureId}-p0`],
        confidence: pick([0.1, 0.2, 0.5, 0.9]),
        variant,
      };
    }
    const nodes = NODES.filter(() => next() < 0.6).map((nodeId) => ({
      nodeId,
      kind: "host",
      label: `${nodeId} seen in window ${window} part ${part} (${variant})`,
    }));
    const edges = NODES.flatMap((sourceId) =>
      NODES.filter((targetId) => targetId !== sourceId && next() < 0.15).map((targetId) => ({
        sourceId,
        targetId,
        kind: pick(["talks_to", "follows"]),
      }))
    );
    return buildTestPacket({
      environmentId: env,
      windowStart: iso(window * 10),
      windowEnd: iso(window * 10 + 10),
      part,
      signer: forged ? forger : signer,
      files: {
        "canon_entry.json": json({ environmentId: env, entries }),
        "memory_graph.json": json({ nodesAdded: nodes, edgesAdded: edges }),
      },
    });
  };
  for (const env of envs) {
    const windowCount = 1 + Math.floor(next() * 3);
    const windows = shape.windows ?? windowCount;
    for (let window = 0; window < windows; window++) {
      const parts = next() < 0.3 ? 2 : 1;
      for (let part = 1; part <= parts; part++) {
        const packet = await packetAt(env, window, part, 0);
        const name = `${packet.name}.zip`;
        packets.push({ name, bytes: packet.bytes, role: "packet" });
        entriesOf.set(name, packet.entries);
        made.push({ name, bytes: packet.bytes, env, window, part });
      }
    }
  }
  for (let i = 0; i < (shape.equivocations ?? 0); i++) {
    const target = pick(made);
    const rival = await packetAt(target.env, target.window, target.part, i + 1);
    const name = `rival-${i}-${rival.name}.zip`;
    packets.push({ name, bytes: rival.bytes, role: "equivocation" });
    entriesOf.set(name, rival.entries);
    const packet = packets.find((p) => p.name === target.name)!;
    packet.role = "equivocation";
  }
  for (let i = 0; i < (shape.copies ?? 0); i++) {
    const original = pick(packets.filter((p) => p.role !== "copy" && p.role !== "forged"));
    packets.push({
      name: `copy-${i}-${original.name}`,
      bytes: original.bytes,
      role: "copy",
      copyOf: original.name,
    });
  }
  for (let i = 0; i < (shape.rezipped ?? 0); i++) {
    // The same manifest (so the same packet), the data files in another order: other zip bytes.
    const original = pick(packets.filter((p) => entriesOf.has(p.name)));
    const [manifest, ...data] = [...entriesOf.get(original.name)!];
    const bytes = await writeArchive(
      [manifest, ...data.reverse()].map(([name, data]) => ({ name, data })),
    );
    packets.push({
      name: `rezipped-${i}-${original.name}`,
      bytes,
      role: "rezipped",
      copyOf: original.name,
    });
  }
  for (let i = 0; i < (shape.forged ?? 0); i++) {
    const env = pick(envs);
    const forged = await packetAt(env, 10 + i, 1, 100 + i, true);
    packets.push({ name: `forged-${i}-${forged.name}.zip`, bytes: forged.bytes, role: "forged" });
  }
  return { packets, keyring: keyringOf(["*", signer]) };
}

/**
 * The built-in detectors with their default options, and with `withStale`
 * the example `stale-environment` detector too (it reads whole environments,
 * so the stateful hub runs it on everything after every change).
 * @param withStale add `stale-environment` with a lag of 5 minutes
 * @returns the detector runs
 */
export function builtinDetectors(withStale = false): DetectorRun[] {
  const registry = builtinRegistry();
  if (withStale) registry.register(staleEnvironment as never, "examples/stale_environment.ts");
  const config = defaultConfig();
  if (withStale) config.detectors["stale-environment"] = { maxLagMinutes: 5 };
  return resolveDetectorRuns(registry, config);
}

/**
 * One batch `federate`, in process: the report and the merged graph's lines.
 * @param files the packet files
 * @param keyring the keys
 * @param generatedAt the report's time
 * @param detectors the detectors to run
 * @returns the report and the graph
 */
export async function federateInProcess(
  files: readonly string[],
  keyring: Keyring,
  generatedAt: string,
  detectors: DetectorRun[] = builtinDetectors(),
): Promise<{ report: FederationReport; graph: string[] }> {
  const graph: string[] = [];
  const ingestion = await ingestFiles(files, {
    keyring,
    workers: 0,
    graphSink: (record) => {
      graph.push(JSON.stringify(record));
    },
  });
  const detection = await runDetectors(ingestion.state.view(), detectors);
  return { report: buildReport(ingestion, detection, generatedAt), graph };
}

/**
 * A report without what may differ between a store and a batch: time, paths, copies, lives.
 * @param report a report of `federate` or of the store
 * @param dir the folder the packet files were in (messages name it)
 * @returns what must be equal
 */
export function comparable(report: FederationReport | StoreReport, dir: string) {
  const {
    generatedAt: _generatedAt,
    packetsRejected,
    duplicates,
    crossEnvDrifts,
    driftsGone: _gone,
    ...rest
  } = report as StoreReport;
  const unpath = (text: string) => text.replaceAll(dir, "<dir>");
  return {
    ...rest,
    crossEnvDrifts: crossEnvDrifts.map(({ life: _life, ...drift }) => drift),
    packetsRejected: packetsRejected.map((rejected) => ({
      packetName: rejected.packetName,
      environmentId: rejected.environmentId,
      digest: rejected.digest,
      reasonCode: rejected.reasonCode,
      violations: rejected.violations.map((v) => ({ ...v, message: unpath(v.message) })),
    })).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1),
    duplicates: duplicates.length,
  };
}
