/**
 * The merged graph's machinery: the WebAssembly graph scan against the exact
 * path (parse, schema), the SipHash of identities against the reference
 * vectors, and the identity set and the hub under forced hash collisions.
 *
 * @module
 */

import assert from "node:assert/strict";
import { generateCorpus } from "../fixtures/corpus.ts";
import { readArchive } from "../core/archive.ts";
import {
  type GraphFacts,
  graphFactsOf,
  hashIdentities,
  identityBytes,
  newGraphHashKey,
  sipHash24,
  wtf8,
} from "../core/graph_facts.ts";
import { type GraphShape, scanGraphFile } from "../core/graph_scan.ts";
import { IdentitySet } from "../core/graph_set.ts";
import { FederationState, type Foldable, type GraphRecord } from "../core/hub.ts";
import { parseJson } from "../core/json.ts";
import { shapeAccepts, T_NUMBER, typeMask } from "../core/jsonl_validate.ts";
import { fastMemoryGraphCheck, GRAPH_SHAPES, type MemoryGraph } from "../core/packet.ts";
import { MemoryGraphSchema } from "../core/packet_schemas.ts";
import { manifestFor, TEST_ENV } from "./_packets.ts";

const encoder = new TextEncoder();
const HASH_KEY = Uint32Array.of(0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c);

function scan(text: string, lines = true, shapes = GRAPH_SHAPES, maxDepth = 64) {
  return scanGraphFile(encoder.encode(text), maxDepth, {
    shapes,
    environmentId: "SOC_EAST",
    hashKey: HASH_KEY,
    lines,
  });
}

/** What the exact path makes of a graph file: its facts, and its top with the records taken out. */
function exact(text: string, lines = true) {
  const graph = parseJson(text) as MemoryGraph;
  return {
    facts: graphFactsOf(graph, "SOC_EAST", { hashKey: HASH_KEY, lines }),
    top: { ...graph, nodesAdded: [], edgesAdded: [] },
  };
}

function sameFacts(a: GraphFacts, b: GraphFacts, what: string): void {
  assert.equal(a.nodes, b.nodes, `${what}: nodes`);
  assert.deepEqual(a.keyEnds, b.keyEnds, `${what}: identity ends`);
  assert.deepEqual(a.keys, b.keys, `${what}: identities`);
  assert.deepEqual(a.hashes, b.hashes, `${what}: hashes`);
  assert.equal(
    new TextDecoder().decode(a.lines),
    new TextDecoder().decode(b.lines),
    `${what}: lines`,
  );
  assert.deepEqual(a.lineEnds, b.lineEnds, `${what}: line ends`);
}

/** Graph files that the scan must take, each as the exact path reads it. */
const TAKEN: [string, string][] = [
  ["empty", '{"nodesAdded": [], "edgesAdded": []}'],
  [
    "edges first, other fields",
    '{"edgesAdded": [{"sourceId": "a", "targetId": "b", ' +
    '"kind": ""}], "x": {"nodesAdded": 1}, "nodesAdded": [{"nodeId": "a", "kind": "k"}], ' +
    '"environmentId": "SOC_EAST"}',
  ],
  [
    "escapes",
    String
      .raw`{"nodesAdded": [{"nodeId": "caf\u00e9 \ud83d\ude00 \u00ff \" \\ \/ \b\f\n\r\t", "kind": "k\/", "label": "\u2028"}], "edgesAdded": [{"sourceId": "\u0000", "targetId": "\u00e9x", "kind": "\n"}]}`,
  ],
  [
    "numbers",
    '{"nodesAdded": [{"nodeId": "n", "kind": "k", "properties": {"a": [1.0, 1e2, -0, ' +
    '0.10, 1E-7, 12345678901234567890, 9007199254740993, 0.1, -5, 100]}}], "edgesAdded": []}',
  ],
  [
    "index names",
    '{"nodesAdded": [{"nodeId": "n", "kind": "k", "properties": {"b": 1, "2": 2, ' +
    '"1": 3, "01": 4, "4294967295": 5}}], "edgesAdded": []}',
  ],
  [
    "white space",
    '\r\n\t{ "nodesAdded" :[ {"nodeId"\t:\r\n"n" , "kind":"k" } ] ,\n"edgesAdded":[]}\n ',
  ],
  [
    "proto",
    '{"nodesAdded": [{"nodeId": "n", "kind": "k", "__proto__": {"x": 1}, "properties": ' +
    '{"__proto__": null}}], "edgesAdded": []}',
  ],
  [
    "unknown fields",
    '{"nodesAdded": [{"nodeId": "n", "kind": "k", "extra": {"deep": [[[{}]]]}, ' +
    '"timestamp": "t", "label": ""}], "edgesAdded": [{"sourceId": "s", "targetId": "t", ' +
    '"kind": "k", "weight": 1.50, "sourceId2": true}]}',
  ],
];

Deno.test("the graph scan gives what the exact path gives", async (t) => {
  for (const [what, text] of TAKEN) {
    await t.step(what, () => {
      for (const lines of [true, false]) {
        const scanned = scan(text, lines);
        assert.ok(scanned, `${what}: the scan is sure`);
        const expected = exact(text, lines);
        sameFacts(scanned.facts, expected.facts, what);
        assert.deepEqual(scanned.top, expected.top);
      }
    });
  }
  await t.step("a generated corpus, indented and compact", async () => {
    for (const compactJson of [false, true]) {
      const corpus = await generateCorpus({
        environments: ["SOC_EAST", "SOC_WEST"],
        packetsPerEnvironment: 3,
        signatures: 20,
        eventsPerPacket: 60,
        graph: "per-event",
        compactJson,
      });
      for (const packet of corpus.packets) {
        const entry = readArchive(packet.bytes).find((e) => e.name === "memory_graph.json")!;
        const text = new TextDecoder().decode(entry.data);
        const scanned = scan(text);
        assert.ok(scanned, packet.fileName);
        sameFacts(scanned.facts, exact(text).facts, packet.fileName);
      }
    }
  });
});

Deno.test("the graph scan leaves to the exact path what it cannot be sure of", () => {
  const node = (fields: string) => `{"nodesAdded": [{${fields}}], "edgesAdded": []}`;
  const wide = Array.from({ length: 33 }, (_, k) => `"k${k}": ${k}`).join(", ");
  const refused = [
    ["not JSON", '{"nodesAdded": [], "edgesAdded": [],}'],
    ["no edges", '{"nodesAdded": []}'],
    ["records twice", '{"nodesAdded": [], "edgesAdded": [], "nodesAdded": []}'],
    ["a record that is not an object", '{"nodesAdded": [1], "edgesAdded": []}'],
    ["nodesAdded not an array", '{"nodesAdded": {}, "edgesAdded": []}'],
    ["no nodeId", node('"kind": "k"')],
    ["an empty nodeId", node('"nodeId": "", "kind": "k"')],
    ["a number label", node('"nodeId": "n", "kind": "k", "label": 1')],
    ["properties an array", node('"nodeId": "n", "kind": "k", "properties": []')],
    ["a name twice", node('"nodeId": "n", "kind": "k", "nodeId": "m"')],
    ["a name twice, deeper", node('"nodeId": "n", "kind": "k", "properties": {"a": 1, "a": 2}')],
    ["an escaped name", node('"node\\u0049d": "n", "kind": "k"')],
    ["more names than compared", node(`"nodeId": "n", "kind": "k", ${wide}`)],
    ["an infinite number", node('"nodeId": "n", "kind": "k", "x": 1e999')],
    ["a lone high surrogate's tail", node('"nodeId": "\\u12", "kind": "k"')],
    ["a lone high surrogate", node('"nodeId": "\\ud800 ", "kind": "k"')],
    ["a lone low surrogate", node('"nodeId": "n", "kind": "\\udc00x"')],
    ["too deep", node('"nodeId": "n", "kind": "k", "x": ' + "[".repeat(70) + "]".repeat(70))],
    ["trailing bytes", '{"nodesAdded": [], "edgesAdded": []} x'],
  ];
  for (const [what, text] of refused) assert.equal(scan(text), undefined, what);
  // Which the exact path refuses (I-JSON), so the scan must not take them.
  for (
    const what of [
      "a name twice",
      "a name twice, deeper",
      "a lone high surrogate",
      "a lone low surrogate",
    ]
  ) {
    assert.throws(() => parseJson(refused.find(([name]) => name === what)![1]), what);
  }
  assert.equal(
    scanGraphFile(Uint8Array.of(0x7b, 0xff, 0x7d), 64, {
      shapes: GRAPH_SHAPES,
      environmentId: "E",
      hashKey: HASH_KEY,
      lines: false,
    }),
    undefined,
    "not UTF-8",
  );
});

/** Values of every JSON kind, and the shapes at the schema's edges. */
const VALUES: unknown[] = [undefined, null, true, 0, -1.5, "", "x", [], ["a"], {}, { k: 1 }];

Deno.test("the graph scan and the plain check accept only what the schema accepts", () => {
  const bases: [keyof typeof GRAPH_SHAPES, Record<string, unknown>][] = [
    ["nodesAdded", { nodeId: "n", kind: "k", label: "l", timestamp: "t", properties: { p: 1 } }],
    ["edgesAdded", { sourceId: "a", targetId: "b", kind: "k" }],
  ];
  let accepted = 0;
  for (const [list, base] of bases) {
    for (const field of [...Object.keys(base), "extra"]) {
      for (const value of VALUES) {
        const record = { ...base };
        if (value === undefined) delete record[field];
        else record[field] = value;
        const graph = { nodesAdded: [], edgesAdded: [], [list]: [record] };
        const text = JSON.stringify(graph);
        const schemaSays = MemoryGraphSchema.safeParse(graph).success;
        if (scan(text)) {
          assert.ok(schemaSays, `the scan accepted ${text}`);
          accepted++;
        }
        if (fastMemoryGraphCheck(graph)) assert.ok(schemaSays, `the check accepted ${text}`);
        // One definition: the scan and the plain check agree on every record.
        assert.equal(
          scan(text) !== undefined,
          shapeAccepts(GRAPH_SHAPES[list].shape, record),
          `the scan and the shape disagree on ${text}`,
        );
      }
    }
  }
  assert.ok(accepted > 20, "not vacuous");
});

Deno.test("the graph scan checks the types its shapes give", () => {
  // A shape where a node's label must be a number: the walk reads the rule from the shape.
  const numbered: Record<"nodesAdded" | "edgesAdded", GraphShape> = {
    ...GRAPH_SHAPES,
    nodesAdded: {
      ...GRAPH_SHAPES.nodesAdded,
      shape: {
        fields: GRAPH_SHAPES.nodesAdded.shape.fields,
        types: GRAPH_SHAPES.nodesAdded.shape.types!.map((mask, k) =>
          k === 2 ? typeMask(T_NUMBER) : mask
        ),
      },
    },
  };
  const graph = (label: string) =>
    `{"nodesAdded": [{"nodeId": "n", "kind": "k", "label": ${label}}], "edgesAdded": []}`;
  assert.equal(scan(graph('"text"'), true, numbered), undefined);
  assert.ok(scan(graph("2"), true, numbered));
  assert.ok(scan(graph('"text"')));
  assert.equal(scan(graph("2")), undefined);
});

// The reference implementation's vectors: key 00 01 … 0f, message 00 01 … (length - 1).
const SIP_VECTORS: [number, bigint][] = [
  [0, 0x726fdb47dd0e0e31n],
  [1, 0x74f839c593dc67fdn],
  [7, 0xab0200f58b01d137n],
  [8, 0x93f5f5799a932462n],
  [9, 0x9e0082df0ba9e4b0n],
  [15, 0xa129ca6149be45e5n],
  [16, 0x3f2acc7f57c29bdbn],
  [63, 0x958a324ceb064572n],
];

Deno.test("identities are hashed with SipHash-2-4, in WebAssembly and in JavaScript", () => {
  const message = Uint8Array.from({ length: 64 }, (_, i) => i);
  for (const [length, expected] of SIP_VECTORS) {
    const words = [Number(expected & 0xffffffffn), Number(expected >> 32n)];
    assert.deepEqual(sipHash24(message.subarray(0, length), HASH_KEY), words, `length ${length}`);
    // hashIdentities runs the WebAssembly hashKeys.
    const hashed = hashIdentities(message, Uint32Array.of(length), HASH_KEY);
    assert.deepEqual([...hashed], words, `WebAssembly, length ${length}`);
  }
  // Many identities end to end: the two agree on every one, under a random key.
  const key = newGraphHashKey();
  const ends = Uint32Array.from({ length: 200 }, (_, i) => (i * (i + 1)) / 2);
  const bytes = crypto.getRandomValues(new Uint8Array(ends.at(-1)!));
  const hashes = hashIdentities(bytes, ends, key);
  for (let i = 0; i < ends.length; i++) {
    const start = i === 0 ? 0 : ends[i - 1];
    assert.deepEqual(
      [...hashes.subarray(2 * i, 2 * i + 2)],
      sipHash24(bytes.subarray(start, ends[i]), key),
    );
  }
});

Deno.test("identities are injective: WTF-8, and lengths before values", () => {
  assert.notDeepEqual(wtf8("\ud800"), wtf8("\udc00"));
  assert.notDeepEqual(wtf8("\ud800"), wtf8("\ufffd"));
  assert.deepEqual(wtf8("\ud83d\ude00"), encoder.encode("\ud83d\ude00"));
  assert.notDeepEqual(identityBytes(["a\u0000b", "c", "k"]), identityBytes(["a", "b\u0000c", "k"]));
  assert.notDeepEqual(identityBytes(["ab", "c"]), identityBytes(["a", "bc"]));
});

Deno.test("the identity set keeps every distinct identity when all hashes collide", () => {
  const set = new IdentitySet();
  // Shared prefixes, other field counts, long values (lengths of two and three LEB128 bytes).
  const identities = [
    ...Array.from({ length: 1500 }, (_, i) => identityBytes([`SOC_EAST-${i >> 4}-evt-${i}`])),
    ...Array.from({ length: 300 }, (_, i) => identityBytes([`n${i}`, `n${i + 1}`, "follows"])),
    identityBytes(["x".repeat(200)]),
    identityBytes(["x".repeat(201)]),
    identityBytes(["y".repeat(20000), ""]),
    identityBytes([""]),
    identityBytes([]),
  ];
  for (const key of identities) assert.equal(set.add(key, 0, key.length, 42, 42), true);
  assert.equal(set.size, identities.length);
  for (const key of identities) assert.equal(set.add(key, 0, key.length, 42, 42), false);
  // With real hashes too, and an identity inside a larger buffer.
  const real = new IdentitySet();
  const all = new Uint8Array(identities.reduce((n, key) => n + key.length, 0));
  const ends = new Uint32Array(identities.length);
  identities.reduce((at, key, i) => (all.set(key, at), ends[i] = at + key.length), 0);
  const hashes = hashIdentities(all, ends, HASH_KEY);
  for (const pass of [true, false]) {
    for (let i = 0, start = 0; i < ends.length; start = ends[i++]) {
      assert.equal(real.add(all, start, ends[i], hashes[2 * i], hashes[2 * i + 1]), pass);
    }
  }
  assert.equal(real.size, identities.length);
});

/** A packet to fold whose graph facts are given, every hash forced to one value. */
function collidingPacket(
  graph: Pick<MemoryGraph, "nodesAdded" | "edgesAdded">,
  windowEnd: string,
): Foldable {
  const facts = graphFactsOf(graph, TEST_ENV, { hashKey: HASH_KEY, lines: true });
  facts.hashes.fill(7);
  // A hash key equal to the state's would be needed for the hashes to be kept: give the state's.
  return {
    source: `packet-${windowEnd}.zip`,
    digest: `sha256:${windowEnd}`,
    manifest: manifestFor(new Map(), { windowEnd, windowStart: "2026-02-28T10:00:00Z" }) as never,
    canonEntry: { entries: {} },
    memoryGraph: { nodesAdded: [], edgesAdded: [] },
    graphFacts: facts,
  };
}

Deno.test("the hub drops no distinct node or edge when their hashes collide", async () => {
  const state = new FederationState();
  const lines: string[] = [];
  const decoder = new TextDecoder();
  const fold = async (packet: Foldable) => {
    packet.graphFacts!.hashKey = state.graphHashKey;
    await state.fold(packet, undefined, (bytes) => void lines.push(decoder.decode(bytes)));
  };
  await fold(collidingPacket({
    nodesAdded: [{ nodeId: "a", kind: "k" }, { nodeId: "b", kind: "k" }, {
      nodeId: "a",
      kind: "again",
    }],
    edgesAdded: [
      { sourceId: "a\u0000b", targetId: "c", kind: "k" },
      { sourceId: "a", targetId: "b\u0000c", kind: "k" },
      { sourceId: "a", targetId: "b\u0000c", kind: "k", note: "again" },
    ],
  }, "2026-02-28T10:10:00Z"));
  await fold(collidingPacket({
    nodesAdded: [{ nodeId: "c", kind: "k" }, { nodeId: "b", kind: "later" }],
    edgesAdded: [{ sourceId: "a\u0000b", targetId: "c", kind: "k2" }],
  }, "2026-02-28T10:20:00Z"));
  const stats = state.stats()[TEST_ENV];
  assert.equal(stats.graphNodes, 3);
  assert.equal(stats.graphEdges, 3);
  const records = lines.join("").trimEnd().split("\n").map((l) => JSON.parse(l) as GraphRecord);
  assert.deepEqual(
    records.map((r) => r.type === "node" ? r.node.nodeId : `${r.edge.sourceId}>${r.edge.targetId}`),
    ["a", "b", "a\u0000b>c", "a>b\u0000c", "c", "a\u0000b>c"],
  );
  assert.ok(records.every((r) => r.type === "edge" || r.node.kind === "k"), "the first copy kept");
});

Deno.test("graph facts that do not hold together are refused before the state changes", async () => {
  const graph = { nodesAdded: [{ nodeId: "a", kind: "k" }], edgesAdded: [] };
  const broken: [string, (facts: GraphFacts) => void][] = [
    ["more nodes than records", (f) => f.nodes = 2],
    ["an end out of bounds", (f) => f.keyEnds[0] = 99],
    ["one hash word", (f) => f.hashes = f.hashes.slice(1)],
    ["a field past its end", (f) => f.keys[0] = 9],
    ["a node with two fields", (f) => {
      f.keys = Uint8Array.from(identityBytes(["a", "b"]));
      f.keyEnds = Uint32Array.of(f.keys.length);
    }],
    ["lines without ends", (f) => f.lineEnds = undefined],
  ];
  for (const [what, breakIt] of broken) {
    const state = new FederationState();
    const packet = collidingPacket(graph, "2026-02-28T10:10:00Z");
    breakIt(packet.graphFacts!);
    await assert.rejects(() => state.fold(packet), TypeError, what);
    assert.deepEqual(state.stats(), {}, `${what}: the state did not change`);
  }
});
