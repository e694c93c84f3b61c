/**
 * Times from the future (`WINDOW_IN_FUTURE`), `--now` and `--max-clock-skew`
 * on every command that reads packets, and equivocation as the CLI reports
 * it (`gate validate`, `federate`, `hub replay`).
 */

import assert from "node:assert/strict";
import { validate } from "../core/gate.ts";
import { sha256Ref } from "../core/packet.ts";
import { buildTestPacket, json, TEST_KEY } from "./_packets.ts";
import { type CliRun, runJrm } from "./_cli.ts";

const NOW = "2026-03-01T00:00:00Z";
const FIXTURE_PACKETS = new URL("../fixtures/packets", import.meta.url).pathname;

function assertExit(run: CliRun, code: number): void {
  assert.equal(run.code, code, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

/** A packet whose window (and createdAt) ends at `windowEnd`. */
async function endingAt(windowEnd: string, revs = 1): Promise<Uint8Array> {
  return (await buildTestPacket({
    windowStart: "2026-02-28T10:00:00Z",
    windowEnd,
    files: { "canon_entry.json": json({ entries: { "sig-01": { rev: revs } } }) },
  })).bytes;
}

Deno.test("validate() refuses a time later than the clock plus the skew, to the microsecond", async () => {
  const codes = async (windowEnd: string, options: { maxClockSkew?: number } = {}) =>
    (await validate(await endingAt(windowEnd), { now: NOW, ...options })).violations
      .map((v) => v.code);
  assert.deepEqual(await codes("2026-03-01T00:15:00Z"), []);
  assert.deepEqual(await codes("2026-03-01T01:15:00+01:00"), []);
  assert.deepEqual(await codes("2026-03-01T00:15:00.000001Z"), [
    "WINDOW_IN_FUTURE",
    "WINDOW_IN_FUTURE",
  ]);
  assert.deepEqual(await codes("2026-03-01T00:00:00Z", { maxClockSkew: 0 }), []);
  assert.deepEqual(await codes("2026-03-01T00:00:00.000000001Z", { maxClockSkew: 0 }), [
    "WINDOW_IN_FUTURE",
    "WINDOW_IN_FUTURE",
  ]);
  // Without a clock given, the current time: year 9999 is always ahead of it.
  const result = await validate(await endingAt("9999-12-31T23:59:59Z"));
  assert.equal(result.reasonCode, "WINDOW_IN_FUTURE");
  assert.match(result.violations[0].message, /windowEnd "9999-12-31T23:59:59Z", later than/);
  await assert.rejects(
    validate(await endingAt("2026-02-28T10:10:00Z"), { now: "2026-03-01T00:00:00" }),
    /"2026-03-01T00:00:00" is not an RFC 3339 date-time/,
  );
});

Deno.test("--now moves the clock packets are checked against; SOURCE_DATE_EPOCH does not", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "jrm_clock_test_" });
  try {
    await Deno.writeFile(`${dir}/far.zip`, await endingAt("9999-12-31T23:59:59Z"));
    await Deno.writeFile(`${dir}/soon.zip`, await endingAt("2026-03-01T00:16:40Z"));
    const gate = (packet: string, ...args: string[]) =>
      runJrm(["gate", "validate", "--packet", `${dir}/${packet}`, "--json", ...args]);
    const reason = (run: CliRun) => JSON.parse(run.stdout).results[0].reasonCode;

    await t.step("a windowEnd in year 9999 is refused by the current clock", async () => {
      const run = await gate("far.zip");
      assertExit(run, 1);
      assert.equal(reason(run), "WINDOW_IN_FUTURE");
    });
    await t.step("--now", async () => {
      const early = await gate("far.zip", "--now", NOW);
      assertExit(early, 1);
      assert.equal(reason(early), "WINDOW_IN_FUTURE");
      assert.match(
        JSON.parse(early.stdout).results[0].violations[0].message,
        /later than the clock \(2026-03-01T00:00:00\.000Z\)/,
      );
      assertExit(await gate("far.zip", "--now", "9999-12-31T23:59:59Z"), 0);
    });
    await t.step("--max-clock-skew (1000 s ahead: refused at 900, accepted at 1000)", async () => {
      assertExit(await gate("soon.zip", "--now", NOW), 1);
      assertExit(await gate("soon.zip", "--now", NOW, "--max-clock-skew", "999"), 1);
      assertExit(await gate("soon.zip", "--now", NOW, "--max-clock-skew", "1000"), 0);
    });
    await t.step("SOURCE_DATE_EPOCH stamps the report but does not move the clock", async () => {
      // The last second of 9999: if it moved the clock, the year-9999 packet would pass.
      const late = await runJrm([
        "federate",
        "--packets",
        `${dir}/far.zip`,
        "--out",
        `${dir}/late.json`,
      ], { env: { SOURCE_DATE_EPOCH: "253402300799" } });
      assertExit(late, 1);
      const report = JSON.parse(await Deno.readTextFile(`${dir}/late.json`));
      assert.equal(report.generatedAt, "9999-12-31T23:59:59.000Z");
      assert.equal(report.packetsRejected[0].reasonCode, "WINDOW_IN_FUTURE");
      // 2026-01-01: if it moved the clock, the shipped packets (2026-02-28) would be refused.
      const early = await runJrm([
        "hub",
        "replay",
        "--packets",
        FIXTURE_PACKETS,
        "--out",
        `${dir}/state.json`,
      ], { env: { SOURCE_DATE_EPOCH: "1767225600" } });
      assertExit(early, 0);
      const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      assert.equal(state.generatedAt, "2026-01-01T00:00:00.000Z");
      assert.deepEqual(state.packetsRejected, []);
    });
    await t.step("the config file's limits.maxClockSkew, which the flag overrides", async () => {
      await Deno.writeTextFile(
        `${dir}/jrm.config.json`,
        JSON.stringify({ limits: { maxClockSkew: 1000 } }),
      );
      const federate = (...args: string[]) =>
        runJrm([
          "federate",
          "--packets",
          `${dir}/soon.zip`,
          "--out",
          `${dir}/r.json`,
          "--now",
          NOW,
          "--config",
          `${dir}/jrm.config.json`,
          ...args,
        ]);
      assertExit(await federate(), 0);
      assertExit(await federate("--max-clock-skew", "900"), 1);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every command that reads packets refuses a --now that is not RFC 3339, before reading", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "jrm_clock_test_" });
  try {
    await Deno.writeFile(`${dir}/p.zip`, await endingAt("2026-02-28T10:10:00Z"));
    await Deno.writeTextFile(`${dir}/k.key`, TEST_KEY);
    await Deno.mkdir(`${dir}/data`);
    const p = `${dir}/p.zip`;
    const commands: string[][] = [
      ["gate", "validate", "--packet", p],
      ["gate", "scope", "--packet", p, "--allow-env", "SOC_EAST"],
      ["gate", "redact", "--packet", p, "--field", "user", "--out", `${dir}/r.zip`],
      ["verify", "--packet", p, "--key-file", `${dir}/k.key`],
      ["sign", "--packet", p, "--key-file", `${dir}/k.key`, "--out", `${dir}/s.zip`],
      ["federate", "--packets", p, "--out", `${dir}/f.json`],
      ["hub", "replay", "--packets", p, "--out", `${dir}/h.json`],
      ["migrate", "--packets", p, "--out-dir", `${dir}/m`, "--allow-unsigned"],
      [
        "pack",
        ...["--dir", `${dir}/data`, "--env", "SOC_EAST", "--part", "1", "--out", `${dir}/n.zip`],
        ...["--window-start", "2026-02-28T10:00:00Z", "--window-end", "2026-02-28T10:10:00Z"],
      ],
    ];
    for (const command of commands) {
      const name = command.slice(0, 2).filter((word) => !word.startsWith("--")).join(" ");
      await t.step(name, async () => {
        for (
          const [now, message] of [[
            "2026-03-01T00:00:00",
            /--now "2026-03-01T00:00:00" is not an RFC 3339 date-time with an offset/,
          ], ["soon", /--now "soon"/]] as const
        ) {
          const run = await runJrm([...command, "--now", now]);
          assertExit(run, 2);
          assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
          assert.match(run.stderr, message);
        }
        const skew = await runJrm([...command, "--max-clock-skew", "-5"]);
        assertExit(skew, 2);
        for (const out of ["r.zip", "s.zip", "f.json", "h.json", "n.zip", "m"]) {
          await assert.rejects(Deno.stat(`${dir}/${out}`), Deno.errors.NotFound);
        }
      });
    }
    await t.step("pack refuses a window without an offset", async () => {
      const run = await runJrm([
        "pack",
        ...["--dir", `${dir}/data`, "--env", "SOC_EAST", "--part", "1", "--out", `${dir}/n.zip`],
        ...["--window-start", "2026-02-28T10:00:00", "--window-end", "2026-02-28T10:10:00Z"],
      ]);
      assertExit(run, 2);
      assert.match(run.stderr, /--window-start "2026-02-28T10:00:00" is not an RFC 3339 date-time/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gate validate, federate and hub replay report equivocation, each packet naming the other's digest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jrm_clock_test_" });
  try {
    // Two different packets of SOC_EAST with one windowEnd, part and createdAt (other windowStarts).
    const one = await endingAt("2026-02-28T10:10:00Z", 1);
    const other = (await buildTestPacket({
      windowStart: "2026-02-28T10:05:00Z",
      windowEnd: "2026-02-28T11:10:00+01:00",
      editManifest: (m) => m.createdAt = "2026-02-28T10:10:00.000Z",
      files: { "canon_entry.json": json({ entries: { "sig-01": { rev: 2 } } }) },
    })).bytes;
    const later = await endingAt("2026-02-28T10:20:00Z", 3);
    await Deno.writeFile(`${dir}/one.zip`, one);
    await Deno.writeFile(`${dir}/other.zip`, other);
    await Deno.writeFile(`${dir}/later.zip`, later);
    const digests = { one: sha256Ref(one), other: sha256Ref(other) };

    const gate = await runJrm(["gate", "validate", "--packet", dir, "--now", NOW, "--json"]);
    assertExit(gate, 1);
    const results = JSON.parse(gate.stdout).results as {
      source: string;
      reasonCode: string;
      digest: string;
      violations: { code: string; message: string; equivocatesWith?: string[] }[];
    }[];
    const byName = (name: string) => results.find((r) => r.source.endsWith(`/${name}`))!;
    assert.equal(byName("later.zip").reasonCode, "ACCEPTED");
    for (const [name, otherName] of [["one", "other"], ["other", "one"]] as const) {
      const result = byName(`${name}.zip`);
      assert.equal(result.reasonCode, "EQUIVOCATION");
      assert.equal(result.digest, digests[name]);
      assert.deepEqual(result.violations[0].equivocatesWith, [digests[otherName]]);
      assert.ok(result.violations[0].message.includes(digests[otherName]));
    }
    const text = await runJrm(["gate", "validate", "--packet", dir, "--now", NOW]);
    assertExit(text, 1);
    assert.match(text.stdout, /^1 accepted, 2 rejected$/m);
    assert.equal(text.stdout.match(/^ {2}EQUIVOCATION {2}/gm)?.length, 2);

    const federate = await runJrm([
      "federate",
      "--packets",
      dir,
      "--out",
      `${dir}/report.json`,
      "--now",
      NOW,
    ]);
    assertExit(federate, 1);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.equal(report.packetsIngested, 1);
    assert.deepEqual(
      report.packetsRejected.map((r: { digest: string; reasonCode: string }) => [
        r.digest,
        r.reasonCode,
      ]).sort(),
      [[digests.one, "EQUIVOCATION"], [digests.other, "EQUIVOCATION"]].sort(),
    );
    assert.match(federate.stdout, /EQUIVOCATION/);

    const replay = await runJrm([
      "hub",
      "replay",
      "--packets",
      dir,
      "--out",
      `${dir}/state.json`,
      "--now",
      NOW,
    ]);
    assertExit(replay, 1);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
    assert.deepEqual(state.equivocations, [
      { source: `${dir}/one.zip`, digest: digests.one, equivocatesWith: [digests.other] },
      { source: `${dir}/other.zip`, digest: digests.other, equivocatesWith: [digests.one] },
    ]);
    assert.equal(state.environments.SOC_EAST.packets.length, 1);
    assert.equal(state.environments.SOC_EAST.signatures["sig-01"].entry.rev, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
