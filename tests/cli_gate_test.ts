import assert from "node:assert/strict";
import { validate } from "../core/gate.ts";
import { readPacket } from "../core/packet.ts";
import {
  buildTestPacket,
  dataFiles,
  ed25519Keys,
  hmacSigner,
  json,
  keyringOf,
  TEST_ENV,
  TEST_KEY,
  TEST_WINDOW,
} from "./_packets.ts";
import { type CliRun, runJrm } from "./_cli.ts";

const FIXTURE_PACKETS = new URL("../fixtures/packets", import.meta.url).pathname;
const FIXTURE_KEYRING = new URL("../fixtures/keyring.json", import.meta.url).pathname;
const OTHER_KEY = "another-key-of-thirty-two-bytes-or-more";

/** Check a run's exit code, showing its output when it differs. */
function assertExit(run: CliRun, code: number): void {
  assert.equal(run.code, code, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

/** An error is one line on stderr, without a stack trace. */
function assertOneLineError(run: CliRun, message: RegExp): void {
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], message);
  assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack frames");
}

/** A fresh temporary directory; the caller removes it in `finally`. */
function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "jrm_cli_gate_test_" });
}

Deno.test("jrm gate validate accepts every shipped fixture with fixtures/keyring.json", async () => {
  const run = await runJrm([
    "gate",
    "validate",
    "--packet",
    FIXTURE_PACKETS,
    "--keyring",
    FIXTURE_KEYRING,
    "--json",
  ]);
  assertExit(run, 0);
  const report = JSON.parse(run.stdout);
  const shipped = [...Deno.readDirSync(FIXTURE_PACKETS)].filter((e) => e.name.endsWith(".zip"));
  assert.ok(shipped.length > 0);
  assert.equal(report.accepted, shipped.length);
  assert.equal(report.rejected, 0);
  for (const result of report.results) {
    assert.equal(result.accepted, true, JSON.stringify(result));
    assert.equal(result.signature, "verified");
    assert.deepEqual(result.violations, []);
  }
});

Deno.test("jrm gate validate exits 0 when accepted, 1 when rejected, 2 for bad usage", async (t) => {
  const dir = await tempDir();
  try {
    await Deno.writeFile(`${dir}/good.zip`, (await buildTestPacket()).bytes);
    const tampered = await buildTestPacket({
      editEntries: (entries) => entries.set("canon_entry.json", json({ entries: {} })),
    });
    await Deno.writeFile(`${dir}/tampered.zip`, tampered.bytes);
    await Deno.writeTextFile(`${dir}/k.key`, TEST_KEY);
    const validateArgs = (...args: string[]) => ["gate", "validate", ...args];

    await t.step("accepted", async () => {
      const run = await runJrm(validateArgs("--packet", `${dir}/good.zip`));
      assertExit(run, 0);
      assert.match(run.stdout, /^ACCEPTED {2}.*good\.zip \(signature unsigned\)$/m);
      assert.match(run.stderr, /^warning: no key configured/);
    });
    await t.step("rejected, with --json printing only JSON", async () => {
      const run = await runJrm(validateArgs("--packet", dir, "--json"));
      assertExit(run, 1);
      const report = JSON.parse(run.stdout);
      assert.equal(report.accepted, 1);
      assert.equal(report.rejected, 1);
      const rejected = report.results.find((r: { accepted: boolean }) => !r.accepted);
      assert.equal(rejected.reasonCode, "HASH_MISMATCH");
      assert.equal(rejected.violations[0].entry, "canon_entry.json");
      // Warnings still reach stderr with --json; stdout holds only the JSON.
      assert.match(run.stderr, /^warning: no key configured[^\n]*\n$/);
    });
    await t.step("an unknown flag", async () => {
      const run = await runJrm(validateArgs("--packet", `${dir}/good.zip`, "--bogus"));
      assertExit(run, 2);
      assertOneLineError(run, /unknown option '--bogus'/);
    });
    await t.step("a --packet that does not exist", async () => {
      const run = await runJrm(validateArgs("--packet", `${dir}/absent.zip`));
      assertExit(run, 2);
      assertOneLineError(run, /^error: Cannot read packet ".*absent\.zip": not found$/);
    });
    await t.step("no --packet", async () => {
      const run = await runJrm(validateArgs());
      assertExit(run, 2);
      assertOneLineError(run, /Give at least one --packet/);
    });
    await t.step("both --key-file and --keyring", async () => {
      const run = await runJrm(
        validateArgs("--packet", dir, "--key-file", `${dir}/k.key`, "--keyring", FIXTURE_KEYRING),
      );
      assertExit(run, 2);
      assertOneLineError(run, /Give only one of --key-file, --key-env and --keyring/);
      assert.equal(run.stdout, "");
    });
    await t.step("--debug prints the stack", async () => {
      const run = await runJrm(["--debug", ...validateArgs("--packet", `${dir}/absent.zip`)]);
      assertExit(run, 2);
      assert.match(run.stderr, /Cannot read packet/);
      assert.match(run.stderr, /^\s+at /m);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm gate validate gives the same verdict in any time zone", async () => {
  const dir = await tempDir();
  try {
    // Times carry their offset, so the name (in UTC) is the same everywhere.
    const { bytes } = await buildTestPacket({
      windowStart: "2026-02-28T19:00:00+09:00",
      windowEnd: "2026-02-28T10:10:00Z",
    });
    assert.equal(
      readPacket(bytes).packet?.manifest.packetName,
      "JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01",
    );
    await Deno.writeFile(`${dir}/p.zip`, bytes);
    const run = await runJrm(["gate", "validate", "--packet", `${dir}/p.zip`, "--json"], {
      env: { TZ: "Asia/Tokyo" },
    });
    assertExit(run, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm gate scope exits 0 in scope, 1 out of scope, 2 without --allow-env", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeFile(`${dir}/p.zip`, (await buildTestPacket()).bytes);
    const scope = (...args: string[]) =>
      runJrm(["gate", "scope", "--packet", `${dir}/p.zip`, ...args]);
    const [inScope, outOfScope, noEnv] = await Promise.all([
      scope("--allow-env", "SOC_WEST", "--allow-env", TEST_ENV),
      scope("--allow-env", "SOC_WEST", "--json"),
      scope(),
    ]);
    assertExit(inScope, 0);
    assertExit(outOfScope, 1);
    const report = JSON.parse(outOfScope.stdout);
    assert.equal(report.results[0].reasonCode, "SCOPE_VIOLATION");
    assertExit(noEnv, 2);
    assertOneLineError(noEnv, /Give at least one --allow-env/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm sign rewrites a packet in place, jrm verify then passes, and fails with another key", async () => {
  const dir = await tempDir();
  try {
    const packet = `${dir}/p.zip`;
    await Deno.writeFile(packet, (await buildTestPacket()).bytes);
    await Deno.writeTextFile(`${dir}/k.key`, TEST_KEY + "\n");
    await Deno.writeTextFile(`${dir}/other.key`, OTHER_KEY);
    await Deno.writeTextFile(`${dir}/short.key`, "short");

    const signed = await runJrm(["sign", "--packet", packet, "--key-file", `${dir}/k.key`]);
    assertExit(signed, 0);
    assert.match(signed.stdout, /^Signed ".*p\.zip" with hmac-sha256/);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["k.key", "other.key", "p.zip", "short.key"], "no temporary file left");
    const keyring = keyringOf([TEST_ENV, await hmacSigner(TEST_KEY)]);
    assert.equal((await validate(await Deno.readFile(packet), { keyring })).signature, "verified");

    const [verified, wrongKey, shortKey, noKey] = await Promise.all([
      runJrm(["verify", "--packet", packet, "--key-file", `${dir}/k.key`]),
      runJrm(["verify", "--packet", packet, "--key-file", `${dir}/other.key`, "--json"]),
      runJrm(["verify", "--packet", packet, "--key-file", `${dir}/short.key`]),
      runJrm(["verify", "--packet", packet]),
    ]);
    assertExit(verified, 0);
    assert.match(verified.stdout, /ACCEPTED .*\(signature verified\)/);
    assert.equal(verified.stderr, "");
    assertExit(wrongKey, 1);
    assert.equal(JSON.parse(wrongKey.stdout).results[0].reasonCode, "SIGNATURE_INVALID");
    assertExit(shortKey, 1);
    assert.match(shortKey.stderr, /^warning: HMAC key from file ".*short\.key" is 5 bytes/m);
    assertExit(noKey, 2);
    assertOneLineError(noKey, /Verifying needs a key/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm sign and verify work with Ed25519 PEM keys, and refuse a PEM as an HMAC key", async () => {
  const dir = await tempDir();
  try {
    const keys = await ed25519Keys();
    const packet = `${dir}/p.zip`;
    await Deno.writeFile(packet, (await buildTestPacket()).bytes);
    await Deno.writeTextFile(`${dir}/east.pem`, keys.privatePem);
    await Deno.writeTextFile(`${dir}/east.pub.pem`, keys.publicPem);
    await Deno.writeTextFile(
      `${dir}/keyring.json`,
      JSON.stringify({
        keys: [{ environment: TEST_ENV, algorithm: "ed25519", file: "east.pub.pem" }],
      }),
    );
    const signed = await runJrm([
      "sign",
      "--packet",
      packet,
      "--algorithm",
      "ed25519",
      "--key-file",
      `${dir}/east.pem`,
    ]);
    assertExit(signed, 0);
    const [verified, confused] = await Promise.all([
      runJrm(["verify", "--packet", packet, "--keyring", `${dir}/keyring.json`]),
      runJrm(["verify", "--packet", packet, "--key-file", `${dir}/east.pub.pem`]),
    ]);
    assertExit(verified, 0);
    assert.match(verified.stdout, /\(signature verified\)/);
    assertExit(confused, 2);
    assertOneLineError(confused, /is a PEM key, not an HMAC secret/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm pack builds a valid packet from a directory of the six data files", async () => {
  const dir = await tempDir();
  try {
    await Deno.mkdir(`${dir}/data`);
    for (const [name, data] of dataFiles()) await Deno.writeFile(`${dir}/data/${name}`, data);
    await Deno.writeTextFile(`${dir}/k.key`, TEST_KEY);
    const pack = (out: string, ...args: string[]) =>
      runJrm([
        "pack",
        "--dir",
        `${dir}/data`,
        "--env",
        TEST_ENV,
        "--window-start",
        TEST_WINDOW.windowStart,
        "--window-end",
        TEST_WINDOW.windowEnd,
        "--part",
        "1",
        "--out",
        `${dir}/${out}`,
        ...args,
      ]);
    const [packed, unsigned] = await Promise.all([
      pack("signed.zip", "--key-file", `${dir}/k.key`, "--key-id", "east-1", "--json"),
      pack("unsigned.zip"),
    ]);
    assertExit(packed, 0);
    const summary = JSON.parse(packed.stdout);
    assert.equal(
      summary.packetName,
      "JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01",
    );
    assert.equal(summary.signed, true);
    const keyring = keyringOf([TEST_ENV, await hmacSigner(TEST_KEY, "east-1")]);
    const result = await validate(await Deno.readFile(`${dir}/signed.zip`), { keyring });
    assert.deepEqual(result.violations, []);
    assert.equal(result.signature, "verified");
    assert.equal(result.packet?.manifest.eventCount, 2);

    assertExit(unsigned, 0);
    const plain = await validate(await Deno.readFile(`${dir}/unsigned.zip`));
    assert.deepEqual(plain.violations, []);
    assert.equal(plain.signature, "unsigned");

    await Deno.remove(`${dir}/data/memory_graph.json`);
    const missing = await pack("missing.zip");
    assertExit(missing, 2);
    assertOneLineError(missing, /Cannot read data file ".*memory_graph\.json": not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jrm gate redact writes a re-signed copy and refuses a tampered input", async () => {
  const dir = await tempDir();
  try {
    const input = `${dir}/in.zip`;
    const signer = await hmacSigner();
    const { bytes } = await buildTestPacket({ signer });
    await Deno.writeFile(input, bytes);
    await Deno.writeTextFile(`${dir}/k.key`, TEST_KEY);
    const tampered = await buildTestPacket({
      signer,
      editEntries: (entries) => entries.set("truth_snapshot.json", json({})),
    });
    await Deno.writeFile(`${dir}/tampered.zip`, tampered.bytes);
    const redact = (packet: string, out: string, ...args: string[]) =>
      runJrm([
        "gate",
        "redact",
        "--packet",
        packet,
        "--out",
        out,
        "--field",
        "src_ip",
        "--field",
        "user",
        ...args,
      ]);

    const [done, refused, sameFile] = await Promise.all([
      redact(input, `${dir}/out.zip`, "--key-file", `${dir}/k.key`, "--json"),
      redact(`${dir}/tampered.zip`, `${dir}/refused.zip`),
      redact(input, input),
    ]);

    assertExit(done, 0);
    assert.deepEqual(JSON.parse(done.stdout), {
      redacted: true,
      out: `${dir}/out.zip`,
      replaced: { "decision_lineage.jsonl": 5, "truth_snapshot.json": 1 },
      signed: true,
    });
    assert.deepEqual(await Deno.readFile(input), bytes, "the input is untouched");
    const result = await validate(await Deno.readFile(`${dir}/out.zip`), {
      keyring: keyringOf([TEST_ENV, signer]),
    });
    assert.deepEqual(result.violations, []);
    assert.equal(result.signature, "verified");
    assert.deepEqual(result.packet?.decisionLineage[1].metadata, {
      src_ip: "[REDACTED]",
      port: 443,
    });

    assertExit(refused, 1);
    assert.match(refused.stdout, /HASH_MISMATCH/);
    assertOneLineError(refused, /was rejected \(HASH_MISMATCH\); not redacting it/);
    await assert.rejects(() => Deno.stat(`${dir}/refused.zip`), Deno.errors.NotFound);

    assertExit(sameFile, 2);
    assertOneLineError(
      sameFile,
      /^error: --out ".*" is the packet ".*"; an output never overwrites an input$/,
    );
    assert.deepEqual(await Deno.readFile(input), bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
