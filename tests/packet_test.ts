import assert from "node:assert/strict";
import {
  CanonEntrySchema,
  CanonFileSchema,
  DriftSignalRecordSchema,
  FAST_RECORD_CHECKS,
  fastCanonEntryCheck,
  fastCanonFileCheck,
  LineageRecordSchema,
} from "../core/packet.ts";
import { ingestFiles } from "../core/hub.ts";
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
    const inline = await ingestFiles(paths, { workers: 0 });
    const threaded = await ingestFiles(paths, { workers: 2 });
    assert.deepEqual(threaded.outcomes, inline.outcomes);
    assert.deepEqual(threaded.state.toJSON(), inline.state.toJSON());
    assert.equal(inline.outcomes.filter((o) => o.kind === "rejected").length, 1);
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
