/**
 * The stateful hub (core/stateful_hub.ts over core/hub_store_sqlite.ts):
 * however packets arrive — in any number of runs, in any order, late, twice,
 * equivocating — the store's report equals one batch `federate` over all of
 * them.
 */

import assert from "node:assert/strict";
import { openSqliteHubStore } from "../core/hub_store_sqlite.ts";
import {
  ingestIntoStore,
  reportFromStore,
  type StoreReport,
  writeGraphFromStore,
} from "../core/stateful_hub.ts";
import type { DetectorRun } from "../core/drift.ts";
import type { FederationReport } from "../core/report.ts";
import type { Keyring } from "../core/signer.ts";
import {
  builtinDetectors,
  federateInProcess,
  type GeneratedPacket,
  generateFederation,
} from "./_federation.ts";
import { random } from "./_random.ts";

const AT = "2026-03-01T00:00:00.000Z";

/** Ingest `files` into the store at `path` in batches, each a separate opening of the store. */
async function ingestInBatches(
  path: string,
  batches: readonly string[][],
  keyring: Keyring,
  detectors: DetectorRun[],
): Promise<void> {
  for (const [i, files] of batches.entries()) {
    using store = openSqliteHubStore(path);
    await ingestIntoStore(store, files, {
      keyring,
      detectors,
      at: new Date(Date.parse(AT) + i * 60_000).toISOString(),
      workers: 0,
    });
  }
}

async function storeReport(path: string): Promise<{ report: StoreReport; graph: string[] }> {
  using store = openSqliteHubStore(path, { readOnly: true });
  return await store.read(async (reader) => {
    const graph: string[] = [];
    await writeGraphFromStore(reader, (line) => {
      graph.push(line.trimEnd());
    });
    return { report: await reportFromStore(reader, AT), graph };
  });
}

/** A report without what may differ between a store and a batch: time, paths, copies, lives. */
function comparable(report: FederationReport | StoreReport, dir: string) {
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
      reasonCode: rejected.reasonCode,
      violations: rejected.violations.map((v) => ({ ...v, message: unpath(v.message) })),
    })).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1),
    duplicates: duplicates.length,
  };
}

function canonicalLines(lines: readonly string[]): string[] {
  const sortKeys = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(sortKeys)
      : value !== null && typeof value === "object"
      ? Object.fromEntries(
        Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
      )
      : value;
  return lines.map((line) => JSON.stringify(sortKeys(JSON.parse(line)))).sort();
}

/** Shuffle and cut into 1 to 4 runs, or into one run per packet. */
function randomBatches(files: readonly string[], seed: number, onePerRun: boolean): string[][] {
  const next = random(seed);
  const shuffled = [...files];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  if (onePerRun) return shuffled.map((file) => [file]);
  const runs = 1 + Math.floor(next() * 4);
  const cuts = [
    ...new Set(Array.from({ length: runs - 1 }, () => Math.floor(next() * files.length))),
  ]
    .sort((a, b) => a - b);
  const batches: string[][] = [];
  let from = 0;
  for (const cut of [...cuts, shuffled.length]) {
    batches.push(shuffled.slice(from, cut));
    from = cut;
  }
  return batches;
}

async function writePackets(dir: string, packets: readonly GeneratedPacket[]): Promise<string[]> {
  const files: string[] = [];
  for (const packet of packets) {
    const path = `${dir}/${packet.name}`;
    await Deno.writeFile(path, packet.bytes);
    files.push(path);
  }
  return files;
}

Deno.test("hub ingest in any runs and order gives the report of one federate over every packet", async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    await t.step(`seed ${seed}`, async () => {
      const dir = await Deno.makeTempDir({ prefix: "jrm-stateful-" });
      try {
        const federation = await generateFederation(seed, {
          copies: seed % 3,
          equivocations: seed % 3 === 0 ? 0 : seed % 3,
          forged: seed % 5 === 0 ? 1 : 0,
        });
        const files = await writePackets(dir, federation.packets);
        const byName = new Map(federation.packets.map((p) => [`${dir}/${p.name}`, p]));
        // The batch federate does not know equivocation yet: it is given the packets that are
        // not part of one, which is what the spec says the state holds.
        const counted = files.filter((f) => {
          const packet = byName.get(f)!;
          const original = packet.copyOf ? byName.get(`${dir}/${packet.copyOf}`)! : packet;
          return original.role !== "equivocation";
        });
        // Odd seeds add a detector that reads whole environments (scope "federation").
        const detectors = builtinDetectors(seed % 2 === 1);
        const expected = await federateInProcess(counted, federation.keyring, AT, detectors);
        await ingestInBatches(
          `${dir}/store.sqlite`,
          randomBatches(files, seed * 7919, seed % 4 === 1),
          federation.keyring,
          detectors,
        );
        const actual = await storeReport(`${dir}/store.sqlite`);
        const want = comparable(expected.report, dir);
        const got = comparable(actual.report, dir);
        // What the batch was not given: the equivocating packets, each refused, and their copies.
        const equivocating = federation.packets.filter((p) => p.role === "equivocation");
        const copiesOfThem = federation.packets.filter((p) =>
          p.role === "copy" && byName.get(`${dir}/${p.copyOf}`)!.role === "equivocation"
        );
        assert.deepEqual(
          got.packetsRejected.filter((r) => r.reasonCode === "EQUIVOCATION").length,
          equivocating.length,
        );
        assert.deepEqual(
          got.packetsRejected.filter((r) => r.reasonCode !== "EQUIVOCATION"),
          want.packetsRejected,
        );
        assert.equal(got.duplicates, want.duplicates + copiesOfThem.length);
        const strip = <T extends { packetsRejected: unknown; duplicates: unknown }>(
          { packetsRejected: _r, duplicates: _d, ...rest }: T,
        ) => rest;
        assert.deepEqual(strip(got), strip(want));
        assert.deepEqual(canonicalLines(actual.graph), canonicalLines(expected.graph));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});
