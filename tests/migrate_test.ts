import assert from "node:assert/strict";
import { readArchive } from "../core/archive.ts";
import { canonicalString } from "../core/canonical_json.ts";
import { runDetectors } from "../core/drift.ts";
import { validate } from "../core/gate.ts";
import { ingestFiles } from "../core/hub.ts";
import { expandInputs } from "../core/inputs.ts";
import {
  LEGACY_MANIFEST_KEYS,
  migratePacket,
  MIGRATION_SIGNER_ID,
  normalizeLegacyTime,
} from "../core/migrate.ts";
import { DATA_FILES, MANIFEST_FILE, MANIFEST_KEYS, sha256Ref } from "../core/packet.ts";
import { buildReport, type FederationReport } from "../core/report.ts";
import { buildPacket } from "../core/writer.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { oneErrorLine, runJrm, withTempDir } from "./_cli.ts";
import {
  buildLegacyPacket,
  LEGACY_CANON,
  LEGACY_KEY,
  legacyDataFiles,
  type LegacyPacketOptions,
  pythonJson,
  referenceSignature,
  SENSOR_TIMES,
} from "./_legacy.ts";
import { buildTestPacket, ed25519Keys, hmacSigner, keyringOf } from "./_packets.ts";

const WEST_KEY = "soc-west-reference-secret-abcdefghijklmnopqrstuvwxyz";

/** The keys of each environment, as a keyring file and its key files in `dir`. */
async function writeKeyring(dir: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/east.key`, LEGACY_KEY + "\n");
  await Deno.writeTextFile(`${dir}/west.key`, WEST_KEY + "\n");
  await Deno.writeTextFile(
    `${dir}/keyring.json`,
    JSON.stringify({
      keys: [
        { environment: "SOC_EAST", file: "east.key" },
        { environment: "SOC_WEST", file: "west.key" },
      ],
    }),
  );
  return `${dir}/keyring.json`;
}

/** A legacy packet of SOC_EAST or SOC_WEST signed with that environment's key. */
function legacy(options: LegacyPacketOptions) {
  return buildLegacyPacket({
    key: options.environmentId === "SOC_WEST" ? WEST_KEY : LEGACY_KEY,
    ...options,
  });
}

async function keyring() {
  return keyringOf(["SOC_EAST", await hmacSigner(LEGACY_KEY)], [
    "SOC_WEST",
    await hmacSigner(WEST_KEY),
  ]);
}

/** The entries of an archive by name. */
function entriesOf(bytes: Uint8Array): Map<string, Uint8Array> {
  return new Map(readArchive(bytes).map((entry) => [entry.name, entry.data]));
}

async function federated(paths: string[], keys: Awaited<ReturnType<typeof keyring>>) {
  const registry = builtinRegistry();
  const ingestion = await ingestFiles(await expandInputs(paths), { keyring: keys, workers: 0 });
  const detection = await runDetectors(
    ingestion.state.view(),
    registry.detectors().map((plugin) => ({
      plugin,
      options: plugin.defaultOptions ?? {},
      origin: "built-in",
    })),
  );
  return buildReport(ingestion, detection, "2026-03-01T00:00:00Z");
}

// --- times -------------------------------------------------------------------

Deno.test("normalizeLegacyTime() writes RFC 3339 for the same instant, or says why it cannot", async (t) => {
  const cases: [string, string | undefined, string][] = [
    ["2026-02-28T10:00:00.000000+0000", undefined, "2026-02-28T10:00:00.000000+00:00"],
    ["2026-02-28T10:00:00.123456789-0130", undefined, "2026-02-28T10:00:00.123456789-01:30"],
    ["2026-02-28T10:10:01.123456+00:00", undefined, "2026-02-28T10:10:01.123456+00:00"],
    ["2026-02-28T10:00:00Z", undefined, "2026-02-28T10:00:00Z"],
    ["2024-02-29T23:59:59+0530", undefined, "2024-02-29T23:59:59+05:30"],
    ["2026-02-28T10:00:00.5", "-05:00", "2026-02-28T10:00:00.5-05:00"],
    ["2026-02-28T10:00:00+0100", "-05:00", "2026-02-28T10:00:00+01:00"],
  ];
  for (const [legacy, assumed, expected] of cases) {
    await t.step(`${legacy}${assumed ? ` assuming ${assumed}` : ""}`, () => {
      assert.deepEqual(normalizeLegacyTime(legacy, assumed), { time: expected });
      // The same instant (to the millisecond Date keeps) as the legacy text with its offset
      // written out (Date does not read the basic form).
      const extended = legacy.replace(/([+-]\d\d)(\d\d)$/, "$1:$2");
      const zoned = /(?:[+-]\d\d:\d\d|Z)$/.test(extended) ? extended : extended + assumed;
      const millis = (text: string) => Date.parse(text.replace(/(\.\d{1,3})\d*/, "$1"));
      assert.equal(millis(expected), millis(zoned));
      assert.ok(!Number.isNaN(millis(expected)));
    });
  }
  const refused: [string, string | undefined, RegExp][] = [
    ["02/28-10:00:01.123456", undefined, /^Snort's month\/day form names no instant/],
    ["02/28/26-10:00:01.123456", "+00:00", /^Snort's month\/day form/],
    ["2026-02-28T10:00:00", undefined, /^no UTC offset, so it names no instant/],
    ["2026-02-30T10:00:00Z", undefined, /^no such date or time of day$/],
    ["2026-02-28T24:00:00Z", undefined, /^no such date or time of day$/],
    ["2026-02-28T10:00:00+2400", undefined, /^no such UTC offset$/],
    ["2026-02-28T10:00Z", undefined, /^not a date-time/],
    ["2026-02-28 10:00:00Z", undefined, /^not a date-time/],
    ["2026-02-28T10:00:00+00", undefined, /^not a date-time/],
    ["1772272800", undefined, /^not a date-time/],
  ];
  for (const [legacy, assumed, problem] of refused) {
    await t.step(`refuses ${legacy}`, () => {
      const result = normalizeLegacyTime(legacy, assumed);
      assert.ok("problem" in result, JSON.stringify(result));
      assert.match(result.problem, problem);
    });
  }
});

// --- the legacy builder itself ------------------------------------------------

Deno.test("the legacy builder writes what Python's json.dumps and the reference signer write", () => {
  // Made with CPython 3: json.dumps(v, indent=2, sort_keys=True) and json.dumps(v, sort_keys=True).
  const value = { b: [1, 0.5, { z: [], y: {} }, "é\u2028", 1e-7], a: { c: 1.5 }, "Ω": "x" };
  assert.equal(
    pythonJson(value, 2),
    '{\n  "a": {\n    "c": 1.5\n  },\n  "b": [\n    1,\n    0.5,\n    {\n      "y": {},\n' +
      '      "z": []\n    },\n    "\\u00e9\\u2028",\n    1e-07\n  ],\n  "\\u03a9": "x"\n}',
  );
  assert.equal(
    pythonJson(value),
    '{"a": {"c": 1.5}, "b": [1, 0.5, {"y": {}, "z": []}, "\\u00e9\\u2028", 1e-07], "\\u03a9": "x"}',
  );
  // hmac.new(b"k", json.dumps({"b": 1, "a": "é"}, sort_keys=True, separators=(",", ":")).encode(),
  //          hashlib.sha256).hexdigest()
  assert.equal(
    referenceSignature({ b: 1, a: "é", signature: { value: "ignored" } }, "k").value,
    "05f0f00f4cc876d2c4f64eee85ddbebfc7e1738da71fe98ed11ea543763fc8e2",
  );
});

// --- migrating one packet -----------------------------------------------------

Deno.test("migratePacket() rewrites a Suricata-built packet in the spec's form and keeps its data byte for byte", async () => {
  const keys = await keyring();
  const packet = await legacy({ environmentId: "SOC_EAST", sensor: "suricata" });
  const result = await migratePacket(packet.bytes, { source: "east.zip", keyring: keys });
  assert.equal(result.accepted, true, JSON.stringify(result.violations));
  assert.equal(result.legacySignature, "verified");
  assert.equal(result.signature, "verified");
  const manifest = result.manifest!;
  assert.deepEqual(Object.keys(manifest), [...MANIFEST_KEYS, "migratedFrom", "signature"]);
  assert.equal(manifest.windowStart, "2026-02-28T10:00:00.000000+00:00");
  assert.equal(manifest.windowEnd, "2026-02-28T10:10:00.000000+00:00");
  assert.equal(manifest.createdAt, "2026-02-28T10:10:01.123456+00:00");
  assert.equal(manifest.packetName, "JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01");
  assert.equal(result.packetName, manifest.packetName);
  assert.deepEqual(JSON.parse(JSON.stringify(manifest.files)), packet.manifest.files);
  assert.deepEqual(manifest.migratedFrom, {
    packetName: packet.name,
    archiveSha256: sha256Ref(packet.bytes),
    signatureValue: (packet.manifest.signature as { value: string }).value,
  });
  const signature = manifest.signature as Record<string, unknown>;
  assert.equal(signature.signerId, MIGRATION_SIGNER_ID);
  assert.equal(signature.algorithm, "hmac-sha256");

  const before = entriesOf(packet.bytes);
  const after = entriesOf(result.bytes!);
  for (const name of DATA_FILES) assert.deepEqual(after.get(name), before.get(name), name);
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
  assert.equal(result.digest, sha256Ref(result.bytes!));

  // The gate, on its own, accepts the migrated packet with the environment's key.
  const verdict = await validate(result.bytes!, { keyring: keys, requireSignature: true });
  assert.equal(verdict.accepted, true, JSON.stringify(verdict.violations));
  assert.equal(verdict.signature, "verified");
});

Deno.test("migratePacket() verifies the legacy signature as the reference made it, before anything else", async (t) => {
  const keys = await keyring();
  const cases: { what: string; packet: () => ReturnType<typeof legacy>; code: string }[] = [
    {
      what: "a manifest altered after signing",
      packet: () => legacy({ environmentId: "SOC_EAST", editSigned: (m) => m.event_count = 4999 }),
      code: "SIGNATURE_INVALID",
    },
    {
      what: "a window moved after signing",
      packet: () =>
        legacy({
          environmentId: "SOC_EAST",
          editSigned: (m) => m.window_end = "2026-02-28T10:20:00.000000+0000",
        }),
      code: "SIGNATURE_INVALID",
    },
    {
      what: "signed with another environment's key",
      packet: () => legacy({ environmentId: "SOC_EAST", key: WEST_KEY }),
      code: "SIGNATURE_INVALID",
    },
    {
      what: "a data file altered after signing",
      packet: () =>
        legacy({
          environmentId: "SOC_EAST",
          editEntries: (e) =>
            e.set(
              "canon_entry.json",
              new TextEncoder().encode(pythonJson({ entries: {}, environmentId: "SOC_EAST" }, 2)),
            ),
        }),
      code: "HASH_MISMATCH",
    },
    {
      what: "an unsigned packet",
      packet: () => legacy({ environmentId: "SOC_EAST", key: null }),
      code: "SIGNATURE_MISSING",
    },
  ];
  for (const c of cases) {
    await t.step(c.what, async () => {
      const result = await migratePacket((await c.packet()).bytes, { keyring: keys });
      assert.equal(result.accepted, false);
      assert.equal(result.reasonCode, c.code, JSON.stringify(result.violations));
      assert.equal(result.bytes, undefined);
    });
  }
  await t.step("the gate's own words for a signature that does not verify", async () => {
    const packet = await legacy({ environmentId: "SOC_EAST", editSigned: (m) => m.part = 2 });
    const result = await migratePacket(packet.bytes, { keyring: keys });
    assert.match(
      result.violations[0].message,
      /^Signature of packet "JRM_X_PACKET_SOC_EAST_\w+" does not verify: signed with another key, or altered after signing$/,
    );
  });
});

Deno.test("migratePacket() refuses a yearless Snort time, naming the field and the value", async () => {
  const packet = await legacy({ environmentId: "SOC_EAST", sensor: "snort" });
  const result = await migratePacket(packet.bytes, { keyring: await keyring() });
  assert.equal(result.accepted, false);
  assert.equal(result.legacySignature, "verified");
  assert.deepEqual(result.violations.map((v) => v.code), [
    "MIGRATE_TIME_INVALID",
    "MIGRATE_TIME_INVALID",
  ]);
  assert.equal(
    result.violations[0].message,
    `Legacy manifest field "window_start" holds "${SENSOR_TIMES.snort.windowStart}": Snort's month/day form names no instant (no year, no offset); it is never guessed`,
  );
  assert.match(result.violations[1].message, /^Legacy manifest field "window_end" holds "02\/28-/);
  // An offset to assume does not give Snort's time a year.
  const assumed = await migratePacket(packet.bytes, {
    keyring: await keyring(),
    assumeOffset: "+00:00",
  });
  assert.equal(assumed.reasonCode, "MIGRATE_TIME_INVALID");
});

Deno.test("migratePacket() names a time with control characters escaped", async () => {
  const packet = await legacy({ environmentId: "SOC_EAST", windowStart: "\u001b[2J2026\u0085" });
  const result = await migratePacket(packet.bytes, { keyring: await keyring() });
  const message = result.violations[0].message;
  assert.equal(result.reasonCode, "MIGRATE_TIME_INVALID");
  assert.ok(message.includes('holds "\\u001b[2J2026\\u0085": not a date-time'), message);
  assert.ok(![...message].some((char) => char < " " || char === "\u0085"), message);
});

Deno.test("migratePacket() gives a time without an offset only the offset the user names", async () => {
  const packet = await legacy({
    environmentId: "SOC_EAST",
    windowStart: "2026-02-28T10:00:00.250",
    windowEnd: "2026-02-28T10:10:00.250",
    createdAt: "2026-02-28T10:10:01.123456",
  });
  const refused = await migratePacket(packet.bytes, { keyring: await keyring() });
  assert.deepEqual(
    refused.violations.map((v) => v.message),
    ["window_start", "window_end", "created_at"].map((field) =>
      `Legacy manifest field "${field}" holds ${
        JSON.stringify(packet.manifest[field])
      }: no UTC offset, so it names no instant; an offset is only ever assumed when one is given`
    ),
  );
  assert.deepEqual(refused.violations.map((v) => v.option), Array(3).fill("assumeOffset"));
  const migrated = await migratePacket(packet.bytes, {
    keyring: await keyring(),
    assumeOffset: "-05:00",
  });
  assert.equal(migrated.accepted, true, JSON.stringify(migrated.violations));
  assert.equal(migrated.manifest!.windowStart, "2026-02-28T10:00:00.250-05:00");
  assert.equal(migrated.manifest!.createdAt, "2026-02-28T10:10:01.123456-05:00");
  // The name is the window's instants in UTC.
  assert.equal(migrated.packetName, "JRM_X_PACKET_SOC_EAST_20260228T150000_20260228T151000_part01");
});

Deno.test("migratePacket() migrates an unsigned packet only when allowed, recording null", async () => {
  const packet = await legacy({ environmentId: "SOC_EAST", key: null });
  const refused = await migratePacket(packet.bytes, { keyring: await keyring() });
  assert.equal(refused.reasonCode, "SIGNATURE_MISSING");
  const allowed = await migratePacket(packet.bytes, {
    keyring: await keyring(),
    allowUnsigned: true,
  });
  assert.equal(allowed.accepted, true, JSON.stringify(allowed.violations));
  assert.equal(allowed.legacySignature, "unsigned");
  assert.equal(
    (allowed.manifest!.migratedFrom as { signatureValue: unknown }).signatureValue,
    null,
  );
  // Signed with the environment's own key, which the gate then verifies.
  assert.equal(allowed.signature, "verified");
  const keys = keyringOf(["SOC_EAST", await hmacSigner(LEGACY_KEY)]);
  assert.equal((await validate(allowed.bytes!, { keyring: keys })).signature, "verified");
  // Without any key it stays unsigned, and says so.
  const bare = await migratePacket(packet.bytes, { allowUnsigned: true });
  assert.equal(bare.accepted, true);
  assert.equal(bare.signature, "unsigned");
  assert.equal(bare.manifest!.signature, undefined);
  // A signed packet is never migrated unchecked, even when unsigned ones are allowed.
  const signed = await legacy({ environmentId: "SOC_EAST" });
  const unchecked = await migratePacket(signed.bytes, { allowUnsigned: true });
  assert.equal(unchecked.reasonCode, "SIGNATURE_KEY_UNKNOWN");
});

Deno.test("migratePacket() refuses what is not a reference-built packet, and a legacy manifest it cannot read", async (t) => {
  const keys = await keyring();
  await t.step("a packet already in the spec's form", async () => {
    const result = await migratePacket((await buildTestPacket()).bytes, { keyring: keys });
    assert.equal(result.reasonCode, "MIGRATE_NOT_LEGACY");
  });
  await t.step("a legacy manifest without its created_at", async () => {
    const packet = await legacy({
      environmentId: "SOC_EAST",
      editManifest: (m) => delete m.created_at,
    });
    const result = await migratePacket(packet.bytes, { keyring: keys });
    assert.equal(result.reasonCode, "MIGRATE_MANIFEST_INVALID");
    assert.match(result.violations[0].message, /^Legacy manifest lacks "created_at" \(/);
  });
  await t.step("a legacy manifest with a part that is not a whole number", async () => {
    const packet = await legacy({ environmentId: "SOC_EAST", editManifest: (m) => m.part = "1" });
    const result = await migratePacket(packet.bytes, { keyring: keys });
    assert.equal(
      result.violations[0].message,
      'Legacy manifest field "part" must be a whole number from 1, not "1"',
    );
  });
  await t.step("a legacy manifest that also holds a camelCase key", async () => {
    const packet = await legacy({
      environmentId: "SOC_EAST",
      editManifest: (m) => m.windowEnd = "2026-02-28T11:00:00Z",
    });
    const result = await migratePacket(packet.bytes, { keyring: keys });
    assert.equal(result.reasonCode, "MIGRATE_MANIFEST_INVALID");
  });
  await t.step("a legacy packet whose data names another environment", async () => {
    const packet = await legacy({
      environmentId: "SOC_EAST",
      editManifest: (m) => m.environment_id = "SOC_WEST",
      key: WEST_KEY,
    });
    const result = await migratePacket(packet.bytes, { keyring: keys });
    assert.equal(result.reasonCode, "ENVIRONMENT_MISMATCH");
  });
  await t.step("a legacy packet whose archive breaks the limits", async () => {
    const packet = await legacy({ environmentId: "SOC_EAST" });
    const result = await migratePacket(packet.bytes, { keyring: keys, limits: { maxEntries: 3 } });
    assert.equal(result.reasonCode, "LIMIT_ENTRY_COUNT");
  });
  await t.step("keys the reference does not write are kept as they are", async () => {
    const packet = await legacy({
      environmentId: "SOC_EAST",
      editManifest: (m) => m.builder_version = "1.2.0",
    });
    const result = await migratePacket(packet.bytes, { keyring: keys });
    assert.equal(result.accepted, true, JSON.stringify(result.violations));
    assert.equal(result.manifest!.builder_version, "1.2.0");
  });
});

Deno.test("migratePacket() gives the same manifest whatever key signs it, so a second migration is a duplicate", async () => {
  const packet = await legacy({ environmentId: "SOC_WEST" });
  const keys = await keyring();
  const first = await migratePacket(packet.bytes, { keyring: keys });
  const again = await migratePacket(packet.bytes, { keyring: keys });
  assert.deepEqual(again.bytes, first.bytes);
  const { signer } = await ed25519Keys();
  const other = await migratePacket(packet.bytes, {
    keyring: keys,
    signer,
    signKeyId: "west-ed25519",
  });
  assert.notDeepEqual(other.bytes, first.bytes);
  const unsigned = (m: Record<string, unknown>) => {
    const { signature: _signature, ...rest } = m;
    return canonicalString(rest);
  };
  assert.equal(unsigned(other.manifest!), unsigned(first.manifest!));
  const signature = other.manifest!.signature as Record<string, unknown>;
  assert.deepEqual(
    [signature.algorithm, signature.keyId, signature.signerId],
    ["ed25519", "west-ed25519", MIGRATION_SIGNER_ID],
  );
});

// --- federating ---------------------------------------------------------------

Deno.test("federating migrated packets finds the same drift as federating the same data built natively", async () => {
  await withTempDir("jrm-migrate-", async (dir) => {
    const keys = await keyring();
    await Deno.mkdir(`${dir}/migrated`);
    await Deno.mkdir(`${dir}/native`);
    const windows = [
      SENSOR_TIMES.suricata,
      {
        windowStart: "2026-02-28T10:10:00.000000+0000",
        windowEnd: "2026-02-28T10:20:00.000000+0000",
      },
    ];
    for (const env of ["SOC_EAST", "SOC_WEST"]) {
      for (const [i, window] of windows.entries()) {
        // The later window moves SOC_WEST's first signature on: the state is the later one.
        const canon = env === "SOC_WEST" && i === 1
          ? {
            "SID-2019401": { rev: 5, previousRev: 4, patchId: "p-west-5", lineage: ["p-1"] },
          }
          : undefined;
        const packet = await legacy({ environmentId: env, ...window, canon });
        const migrated = await migratePacket(packet.bytes, { keyring: keys });
        assert.equal(migrated.accepted, true, JSON.stringify(migrated.violations));
        await Deno.writeFile(`${dir}/migrated/${migrated.packetName}.zip`, migrated.bytes!);
        const m = migrated.manifest!;
        // The same data files, packed by jrm with the migrated window.
        const native = await buildPacket(
          legacyDataFiles(env, window, canon ?? LEGACY_CANON[env]),
          {
            environmentId: env,
            windowStart: m.windowStart as string,
            windowEnd: m.windowEnd as string,
            part: 1,
            createdAt: m.createdAt as string,
            signer: keys.candidates(env, "hmac-sha256")[0],
          },
        );
        assert.equal(native.name, migrated.packetName);
        await Deno.writeFile(`${dir}/native/${native.name}.zip`, native.bytes);
      }
    }
    const fromMigrated = await federated([`${dir}/migrated`], keys);
    const fromNative = await federated([`${dir}/native`], keys);
    const drifts = (report: FederationReport) => report.crossEnvDrifts;
    assert.equal(fromMigrated.packetsIngested, 4);
    assert.deepEqual(fromMigrated.packetsRejected, []);
    assert.deepEqual(
      drifts(fromMigrated).map((d) => [d.driftType, d.signatureId]).sort(),
      [
        ["POSTURE_DIVERGENCE", "SID-2024897"],
        ["REFINEMENT_CONFLICT", "SID-2019401"],
        ["VERSION_SKEW", "SID-2019401"],
      ],
    );
    assert.deepEqual(drifts(fromMigrated), drifts(fromNative));
    assert.deepEqual(fromMigrated.environmentStats, fromNative.environmentStats);
  });
});

// --- the command --------------------------------------------------------------

Deno.test("jrm migrate writes packets the gate accepts, and refuses the ones it must", async () => {
  await withTempDir("jrm-migrate-", async (dir) => {
    const keyringPath = await writeKeyring(dir);
    await Deno.mkdir(`${dir}/legacy`);
    const packets = [
      await legacy({ environmentId: "SOC_EAST", sensor: "suricata" }),
      await legacy({ environmentId: "SOC_WEST", sensor: "copilot" }),
      await legacy({ environmentId: "SOC_WEST", sensor: "snort" }),
      await legacy({
        environmentId: "SOC_EAST",
        sensor: "suricata",
        part: 2,
        editSigned: (m) => m.event_count = 1,
      }),
    ];
    const names = ["east", "west", "west-snort", "east-altered"];
    for (const [i, packet] of packets.entries()) {
      await Deno.writeFile(`${dir}/legacy/${names[i]}.zip`, packet.bytes);
    }
    const args = ["migrate", "--packets", `${dir}/legacy`, "--out-dir", `${dir}/out`];
    const run = await runJrm([...args, "--keyring", keyringPath, "--json"]);
    assert.equal(run.code, 1, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.deepEqual(
      [summary.accepted, summary.rejected, summary.migrated, summary.unchanged],
      [2, 2, 2, 0],
    );
    const bySource = Object.fromEntries(
      summary.results.map((r: { source: string }) => [r.source.split("/").pop(), r]),
    );
    assert.equal(bySource["east.zip"].status, "migrated");
    assert.equal(bySource["east.zip"].signature, "verified");
    assert.equal(bySource["east.zip"].legacySignature, "verified");
    assert.equal(
      bySource["east.zip"].out,
      `${dir}/out/JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01.zip`,
    );
    assert.equal(bySource["east.zip"].migratedFrom.archiveSha256, sha256Ref(packets[0].bytes));
    assert.equal(bySource["west-snort.zip"].reasonCode, "MIGRATE_TIME_INVALID");
    assert.match(bySource["west-snort.zip"].violations[0].message, /"window_start" holds "02\/28-/);
    assert.equal(bySource["east-altered.zip"].reasonCode, "SIGNATURE_INVALID");
    assert.equal(bySource["east-altered.zip"].out, null);
    // Only the migrated packets are there, and the gate accepts them with the environments' keys.
    const written = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name).sort();
    assert.deepEqual(written, [
      "JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01.zip",
      "JRM_X_PACKET_SOC_WEST_20260228T100000_20260228T101000_part01.zip",
    ]);
    const gate = await runJrm([
      "gate",
      "validate",
      "--packet",
      `${dir}/out`,
      "--keyring",
      keyringPath,
      "--require-signature",
      "--json",
    ]);
    assert.equal(gate.code, 0, gate.stdout);
    const verdicts = JSON.parse(gate.stdout).results;
    assert.deepEqual(verdicts.map((r: { signature: string }) => r.signature), [
      "verified",
      "verified",
    ]);
    // The gate itself stays strict: the legacy packet is refused, naming the keys.
    const strict = await runJrm(["gate", "validate", "--packet", `${dir}/legacy/east.zip`]);
    assert.equal(strict.code, 1);
    assert.match(
      strict.stdout,
      /MANIFEST_SNAKE_CASE {2}Entry "manifest.json" uses snake_case keys: found "created_at", .*; expected "packetName", .* \(a packet built by the reference pipeline can be migrated: jrm migrate\)$/m,
    );
    for (const key of LEGACY_MANIFEST_KEYS) assert.ok(strict.stdout.includes(`"${key}"`), key);

    // Again: the same bytes are there already, so nothing is written and nothing fails.
    const again = await runJrm([
      "migrate",
      "--packets",
      `${dir}/legacy/east.zip`,
      `${dir}/legacy/west.zip`,
      "--out-dir",
      `${dir}/out`,
      "--keyring",
      keyringPath,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      /^UNCHANGED .*east\.zip -> .*part01\.zip \(already there, identical; legacy signature verified; signed hmac-sha256 by "jrm-migrate"\)$/m,
    );
    assert.match(again.stdout, /^0 migrated, 2 unchanged, 0 refused$/m);
  });
});

Deno.test("jrm migrate never writes over a different file, nor over its input", async () => {
  await withTempDir("jrm-migrate-", async (dir) => {
    const keyringPath = await writeKeyring(dir);
    const packet = await legacy({ environmentId: "SOC_EAST" });
    // The reference named it as jrm names the migrated packet: migrating into its own directory.
    const input = `${dir}/${packet.name}.zip`;
    await Deno.writeFile(input, packet.bytes);
    const run = await runJrm([
      "migrate",
      "--packets",
      input,
      "--out-dir",
      dir,
      "--keyring",
      keyringPath,
    ]);
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /^REFUSED {3}.*\n {2}MIGRATE_OUTPUT_CONFLICT {2}".*part01\.zip" already exists and differs from this packet's migration; it is left as it is$/m,
    );
    assert.deepEqual(await Deno.readFile(input), packet.bytes);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      packet.name + ".zip",
      "east.key",
      "keyring.json",
      "west.key",
    ]);
  });
});

Deno.test("jrm migrate re-signs with Ed25519 (--sign-key-file), and says when a packet was unsigned", async () => {
  await withTempDir("jrm-migrate-", async (dir) => {
    const keyringPath = await writeKeyring(dir);
    const { privatePem, publicPem } = await ed25519Keys();
    await Deno.writeTextFile(`${dir}/fleet.pem`, privatePem);
    await Deno.writeTextFile(`${dir}/fleet.pub.pem`, publicPem);
    await Deno.writeTextFile(
      `${dir}/ed25519.json`,
      JSON.stringify({
        keys: [{
          environment: "*",
          keyId: "fleet-2026",
          algorithm: "ed25519",
          file: "fleet.pub.pem",
        }],
      }),
    );
    await Deno.mkdir(`${dir}/legacy`);
    await Deno.writeFile(
      `${dir}/legacy/east.zip`,
      (await legacy({ environmentId: "SOC_EAST" })).bytes,
    );
    await Deno.writeFile(
      `${dir}/legacy/west-unsigned.zip`,
      (await legacy({ environmentId: "SOC_WEST", key: null })).bytes,
    );
    const run = await runJrm([
      "migrate",
      "--packets",
      `${dir}/legacy`,
      "--out-dir",
      `${dir}/out`,
      "--keyring",
      keyringPath,
      "--allow-unsigned",
      "--sign-key-file",
      `${dir}/fleet.pem`,
      "--sign-algorithm",
      "ed25519",
      "--sign-key-id",
      "fleet-2026",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /^MIGRATED {2}.*east\.zip -> .*SOC_EAST.*\.zip \(legacy signature verified; signed ed25519 by "jrm-migrate"\)$/m,
    );
    assert.match(
      run.stdout,
      /^MIGRATED {2}.*west-unsigned\.zip -> .*SOC_WEST.*\.zip \(legacy packet UNSIGNED \(--allow-unsigned\); signed ed25519 by "jrm-migrate"\)$/m,
    );
    // Verified with the public key only: the fleet moved from shared HMAC secrets to Ed25519.
    const gate = await runJrm([
      "gate",
      "validate",
      "--packet",
      `${dir}/out`,
      "--keyring",
      `${dir}/ed25519.json`,
      "--json",
    ]);
    assert.equal(gate.code, 0, gate.stdout);
    const results = JSON.parse(gate.stdout).results;
    assert.deepEqual(results.map((r: { signature: string }) => r.signature), [
      "verified",
      "verified",
    ]);
    for (const name of [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name)) {
      const manifest = JSON.parse(
        new TextDecoder().decode(
          entriesOf(await Deno.readFile(`${dir}/out/${name}`)).get(MANIFEST_FILE),
        ),
      );
      assert.equal(manifest.signature.keyId, "fleet-2026");
    }
  });
});

Deno.test("jrm migrate usage errors are one line with exit 2", async (t) => {
  await withTempDir("jrm-migrate-", async (dir) => {
    const packet = `${dir}/p.zip`;
    await Deno.writeFile(packet, (await legacy({ environmentId: "SOC_EAST" })).bytes);
    const cases: [string, string[], RegExp][] = [
      [
        "no key and no --allow-unsigned",
        ["--packets", packet, "--out-dir", dir],
        /^error: Migrating checks each packet's signature with its environment's key: give --keyring, --key-file or --key-env/,
      ],
      [
        "an offset that is not ±hh:mm",
        ["--packets", packet, "--out-dir", dir, "--allow-unsigned", "--assume-offset", "+0500"],
        /^error: --assume-offset needs a UTC offset written ±hh:mm \(e\.g\. \+00:00 or -05:00\), not "\+0500"$/,
      ],
      [
        "no packets",
        ["--out-dir", dir, "--allow-unsigned"],
        /^error: Give at least one legacy packet with --packets$/,
      ],
      [
        "a signing key that cannot sign",
        [
          "--packets",
          packet,
          "--out-dir",
          dir,
          "--allow-unsigned",
          "--sign-key-file",
          `${dir}/pub.pem`,
          "--sign-algorithm",
          "ed25519",
        ],
        /^error: The ed25519 key in ".*pub\.pem" is a public key; --sign-key-file needs one that can sign$/,
      ],
    ];
    await Deno.writeTextFile(`${dir}/pub.pem`, (await ed25519Keys()).publicPem);
    for (const [what, args, message] of cases) {
      await t.step(what, async () => {
        const run = await runJrm(["migrate", ...args]);
        assert.match(oneErrorLine(run, 2), message);
      });
    }
  });
});

Deno.test("migrated packets' data files are the legacy bytes: no file is re-serialized", async () => {
  // The reference writes indented JSON with sorted keys; jrm would write it otherwise,
  // so a re-serialized file would change its hash.
  const packet = await legacy({ environmentId: "SOC_EAST" });
  const result = await migratePacket(packet.bytes, { keyring: await keyring() });
  const canon = entriesOf(result.bytes!).get("canon_entry.json")!;
  assert.ok(
    new TextDecoder().decode(canon).startsWith('{\n  "entries": {\n    "SID-2019401": {\n'),
  );
  assert.equal(
    (result.manifest!.files as Record<string, string>)["canon_entry.json"],
    sha256Ref(canon),
  );
});

Deno.test("jrm migrate names --assume-offset for a time without an offset", async () => {
  await withTempDir("jrm-migrate-", async (dir) => {
    const packet = `${dir}/p.zip`;
    const made = await legacy({ environmentId: "SOC_EAST", windowStart: "2026-02-28T10:00:00" });
    await Deno.writeFile(packet, made.bytes);
    const run = await runJrm([
      "migrate",
      "--packets",
      packet,
      "--out-dir",
      `${dir}/out`,
      "--allow-unsigned",
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stdout,
      /MIGRATE_TIME_INVALID {2}Legacy manifest field "window_start" holds "2026-02-28T10:00:00": no UTC offset, so it names no instant; an offset is only ever assumed when one is given \(--assume-offset\)\n/,
    );
  });
});
