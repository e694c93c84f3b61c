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
import type { DetectorRun, FederationView } from "../core/drift.ts";
import type { Keyring, Signer } from "../core/signer.ts";
import {
  builtinDetectors,
  federateInProcess,
  type GeneratedPacket,
  generateFederation,
} from "./_federation.ts";
import { withTempDir } from "./_cli.ts";
import { comparable } from "./_federation.ts";
import { buildTestPacket, hmacSigner, json, keyringOf } from "./_packets.ts";
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
  // Bounded: at most ~20 small packets per case, 40 seeded cases.
  for (let seed = 1; seed <= 40; seed++) {
    await t.step(`seed ${seed}`, async () => {
      const dir = await Deno.makeTempDir({ prefix: "jrm-stateful-" });
      try {
        const federation = await generateFederation(seed, {
          copies: seed % 3,
          rezipped: (seed >> 1) % 3,
          equivocations: seed % 4 === 0 ? 0 : 1 + seed % 2,
          forged: seed % 5 === 0 ? 1 : 0,
        });
        const files = await writePackets(dir, federation.packets);
        // Odd seeds add a detector that reads whole environments (scope "federation").
        const detectors = builtinDetectors(seed % 2 === 1);
        const expected = await federateInProcess(files, federation.keyring, AT, detectors);
        await ingestInBatches(
          `${dir}/store.sqlite`,
          randomBatches(files, seed * 7919, seed % 4 === 1),
          federation.keyring,
          detectors,
        );
        const actual = await storeReport(`${dir}/store.sqlite`);
        const want = comparable(expected.report, dir);
        const got = comparable(actual.report, dir);
        // Not vacuous: the equivocating packets are refused, by both, naming each other.
        const equivocating = federation.packets.filter((p) => p.role === "equivocation").length;
        const refused = got.packetsRejected.filter((r) => r.reasonCode === "EQUIVOCATION");
        assert.ok(refused.length >= equivocating, `${refused.length} < ${equivocating}`);
        for (const r of refused) {
          const violation = r.violations.find((v) => v.code === "EQUIVOCATION")!;
          assert.ok((violation.equivocatesWith as string[]).length > 0);
        }
        assert.deepEqual(got, want);
        assert.deepEqual(canonicalLines(actual.graph), canonicalLines(expected.graph));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

// ---------------------------------------------------------------- targeted cases

/** A signed packet of `env` at window `window` (10 minutes each) with these entries. */
async function packetOf(
  dir: string,
  name: string,
  env: string,
  window: number,
  entries: Record<string, Record<string, unknown>>,
  options: { signer?: Signer; nodes?: string[] } = {},
): Promise<string> {
  const iso = (minutes: number) =>
    new Date(Date.UTC(2026, 1, 28, 10) + minutes * 60_000).toISOString();
  const packet = await buildTestPacket({
    environmentId: env,
    windowStart: iso(window * 10),
    windowEnd: iso(window * 10 + 10),
    signer: options.signer ?? await hmacSigner(),
    files: {
      "canon_entry.json": json({ environmentId: env, entries }),
      "memory_graph.json": json({
        nodesAdded: (options.nodes ?? []).map((nodeId) => ({ nodeId, kind: "host", label: name })),
        edgesAdded: [],
      }),
    },
  });
  const path = `${dir}/${name}.zip`;
  await Deno.writeFile(path, packet.bytes);
  return path;
}

/** Ingest files into the store at `path` (one run), with the built-in detectors unless told. */
async function ingest(
  path: string,
  files: string[],
  options: { keyring?: Keyring; at?: string; detectors?: DetectorRun[] } = {},
) {
  using store = openSqliteHubStore(path);
  return await ingestIntoStore(store, files, {
    keyring: options.keyring ?? keyringOf(["*", await hmacSigner()]),
    detectors: options.detectors ?? builtinDetectors(),
    at: options.at ?? AT,
    workers: 0,
  });
}

Deno.test("an equivocating packet in a later run refuses both and withdraws what the earlier one set", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const a = await packetOf(dir, "a", "SOC_A", 0, { "sig-1": { rev: 1 } }, { nodes: ["n-a"] });
    const b = await packetOf(dir, "b", "SOC_B", 0, { "sig-1": { rev: 2 } });
    const first = await ingest(store, [a, b]);
    assert.deepEqual(first.outcomes.map((o) => o.kind), ["accepted", "accepted"]);
    assert.equal(first.drift.current, 1);
    // Same environment, window end, part and createdAt, other contents.
    const rival = await packetOf(dir, "rival", "SOC_A", 0, { "sig-1": { rev: 2 } });
    const second = await ingest(store, [rival]);
    assert.deepEqual(second.outcomes.map((o) => o.kind), ["rejected"]);
    const [digestA, digestRival] = [await digestOf(a), await digestOf(rival)];
    const named = (violations: { code: string; equivocatesWith?: string[] }[]) =>
      violations.filter((v) => v.code === "EQUIVOCATION").map((v) => v.equivocatesWith);
    assert.deepEqual(
      second.outcomes[0].kind === "rejected" && named(second.outcomes[0].violations),
      [[digestA]],
    );
    assert.deepEqual(second.withdrawn.map((p) => p.source), [a]);
    assert.deepEqual(second.withdrawn.map((p) => named(p.violations)), [[[digestRival]]]);
    assert.equal(second.drift.current, 0);
    assert.equal(second.drift.gone.length, 1);
    // Copies of either are duplicates; a third rival is refused too.
    const copy = `${dir}/copy-of-a.zip`;
    await Deno.copyFile(a, copy);
    const third = await packetOf(dir, "third", "SOC_A", 0, { "sig-9": { rev: 5 } });
    const later = await ingest(store, [copy, rival, third]);
    assert.deepEqual(later.outcomes.map((o) => o.kind), ["duplicate", "duplicate", "rejected"]);
    // Sent again, either stays refused, and the ingest says so, naming the other's digest.
    assert.deepEqual(
      later.outcomes.slice(0, 2).map((o) =>
        o.kind === "duplicate" && o.refused && named(o.refused.violations)
      ),
      [[[digestRival]], [[digestA]]],
    );
    assert.deepEqual(later.withdrawn, []);
    const { report, graph } = await storeReport(store);
    assert.deepEqual(report.environments, ["SOC_B"]);
    assert.equal(report.packetsIngested, 1);
    assert.deepEqual(graph, [], "the node only the withdrawn packet brought is gone");
    const refused = report.packetsRejected.filter((r) => r.reasonCode === "EQUIVOCATION");
    assert.deepEqual(refused.map((r) => r.source).sort(), [a, rival, third].sort());
    const digests = new Map(
      await Promise.all(
        [a, rival, third].map(async (f) => [f, await digestOf(f)] as [string, string]),
      ),
    );
    for (const r of refused) {
      const others = [...digests].filter(([f]) => f !== r.source).map(([, d]) => d);
      for (const digest of others) assert.match(r.violations[0].message, new RegExp(digest));
    }
    assert.equal(report.duplicates.length, 2);
  });
});

Deno.test("an equivocating pair in one run: both refused, neither sets state, whatever their order", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const a = await packetOf(dir, "a", "SOC_A", 0, { "sig-1": { rev: 1 } }, { nodes: ["n-a"] });
    const rival = await packetOf(dir, "rival", "SOC_A", 0, { "sig-1": { rev: 2 } });
    const b = await packetOf(dir, "b", "SOC_B", 0, { "sig-1": { rev: 2 } });
    for (const [i, order] of [[a, rival, b], [b, rival, a]].entries()) {
      const store = `${dir}/store-${i}.sqlite`;
      const result = await ingest(store, order);
      const kinds = Object.fromEntries(result.outcomes.map((o) => [o.source, o.kind]));
      assert.deepEqual(kinds, { [a]: "rejected", [rival]: "rejected", [b]: "accepted" });
      for (const outcome of result.outcomes) {
        if (outcome.kind === "rejected") assert.equal(outcome.reasonCode, "EQUIVOCATION");
      }
      assert.deepEqual(result.withdrawn, [], "nothing of an earlier run was withdrawn");
      assert.equal(result.drift.current, 0);
      const { report, graph } = await storeReport(store);
      assert.deepEqual(report.environments, ["SOC_B"]);
      assert.deepEqual(graph, []);
    }
  });
});

async function digestOf(path: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return "sha256:" + [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("a packet refused for another reason is judged again when it comes again", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const newKey = await hmacSigner("a-key-the-hub-does-not-have-yet-0123");
    const packet = await packetOf(dir, "p", "SOC_A", 0, { "sig-1": { rev: 1 } }, {
      signer: newKey,
    });
    const without = keyringOf(["*", await hmacSigner()]);
    const first = await ingest(store, [packet], { keyring: without });
    assert.equal(first.outcomes[0].kind, "rejected");
    // The same bytes refused again: a duplicate of the first copy, still one rejection.
    const again = await ingest(store, [packet], { keyring: without });
    assert.equal(again.outcomes[0].kind, "duplicate");
    let { report } = await storeReport(store);
    assert.equal(report.packetsRejected.length, 1);
    assert.equal(report.packetsIngested, 0);
    // The key is in the keyring now: accepted, and no longer listed as rejected.
    const accepted = await ingest(store, [packet], { keyring: keyringOf(["*", newKey]) });
    assert.equal(accepted.outcomes[0].kind, "accepted");
    ({ report } = await storeReport(store));
    assert.deepEqual(report.packetsRejected, []);
    assert.equal(report.packetsIngested, 1);
  });
});

Deno.test("each drift keeps when it was first seen, last seen and gone", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const at = (hour: number) => `2026-03-01T0${hour}:00:00.000Z`;
    const a0 = await packetOf(dir, "a0", "SOC_A", 0, { "sig-1": { rev: 1 } });
    const b0 = await packetOf(dir, "b0", "SOC_B", 0, { "sig-1": { rev: 2 } });
    await ingest(store, [a0, b0], { at: at(1) });
    const b1 = await packetOf(dir, "b1", "SOC_B", 1, { "sig-2": { rev: 1 } });
    await ingest(store, [b1], { at: at(2) });
    let { report } = await storeReport(store);
    assert.equal(report.crossEnvDrifts.length, 1);
    assert.deepEqual(report.crossEnvDrifts[0].life, {
      firstSeenAt: at(1),
      firstSeenWindow: "2026-02-28T10:10:00.000Z",
      lastSeenAt: at(2),
      lastSeenWindow: "2026-02-28T10:20:00.000Z",
      goneAt: null,
      goneWindow: null,
    });
    // SOC_A catches up: the skew is gone.
    const a2 = await packetOf(dir, "a2", "SOC_A", 2, { "sig-1": { rev: 2 } });
    const result = await ingest(store, [a2], { at: at(3) });
    assert.equal(result.detection.mode, "incremental");
    assert.deepEqual(result.drift.gone.length, 1);
    ({ report } = await storeReport(store));
    assert.deepEqual(report.crossEnvDrifts, []);
    assert.equal(report.driftsGone.length, 1);
    assert.deepEqual(report.driftsGone[0].life, {
      firstSeenAt: at(1),
      firstSeenWindow: "2026-02-28T10:10:00.000Z",
      lastSeenAt: at(2),
      lastSeenWindow: "2026-02-28T10:20:00.000Z",
      goneAt: at(3),
      goneWindow: "2026-02-28T10:30:00.000Z",
    });
  });
});

/** A detector that records the signatures of every view it is given. */
function spy(name: string, scope: "signature" | "federation", seen: string[][]): DetectorRun {
  return {
    plugin: {
      kind: "detector",
      name,
      version: "1.0.0",
      driftTypes: ["SPY"],
      scope,
      detect(view: FederationView) {
        seen.push([...view.signatures()]);
        return [];
      },
    },
    options: {},
    origin: "test",
  };
}

Deno.test("detection after an ingest looks only at the signatures it changed, for signature-scoped detectors", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const bySignature: string[][] = [];
    const wide: string[][] = [];
    const detectors = [
      spy("by-signature", "signature", bySignature),
      spy("wide", "federation", wide),
    ];
    const a0 = await packetOf(dir, "a0", "SOC_A", 0, { "sig-1": { rev: 1 }, "sig-2": { rev: 1 } });
    const b0 = await packetOf(dir, "b0", "SOC_B", 0, { "sig-1": { rev: 1 }, "sig-3": { rev: 1 } });
    let run = await ingest(store, [a0, b0], { detectors });
    assert.equal(run.detection.mode, "full");
    assert.deepEqual(bySignature.pop(), ["sig-1", "sig-2", "sig-3"]);
    assert.deepEqual(wide.pop(), ["sig-1", "sig-2", "sig-3"]);
    // A later window that changes sig-2 only.
    const a1 = await packetOf(dir, "a1", "SOC_A", 1, { "sig-2": { rev: 2 } });
    run = await ingest(store, [a1], { detectors });
    assert.equal(run.detection.mode, "incremental");
    assert.deepEqual(bySignature.pop(), ["sig-2"]);
    assert.deepEqual(wide.pop(), ["sig-1", "sig-2", "sig-3"]);
    // A late packet for an old window whose entry is older than the state changes nothing.
    const aLate = await packetOf(dir, "a-late", "SOC_A", 0.5, { "sig-2": { rev: 0 } });
    run = await ingest(store, [aLate], { detectors });
    assert.equal(bySignature.length, 0, "no signature changed");
    assert.deepEqual(wide.pop(), ["sig-1", "sig-2", "sig-3"], "the environment's packets did");
    // Only duplicates: nothing runs.
    run = await ingest(store, [a0, b0], { detectors });
    assert.equal(run.detection.mode, "none");
    assert.equal(bySignature.length + wide.length, 0);
    // A new environment: everything again.
    const c0 = await packetOf(dir, "c0", "SOC_C", 0, { "sig-4": { rev: 1 } });
    run = await ingest(store, [c0], { detectors });
    assert.equal(run.detection.mode, "full");
    assert.deepEqual(bySignature.pop(), ["sig-1", "sig-2", "sig-3", "sig-4"]);
    // Other options: everything again, though no packet came.
    const changed = [
      { ...detectors[0], options: { depth: 2 } },
      detectors[1],
    ];
    run = await ingest(store, [], { detectors: changed });
    assert.equal(run.detection.mode, "full");
    assert.deepEqual(bySignature.pop(), ["sig-1", "sig-2", "sig-3", "sig-4"]);
  });
});

Deno.test("an ingest whose last step fails keeps nothing, published advisories included", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const path = `${dir}/store.sqlite`;
    const a0 = await packetOf(dir, "a0", "SOC_A", 0, { "sig-1": { rev: 1 } });
    const b0 = await packetOf(dir, "b0", "SOC_B", 0, { "sig-1": { rev: 2 } });
    {
      using store = openSqliteHubStore(path);
      await assert.rejects(
        ingestIntoStore(store, [a0, b0], {
          keyring: keyringOf(["*", await hmacSigner()]),
          detectors: builtinDetectors(),
          at: AT,
          workers: 0,
          beforeCommit: async (tx) => {
            const published = await tx.publishAdvisories(await reportFromStore(tx, AT), {});
            assert.equal(published.created.length, 1);
            throw new Error("the report could not be written");
          },
        }),
        /the report could not be written/,
      );
    }
    using store = openSqliteHubStore(path, { readOnly: true });
    const { accepted, ingests } = await store.read((reader) => reader.figures());
    assert.deepEqual({ accepted, ingests }, { accepted: 0, ingests: 0 });
    assert.deepEqual(await store.read((reader) => reader.advisories()), []);
  });
});

Deno.test("hub ingest holds detectors to the detection limits federate takes", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const a = await packetOf(dir, "a", "SOC_A", 0, { "sig-1": { rev: 1 }, "sig-2": { rev: 1 } });
    const b = await packetOf(dir, "b", "SOC_B", 0, { "sig-1": { rev: 2 }, "sig-2": { rev: 2 } });
    using store = openSqliteHubStore(`${dir}/store.sqlite`);
    const result = await ingestIntoStore(store, [a, b], {
      keyring: keyringOf(["*", await hmacSigner()]),
      detectors: builtinDetectors(),
      // Two version skews, one allowed: the detector keeps none and is reported.
      detectionLimits: { maxFindings: 1 },
      at: AT,
      workers: 0,
    });
    const failed = result.detection.errors.map((e) => [e.detector, e.reason]);
    assert.deepEqual(failed.filter(([name]) => name === "version-skew"), [
      ["version-skew", "too-many-findings"],
    ]);
    const report = await store.read((reader) => reportFromStore(reader, AT));
    assert.ok(report.detectorErrors.some((e) => e.detector === "version-skew"));
    assert.ok(report.crossEnvDrifts.every((d) => d.driftType !== "VERSION_SKEW"));
  });
});

Deno.test("a run whose detectors or their options differ re-detects everything; a dropped detector's drifts go", async () => {
  await withTempDir("jrm-stateful-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const seen: string[][] = [];
    const a = await packetOf(dir, "a", "SOC_A", 0, { "sig-1": { rev: 1 }, "sig-2": { rev: 1 } });
    const b = await packetOf(dir, "b", "SOC_B", 0, { "sig-1": { rev: 2 }, "sig-2": { rev: 1 } });
    const detectors = [...builtinDetectors(), spy("spy", "signature", seen)];
    let run = await ingest(store, [a, b], { detectors });
    assert.equal(run.drift.current, 1);
    seen.length = 0;
    // The same packets again, the same detectors: nothing to do.
    run = await ingest(store, [a, b], { detectors });
    assert.equal(run.detection.mode, "none");
    assert.deepEqual(seen, []);
    // Other options: everything again, though no packet is new.
    const other = detectors.map((d) =>
      d.plugin.name === "spy" ? { ...d, options: { level: 2 } } : d
    );
    run = await ingest(store, [a, b], { detectors: other });
    assert.equal(run.detection.mode, "full");
    assert.deepEqual(seen.pop(), ["sig-1", "sig-2"]);
    // Without version-skew: its drift goes.
    run = await ingest(store, [a, b], {
      detectors: other.filter((d) => d.plugin.name !== "version-skew"),
    });
    assert.equal(run.detection.mode, "full");
    assert.equal(run.drift.current, 0);
    assert.equal(run.drift.gone.length, 1);
  });
});
