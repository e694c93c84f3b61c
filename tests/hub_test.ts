import assert from "node:assert/strict";
import { generateCorpus, writePackets } from "../fixtures/corpus.ts";
import { runDetectors } from "../core/drift.ts";
import { FederationState, type Foldable, type GraphRecord, ingestFiles } from "../core/hub.ts";
import { makeCanonTexts } from "../core/canon_texts.ts";
import { buildReport } from "../core/report.ts";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { readPacket } from "../core/packet.ts";
import { Keyring } from "../core/signer.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import hmacSha256 from "../plugins/signers/hmac_sha256.ts";
import type { Signer } from "../core/signer.ts";
import { runJrm } from "./_cli.ts";
import { random } from "./_random.ts";

const ENVS = ["SOC_EAST", "SOC_NORTH", "SOC_SOUTH", "SOC_WEST"];
const REPO = new URL("..", import.meta.url).pathname;

async function signers(): Promise<{ signers: Record<string, Signer>; keyring: Keyring }> {
  const signers: Record<string, Signer> = {};
  const entries = [];
  for (const env of ENVS) {
    const { signer } = await hmacSha256.createSigner({
      bytes: new TextEncoder().encode(`test-key-for-${env}-0123456789abcdef`),
      origin: env,
    });
    signers[env] = signer;
    entries.push({ environment: env, signer });
  }
  return { signers, keyring: new Keyring(entries) };
}

/** A seeded shuffle, so "any order" is several fixed orders. */
function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Each drift as one line: type, signature, environments and what its resolution decided. */
function driftKeys(
  drifts: {
    driftType: string;
    signatureId: string;
    environments: string[];
    resolution?: { action: string; source: string | null; targets: string[] };
  }[],
) {
  return drifts.map((d) =>
    `${d.driftType} ${d.signatureId} ${
      [...d.environments].sort().join(",")
    } ${d.resolution?.action} ${d.resolution?.source} ${
      [...d.resolution?.targets ?? []].sort().join(",")
    }`
  )
    .sort();
}

const detectorRuns = () => resolveDetectorRuns(builtinRegistry(), defaultConfig());

for (const snapshotCanon of [false, true]) {
  const packets = snapshotCanon ? "packets that carry the whole canon" : "packets";
  Deno.test(`the hub finds exactly the planted drift, with ${packets} named in any order`, async (t) => {
    const { signers: keys, keyring } = await signers();
    const corpus = await generateCorpus({
      environments: ENVS,
      packetsPerEnvironment: 3,
      signatures: 56,
      eventsPerPacket: 4,
      signers: keys,
      snapshotCanon,
    });
    const dir = await Deno.makeTempDir();
    try {
      // File names that sort in neither window nor environment order.
      const paths: string[] = [];
      for (const [i, packet] of shuffle(corpus.packets, 7).entries()) {
        const path = `${dir}/${String((i * 37) % 101).padStart(3, "0")}-packet.zip`;
        await Deno.writeFile(path, packet.bytes);
        paths.push(path);
      }
      const expected = driftKeys(corpus.expected);
      assert.ok(expected.some((k) => k.startsWith("VERSION_SKEW")));
      assert.ok(expected.some((k) => k.startsWith("POSTURE_DIVERGENCE")));
      assert.ok(expected.some((k) => k.startsWith("REFINEMENT_CONFLICT")));
      let reports: string[] = [];
      for (const seed of [1, 2, 3, 4]) {
        await t.step(`order ${seed}`, async () => {
          const ingestion = await ingestFiles(shuffle(paths, seed), { keyring });
          assert.equal(
            ingestion.outcomes.filter((o) => o.kind === "accepted").length,
            paths.length,
          );
          const detection = await runDetectors(ingestion.state.view(), detectorRuns());
          assert.deepEqual(detection.errors, []);
          assert.deepEqual(driftKeys(detection.drifts), expected);
          const report = buildReport(ingestion, detection, "2026-03-01T00:00:00.000Z");
          reports.push(JSON.stringify({ ...report, packetsRejected: [], duplicates: [] }));
        });
      }
      await t.step("drift ids and reports do not depend on the order", () => {
        assert.equal(new Set(reports).size, 1);
        reports = [];
      });
      await t.step(
        "entries folded as text (from workers) and as objects give one state",
        async () => {
          const ingestion = await ingestFiles(paths, { keyring, workers: 2 });
          const state = new FederationState();
          const ordered = [...corpus.packets].sort((a, b) =>
            a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0
          );
          for (const packet of ordered) await state.fold(readPacket(packet.bytes).packet!);
          const entries = (json: Record<string, unknown>) =>
            JSON.stringify(json, (key, value) => key === "packets" ? undefined : value);
          assert.equal(entries(ingestion.state.toJSON()), entries(state.toJSON()));
          // Either way, what detectors read is frozen all the way down.
          for (const view of [ingestion.state.view(), state.view()]) {
            for (const signatureId of view.signatures()) {
              for (const held of view.entries(signatureId)) assertDeepFrozen(held);
            }
          }
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("FederationState.fold never lets an older window overwrite a newer one", async () => {
  const corpus = await generateCorpus({
    environments: ["A_ENV", "B_ENV"],
    packetsPerEnvironment: 2,
    signatures: 14,
    eventsPerPacket: 1,
  });
  const packets = corpus.packets.filter((p) => p.environmentId === "A_ENV").map((p) =>
    readPacket(p.bytes, { source: p.fileName }).packet!
  );
  const newestFirst = [...packets].sort((a, b) =>
    b.manifest.windowEnd.localeCompare(a.manifest.windowEnd) || b.manifest.part - a.manifest.part
  );
  const oldestFirst = [...newestFirst].reverse();
  const forward = new FederationState();
  for (const packet of oldestFirst) await forward.fold(packet);
  const replayed = new FederationState();
  for (const packet of newestFirst) await replayed.fold(packet);
  assert.deepEqual(replayed.toJSON(), forward.toJSON());
  // sig-0008 ("stale") shows an old rev in the first window; the newest wins.
  const held = forward.view().entries("sig-0008")[0];
  assert.equal(held.provenance.windowEnd, "2026-02-28T10:20:00Z");
  assert.equal(held.entry.rev, 2 + (8 % 4));
});

Deno.test("ingestFiles() lists rejected packets and duplicates and goes on with the rest", async () => {
  const { signers: keys, keyring } = await signers();
  const corpus = await generateCorpus({
    environments: ["SOC_EAST", "SOC_WEST"],
    packetsPerEnvironment: 2,
    signatures: 14,
    eventsPerPacket: 2,
    signers: keys,
  });
  const dir = await Deno.makeTempDir();
  try {
    const paths = await writePackets(dir, corpus.packets);
    await Deno.copyFile(paths[0], `${dir}/copy-of-first.zip`);
    await Deno.writeTextFile(`${dir}/garbage.zip`, "PK but not really");
    const tampered = corpus.packets[1].bytes.slice();
    tampered[tampered.length - 30] ^= 0xff; // inside the end record's neighbourhood
    await Deno.writeFile(`${dir}/tampered.zip`, tampered);
    const graph: GraphRecord[] = [];
    const ingestion = await ingestFiles(
      [...paths, `${dir}/copy-of-first.zip`, `${dir}/garbage.zip`, `${dir}/tampered.zip`],
      { keyring, graphSink: (record) => void graph.push(record) },
    );
    const kinds = ingestion.outcomes.map((o) => o.kind);
    assert.equal(kinds.filter((k) => k === "accepted").length, paths.length);
    assert.equal(kinds.filter((k) => k === "duplicate").length, 1);
    assert.equal(kinds.filter((k) => k === "rejected").length, 2);
    const report = buildReport(
      ingestion,
      await runDetectors(ingestion.state.view(), detectorRuns()),
      "2026-03-01T00:00:00.000Z",
    );
    assert.equal(report.packetsIngested, paths.length);
    assert.deepEqual(report.duplicates.map((d) => d.source), [`${dir}/copy-of-first.zip`]);
    assert.deepEqual(
      report.packetsRejected.map((r) => r.source),
      [`${dir}/garbage.zip`, `${dir}/tampered.zip`],
    );
    for (const rejected of report.packetsRejected) {
      assert.ok(rejected.violations.length > 0 && rejected.reasonCode !== "ACCEPTED");
    }
    // The graph: every node once per environment, even the root node every packet repeats.
    const roots = graph.filter((r) => r.type === "node" && r.node.kind === "environment");
    assert.equal(roots.length, 2);
    assert.equal(report.mergedGraph.nodes + report.mergedGraph.edges, graph.length);
    assert.ok(report.crossEnvDrifts.length > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm federate writes a byte-identical report for the same inputs and time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const packets = `${REPO}fixtures/packets`;
    const keyring = `${REPO}fixtures/keyring.json`;
    const files = [...Deno.readDirSync(packets)].map((e) => `${packets}/${e.name}`).sort();
    const first = await runJrm([
      "federate",
      "--packets",
      ...files,
      "--keyring",
      keyring,
      "--out",
      `${dir}/a.json`,
      "--graph-out",
      `${dir}/a.jsonl`,
      "--now",
      "2026-03-01T00:00:00Z",
    ]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /9 accepted, 0 rejected, 0 duplicate/);
    const second = await runJrm([
      "federate",
      "--packets",
      ...files.reverse(),
      "--keyring",
      keyring,
      "--out",
      `${dir}/b.json`,
      "--graph-out",
      `${dir}/b.jsonl`,
      "--detailed-exitcode",
      "--json",
    ], { env: { SOURCE_DATE_EPOCH: String(Date.parse("2026-03-01T00:00:00Z") / 1000) } });
    assert.equal(second.code, 2, "drift with --detailed-exitcode exits 2");
    const a = await Deno.readFile(`${dir}/a.json`);
    const b = await Deno.readFile(`${dir}/b.json`);
    assert.deepEqual(a, b);
    assert.deepEqual(await Deno.readFile(`${dir}/a.jsonl`), await Deno.readFile(`${dir}/b.jsonl`));
    const printed = JSON.parse(second.stdout);
    assert.equal(printed.generatedAt, "2026-03-01T00:00:00.000Z");
    const expected = JSON.parse(await Deno.readTextFile(`${REPO}fixtures/expected_drift.json`));
    assert.deepEqual(driftKeys(printed.crossEnvDrifts), driftKeys(expected));
    const graphLines = (await Deno.readTextFile(`${dir}/a.jsonl`)).trim().split("\n");
    assert.equal(graphLines.length, printed.mergedGraph.nodes + printed.mergedGraph.edges);
    // No temporary files left beside the outputs.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "a.json",
      "a.jsonl",
      "b.json",
      "b.jsonl",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm federate and hub replay exit codes and outputs", async (t) => {
  const dir = await Deno.makeTempDir();
  const packets = `${REPO}fixtures/packets`;
  try {
    await t.step("one environment: no drift, --detailed-exitcode exits 0", async () => {
      const result = await runJrm([
        "federate",
        "--packets",
        `${packets}/JRM_X_PACKET_SOC_EAST_*.zip`,
        "--out",
        `${dir}/east.json`,
        "--detailed-exitcode",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /signatures were not checked|no key/i);
    });
    await t.step("a missing input is a usage error and writes nothing", async () => {
      const result = await runJrm([
        "federate",
        "--packets",
        `${dir}/nope.zip`,
        "--out",
        `${dir}/x.json`,
      ]);
      assert.equal(result.code, 2);
      assert.equal(result.stderr.trim().split("\n").length, 1);
      assert.match(result.stderr, /nope\.zip/);
      assert.doesNotMatch(result.stderr, /\s+at\s/);
      await assert.rejects(Deno.stat(`${dir}/x.json`));
    });
    await t.step(
      "a rejected packet: outputs written, one error line, exit 1 (over drift's 2)",
      async () => {
        const inputs = `${dir}/inputs`;
        await Deno.mkdir(inputs);
        for await (const entry of Deno.readDir(packets)) {
          await Deno.copyFile(`${packets}/${entry.name}`, `${inputs}/${entry.name}`);
        }
        await Deno.writeTextFile(`${inputs}/junk.zip`, "not a zip");
        const keyring = ["--keyring", `${REPO}fixtures/keyring.json`];
        for (
          const args of [
            ["federate", "--out", `${dir}/r.json`, "--detailed-exitcode"],
            ["federate", "--out", `${dir}/r2.json`, "--json"],
            ["hub", "replay", "--out", `${dir}/s.json`],
          ]
        ) {
          const result = await runJrm([...args, "--packets", inputs, ...keyring]);
          assert.equal(result.code, 1, result.stderr);
          const errors = result.stderr.split("\n").filter((line) => line.startsWith("error:"));
          assert.equal(errors.length, 1, result.stderr);
          assert.match(errors[0], /^error: 1 of 10 packet\(s\) rejected; ".*\.json" lists them/);
          assert.doesNotMatch(result.stderr, /\s+at\s/);
          const written = JSON.parse(await Deno.readTextFile(args[args.indexOf("--out") + 1]));
          assert.deepEqual(
            written.packetsRejected.map((r: string | { source: string }) =>
              typeof r === "string" ? r : r.source
            ),
            [`${inputs}/junk.zip`],
          );
          if (args.includes("--json")) assert.equal(JSON.parse(result.stdout).packetsIngested, 9);
        }
      },
    );
    await t.step("hub replay writes the newest view of each signature", async () => {
      const result = await runJrm([
        "hub",
        "replay",
        "--packets",
        packets,
        "--keyring",
        `${REPO}fixtures/keyring.json`,
        "--out",
        `${dir}/state.json`,
        "--now",
        "2026-03-01T00:00:00Z",
      ]);
      assert.equal(result.code, 0, result.stderr);
      const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      assert.deepEqual(Object.keys(state.environments), ["SOC_EAST", "SOC_NORTH", "SOC_WEST"]);
      const east = state.environments.SOC_EAST;
      assert.equal(east.packets.length, 3);
      // sig-0008 is stale in the first window and current in the last part.
      assert.equal(east.signatures["sig-0008"].part, 2);
      assert.equal(east.signatures["sig-0008"].windowEnd, "2026-02-28T10:20:00Z");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ingestFiles() rejects an unreadable packet file and goes on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/not-a-file.zip`);
    await Deno.symlink(`${dir}/nowhere.zip`, `${dir}/dangling.zip`);
    const good = [...Deno.readDirSync(`${REPO}fixtures/packets`)]
      .map((e) => `${REPO}fixtures/packets/${e.name}`).slice(0, 2);
    const { outcomes } = await ingestFiles(
      [`${dir}/not-a-file.zip`, `${dir}/dangling.zip`, ...good],
      { workers: 0 },
    );
    assert.equal(outcomes.filter((o) => o.kind === "accepted").length, 2);
    const rejected = outcomes.flatMap((o) => o.kind === "rejected" ? [o.result] : [])
      .sort((a, b) => a.source < b.source ? -1 : 1);
    assert.deepEqual(rejected.map((r) => [r.reasonCode, r.violations[0].message]), [
      ["FILE_UNREADABLE", `Cannot read packet "${dir}/dangling.zip": not found`],
      [
        "FILE_NOT_REGULAR",
        `Cannot read packet "${dir}/not-a-file.zip": it is a directory, not a regular file`,
      ],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ingestFiles() rejects a packet rewritten with another window after its order was set", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fixture = (name: string) => `${REPO}fixtures/packets/JRM_X_PACKET_SOC_EAST_${name}.zip`;
    await Deno.copyFile(fixture("20260228T100000_20260228T101000_part01"), `${dir}/a.zip`);
    await Deno.copyFile(fixture("20260228T101000_20260228T102000_part01"), `${dir}/b.zip`);
    const later = await Deno.readFile(fixture("20260228T101000_20260228T102000_part02"));
    const { outcomes } = await ingestFiles([`${dir}/b.zip`, `${dir}/a.zip`], {
      workers: 0,
      // After the first packet is folded, and before the second is read whole.
      onProgress: (done) => {
        if (done === 1) Deno.writeFileSync(`${dir}/b.zip`, later);
      },
    });
    assert.deepEqual(outcomes.map((o) => o.kind), ["accepted", "rejected"]);
    const rejected = outcomes[1];
    assert.ok(rejected.kind === "rejected");
    assert.equal(rejected.result.reasonCode, "FILE_CHANGED");
    assert.equal(
      rejected.result.violations[0].message,
      `Packet "${dir}/b.zip" changed while it was being read: its manifest first gave ` +
        "environment SOC_EAST, window end 2026-02-28T10:20:00.000Z, part 1, created " +
        "2026-02-28T10:20:00.000Z, then environment SOC_EAST, window end " +
        "2026-02-28T10:20:00.000Z, part 2, created 2026-02-28T10:20:00.000Z",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Every object and array reachable from `value` is frozen. */
function assertDeepFrozen(value: unknown, path = "entry"): void {
  if (value === null || typeof value !== "object") return;
  assert.ok(Object.isFrozen(value), `${path} is not frozen`);
  for (const [key, child] of Object.entries(value)) assertDeepFrozen(child, `${path}.${key}`);
}

/** A packet to fold, with its canon entries as objects or as packed text. */
function foldable(
  n: number,
  env: string,
  windowEnd: string,
  part: number,
  entries: Record<string, Record<string, unknown>>,
  asText: boolean,
): Foldable {
  const keys = Object.keys(entries);
  const renamed: [number, string][] = [];
  keys.forEach((key, i) => {
    const id = entries[key].signatureId;
    if (typeof id === "string" && id !== key) renamed.push([i, id]);
  });
  return {
    source: `p${n}.zip`,
    digest: `sha256:${n}`,
    manifest: {
      environmentId: env,
      packetName: `P${n}`,
      windowStart: "2026-02-28T09:00:00Z",
      windowEnd,
      part,
      createdAt: windowEnd,
    },
    canonEntry: { environmentId: env, entries: asText ? {} : structuredClone(entries) },
    memoryGraph: { nodesAdded: [], edgesAdded: [] },
    ...(asText
      ? {
        canonTexts: makeCanonTexts(keys, keys.map((key) => JSON.stringify(entries[key])), renamed),
      }
      : {}),
  } as unknown as Foldable;
}

Deno.test("FederationState.fold gives one state whether entries come as text or as objects (differential)", async () => {
  // Packets with the same keys as the one held whole replace it whole (or are ignored whole);
  // anything else falls back to entry by entry. Both must give what entry-by-entry objects give,
  // with windows tied or out of order, renamed and doubled signatureIds, and views taken midway.
  const pool = ["a", "bc", "ab", "c", "s4", "s5"]; // ["a", "bc"] and ["ab", "c"]: the same bytes
  const windows = ["2026-02-28T10:00:00Z", "2026-02-28T10:10:00Z", "2026-02-28T10:20:00Z"];
  for (let seed = 1; seed <= 300; seed++) {
    const rand = random(seed);
    const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)];
    const snapshotKeys = pool.filter(() => rand() < 0.8);
    const asText = new FederationState();
    const asObjects = new FederationState();
    const packets = 2 + Math.floor(rand() * 6);
    for (let n = 0; n < packets; n++) {
      const keys = rand() < 0.6 ? snapshotKeys : pool.filter(() => rand() < 0.5);
      const entries: Record<string, Record<string, unknown>> = {};
      for (const key of keys) {
        const entry: Record<string, unknown> = { rev: n + 1, patchId: `p${seed}-${n}` };
        const r = rand();
        if (r < 0.1) entry.signatureId = pick(pool); // renamed, maybe onto another key
        else if (r < 0.3) entry.signatureId = key;
        if (rand() < 0.1) entry.note = "caf\u00e9 \u2713"; // not ASCII
        entries[key] = entry;
      }
      const env = pick(["A_ENV", "B_ENV"]);
      const windowEnd = pick(windows);
      const part = 1 + Math.floor(rand() * 2);
      await asText.fold(foldable(n, env, windowEnd, part, entries, true));
      await asObjects.fold(foldable(n, env, windowEnd, part, entries, false));
      if (rand() < 0.15) {
        // A view midway: the packet held whole is then held entry by entry.
        assert.deepEqual(asText.view().signatures(), asObjects.view().signatures());
      }
    }
    assert.deepEqual(asText.toJSON(), asObjects.toJSON(), `seed ${seed}`);
    assert.deepEqual(asText.stats(), asObjects.stats(), `seed ${seed}`);
    for (const signatureId of asText.view().signatures()) {
      assert.deepEqual(
        asText.view().entries(signatureId),
        asObjects.view().entries(signatureId),
        `seed ${seed}, ${signatureId}`,
      );
      for (const held of asText.view().entries(signatureId)) assertDeepFrozen(held);
    }
  }
});

Deno.test("FederationState.fold copies canon texts it did not make, so the caller cannot change the state", async () => {
  const entries = { s1: { rev: 1 }, s2: { rev: 2 } };
  const packet = foldable(1, "A_ENV", "2026-02-28T10:00:00Z", 1, entries, true);
  const state = new FederationState();
  await state.fold(packet);
  packet.canonTexts!.bytes.fill(0x20); // all spaces: would not even parse
  packet.canonTexts!.renamed.push([0, "s9"]);
  assert.deepEqual(state.view().signatures(), ["s1", "s2"]);
  assert.equal(state.view().entries("s2")[0].entry.rev, 2);
});

Deno.test("FederationState.fold refuses canon texts that do not hold together, and the state stays as it was", async () => {
  const state = new FederationState();
  await state.fold(foldable(1, "A_ENV", "2026-02-28T10:00:00Z", 1, { s1: { rev: 1 } }, true));
  const before = JSON.stringify(state.toJSON());
  const good = foldable(2, "A_ENV", "2026-02-28T10:10:00Z", 1, { s1: { rev: 2 } }, true);
  const texts = good.canonTexts!;
  const broken: [Foldable["canonTexts"], RegExp][] = [
    [{ ...texts, ends: Int32Array.of(texts.ends[0] + 1, texts.ends[1]) }, /past the bytes/],
    [{ ...texts, renamed: [[5, "s9"]] }, /renamed must list/],
    [{ ...texts, bytes: Uint8Array.of(0xff, ...texts.bytes.subarray(1)) }, /not valid/],
    [makeCanonTexts(["s1"], ["[1,2]"], []), /not a JSON object/],
    [makeCanonTexts(["s1"], ["{"], []), /Cannot parse JSON/],
  ];
  for (const [canonTexts, reason] of broken) {
    await assert.rejects(() => state.fold({ ...good, canonTexts }), reason);
    assert.equal(JSON.stringify(state.toJSON()), before);
    assert.equal(state.stats().A_ENV.packets, 1);
  }
});
