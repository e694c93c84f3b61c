import assert from "node:assert/strict";
import type { z } from "zod";
import {
  FAST_RECORD_CHECKS,
  fastAuthoritySliceCheck,
  fastCanonEntryCheck,
  fastCanonFileCheck,
  fastManifestCheck,
  fastMemoryGraphCheck,
  fastTruthSnapshotCheck,
  isIsoDateTime,
  MANIFEST_FILE,
  readPacket,
} from "../core/packet.ts";
import {
  AuthoritySliceSchema,
  CanonEntrySchema,
  CanonFileSchema,
  DriftSignalRecordSchema,
  LineageRecordSchema,
  ManifestSchema,
  MemoryGraphSchema,
  TruthSnapshotSchema,
} from "../core/packet_schemas.ts";
import { buildTestPacket, json } from "./_packets.ts";
import { ingestFiles } from "../core/hub.ts";
import { inspectFile } from "../core/inspect.ts";
import { InspectorPool } from "../core/inspect_pool.ts";
import { generateCorpus, writePackets } from "../fixtures/corpus.ts";

/** Values of every JSON kind, and the shapes that sit at the schemas' edges. */
const VALUES: unknown[] = [
  undefined,
  null,
  true,
  0,
  -1.5,
  "",
  "x",
  [],
  ["a"],
  {},
  { k: 1 },
  Object.fromEntries([["__proto__", { polluted: true }]]),
];

function* records(base: Record<string, unknown>): Generator<Record<string, unknown>> {
  // Every field takes every value in turn while the others keep their valid values.
  yield { ...base };
  for (const field of [...Object.keys(base), "extra"]) {
    for (const value of VALUES) {
      const record = { ...base };
      if (value === undefined) delete record[field];
      else record[field] = value;
      yield record;
    }
  }
}

Deno.test("the fast record checks accept only what the zod schemas accept", async (t) => {
  const cases = [
    {
      file: "decision_lineage.jsonl" as const,
      schema: LineageRecordSchema,
      valid: {
        eventId: "e1",
        lane: "triage",
        whyBullets: ["a"],
        claims: [],
        metadata: { ip: "1" },
      },
    },
    {
      file: "drift_signal.jsonl" as const,
      schema: DriftSignalRecordSchema,
      valid: {
        driftId: "d1",
        driftType: "LOCAL",
        severity: "low",
        detectedAt: "2026-01-01T00:00:00Z",
        evidenceRefs: [],
        notes: "n",
      },
    },
  ];
  for (const { file, schema, valid } of cases) {
    await t.step(file, () => {
      const fast = FAST_RECORD_CHECKS[file]!;
      let acceptedByBoth = 0;
      for (const record of [...records(valid), ...VALUES]) {
        if (fast(record)) {
          assert.ok(
            schema.safeParse(record).success,
            `fast check accepted ${JSON.stringify(record)}`,
          );
          acceptedByBoth++;
        }
      }
      // The fast path is not vacuous: valid records take it.
      assert.equal(fast(valid), true);
      assert.ok(acceptedByBoth > 10);
    });
  }
});

Deno.test("ingestFiles() gives the same outcomes on worker threads and on this thread", async () => {
  const corpus = await generateCorpus({
    environments: ["SOC_A", "SOC_B"],
    packetsPerEnvironment: 3,
    signatures: 28,
    eventsPerPacket: 5,
  });
  const dir = await Deno.makeTempDir();
  try {
    const paths = await writePackets(dir, corpus.packets);
    await Deno.writeTextFile(`${dir}/broken.zip`, "not a zip at all");
    paths.push(`${dir}/broken.zip`);
    // The workers start without the zod schemas: this packet makes one load them.
    const invalid = await buildTestPacket({
      files: { "memory_graph.json": json({ nodesAdded: [{ kind: "k" }], edgesAdded: [] }) },
    });
    await Deno.writeFile(`${dir}/invalid.zip`, invalid.bytes);
    paths.push(`${dir}/invalid.zip`);
    const inline = await ingestFiles(paths, { workers: 0 });
    const threaded = await ingestFiles(paths, { workers: 2 });
    assert.deepEqual(threaded.outcomes, inline.outcomes);
    assert.deepEqual(threaded.state.toJSON(), inline.state.toJSON());
    // And on a worker for sure (ingestFiles inspects here until a worker is ready).
    const pool = new InspectorPool(1);
    try {
      assert.ok(await pool.whenReady());
      assert.deepEqual(await pool.inspect(`${dir}/invalid.zip`), inspectFile(`${dir}/invalid.zip`));
    } finally {
      pool.close();
    }
    const rejected = inline.outcomes.filter((o) => o.kind === "rejected");
    assert.deepEqual(
      rejected.map((o) => o.kind === "rejected" && o.result.violations[0].code),
      ["SCHEMA_INVALID", "ARCHIVE_NOT_ZIP"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the fast canon checks accept only what the zod schemas accept", () => {
  const valid = {
    signatureId: "sig-1",
    rev: 3,
    previousRev: 2,
    patchId: "sig-1-p3",
    lineage: ["sig-1-p1", "sig-1-p2"],
    changes: [{ action: "tune", field: "threshold", from: 1, to: 2 }],
    confidence: 0.5,
    statement: "kept",
  };
  const edges: unknown[] = [
    -1,
    2 ** 53,
    1.5,
    -0,
    1,
    1.0000001,
    [1],
    ["a", 1],
    [{ action: 1 }],
    [{ action: "a", field: 2 }],
    [{ field: "f" }],
    [null],
  ];
  let acceptedByBoth = 0;
  for (const entry of [...records(valid), ...VALUES]) {
    for (const field of ["rev", "previousRev", "lineage", "changes", "confidence", undefined]) {
      const variants = field === undefined || !isRecord(entry)
        ? [entry]
        : edges.map((edge) => ({ ...entry, [field]: edge }));
      for (const variant of variants) {
        if (fastCanonEntryCheck(variant)) {
          assert.ok(
            CanonEntrySchema.safeParse(variant).success,
            `fast check accepted ${JSON.stringify(variant)}`,
          );
          acceptedByBoth++;
        }
        const file = { environmentId: "E", entries: { k: variant } };
        if (fastCanonFileCheck(file)) assert.ok(CanonFileSchema.safeParse(file).success);
      }
    }
  }
  assert.equal(fastCanonEntryCheck(valid), true);
  assert.ok(acceptedByBoth > 50);
  for (
    const file of [...records({ environmentId: "E", generatedAt: "t", entries: {} }), ...VALUES]
  ) {
    if (fastCanonFileCheck(file)) {
      assert.ok(CanonFileSchema.safeParse(file).success, `accepted ${JSON.stringify(file)}`);
    }
  }
  assert.equal(fastCanonFileCheck({ environmentId: "", entries: {} }), false);
  assert.equal(fastCanonFileCheck({ entries: JSON.parse('{"__proto__": {}}') }), false);
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

Deno.test("the fast manifest and data-file checks accept only what the zod schemas accept", async (t) => {
  const sha = "sha256:" + "0".repeat(64);
  const cases: [string, (v: unknown) => boolean, z.ZodType, Record<string, unknown>][] = [
    ["manifest", fastManifestCheck, ManifestSchema, {
      packetName: "JRM_X_PACKET_E_20260101T000000_20260101T001000_part01",
      environmentId: "E",
      windowStart: "2026-01-01T00:00:00Z",
      windowEnd: "2026-01-01T00:10:00+01:00",
      part: 1,
      files: { "a.json": sha, "b.json": sha },
      eventCount: 0,
      sizeBytes: 10,
      createdAt: "2026-01-01T00:10:00.123Z",
      signature: { algorithm: "hmac-sha256", value: "v", keyId: "k", canonicalization: "jcs" },
    }],
    ["truth snapshot", fastTruthSnapshotCheck, TruthSnapshotSchema, {
      environmentId: "E",
      counts: { a: 1 },
    }],
    ["authority slice", fastAuthoritySliceCheck, AuthoritySliceSchema, {
      environmentId: "E",
      publisherRole: "soc",
      allowedActions: ["a"],
      scopeAllowlist: [],
      redactionPolicy: { x: 1 },
    }],
    ["memory graph", fastMemoryGraphCheck, MemoryGraphSchema, {
      nodesAdded: [{ nodeId: "n", kind: "k", label: "l", timestamp: "t", properties: { p: 1 } }],
      edgesAdded: [{ sourceId: "a", targetId: "b", kind: "k" }],
    }],
  ];
  const edges: unknown[] = [
    ...VALUES,
    -1,
    2 ** 53,
    1.5,
    "JRM_X_PACKET_",
    "2026-01-01",
    "2026-02-29T00:00:00Z",
    "2024-02-29T23:59:59.5-23:59",
    { "x.json": "sha256:" + "A".repeat(64) },
    { "x.json": sha + "0" },
    Object.fromEntries([["__proto__", sha]]),
    [{ nodeId: "", kind: "k" }],
    [{ nodeId: "n", kind: "k", properties: [] }],
    [{ sourceId: "a", targetId: "", kind: "k" }],
    [{ sourceId: "a", targetId: "b" }],
    { algorithm: "", value: "v" },
    { algorithm: "a", value: 1 },
    { algorithm: "a", value: "v", keyId: 2 },
  ];
  for (const [what, fast, schema, valid] of cases) {
    await t.step(what, () => {
      let acceptedByBoth = 0;
      for (const record of [...records(valid), ...VALUES]) {
        const variants = isRecord(record)
          ? [
            record,
            ...Object.keys(valid).flatMap((k) => edges.map((e) => ({ ...record, [k]: e }))),
          ]
          : [record];
        for (const variant of variants) {
          if (!fast(variant)) continue;
          assert.ok(schema.safeParse(variant).success, `accepted ${JSON.stringify(variant)}`);
          acceptedByBoth++;
        }
      }
      assert.equal(fast(valid), true, "the fast path is not vacuous");
      assert.ok(acceptedByBoth > 10);
    });
  }
});

Deno.test("isIsoDateTime() gives the manifest schema's answer on date-times", () => {
  const base = ManifestSchema.parse({
    packetName: "JRM_X_PACKET_",
    environmentId: "E",
    windowStart: "2026-01-01T00:00:00Z",
    windowEnd: "2026-01-01T00:00:00Z",
    part: 1,
    files: {},
    eventCount: 0,
    sizeBytes: 0,
    createdAt: "2026-01-01T00:00:00Z",
  });
  const schemaSays = (text: string) =>
    ManifestSchema.safeParse({ ...base, createdAt: text }).success;
  // A fixed linear congruential generator: the same strings on every run.
  let state = 0x1b873593;
  const random = (below: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * below);
  };
  const two = (max: number) => String(random(max)).padStart(2, "0");
  const texts: string[] = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00Z",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00.1234567891+05:30",
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00z",
    "2026-01-01T00:00:00+0530",
    "2026-01-01T24:00:00Z",
    "2000-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "0000-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-01-01T00:00:00.Z",
    "+2026-01-01T00:00:00Z",
    "２０２６-01-01T00:00:00Z",
  ];
  for (let i = 0; i < 5000; i++) {
    const year =
      [String(random(10000)).padStart(4, "0"), "1900", "2000", "2024", "2100"][random(5)];
    let text = `${year}-${two(14)}-${two(33)}T${two(26)}:${two(62)}`;
    if (random(4) > 0) text += `:${two(62)}`;
    if (random(3) === 0) text += "." + String(random(1000));
    text += ["Z", "", `+${two(25)}:${two(61)}`, `-${two(24)}:${two(60)}`, "X"][random(5)];
    texts.push(text);
  }
  let valid = 0;
  for (const text of texts) {
    assert.equal(isIsoDateTime(text), schemaSays(text), text);
    if (schemaSays(text)) valid++;
  }
  assert.ok(valid > 500, `${valid} valid date-times among the samples`);
});

Deno.test("readPacket() without the schemas loaded asks for them on a packet that needs them", async () => {
  const good = (await buildTestPacket()).bytes;
  const bad = (await buildTestPacket({
    files: { "memory_graph.json": json({ nodesAdded: [{ kind: "k" }], edgesAdded: [] }) },
  })).bytes;
  // A worker loads only what it imports: core/packet.ts, not core/packet_schemas.ts.
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/read.ts`;
    await Deno.writeTextFile(
      script,
      `import { readPacket } from "${new URL("../core/packet.ts", import.meta.url)}";
self.onmessage = (event) => {
  try {
    const { violations } = readPacket(event.data);
    self.postMessage(violations.map((v) => v.code).join(",") || "accepted");
  } catch (error) {
    self.postMessage((error as Error).name);
  }
};`,
    );
    const worker = new Worker(new URL(`file://${script}`), { type: "module" });
    const ask = (bytes: Uint8Array) =>
      new Promise<string>((resolve) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.postMessage(bytes);
      });
    try {
      assert.equal(await ask(good), "accepted");
      assert.equal(await ask(bad), "SchemasNotLoaded");
    } finally {
      worker.terminate();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // Here the schemas are loaded (this file imports them): the violation is worded.
  const read = readPacket(bad);
  assert.equal(read.violations[0].code, "SCHEMA_INVALID");
  assert.equal(read.violations[0].entry, "memory_graph.json");
  assert.notEqual(MANIFEST_FILE, read.violations[0].entry);
});
