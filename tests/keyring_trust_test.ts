/**
 * Keys and trust: a key listed for `*` is a fallback that serves only
 * environments without keys of their own, and a signature's `keyId` must name
 * a key that serves the packet's environment. Checked through the library and
 * through `jrm gate validate`, `jrm verify` and `jrm federate`, which must
 * agree on every case.
 */
import assert from "node:assert/strict";
import { validate } from "../core/gate.ts";
import { Keyring } from "../core/signer.ts";
import { loadKeyring } from "../core/keyring.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { buildTestPacket, ed25519Keys, hmacSigner, TEST_WINDOW } from "./_packets.ts";
import { runJrm, withTempDir } from "./_cli.ts";

const KEYS = {
  east: "east-key-of-at-least-thirty-two-bytes!",
  west: "west-key-of-at-least-thirty-two-bytes!",
  fallback: "fallback-key-of-at-least-thirty-two-bytes",
} as const;
type KeyName = keyof typeof KEYS;

/** A keyring file's keys: environment, key, key id (none when absent). */
type KeyringSpec = { environment: string; key: KeyName | "ed25519"; keyId?: string }[];

const KEYRINGS: Record<string, KeyringSpec> = {
  /** Every key has an id. */
  ids: [
    { environment: "SOC_EAST", key: "east", keyId: "east-1" },
    { environment: "SOC_WEST", key: "west", keyId: "west-1" },
    { environment: "*", key: "fallback", keyId: "fallback" },
  ],
  /** SOC_EAST's key and the fallback have no id, so a key id alone never picks them. */
  anonymous: [
    { environment: "*", key: "fallback" },
    { environment: "SOC_EAST", key: "east" },
    { environment: "SOC_WEST", key: "west", keyId: "west-1" },
  ],
  /** SOC_EAST's own key is for another algorithm than the fallback. */
  otherAlgorithm: [
    { environment: "SOC_EAST", key: "ed25519" },
    { environment: "*", key: "fallback" },
  ],
};

interface TrustCase {
  /** Completes "a packet of <env> …". */
  what: string;
  keyring: keyof typeof KEYRINGS;
  environment: string;
  signedWith: KeyName;
  keyId?: string;
  /** `verified`, or the violation code the packet is refused with. */
  expect: "verified" | "SIGNATURE_INVALID" | "SIGNATURE_KEY_UNKNOWN";
}

const CASES: TrustCase[] = [
  {
    what: "with keys of its own, signed with the fallback key, no key id",
    keyring: "ids",
    environment: "SOC_EAST",
    signedWith: "fallback",
    expect: "SIGNATURE_INVALID",
  },
  {
    what: "with keys of its own, signed with the fallback key naming it",
    keyring: "ids",
    environment: "SOC_EAST",
    signedWith: "fallback",
    keyId: "fallback",
    expect: "SIGNATURE_KEY_UNKNOWN",
  },
  {
    what: "with keys of its own, signed with another environment's key naming it",
    keyring: "ids",
    environment: "SOC_EAST",
    signedWith: "west",
    keyId: "west-1",
    expect: "SIGNATURE_KEY_UNKNOWN",
  },
  {
    what: "with keys of its own, signed with another environment's key, no key id",
    keyring: "ids",
    environment: "SOC_EAST",
    signedWith: "west",
    expect: "SIGNATURE_INVALID",
  },
  {
    what: "signed with its own key naming it",
    keyring: "ids",
    environment: "SOC_EAST",
    signedWith: "east",
    keyId: "east-1",
    expect: "verified",
  },
  {
    what: "signed with its own key, no key id",
    keyring: "ids",
    environment: "SOC_EAST",
    signedWith: "east",
    expect: "verified",
  },
  {
    what: "without keys, signed with the fallback key, no key id",
    keyring: "ids",
    environment: "SOC_NORTH",
    signedWith: "fallback",
    expect: "verified",
  },
  {
    what: "without keys, signed with the fallback key naming it",
    keyring: "ids",
    environment: "SOC_NORTH",
    signedWith: "fallback",
    keyId: "fallback",
    expect: "verified",
  },
  {
    what: "without keys, signed with another environment's key naming it",
    keyring: "ids",
    environment: "SOC_NORTH",
    signedWith: "east",
    keyId: "east-1",
    expect: "SIGNATURE_KEY_UNKNOWN",
  },
  {
    what: "without keys, signed with another environment's key, no key id",
    keyring: "ids",
    environment: "SOC_NORTH",
    signedWith: "east",
    expect: "SIGNATURE_INVALID",
  },
  {
    what: "whose own key has no id, signed with it but naming another environment's key",
    keyring: "anonymous",
    environment: "SOC_EAST",
    signedWith: "east",
    keyId: "west-1",
    expect: "SIGNATURE_KEY_UNKNOWN",
  },
  {
    what: "with keys of its own, signed with an id-less fallback key under an unknown key id",
    keyring: "anonymous",
    environment: "SOC_EAST",
    signedWith: "fallback",
    keyId: "rotated-2027",
    expect: "SIGNATURE_INVALID",
  },
  {
    what: "without keys, signed with an id-less fallback key but naming another environment's key",
    keyring: "anonymous",
    environment: "SOC_NORTH",
    signedWith: "fallback",
    keyId: "west-1",
    expect: "SIGNATURE_KEY_UNKNOWN",
  },
  {
    what: "without keys, signed with an id-less fallback key under a key id nobody has",
    keyring: "anonymous",
    environment: "SOC_NORTH",
    signedWith: "fallback",
    keyId: "rotated-2027",
    expect: "verified",
  },
  {
    what: "whose own key is Ed25519, signed with the HMAC fallback key",
    keyring: "otherAlgorithm",
    environment: "SOC_EAST",
    signedWith: "fallback",
    expect: "SIGNATURE_KEY_UNKNOWN",
  },
  {
    what: "whose own key is Ed25519, signed with the HMAC fallback key naming nothing known",
    keyring: "otherAlgorithm",
    environment: "SOC_EAST",
    signedWith: "fallback",
    keyId: "fallback",
    expect: "SIGNATURE_KEY_UNKNOWN",
  },
];

/** The case's packet: part = its index, so no two packets of one environment share a slot. */
async function casePacket(c: TrustCase, index: number): Promise<Uint8Array> {
  const signer = await hmacSigner(KEYS[c.signedWith], c.keyId);
  return (await buildTestPacket({
    environmentId: c.environment,
    part: index + 1,
    signer,
    sign: { keyId: c.keyId },
  })).bytes;
}

/** Write a keyring file and its keys into `dir`; returns the keyring's path. */
async function writeKeyring(dir: string, name: string, spec: KeyringSpec): Promise<string> {
  let pem: string | undefined;
  const keys = [];
  for (const [i, entry] of spec.entries()) {
    const file = `${name}-${i}.key`;
    if (entry.key === "ed25519") {
      pem ??= (await ed25519Keys()).publicPem;
      await Deno.writeTextFile(`${dir}/${file}`, pem);
    } else {
      await Deno.writeTextFile(`${dir}/${file}`, KEYS[entry.key] + "\n");
    }
    keys.push({
      environment: entry.environment,
      ...(entry.keyId === undefined ? {} : { keyId: entry.keyId }),
      ...(entry.key === "ed25519" ? { algorithm: "ed25519" } : {}),
      file,
    });
  }
  const path = `${dir}/${name}.json`;
  await Deno.writeTextFile(path, JSON.stringify({ keys }));
  return path;
}

/** The packets of every case, written under `dir/<keyring>/`, and the keyring files. */
async function writeCorpus(dir: string) {
  const keyrings: Record<string, string> = {};
  const files = new Map<TrustCase, string>();
  for (const [name, spec] of Object.entries(KEYRINGS)) {
    keyrings[name] = await writeKeyring(dir, name, spec);
    await Deno.mkdir(`${dir}/${name}`);
  }
  for (const [index, c] of CASES.entries()) {
    const path = `${dir}/${c.keyring}/case${String(index).padStart(2, "0")}.zip`;
    await Deno.writeFile(path, await casePacket(c, index));
    files.set(c, path);
  }
  return { keyrings, files };
}

function verdictOf(result: { accepted: boolean; reasonCode: string; signature: string }): string {
  return result.accepted && result.signature === "verified" ? "verified" : result.reasonCode;
}

Deno.test("validate(): a fallback key never verifies an environment with keys of its own, a key id names only a key serving the packet", async (t) => {
  await withTempDir("jrm_keyring_trust_", async (dir) => {
    const { keyrings } = await writeCorpus(dir);
    for (const [index, c] of CASES.entries()) {
      await t.step(`a packet of ${c.environment} ${c.what}: ${c.expect}`, async () => {
        const keyring = await loadKeyring(builtinRegistry(), keyrings[c.keyring]);
        const result = await validate(await casePacket(c, index), { keyring });
        assert.equal(verdictOf(result), c.expect, JSON.stringify(result.violations));
        if (c.expect !== "verified") {
          assert.equal(result.violations.length, 1, JSON.stringify(result.violations));
          assert.equal(result.signature, "invalid");
        }
      });
    }
  });
});

Deno.test("validate(): refusing a key id says whose key it names", async () => {
  const east = await hmacSigner(KEYS.east, "east-1");
  const fallback = await hmacSigner(KEYS.fallback, "fallback");
  const keyring = new Keyring([
    { environment: "SOC_EAST", signer: east },
    { environment: "*", signer: fallback },
  ]);
  const packet = async (environmentId: string, signer: typeof east, keyId: string) =>
    (await buildTestPacket({ environmentId, signer, sign: { keyId } })).bytes;
  const viaFallback = await validate(await packet("SOC_EAST", fallback, "fallback"), { keyring });
  assert.match(
    viaFallback.violations[0].message,
    /^Signature key id "fallback" names the fallback key, which serves only environments without keys of their own, not a key of environment "SOC_EAST"$/,
  );
  const viaEast = await validate(await packet("SOC_WEST", east, "east-1"), { keyring });
  assert.match(
    viaEast.violations[0].message,
    /^Signature key id "east-1" names a key of environment "SOC_EAST", not a key of environment "SOC_WEST"$/,
  );
});

Deno.test("Keyring: keysFor() gives an environment its own keys, else the fallback", async () => {
  const east = await hmacSigner(KEYS.east, "east-1");
  const east2 = await hmacSigner(KEYS.west, "east-2");
  const fallback = await hmacSigner(KEYS.fallback);
  const { verifier } = await ed25519Keys();
  const keyring = new Keyring([
    { environment: "*", signer: fallback },
    { environment: "SOC_EAST", signer: east },
    { environment: "SOC_EAST", signer: verifier },
    { environment: "SOC_EAST", signer: east2 },
  ]);
  assert.deepEqual(keyring.keysFor("SOC_EAST").map((e) => e.signer), [east, verifier, east2]);
  assert.deepEqual(keyring.keysFor("SOC_WEST").map((e) => e.signer), [fallback]);
  // A packet may claim the environment "*": it has no keys of its own, like any other.
  assert.deepEqual(keyring.keysFor("*").map((e) => e.signer), [fallback]);
  assert.equal(keyring.hasOwnKeys("SOC_EAST"), true);
  assert.equal(keyring.hasOwnKeys("*"), false);
  assert.deepEqual(keyring.candidates("SOC_EAST", "hmac-sha256"), [east, east2]);
  assert.deepEqual(keyring.candidates("SOC_EAST", "hmac-sha256", "east-2"), [east2]);
  assert.deepEqual(keyring.candidates("SOC_EAST", "ed25519", "east-9"), [verifier]);
  assert.deepEqual(keyring.candidates("SOC_WEST", "hmac-sha256", "east-1"), []);
  assert.deepEqual(keyring.foreignKeyOwners("SOC_WEST", "east-1"), ["SOC_EAST"]);
  assert.deepEqual(keyring.foreignKeyOwners("SOC_EAST", "east-1"), []);
  assert.deepEqual(keyring.candidates("SOC_WEST", "ed25519"), []);
  assert.equal(keyring.servesEnvironment("SOC_WEST"), true);
  assert.equal(
    new Keyring([{ environment: "SOC_EAST", signer: east }]).servesEnvironment("X"),
    false,
  );
});

Deno.test("jrm gate validate, verify and federate refuse a fallback key or a foreign key id as validate() does", async (t) => {
  await withTempDir("jrm_keyring_trust_cli_", async (dir) => {
    const { keyrings, files } = await writeCorpus(dir);
    for (const name of Object.keys(KEYRINGS)) {
      const cases = CASES.filter((c) => c.keyring === name);
      const expected = Object.fromEntries(cases.map((c) => [files.get(c)!, c.expect]));
      const rejected = cases.some((c) => c.expect !== "verified");
      for (const command of ["gate validate", "verify"]) {
        await t.step(`${command} with the "${name}" keyring`, async () => {
          const run = await runJrm([
            ...command.split(" "),
            "--packet",
            `${dir}/${name}`,
            "--keyring",
            keyrings[name],
            "--json",
          ]);
          assert.equal(run.code, rejected ? 1 : 0, run.stderr);
          const results = JSON.parse(run.stdout).results as {
            source: string;
            accepted: boolean;
            reasonCode: string;
            signature: string;
          }[];
          assert.deepEqual(
            Object.fromEntries(results.map((r) => [r.source, verdictOf(r)])),
            expected,
          );
        });
      }
      await t.step(`federate with the "${name}" keyring`, async () => {
        const out = `${dir}/${name}-report.json`;
        const run = await runJrm([
          "federate",
          "--packets",
          `${dir}/${name}`,
          "--keyring",
          keyrings[name],
          "--out",
          out,
          "--now",
          TEST_WINDOW.windowEnd,
        ]);
        assert.equal(run.code, rejected ? 1 : 0, run.stderr);
        const report = JSON.parse(await Deno.readTextFile(out));
        const refused = Object.fromEntries(
          (report.packetsRejected as { source: string; reasonCode: string }[])
            .map((r) => [r.source, r.reasonCode]),
        );
        assert.deepEqual(
          refused,
          Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== "verified")),
        );
        assert.equal(
          report.packetsIngested,
          Object.values(expected).filter((v) => v === "verified").length,
        );
      });
    }
  });
});
