/**
 * The merged memory graph, as `jrm federate --graph-out` writes it and as a
 * library's graph sink receives it: the spec's union of each environment's
 * packet graphs (a node by `nodeId`, an edge by `sourceId`, `targetId` and
 * `kind`; the copy in the earliest window kept), one JSON line per record in
 * the order the packets are folded, nodes before edges within a packet.
 *
 * The expected graph is made here the plain way: every accepted packet read
 * whole with `readPacket` (the exact path) in the hub's fold order, and its
 * nodes and edges kept when their identity was not seen before.
 *
 * @module
 */

import assert from "node:assert/strict";
import { generateCorpus, writePackets } from "../fixtures/corpus.ts";
import { FederationState, type GraphRecord, ingestFiles, type IngestOutcome } from "../core/hub.ts";
import { graphFactsOf } from "../core/graph_facts.ts";
import { readPacket } from "../core/packet.ts";
import "../core/packet_schemas.ts";
import { runJrm, withTempDir } from "./_cli.ts";
import { buildTestPacket, REPO_ROOT, text } from "./_packets.ts";

/** The graph the spec defines over accepted packets folded in this order. */
async function expectedGraph(outcomes: IngestOutcome[]): Promise<GraphRecord[]> {
  const seen = new Set<string>();
  const records: GraphRecord[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind !== "accepted") continue;
    const read = readPacket(await Deno.readFile(outcome.record.source), {
      source: outcome.record.source,
    });
    assert.ok(read.packet, `${outcome.record.source}: ${JSON.stringify(read.violations)}`);
    const environmentId = read.packet.manifest.environmentId;
    const { nodesAdded, edgesAdded } = read.packet.memoryGraph;
    for (const node of nodesAdded) {
      const key = JSON.stringify(["node", environmentId, node.nodeId]);
      if (seen.has(key)) continue;
      seen.add(key);
      records.push({ type: "node", environmentId, node });
    }
    for (const edge of edgesAdded) {
      const key = JSON.stringify(["edge", environmentId, edge.sourceId, edge.targetId, edge.kind]);
      if (seen.has(key)) continue;
      seen.add(key);
      records.push({ type: "edge", environmentId, edge });
    }
  }
  return records;
}

const lines = (records: GraphRecord[]) => records.map((r) => JSON.stringify(r) + "\n").join("");

/** Federate `paths` in-process (records from the sink) and with the CLI (the --graph-out file). */
async function federateBothWays(dir: string, paths: string[]) {
  const sunk: GraphRecord[] = [];
  const ingestion = await ingestFiles(paths, { graphSink: (record) => void sunk.push(record) });
  const run = await runJrm([
    "federate",
    "--packets",
    ...paths,
    "--out",
    `${dir}/report.json`,
    "--graph-out",
    `${dir}/graph.jsonl`,
    "--now",
    "2026-03-01T00:00:00Z",
  ]);
  assert.ok(run.code === 0 || run.code === 1, run.stderr);
  const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
  return {
    ingestion,
    sunk,
    written: await Deno.readTextFile(`${dir}/graph.jsonl`),
    merged: report.mergedGraph as {
      nodes: number;
      edges: number;
      perEnvironment: Record<string, { nodes: number; edges: number }>;
    },
  };
}

/** The counts the report must give for `records`. */
function counts(records: GraphRecord[]) {
  const perEnvironment: Record<string, { nodes: number; edges: number }> = {};
  for (const r of records) {
    const env = perEnvironment[r.environmentId] ??= { nodes: 0, edges: 0 };
    if (r.type === "node") env.nodes++;
    else env.edges++;
  }
  const sum = (k: "nodes" | "edges") => Object.values(perEnvironment).reduce((n, e) => n + e[k], 0);
  return { nodes: sum("nodes"), edges: sum("edges"), perEnvironment };
}

Deno.test("the fixtures' merged graph is the one pinned in tests/snapshots/graph", async () => {
  await withTempDir("jrm-graph-", async (dir) => {
    const packets = `${REPO_ROOT}fixtures/packets`;
    const paths = [...Deno.readDirSync(packets)].map((e) => `${packets}/${e.name}`).sort();
    const { ingestion, sunk, written, merged } = await federateBothWays(dir, paths);
    const expected = await expectedGraph(ingestion.outcomes);
    assert.equal(written, lines(expected));
    assert.deepEqual(sunk, expected);
    assert.deepEqual(merged, counts(expected));
    const pinned = `${REPO_ROOT}tests/snapshots/graph/fixtures.jsonl`;
    if (Deno.env.get("UPDATE_SNAPSHOTS")) await Deno.writeTextFile(pinned, written);
    assert.equal(written, await Deno.readTextFile(pinned));
  });
});

Deno.test("a generated corpus with a node per event merges to the spec's graph", async () => {
  await withTempDir("jrm-graph-", async (dir) => {
    const corpus = await generateCorpus({
      environments: ["SOC_EAST", "SOC_NORTH", "SOC_WEST"],
      packetsPerEnvironment: 4,
      signatures: 30,
      eventsPerPacket: 45,
      graph: "per-event",
    });
    const paths = await writePackets(dir, corpus.packets);
    const { ingestion, sunk, written, merged } = await federateBothWays(dir, paths);
    const expected = await expectedGraph(ingestion.outcomes);
    assert.equal(ingestion.outcomes.filter((o) => o.kind === "accepted").length, paths.length);
    assert.equal(written, lines(expected));
    assert.deepEqual(sunk, expected);
    assert.deepEqual(merged, counts(expected));
    // Not vacuous: nodes announced again were dropped, and the copy kept is the earliest.
    const announced = corpus.packets.length * 46 + 3 * 3 * 3; // every node of every packet
    assert.ok(merged.nodes < announced);
    const again = expected.filter((r) =>
      r.type === "node" && /^seen again/.test(`${r.node.label}`)
    );
    assert.equal(again.length, 0);
  });
});

/**
 * A memory graph written by hand: spellings that a re-serialization would
 * change. (No member name holds an escape: the graph scan takes it; the
 * other environment's copy below has one, so the exact path reads that.)
 */
const TRICKY_GRAPH = `{
  "environmentId": "SOC_EAST", "extra": [1, {"deep": [[[]]]}],
  "nodesAdded": [
    {"nodeId": "caf\\u00e9", "kind": "k", "label": "escaped id"},
    {"nodeId": "café", "kind": "k", "label": "the same id, raw: dropped"},
    {"kind": "k", "nodeId": "order", "properties": {"2": 1, "1": [1.0, 1e2, -0, 0.10, 1E-7]}},
    {"nodeId": "n\\"q\\\\\\/", "kind": "", "properties": {"a/b": "\\u2028 \\ud83d\\ude00 \\u001f \\/ \\b\\f\\n\\r\\t"}},
    {"nodeId": "big", "kind": "k", "properties": {"n": 12345678901234567890, "m": 9007199254740993, "f": 0.1}},
    {"nodeId": "dup", "kind": "first"},
    {"nodeId": "dup", "kind": "second: dropped"},
    {"nodeId": "proto", "kind": "k", "properties": {"__proto__": {"x": 1}}, "__proto__": null},
    {"nodeId": "spaced"	,	"kind" :"k" ,"label":"tabs and CRLF"}\r
  ],
  "edgesAdded": [
    {"sourceId": "caf\\u00e9", "targetId": "order", "kind": "k"},
    {"sourceId": "café", "targetId": "order", "kind": "k", "note": "the same edge: dropped"},
    {"sourceId": "café", "targetId": "order", "kind": "k2"},
    {"targetId": "dup", "sourceId": "order", "kind": "k", "weight": 1.50}
  ]
}
`;

Deno.test("hand-written graphs keep their nodes' values exactly, once per identity", async () => {
  await withTempDir("jrm-graph-", async (dir) => {
    const first = await buildTestPacket({ files: { "memory_graph.json": text(TRICKY_GRAPH) } });
    // A later window: its copies of known nodes are dropped, its new ones kept.
    const later = await buildTestPacket({
      windowStart: "2026-02-28T10:10:00Z",
      windowEnd: "2026-02-28T10:20:00Z",
      files: {
        "memory_graph.json": text(JSON.stringify({
          nodesAdded: [
            { nodeId: "order", kind: "later copy: dropped" },
            { nodeId: "new", kind: "k" },
          ],
          edgesAdded: [{ sourceId: "order", targetId: "dup", kind: "k" }],
        })),
      },
    });
    // Another environment: the same ids are other nodes.
    const west = await buildTestPacket({
      environmentId: "SOC_WEST",
      files: {
        "memory_graph.json": text(
          TRICKY_GRAPH.replace("SOC_EAST", "SOC_WEST").replace('"a/b"', '"a\\/b"'),
        ),
      },
    });
    // A rejected packet adds nothing.
    const rejected = await buildTestPacket({
      windowStart: "2026-02-28T10:20:00Z",
      windowEnd: "2026-02-28T10:30:00Z",
      files: {
        "memory_graph.json": text(
          '{"nodesAdded": [{"nodeId": "rejected", "kind": "k"}], ' +
            '"edgesAdded": []}',
        ),
      },
      editEntries: (entries) => entries.set("truth_snapshot.json", text("{}")),
    });
    const paths: string[] = [];
    for (const [name, packet] of Object.entries({ first, later, west, rejected })) {
      paths.push(`${dir}/${name}.zip`);
      await Deno.writeFile(paths.at(-1)!, packet.bytes);
    }
    const { ingestion, sunk, written, merged } = await federateBothWays(dir, paths);
    assert.deepEqual(
      ingestion.outcomes.map((o) => o.kind),
      ["accepted", "accepted", "accepted", "rejected"],
    );
    const expected = await expectedGraph(ingestion.outcomes);
    assert.equal(written, lines(expected));
    assert.deepEqual(sunk, expected);
    assert.deepEqual(merged, counts(expected));
    const ids = expected.filter((r) => r.type === "node").map((r) =>
      `${r.environmentId} ${r.type === "node" ? r.node.nodeId : ""}`
    );
    assert.equal(ids.filter((id) => id === "SOC_EAST café").length, 1);
    assert.ok(!ids.includes("SOC_EAST rejected"));
    assert.ok(ids.includes("SOC_WEST order") && ids.includes("SOC_EAST new"));
    assert.match(written, /"properties":\{"1":\[1,100,0,0.1,1e-7\],"2":1\}/);
  });
});

Deno.test("a graph lines sink's bytes are freed once it has taken them; a caller's facts are not", async () => {
  await withTempDir("jrm-graph-", async (dir) => {
    const corpus = await generateCorpus({
      environments: ["SOC_EAST", "SOC_WEST"],
      packetsPerEnvironment: 2,
      signatures: 5,
      eventsPerPacket: 12,
      graph: "per-event",
    });
    const paths = await writePackets(dir, corpus.packets);
    const kept: Uint8Array[] = [];
    let copied = "";
    const ingestion = await ingestFiles(paths, {
      workers: 0,
      graphLines: (lines) => {
        kept.push(lines);
        copied += new TextDecoder().decode(lines);
      },
    });
    assert.equal(ingestion.outcomes.filter((o) => o.kind === "accepted").length, paths.length);
    assert.ok(kept.length > 0 && copied.length > 0);
    // The hub's own buffers: released after each fold, so a sink that keeps them must copy.
    assert.ok(
      kept.every((lines) => lines.byteLength === 0 && (lines.buffer as ArrayBuffer).detached),
    );
    assert.equal(copied, lines(await expectedGraph(ingestion.outcomes)));

    // Facts a library caller made and hands in are its own: folding leaves them whole.
    const state = new FederationState();
    const read = readPacket(await Deno.readFile(paths[0]), { source: paths[0] });
    const facts = graphFactsOf(read.packet!.memoryGraph, read.packet!.manifest.environmentId, {
      hashKey: state.graphHashKey,
      lines: true,
    });
    const before = [facts.keys.byteLength, facts.lines!.byteLength];
    await state.fold({ ...read.packet!, graphFacts: facts }, undefined, () => {});
    assert.deepEqual([facts.keys.byteLength, facts.lines!.byteLength], before);
    assert.ok(before[0] > 0);
  });
});
