/**
 * Window order, sameness and equivocation (core/order.ts, core/instant.ts),
 * through the kernel rules, the hub and `gate validate`: the result must
 * not depend on file names, on the order files are named in, or on which
 * archive of one packet comes first.
 */

import assert from "node:assert/strict";
import { runDetectors } from "../core/drift.ts";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { inspect } from "../core/gate.ts";
import { ingestFiles, type Ingestion } from "../core/hub.ts";
import {
  addSeconds,
  compareInstants,
  formatInstant,
  instantFromMillis,
  instantKey,
  parseInstant,
} from "../core/instant.ts";
import {
  judgeEquivocation,
  type PacketCandidate,
  packetOrderKey,
  samePacketKey,
} from "../core/order.ts";
import { readPacket, sha256Ref } from "../core/packet.ts";
import { Keyring } from "../core/signer.ts";
import { buildReport } from "../core/report.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { buildTestPacket, dataFiles, hmacSigner, json } from "./_packets.ts";
import { random } from "./_random.ts";

const NOW = "2026-03-01T00:00:00Z";

// --- instants ------------------------------------------------------------------

Deno.test("parseInstant() reads RFC 3339 exactly and refuses what names no instant", () => {
  const at = (text: string) => {
    const instant = parseInstant(text);
    assert.ok(instant, text);
    return instant;
  };
  assert.ok(compareInstants(at("2026-02-28T10:10:00.000001Z"), at("2026-02-28T10:10:00Z")) > 0);
  assert.equal(compareInstants(at("2026-02-28T11:10:00+01:00"), at("2026-02-28T10:10:00Z")), 0);
  assert.equal(compareInstants(at("2026-02-28T10:10:00.500Z"), at("2026-02-28T10:10:00.5Z")), 0);
  assert.equal(compareInstants(at("2026-02-28T10:10:00-00:00"), at("2026-02-28T10:10:00Z")), 0);
  // Fraction digits compare as decimals, not as integers: .19 < .2, .1 < .12.
  assert.ok(compareInstants(at("2026-02-28T10:10:00.19Z"), at("2026-02-28T10:10:00.2Z")) < 0);
  assert.ok(compareInstants(at("2026-02-28T10:10:00.1Z"), at("2026-02-28T10:10:00.12Z")) < 0);
  // 23:59:59.999999999 the day before is earlier than midnight, in any offset.
  assert.ok(
    compareInstants(at("2026-02-28T23:59:59.999999999+00:00"), at("2026-03-01T01:00:00+01:00")) <
      0,
  );
  for (
    const text of [
      "2026-02-28T10:10:00",
      "2026-02-28T10:10",
      "2026-02-28T10:10Z",
      "2026-02-28 10:10:00Z",
      "2026-02-28T10:10:60Z",
      "2026-02-29T10:10:00Z",
      "2026-02-28T10:10:00+0100",
      "2026-02-28T10:10:00+24:00",
      "2026-02-28T10:10:00.Z",
      "20260228T101000Z",
    ]
  ) {
    assert.equal(parseInstant(text), undefined, text);
  }
  assert.equal(parseInstant(undefined), undefined);
  assert.equal(parseInstant(1772273400), undefined);
});

Deno.test("instants agree with Date on every millisecond-precision time (differential, seeded)", () => {
  const next = random(20261206);
  const two = (n: number) => String(n).padStart(2, "0");
  for (let i = 0; i < 5000; i++) {
    const ms = Math.floor((next() * 2 - 0.2) * 253402300799000); // years ~0000 to 9999
    const date = new Date(ms);
    if (date.getUTCFullYear() < 0 || date.getUTCFullYear() > 9999) continue;
    // The same instant written with a random offset.
    const offsetMinutes = Math.floor(next() * 2 * 1439) - 1439;
    const local = new Date(ms + offsetMinutes * 60_000);
    const year = local.getUTCFullYear();
    if (year < 0 || year > 9999) continue;
    const sign = offsetMinutes < 0 ? "-" : "+";
    const abs = Math.abs(offsetMinutes);
    const text = `${String(year).padStart(4, "0")}-${two(local.getUTCMonth() + 1)}-${
      two(local.getUTCDate())
    }T${two(local.getUTCHours())}:${two(local.getUTCMinutes())}:${two(local.getUTCSeconds())}.${
      String(local.getUTCMilliseconds()).padStart(3, "0")
    }${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
    const instant = parseInstant(text);
    assert.ok(instant, text);
    assert.equal(formatInstant(instant), date.toISOString(), text);
    assert.equal(compareInstants(instant, instantFromMillis(ms)), 0, text);
    const other = Math.floor(ms + (next() - 0.5) * 4000);
    assert.equal(
      Math.sign(compareInstants(instant, instantFromMillis(other))),
      Math.sign(ms - other),
      `${text} against ${other}`,
    );
  }
  assert.equal(
    formatInstant(addSeconds(parseInstant("2026-03-01T00:00:00Z")!, 900)),
    "2026-03-01T00:15:00.000Z",
  );
  assert.equal(
    instantKey(parseInstant("2026-03-01T01:00:00.10+01:00")!),
    instantKey(parseInstant("2026-03-01T00:00:00.1Z")!),
  );
});

// --- the kernel rules ------------------------------------------------------------

Deno.test("judgeEquivocation() gives the same verdicts whatever the order of the candidates", () => {
  const key = (windowEnd: string, createdAt = windowEnd, environmentId = "E") =>
    packetOrderKey({ environmentId, windowEnd, part: 1, createdAt })!;
  const candidates: PacketCandidate[] = [
    // Three different packets at one key (and one of them in a second archive).
    { source: "a", digest: "sha256:0a", orderKey: key("2026-02-28T10:10:00Z"), sameness: "x" },
    { source: "b", digest: "sha256:0b", orderKey: key("2026-02-28T11:10:00+01:00"), sameness: "y" },
    { source: "c", digest: "sha256:0c", orderKey: key("2026-02-28T10:10:00.0Z"), sameness: "z" },
    { source: "d", digest: "sha256:0d", orderKey: key("2026-02-28T10:10:00Z"), sameness: "x" },
    // One packet in two archives: the smaller digest is kept.
    { source: "e", digest: "sha256:1f", orderKey: key("2026-02-28T10:20:00Z"), sameness: "w" },
    { source: "f", digest: "sha256:1e", orderKey: key("2026-02-28T10:20:00Z"), sameness: "w" },
    // Another createdAt, another environment: not contested.
    {
      source: "g",
      digest: "sha256:2a",
      orderKey: key("2026-02-28T10:10:00Z", "2026-02-28T10:10:00.000001Z"),
      sameness: "v",
    },
    {
      source: "h",
      digest: "sha256:2b",
      orderKey: key("2026-02-28T10:10:00Z", undefined, "F"),
      sameness: "u",
    },
  ];
  const expected: Record<string, string> = {
    a: "equivocation sha256:0b,sha256:0c",
    b: "equivocation sha256:0a,sha256:0c,sha256:0d",
    c: "equivocation sha256:0a,sha256:0b,sha256:0d",
    d: "equivocation sha256:0b,sha256:0c",
    e: "duplicate f",
    f: "accepted",
    g: "accepted",
    h: "accepted",
  };
  const next = random(13);
  for (let round = 0; round < 50; round++) {
    const shuffled = [...candidates].sort(() => next() - 0.5);
    const verdicts = judgeEquivocation(shuffled);
    const got: Record<string, string> = {};
    shuffled.forEach((candidate, i) => {
      const verdict = verdicts[i];
      got[candidate.source] = verdict.kind === "equivocation"
        ? `equivocation ${verdict.conflictsWith.join(",")}`
        : verdict.kind === "duplicate"
        ? `duplicate ${shuffled[verdict.of].source}`
        : "accepted";
    });
    assert.deepEqual(got, expected);
  }
});

Deno.test("an inspection's sameness key is samePacketKey of its manifest, however it is signed", async () => {
  const unsigned = await buildTestPacket();
  const variants = [
    unsigned,
    await buildTestPacket({ signer: await hmacSigner() }),
    await buildTestPacket({ signer: await hmacSigner(), sign: { canonicalization: "jcs" } }),
  ];
  const expected = samePacketKey(readPacket(unsigned.bytes).packet!.manifestTree);
  for (const { bytes } of variants) {
    const read = readPacket(bytes);
    assert.equal(inspect(read).sameness, samePacketKey(read.packet!.manifestTree));
    assert.equal(inspect(read).sameness, expected);
  }
  const other = await buildTestPacket({ part: 2 });
  assert.notEqual(inspect(readPacket(other.bytes)).sameness, expected);
});

// --- the hub -------------------------------------------------------------------------

/** One packet of a generated set: what it is meant to become. */
interface Planned {
  bytes: Uint8Array;
  /** accepted, duplicate, EQUIVOCATION or another rejection code; "kept-or-duplicate" for one of a packet's archives. */
  expect: string;
  /** Packets meant to hold one packet's archives share a group. */
  group: string;
}

const SIGNATURES = ["sig-01", "sig-02", "sig-03", "sig-04"];
const KINDS = ["single", "dup", "equiv2", "equiv3", "forged", "created", "copy"] as const;

/** The archive of one packet (`variant` changes the zip bytes, never the manifest but its signature). */
async function archive(
  options: {
    env: string;
    windowStart: string;
    windowEnd: string;
    part: number;
    createdAt?: string;
    revs: number[];
    variant: number;
    broken?: boolean;
  },
): Promise<Uint8Array> {
  const entries: Record<string, unknown> = {};
  SIGNATURES.forEach((id, i) => entries[id] = { rev: options.revs[i], confidence: 0.5 });
  const files = dataFiles(options.env);
  const signer = options.variant === 1
    ? await hmacSigner()
    : options.variant === 2
    ? await hmacSigner("another-key-of-thirty-two-bytes-or-more", "b")
    : undefined;
  const { bytes } = await buildTestPacket({
    environmentId: options.env,
    windowStart: options.windowStart,
    windowEnd: options.windowEnd,
    part: options.part,
    files: { "canon_entry.json": json({ environmentId: options.env, entries }) },
    editManifest: (m) => {
      if (options.createdAt) m.createdAt = options.createdAt;
    },
    signer,
    editEntries: (zip) => {
      if (options.broken) zip.set("truth_snapshot.json", json({ altered: true }));
      if (options.variant === 3) {
        // The same entries in another order: other zip bytes, the same packet.
        const reordered = [...zip].reverse();
        zip.clear();
        for (const [name, data] of reordered) zip.set(name, data);
      }
    },
  });
  assert.equal(files.size, 6);
  return bytes;
}

/** A seeded set of packets with duplicates, equivocating pairs and triples, and forgeries. */
async function plannedSet(seed: number): Promise<Planned[]> {
  const next = random(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)];
  const revs = () => SIGNATURES.map(() => Math.floor(next() * 5));
  const planned: Planned[] = [];
  const kinds = [...KINDS].sort(() => next() - 0.5);
  let slot = 0;
  for (const env of ["SOC_EAST", "SOC_WEST"]) {
    for (const minutes of [10, 20, 30]) {
      for (const part of [1, 2]) {
        const windowEnd = `2026-02-28T10:${minutes}:00Z`;
        const base = {
          env,
          windowStart: `2026-02-28T10:${String(minutes - 10).padStart(2, "0")}:00Z`,
          windowEnd,
          part,
          variant: 0,
        };
        const group = `slot-${slot++}`;
        // Every kind at least once (in a seeded order), then any.
        const kind = slot <= KINDS.length ? kinds[slot - 1] : pick(KINDS);
        if (kind === "single") {
          planned.push({
            bytes: await archive({ ...base, revs: revs() }),
            expect: "accepted",
            group,
          });
        } else if (kind === "dup") {
          const r = revs();
          const variants = [0, 1, 2, 3].sort(() => next() - 0.5).slice(
            0,
            2 + Math.floor(next() * 2),
          );
          for (const variant of variants) {
            planned.push({
              bytes: await archive({ ...base, revs: r, variant }),
              expect: "kept-or-duplicate",
              group,
            });
          }
        } else if (kind === "equiv2" || kind === "equiv3") {
          const count = kind === "equiv2" ? 2 : 3;
          for (let i = 0; i < count; i++) {
            const r = revs();
            r[0] = 10 + i; // different packets for sure
            // Whatever their windowStart; the same createdAt written in another offset.
            const windowStart = i === 1 ? `2026-02-28T09:${minutes}:00Z` : base.windowStart;
            const createdAt = i === 2 ? `2026-02-28T11:${minutes}:00+01:00` : undefined;
            planned.push({
              bytes: await archive({ ...base, windowStart, createdAt, revs: r }),
              expect: "EQUIVOCATION",
              group: `${group}-${i}`,
            });
            if (i === 0 && next() < 0.5) {
              // A second archive of an equivocating packet is refused with it.
              planned.push({
                bytes: await archive({ ...base, revs: r, variant: 1 }),
                expect: "EQUIVOCATION",
                group: `${group}-${i}`,
              });
            }
          }
        } else if (kind === "forged") {
          // A refused packet never equivocates: the genuine one stays.
          planned.push({
            bytes: await archive({ ...base, revs: revs() }),
            expect: "accepted",
            group,
          });
          planned.push({
            bytes: await archive({ ...base, revs: revs(), broken: true }),
            expect: "HASH_MISMATCH",
            group: `${group}-forged`,
          });
        } else if (kind === "created") {
          // Another createdAt is another place in the order (later by a microsecond): both count.
          planned.push({
            bytes: await archive({ ...base, revs: revs() }),
            expect: "accepted",
            group,
          });
          planned.push({
            bytes: await archive({
              ...base,
              createdAt: `2026-02-28T10:${minutes}:00.000001Z`,
              revs: revs(),
            }),
            expect: "accepted",
            group: `${group}-later`,
          });
        } else {
          // The same bytes twice.
          const bytes = await archive({ ...base, revs: revs() });
          planned.push({ bytes, expect: "kept-or-duplicate", group });
          planned.push({ bytes, expect: "kept-or-duplicate", group });
        }
      }
    }
  }
  return planned;
}

/** Every string that is a written file's path, replaced by the digest of its bytes. */
function byDigest(value: unknown, digests: Map<string, string>): unknown {
  if (typeof value === "string") return digests.get(value) ?? value;
  if (Array.isArray(value)) {
    return value.map((item) => byDigest(item, digests))
      .sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, byDigest(item, digests)]),
    );
  }
  return value;
}

async function reportOf(ingestion: Ingestion) {
  const runs = resolveDetectorRuns(builtinRegistry(), defaultConfig());
  return buildReport(ingestion, await runDetectors(ingestion.state.view(), runs), NOW);
}

Deno.test("the hub's result does not depend on names or order: duplicates, equivocation (property, seeded)", async (t) => {
  for (const seed of [1, 2, 3]) {
    await t.step(`set ${seed}`, async () => {
      const planned = await plannedSet(seed);
      const kinds = new Set(planned.map((p) => p.expect));
      assert.ok(kinds.has("EQUIVOCATION") && kinds.has("kept-or-duplicate"), [...kinds].join());
      const next = random(seed * 7919);
      let first: string | undefined;
      for (let round = 0; round < 4; round++) {
        const dir = await Deno.makeTempDir({ prefix: "jrm_order_test_" });
        try {
          // New names and a new order every round; the names sort in no useful order.
          const digests = new Map<string, string>();
          const paths: string[] = [];
          for (const [i, packet] of planned.entries()) {
            const path = `${dir}/${Math.floor(next() * 1e9).toString(36)}-${i}.zip`;
            await Deno.writeFile(path, packet.bytes);
            digests.set(path, sha256Ref(packet.bytes));
            paths.push(path);
          }
          const order = [...paths].sort(() => next() - 0.5);
          const ingestion = await ingestFiles(order, { now: NOW, workers: round === 3 ? 2 : 0 });
          const report = await reportOf(ingestion);
          const normal = JSON.stringify(byDigest(report, digests));
          if (first === undefined) first = normal;
          else assert.equal(normal, first, `round ${round} differs from round 0`);
          assert.equal(
            JSON.stringify(byDigest(ingestion.state.toJSON(), digests)),
            JSON.stringify(
              byDigest(
                (await ingestFiles(paths, { now: NOW, workers: 0 })).state.toJSON(),
                digests,
              ),
            ),
          );
          // And each packet became what it was meant to.
          const outcome = new Map<string, string>();
          for (const o of ingestion.outcomes) {
            if (o.kind === "accepted") outcome.set(o.record.source, "accepted");
            else if (o.kind === "duplicate") outcome.set(o.source, "duplicate");
            else outcome.set(o.result.source, o.result.reasonCode);
          }
          const byGroup = new Map<string, string[]>();
          for (const [i, packet] of planned.entries()) {
            const got = outcome.get(paths[i])!;
            if (packet.expect === "kept-or-duplicate") {
              byGroup.set(packet.group, [...(byGroup.get(packet.group) ?? []), got]);
            } else assert.equal(got, packet.expect, `${packet.group}: ${paths[i]}`);
          }
          for (const [group, got] of byGroup) {
            assert.deepEqual(
              got.sort(),
              ["accepted", ...got.slice(1).map(() => "duplicate")],
              group,
            );
          }
          // The kept archive of a packet is the one with the smallest digest.
          const accepted = new Set(
            ingestion.outcomes.flatMap((o) => o.kind === "accepted" ? [o.record.digest] : []),
          );
          for (const [group] of byGroup) {
            const members = planned.filter((p) => p.group === group).map((p) => sha256Ref(p.bytes));
            assert.ok(accepted.has(members.sort()[0]), group);
          }
          // Equivocating packets are named by the others, and none of them reached the state.
          for (const rejected of report.packetsRejected) {
            if (rejected.reasonCode !== "EQUIVOCATION") continue;
            const violation = rejected.violations.find((v) => v.code === "EQUIVOCATION")!;
            const others = violation.equivocatesWith as string[];
            assert.ok(others.length >= 1 && !others.includes(rejected.digest!));
            for (const other of others) {
              const named = report.packetsRejected.find((r) => r.digest === other)!;
              const back = named.violations.find((v) => v.code === "EQUIVOCATION")!;
              assert.ok((back.equivocatesWith as string[]).includes(rejected.digest!));
              assert.match(violation.message, new RegExp(other.replace(":", ":")));
            }
          }
          const folded = JSON.stringify(ingestion.state.toJSON());
          for (const packet of planned) {
            if (packet.expect === "EQUIVOCATION") {
              assert.ok(
                !folded.includes(sha256Ref(packet.bytes)),
                "an equivocating packet was folded",
              );
            }
          }
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      }
    });
  }
});

Deno.test("of two packets that differ only in createdAt, the later one wins whatever their names", async () => {
  const base = {
    env: "SOC_EAST",
    windowStart: "2026-02-28T10:00:00Z",
    windowEnd: "2026-02-28T10:10:00Z",
    part: 1,
    variant: 0,
  };
  const earlier = await archive({ ...base, revs: [1, 1, 1, 1] });
  const later = await archive({
    ...base,
    createdAt: "2026-02-28T10:10:00.000001Z",
    revs: [2, 2, 2, 2],
  });
  const dir = await Deno.makeTempDir({ prefix: "jrm_order_test_" });
  try {
    for (const [a, b] of [[earlier, later], [later, earlier]]) {
      await Deno.writeFile(`${dir}/a.zip`, a);
      await Deno.writeFile(`${dir}/b.zip`, b);
      const { state, outcomes } = await ingestFiles([`${dir}/a.zip`, `${dir}/b.zip`], {
        now: NOW,
        workers: 0,
      });
      assert.deepEqual(outcomes.map((o) => o.kind), ["accepted", "accepted"]);
      assert.equal(state.view().entries("sig-01")[0].entry.rev, 2);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a packet refused for another reason never equivocates, so a forgery cannot knock out a genuine packet", async () => {
  const base = {
    env: "SOC_EAST",
    windowStart: "2026-02-28T10:00:00Z",
    windowEnd: "2026-02-28T10:10:00Z",
    part: 1,
  };
  const signer = await hmacSigner();
  const genuine = await buildTestPacket({ ...base, signer });
  // The same key, other contents, signed with a key the keyring does not hold for SOC_EAST.
  const forged = await buildTestPacket({
    ...base,
    files: { "canon_entry.json": json({ entries: { "sig-01": { rev: 9 } } }) },
    signer: await hmacSigner("another-key-of-thirty-two-bytes-or-more"),
  });
  // The same key, other contents, unsigned.
  const unsigned = await buildTestPacket({
    ...base,
    files: { "canon_entry.json": json({ entries: { "sig-01": { rev: 8 } } }) },
  });
  const dir = await Deno.makeTempDir({ prefix: "jrm_order_test_" });
  try {
    await Deno.writeFile(`${dir}/genuine.zip`, genuine.bytes);
    await Deno.writeFile(`${dir}/forged.zip`, forged.bytes);
    await Deno.writeFile(`${dir}/unsigned.zip`, unsigned.bytes);
    const keyring = new Keyring([{ environment: "SOC_EAST", signer }]);
    const { outcomes } = await ingestFiles(
      [`${dir}/forged.zip`, `${dir}/genuine.zip`, `${dir}/unsigned.zip`],
      { keyring, now: NOW, workers: 0 },
    );
    const verdict = (name: string) => {
      const o = outcomes.find((o) =>
        (o.kind === "accepted" ? o.record.source : o.kind === "rejected" ? o.result.source : "")
          .endsWith(name)
      )!;
      return o.kind === "rejected" ? o.result.reasonCode : o.kind;
    };
    assert.equal(verdict("forged.zip"), "SIGNATURE_INVALID");
    assert.equal(verdict("unsigned.zip"), "SIGNATURE_MISSING");
    assert.equal(verdict("genuine.zip"), "accepted");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
