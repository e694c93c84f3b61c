// Every typed field of the packet format's definition (the zod schemas in core/packet_schemas.ts)
// is enforced by every path that reads packets: the exact reader and the fast ones the hub uses
// (plain checks, the canon scan, the JSON-lines and graph walks in JavaScript and WebAssembly).
// The fields are read off the schemas, so a field added to the definition and not to a fast path
// fails here with no change to this file.
import assert from "node:assert/strict";
import { z } from "zod";
import { ingestFiles } from "../core/hub.ts";
import { readPacket } from "../core/packet.ts";
import {
  AuthoritySliceSchema,
  CanonEntrySchema,
  DriftSignalRecordSchema,
  LineageRecordSchema,
  MemoryGraphSchema,
} from "../core/packet_schemas.ts";
import { withTempDir } from "./_cli.ts";
import { buildTestPacket, dataFiles, hmacSigner, json, jsonl, keyringOf } from "./_packets.ts";

/** Values of every JSON type, and a few numbers that ranges and integers refuse. */
const CANDIDATES: unknown[] = ["x", "", 1.5, -1, 2, 0, true, null, {}, [], [1], ["a"], [{}]];

type Schema = z.ZodType;

/** The fields of an object schema, each with the values its own schema refuses. */
function wrongValues(object: z.ZodObject): [string, unknown[]][] {
  return Object.entries(object.shape as Record<string, Schema>).map(([field, schema]) => [
    field,
    CANDIDATES.filter((value) => !schema.safeParse(value).success),
  ]);
}

/** The object schema inside an array (of an optional) field. */
function elementOf(schema: Schema): z.ZodObject {
  let inner = schema;
  while (inner instanceof z.ZodOptional) inner = inner.unwrap() as Schema;
  assert.ok(inner instanceof z.ZodArray, "an array field");
  const element = inner.element as Schema;
  assert.ok(element instanceof z.ZodObject, "of objects");
  return element;
}

/** Where a wrong value can sit in a packet, and the packet's data files with it there. */
interface Place {
  name: string;
  object: z.ZodObject;
  files: (field: string, value: unknown) => Record<string, Uint8Array>;
}

const base = dataFiles();
const parse = (file: string) =>
  JSON.parse(new TextDecoder().decode(base.get(file)!)) as Record<string, unknown>;
const lines = (file: string) =>
  new TextDecoder().decode(base.get(file)!).trim().split("\n").map((line) => JSON.parse(line));

const canon = parse("canon_entry.json") as { entries: Record<string, Record<string, unknown>> };
const entry = canon.entries["SIG-001"];
const graph = parse("memory_graph.json") as Record<string, Record<string, unknown>[]>;

const PLACES: Place[] = [
  {
    name: "a canon entry",
    object: CanonEntrySchema as unknown as z.ZodObject,
    files: (field, value) => ({
      "canon_entry.json": json({ ...canon, entries: { "SIG-001": { ...entry, [field]: value } } }),
    }),
  },
  {
    name: "a canon entry's change",
    object: elementOf((CanonEntrySchema as unknown as z.ZodObject).shape.changes as Schema),
    files: (field, value) => ({
      "canon_entry.json": json({
        ...canon,
        entries: {
          "SIG-001": { ...entry, changes: [{ action: "set", field: "f", [field]: value }] },
        },
      }),
    }),
  },
  {
    name: "a memory-graph node",
    object: elementOf((MemoryGraphSchema as unknown as z.ZodObject).shape.nodesAdded as Schema),
    files: (field, value) => ({
      "memory_graph.json": json({
        ...graph,
        nodesAdded: [{ ...graph.nodesAdded[0], [field]: value }, ...graph.nodesAdded.slice(1)],
      }),
    }),
  },
  {
    name: "a memory-graph edge",
    object: elementOf((MemoryGraphSchema as unknown as z.ZodObject).shape.edgesAdded as Schema),
    files: (field, value) => ({
      "memory_graph.json": json({
        ...graph,
        edgesAdded: [{ ...graph.edgesAdded[0], [field]: value }],
      }),
    }),
  },
  {
    name: "a decision-lineage line",
    object: LineageRecordSchema as unknown as z.ZodObject,
    files: (field, value) => {
      const [first, ...rest] = lines("decision_lineage.jsonl");
      return { "decision_lineage.jsonl": jsonl([...rest, { ...first, [field]: value }]) };
    },
  },
  {
    name: "a drift-signal line",
    object: DriftSignalRecordSchema as unknown as z.ZodObject,
    files: (field, value) => ({
      "drift_signal.jsonl": jsonl([{ ...lines("drift_signal.jsonl")[0], [field]: value }]),
    }),
  },
  {
    name: "the authority slice",
    object: AuthoritySliceSchema as unknown as z.ZodObject,
    files: (field, value) => ({
      "authority_slice.json": json({ ...parse("authority_slice.json"), [field]: value }),
    }),
  },
];

Deno.test("the conformance test reads every field off the definition, with values it refuses", () => {
  for (const place of PLACES) {
    const fields = wrongValues(place.object);
    assert.ok(fields.length > 0, place.name);
    for (const [field, values] of fields) {
      // A field whose schema takes anything (z.unknown()) has nothing wrong to try.
      if (values.length === 0) continue;
      assert.ok(!values.includes(undefined), `${place.name}: ${field}`);
    }
  }
  // The fields the detectors compare are among those tried.
  const tried = wrongValues(CanonEntrySchema as unknown as z.ZodObject).map(([field]) => field);
  for (const field of ["rev", "confidence", "patchId", "lineage", "signatureId"]) {
    assert.ok(tried.includes(field), field);
  }
});

Deno.test("every reading path refuses a wrongly typed field of the definition", async (t) => {
  const signer = await hmacSigner();
  const keyring = keyringOf(["SOC_EAST", signer]);
  await withTempDir("jrm-conformance-", async (dir) => {
    const valid = await buildTestPacket({ signer });
    assert.equal(readPacket(valid.bytes).violations.length, 0, "the base packet is valid");
    let n = 0;
    for (const place of PLACES) {
      for (const [field, values] of wrongValues(place.object)) {
        for (const value of values) {
          await t.step(`${place.name}: ${field} = ${JSON.stringify(value)}`, async () => {
            const { bytes } = await buildTestPacket({ signer, files: place.files(field, value) });
            const exact = readPacket(bytes);
            assert.ok(exact.violations.length > 0, "readPacket (exact) accepted it");
            const fast = readPacket(bytes, { materializeRecords: false, canonAsText: true });
            assert.ok(
              fast.violations.length > 0,
              "readPacket (the hub's fast options) accepted it",
            );
            const path = `${dir}/p-${n++}.zip`;
            await Deno.writeFile(path, bytes);
            for (const graphLines of [undefined, () => {}]) {
              const { outcomes } = await ingestFiles([path], { keyring, workers: 0, graphLines });
              assert.equal(
                outcomes[0].kind,
                "rejected",
                `the hub accepted it (graph lines ${graphLines ? "on" : "off"})`,
              );
            }
          });
        }
      }
    }
  });
});
