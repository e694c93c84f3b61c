/**
 * The canon entry limit (`maxCanonEntries`, `--max-canon-entries`, issue 13
 * item 9) and the streamed output of `jrm hub replay`.
 */

import assert from "node:assert/strict";
import { DEFAULT_LIMITS, resolveLimits } from "../core/archive.ts";
import { UsageError } from "../core/errors.ts";
import { ingestFiles } from "../core/hub.ts";
import { readPacket } from "../core/packet.ts";
import { runJrm, withTempDir } from "./_cli.ts";
import { buildTestPacket, text } from "./_packets.ts";

/** canon_entry.json with `count` entries (each `entry`), and `tail` before its last brace. */
function canonFile(count: number, entry = '{"rev": 1}', tail = ""): Uint8Array {
  const entries = Array.from({ length: count }, (_, i) => `"SIG-${i}": ${entry}`).join(",\n");
  return text(`{"environmentId": "SOC_EAST", "entries": {\n${entries}\n}${tail}}`);
}

async function packetWith(canon: Uint8Array, window = 0): Promise<Uint8Array> {
  const start = new Date(Date.UTC(2026, 1, 28, 10, 10 * window)).toISOString();
  const end = new Date(Date.UTC(2026, 1, 28, 10, 10 * window + 10)).toISOString();
  return (await buildTestPacket({
    windowStart: start,
    windowEnd: end,
    files: { "canon_entry.json": canon },
  })).bytes;
}

const LIMIT = 10;
const AS_HUB = { materializeRecords: false, canonAsText: true } as const;

Deno.test("maxCanonEntries defaults to 1,000,000 and must be a positive integer", () => {
  assert.equal(DEFAULT_LIMITS.maxCanonEntries, 1_000_000);
  assert.equal(resolveLimits({ maxCanonEntries: 5 }).maxCanonEntries, 5);
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => resolveLimits({ maxCanonEntries: bad }), UsageError);
  }
});

Deno.test("readPacket() refuses more canon entries than the limit, on every path", async (t) => {
  const cases: [string, Uint8Array][] = [
    ["entries the scan cuts", canonFile(LIMIT + 1)],
    // rev 1.0 is left to the schema: the hub's path then counts before it parses.
    ["entries the scan leaves to parsing", canonFile(LIMIT + 1, '{"rev": 1.0}')],
    ["entries that are not objects", canonFile(LIMIT + 1, "[1]")],
    ["far more entries than the limit", canonFile(50 * LIMIT)],
  ];
  for (const [what, canon] of cases) {
    await t.step(what, async () => {
      const bytes = await packetWith(canon);
      for (const options of [{}, AS_HUB]) {
        const { packet, violations } = readPacket(bytes, {
          ...options,
          limits: { maxCanonEntries: LIMIT },
        });
        assert.equal(packet, undefined);
        assert.deepEqual(violations, [{
          code: "LIMIT_CANON_ENTRIES",
          entry: "canon_entry.json",
          message:
            `Entry "canon_entry.json" holds more than ${LIMIT} canon entries, past the limit`,
        }]);
      }
    });
  }
  await t.step("refused before the entries are parsed", async () => {
    // Broken JSON after the entries: parsing would say so; only the count is reported.
    const bytes = await packetWith(canonFile(LIMIT + 1, '{"rev": 1}', ', "x": ]'));
    for (const options of [{}, AS_HUB]) {
      const { violations } = readPacket(bytes, { ...options, limits: { maxCanonEntries: LIMIT } });
      assert.deepEqual(violations.map((v) => v.code), ["LIMIT_CANON_ENTRIES"]);
      const unlimited = readPacket(bytes, options).violations.map((v) => v.code);
      assert.deepEqual(unlimited, ["JSON_INVALID"]);
    }
  });
  await t.step("at the limit, the packet is read", async () => {
    for (const canon of [canonFile(LIMIT), canonFile(LIMIT, '{"rev": 1.0}')]) {
      const bytes = await packetWith(canon);
      for (const options of [{}, AS_HUB]) {
        const read = readPacket(bytes, { ...options, limits: { maxCanonEntries: LIMIT } });
        assert.deepEqual(read.violations, []);
      }
    }
  });
});

Deno.test("jrm gate validate, federate and hub replay take --max-canon-entries", async () => {
  await withTempDir("jrm-canon-limit-", async (dir) => {
    await Deno.mkdir(`${dir}/packets`);
    await Deno.writeFile(`${dir}/packets/over.zip`, await packetWith(canonFile(LIMIT + 1), 0));
    await Deno.writeFile(`${dir}/packets/at.zip`, await packetWith(canonFile(LIMIT), 1));
    await Deno.writeTextFile(
      `${dir}/jrm.config.json`,
      JSON.stringify({ limits: { maxCanonEntries: LIMIT } }),
    );
    const limit = ["--max-canon-entries", String(LIMIT)];
    const packets = ["--packets", `${dir}/packets`];
    const [gate, federate, replay, configured, unlimited, bad] = await Promise.all([
      runJrm(["gate", "validate", "--packet", `${dir}/packets/over.zip`, ...limit, "--json"]),
      runJrm(["federate", ...packets, "--out", `${dir}/r.json`, ...limit, "--json"]),
      runJrm(["hub", "replay", ...packets, "--out", `${dir}/s.json`, ...limit]),
      runJrm(["federate", ...packets, "--out", `${dir}/c.json`, "--json"], { cwd: dir }),
      runJrm(["federate", ...packets, "--out", `${dir}/u.json`, "--json"]),
      runJrm(["federate", ...packets, "--out", `${dir}/b.json`, "--max-canon-entries", "0"]),
    ]);
    assert.equal(gate.code, 1, gate.stderr);
    assert.equal(JSON.parse(gate.stdout).results[0].reasonCode, "LIMIT_CANON_ENTRIES");
    for (const run of [federate, configured]) {
      assert.equal(run.code, 1, run.stderr);
      const report = JSON.parse(run.stdout);
      assert.equal(report.packetsIngested, 1);
      assert.deepEqual(
        report.packetsRejected.map((p: { source: string; reasonCode: string }) => [
          p.source.replace(/.*\//, ""),
          p.reasonCode,
        ]),
        [["over.zip", "LIMIT_CANON_ENTRIES"]],
      );
    }
    assert.equal(replay.code, 1, replay.stderr);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
    assert.equal(Object.keys(state.environments.SOC_EAST.signatures).length, LIMIT);
    assert.equal(unlimited.code, 0, unlimited.stderr);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"maxCanonEntries" must be a positive integer/);
  });
});

Deno.test("jrm hub replay streams the state it wrote whole before, byte for byte", async () => {
  await withTempDir("jrm-replay-stream-", async (dir) => {
    await Deno.mkdir(`${dir}/packets`);
    // Enough entries for several pieces, ids that objects list first, other environments.
    const entries = 6000;
    const entry = (i: number) =>
      `{"rev": ${i % 5}, "statement": "rule ${i} \\u00e9 \\ud83d\\ude00 \\"q\\" ${
        "x".repeat(150)
      }"}`;
    const big = text(
      `{"entries": {${
        Array.from({ length: entries }, (_, i) => `"${i % 3 ? `SIG-${i}` : i}": ${entry(i)}`)
          .join(", ")
      }}}`,
    );
    await Deno.writeFile(`${dir}/packets/a.zip`, await packetWith(big, 0));
    await Deno.writeFile(`${dir}/packets/b.zip`, await packetWith(canonFile(3), 1));
    for (const [env, index] of [["SOC_WEST", 2], ["7", 3]] as const) {
      const { bytes } = await buildTestPacket({ environmentId: env });
      await Deno.writeFile(`${dir}/packets/${index}.zip`, bytes);
    }
    await Deno.writeTextFile(`${dir}/packets/broken.zip`, "not a zip");
    const now = "2026-03-01T00:00:00Z";
    const run = await runJrm([
      "hub",
      "replay",
      "--packets",
      `${dir}/packets`,
      "--out",
      `${dir}/state.json`,
      "--now",
      now,
      "--json",
    ]);
    assert.equal(run.code, 1, run.stderr); // the broken packet
    const written = await Deno.readTextFile(`${dir}/state.json`);
    // What replay wrote before it streamed: the whole state in one JSON.stringify.
    const { state, outcomes } = await ingestFiles(
      [...Deno.readDirSync(`${dir}/packets`)].map((e) => `${dir}/packets/${e.name}`),
      { workers: 0 },
    );
    const whole = {
      generatedAt: new Date(now).toISOString(),
      ...state.toJSON(),
      packetsRejected: outcomes.flatMap((o) => o.kind === "rejected" ? [o.result.source] : [])
        .sort(),
      duplicates: [],
      equivocations: [],
    };
    assert.equal(written, JSON.stringify(whole, null, 2) + "\n");
    assert.equal(run.stdout, written);
    assert.equal(Object.keys(JSON.parse(written).environments).join(), "7,SOC_EAST,SOC_WEST");
    // In pieces, none of them the whole.
    const pieces = [...state.toJSONChunks({ generatedAt: whole.generatedAt }, {
      packetsRejected: whole.packetsRejected,
      duplicates: [],
      equivocations: [],
    })];
    assert.ok(pieces.length > 1, `${pieces.length} piece(s)`);
    assert.ok(pieces.every((piece) => piece.length < 2 * 1024 * 1024));
    assert.equal(pieces.join(""), written);
  });
});
