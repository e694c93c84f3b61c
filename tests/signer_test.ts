import assert from "node:assert/strict";
import { parseLossless } from "../core/canonical_json.ts";
import { UsageError } from "../core/errors.ts";
import { validate } from "../core/gate.ts";
import { createSigner, loadKeyring, singleKeyKeyring } from "../core/keyring.ts";
import { MANIFEST_FILE } from "../core/packet.ts";
import { Keyring, readKeyEnv, readKeyFile } from "../core/signer.ts";
import { serializeManifest, signedBytes, signManifest } from "../core/writer.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { MIN_HMAC_KEY_BYTES } from "../plugins/signers/hmac_sha256.ts";
import {
  buildTestPacket,
  ed25519Keys,
  hmacSigner,
  keyringOf,
  TEST_ENV,
  TEST_KEY,
  text,
} from "./_packets.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One reference (Python) vector. */
interface Vector {
  name: string;
  source: string;
  key: string;
  canonical: string;
  hmacSha256: string;
}

const VECTORS: Vector[] = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/vectors/canonical-json.json", import.meta.url)),
);

/** A fresh temporary directory; the caller removes it in `finally`. */
function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "jrm_signer_test_" });
}

/** A unique environment variable name for one test. */
function envName(): string {
  return `JRM_TEST_KEY_${crypto.randomUUID().replaceAll("-", "_").toUpperCase()}`;
}

async function assertUsageError(run: () => Promise<unknown> | unknown, message: RegExp) {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError, got ${caught}`);
  assert.match(caught.message, message);
  assert.doesNotMatch(caught.message, /\n/, "one line");
}

// --- hmac-sha256 ---------------------------------------------------------------

Deno.test("hmac-sha256 accepts the reference vectors' HMACs over signedBytes()", async (t) => {
  const plain = VECTORS.find((vector) => vector.name === "plain manifest");
  assert.ok(plain, 'the vector file holds "plain manifest"');
  for (const vector of VECTORS) {
    await t.step(vector.name, async () => {
      const bytes = signedBytes(parseLossless(vector.source) as Record<string, unknown>);
      assert.equal(decoder.decode(bytes), vector.canonical);
      const { signer } = await createSigner(builtinRegistry(), "hmac-sha256", {
        bytes: encoder.encode(vector.key),
        origin: "vector",
      });
      assert.equal(await signer.verify(bytes, vector.hmacSha256), true);
      assert.equal(await signer.sign(bytes), vector.hmacSha256);
      const flipped = (vector.hmacSha256[0] === "0" ? "1" : "0") + vector.hmacSha256.slice(1);
      assert.equal(await signer.verify(bytes, flipped), false);
    });
  }
});

Deno.test("hmac-sha256 verify() is false for a malformed value, without throwing", async (t) => {
  const signer = await hmacSigner();
  const bytes = text("{}");
  const good = await signer.sign(bytes);
  const cases: [string, unknown][] = [
    ["upper-case hex", good.toUpperCase()],
    ["one digit short", good.slice(1)],
    ["one digit long", good + "0"],
    ["not hex", "z".repeat(64)],
    ["empty", ""],
    ["not a string", 42],
  ];
  for (const [what, value] of cases) {
    await t.step(what, async () => {
      assert.equal(await signer.verify(bytes, value as string), false);
    });
  }
});

Deno.test("createSigner() warns about an HMAC key shorter than 32 bytes", async (t) => {
  const make = (key: string) =>
    createSigner(builtinRegistry(), "hmac-sha256", { bytes: encoder.encode(key), origin: "test" });
  await t.step("short", async () => {
    const { warnings } = await make("short");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /is 5 bytes; use at least 32/);
  });
  await t.step("long enough", async () => {
    assert.deepEqual((await make("k".repeat(MIN_HMAC_KEY_BYTES))).warnings, []);
  });
});

Deno.test("createSigner() refuses an unknown algorithm, naming the known ones", async () => {
  await assertUsageError(
    () => createSigner(builtinRegistry(), "rsa", { bytes: text("k"), origin: "test" }),
    /Unknown signature algorithm "rsa" \(known: .*"hmac-sha256".*"ed25519"/,
  );
});

// --- ed25519 -----------------------------------------------------------------

Deno.test("ed25519 signs with the private PEM and verifies with the public PEM", async () => {
  const keys = await ed25519Keys();
  const bytes = text('{"a":1}');
  const value = await keys.signer.sign(bytes);
  assert.match(value, /^[0-9a-f]{128}$/);
  assert.equal(await keys.verifier.verify(bytes, value), true);
  assert.equal(await keys.signer.verify(bytes, value), true);
  assert.equal(await keys.verifier.verify(text('{"a":2}'), value), false);
  assert.equal(await keys.verifier.verify(bytes, value.toUpperCase()), false);
  assert.equal(keys.verifier.canSign, false);
  await assert.rejects(() => keys.verifier.sign(bytes), /public key and cannot sign/);
  await assertUsageError(() => signManifest({ a: 1 }, keys.verifier), /public key and cannot sign/);
});

Deno.test("validate() verifies an ed25519-signed packet with the public key of a keyring file", async () => {
  const keys = await ed25519Keys();
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/east.pub.pem`, keys.publicPem);
    await Deno.writeTextFile(
      `${dir}/keyring.json`,
      JSON.stringify({
        keys: [{ environment: TEST_ENV, algorithm: "ed25519", file: "east.pub.pem" }],
      }),
    );
    const keyring = await loadKeyring(builtinRegistry(), `${dir}/keyring.json`);
    const { bytes } = await buildTestPacket({ signer: keys.signer });
    const result = await validate(bytes, { keyring });
    assert.deepEqual(result.violations, []);
    assert.equal(result.signature, "verified");
    const other = await ed25519Keys();
    const forged = await buildTestPacket({ signer: other.signer });
    assert.equal((await validate(forged.bytes, { keyring })).reasonCode, "SIGNATURE_INVALID");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createSigner() and loadKeyring() refuse a PEM key configured for hmac-sha256", async () => {
  const keys = await ed25519Keys();
  await assertUsageError(
    () =>
      createSigner(builtinRegistry(), "hmac-sha256", {
        bytes: encoder.encode(keys.publicPem),
        origin: 'file "east.pub.pem"',
      }),
    /is a PEM key, not an HMAC secret/,
  );
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/east.pem`, keys.publicPem);
    await Deno.writeTextFile(
      `${dir}/keyring.json`,
      JSON.stringify({ keys: [{ environment: TEST_ENV, file: "east.pem" }] }),
    );
    await assertUsageError(
      () => loadKeyring(builtinRegistry(), `${dir}/keyring.json`),
      /east\.pem.* is a PEM key, not an HMAC secret/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validate() does not verify a signature with a key of another algorithm", async (t) => {
  const keys = await ed25519Keys();
  await t.step("an ed25519 signature against an hmac key", async () => {
    const { bytes } = await buildTestPacket({ signer: keys.signer });
    const result = await validate(bytes, { keyring: keyringOf([TEST_ENV, await hmacSigner()]) });
    assert.equal(result.accepted, false);
    assert.equal(result.signature, "invalid");
    assert.equal(result.reasonCode, "SIGNATURE_UNSUPPORTED");
  });
  await t.step("an HMAC keyed with the public PEM, against that ed25519 key", async () => {
    // The classic confusion: the verifier's public key doubles as the HMAC secret.
    const { manifest } = await buildTestPacket();
    const hmacKey = await crypto.subtle.importKey(
      "raw",
      encoder.encode(keys.publicPem),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign("HMAC", hmacKey, new Uint8Array(signedBytes(manifest)));
    const value = Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
    const forged = { ...manifest, signature: { algorithm: "hmac-sha256", value } };
    const { bytes } = await buildTestPacket({
      editEntries: (entries) => entries.set(MANIFEST_FILE, serializeManifest(forged)),
    });
    const result = await validate(bytes, { keyring: keyringOf([TEST_ENV, keys.verifier]) });
    assert.equal(result.accepted, false);
    assert.equal(result.signature, "invalid");
    assert.equal(result.reasonCode, "SIGNATURE_UNSUPPORTED");
  });
});

// --- key files and environment variables ---------------------------------------

Deno.test("readKeyFile() strips one trailing newline", async (t) => {
  const dir = await tempDir();
  try {
    const cases: [string, string, string][] = [
      ["LF", "secret\n", "secret"],
      ["CRLF", "secret\r\n", "secret"],
      ["none", "secret", "secret"],
      ["only one of two", "secret\n\n", "secret\n"],
      ["not inner ones", "sec\nret\n", "sec\nret"],
    ];
    for (const [what, content, key] of cases) {
      await t.step(what, async () => {
        await Deno.writeTextFile(`${dir}/k.key`, content);
        const material = await readKeyFile(`${dir}/k.key`, "id-1");
        assert.equal(decoder.decode(material.bytes), key);
        assert.equal(material.keyId, "id-1");
        assert.equal(material.origin, `file "${dir}/k.key"`);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key file with a trailing newline verifies a packet signed with the bare key", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/east.key`, TEST_KEY + "\n");
    const keyring = await singleKeyKeyring(
      builtinRegistry(),
      "hmac-sha256",
      await readKeyFile(`${dir}/east.key`),
    );
    const { bytes } = await buildTestPacket({ signer: await hmacSigner(TEST_KEY) });
    assert.equal((await validate(bytes, { keyring })).signature, "verified");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readKeyFile() names a missing or empty key file", async (t) => {
  const dir = await tempDir();
  try {
    await t.step("missing", async () => {
      await assertUsageError(
        () => readKeyFile(`${dir}/absent.key`),
        /^Cannot read key file ".*absent\.key": not found$/,
      );
    });
    await t.step("empty but for a newline", async () => {
      await Deno.writeTextFile(`${dir}/empty.key`, "\n");
      await assertUsageError(
        () => readKeyFile(`${dir}/empty.key`),
        /^Key file ".*empty\.key" is empty$/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readKeyEnv() reads a key from an environment variable and names an unset one", async () => {
  const name = envName();
  try {
    Deno.env.set(name, TEST_KEY);
    const material = readKeyEnv(name, "k1");
    assert.equal(decoder.decode(material.bytes), TEST_KEY);
    assert.equal(material.origin, `environment variable "${name}"`);
    Deno.env.delete(name);
    await assertUsageError(() => readKeyEnv(name), new RegExp(`"${name}" is not set or empty`));
  } finally {
    Deno.env.delete(name);
  }
});

// --- keyrings ------------------------------------------------------------------

Deno.test("loadKeyring() reads key files relative to the keyring's directory", async () => {
  const dir = await tempDir();
  try {
    await Deno.mkdir(`${dir}/config/keys`, { recursive: true });
    await Deno.writeTextFile(`${dir}/config/keys/east.key`, TEST_KEY + "\n");
    await Deno.writeTextFile(
      `${dir}/config/keyring.json`,
      JSON.stringify({ keys: [{ environment: TEST_ENV, keyId: "east-1", file: "keys/east.key" }] }),
    );
    // The working directory is not the keyring's: the path must not depend on it.
    assert.notEqual(Deno.cwd(), `${dir}/config`);
    const keyring = await loadKeyring(builtinRegistry(), `${dir}/config/keyring.json`);
    assert.deepEqual(keyring.warnings, []);
    const { bytes } = await buildTestPacket({
      signer: await hmacSigner(),
      sign: { keyId: "east-1" },
    });
    assert.equal((await validate(bytes, { keyring })).signature, "verified");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKeyring() reads a key from an environment variable", async () => {
  const dir = await tempDir();
  const name = envName();
  try {
    Deno.env.set(name, TEST_KEY);
    await Deno.writeTextFile(
      `${dir}/keyring.json`,
      JSON.stringify({ keys: [{ environment: "*", env: name }] }),
    );
    const keyring = await loadKeyring(builtinRegistry(), `${dir}/keyring.json`);
    const { bytes } = await buildTestPacket({ signer: await hmacSigner() });
    assert.equal((await validate(bytes, { keyring })).signature, "verified");
  } finally {
    Deno.env.delete(name);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKeyring() keeps two keys of one environment, so a packet signed with the older verifies", async (t) => {
  const oldKey = "old-key-of-2025-with-enough-bytes-000";
  const newKey = "new-key-of-2026-with-enough-bytes-111";
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/old.key`, oldKey);
    await Deno.writeTextFile(`${dir}/new.key`, newKey);
    await Deno.writeTextFile(
      `${dir}/keyring.json`,
      JSON.stringify({
        keys: [
          { environment: TEST_ENV, keyId: "east-2026", file: "new.key" },
          { environment: TEST_ENV, keyId: "east-2025", file: "old.key" },
        ],
      }),
    );
    const keyring = await loadKeyring(builtinRegistry(), `${dir}/keyring.json`);
    const verdict = async (key: string, keyId?: string) => {
      const { bytes } = await buildTestPacket({ signer: await hmacSigner(key), sign: { keyId } });
      return await validate(bytes, { keyring });
    };
    const cases: [string, string, string | undefined, string][] = [
      ["the older key, naming its id", oldKey, "east-2025", "ACCEPTED"],
      ["the older key, naming no id", oldKey, undefined, "ACCEPTED"],
      ["the newer key", newKey, "east-2026", "ACCEPTED"],
      ["the older key, naming the newer one's id", oldKey, "east-2026", "SIGNATURE_INVALID"],
      ["a key id the keyring does not hold", oldKey, "east-2024", "SIGNATURE_KEY_UNKNOWN"],
    ];
    for (const [what, key, keyId, reasonCode] of cases) {
      await t.step(what, async () => {
        const result = await verdict(key, keyId);
        assert.equal(result.reasonCode, reasonCode, JSON.stringify(result.violations));
        if (reasonCode === "ACCEPTED") assert.equal(result.signature, "verified");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKeyring() gathers the warnings of short keys", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/short.key`, "short\n");
    await Deno.writeTextFile(
      `${dir}/keyring.json`,
      JSON.stringify({ keys: [{ environment: TEST_ENV, file: "short.key" }] }),
    );
    const keyring = await loadKeyring(builtinRegistry(), `${dir}/keyring.json`);
    assert.equal(keyring.warnings.length, 1);
    assert.match(keyring.warnings[0], /short\.key" is 5 bytes/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKeyring() refuses a keyring file that is not valid", async (t) => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/east.key`, TEST_KEY);
    const cases: [string, string, RegExp][] = [
      ["not JSON", "{keys:", /is not valid JSON/],
      ["no keys", '{"keys": []}', /is invalid at "keys"/],
      [
        "both file and env",
        JSON.stringify({ keys: [{ environment: "E", file: "east.key", env: "X" }] }),
        /give exactly one of "file" and "env"/,
      ],
      ["neither file nor env", '{"keys": [{"environment": "E"}]}', /give exactly one/],
      [
        "an unknown field",
        JSON.stringify({ keys: [{ environment: "E", file: "east.key", secret: "x" }] }),
        /is invalid at "keys\.0"/,
      ],
      [
        "a missing key file",
        JSON.stringify({ keys: [{ environment: "E", file: "absent.key" }] }),
        /Cannot read key file ".*absent\.key": not found/,
      ],
    ];
    for (const [what, content, message] of cases) {
      await t.step(what, async () => {
        await Deno.writeTextFile(`${dir}/keyring.json`, content);
        await assertUsageError(
          () => loadKeyring(builtinRegistry(), `${dir}/keyring.json`),
          message,
        );
      });
    }
    await t.step("a missing keyring", async () => {
      await assertUsageError(
        () => loadKeyring(builtinRegistry(), `${dir}/absent.json`),
        /^Cannot read keyring ".*absent\.json": not found$/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Keyring.candidates() matches environment, algorithm and key id; the fallback only serves environments without keys", async () => {
  const east = await hmacSigner(TEST_KEY, "east-1");
  const wildcard = await hmacSigner("wildcard-key-with-at-least-32-bytes");
  const { verifier } = await ed25519Keys();
  const keyring = new Keyring([
    { environment: "*", signer: wildcard },
    { environment: TEST_ENV, signer: east },
    { environment: TEST_ENV, signer: verifier },
  ]);
  assert.deepEqual(keyring.candidates(TEST_ENV, "hmac-sha256"), [east]);
  assert.deepEqual(keyring.candidates(TEST_ENV, "hmac-sha256", "east-1"), [east]);
  assert.deepEqual(keyring.candidates(TEST_ENV, "hmac-sha256", "east-2"), []);
  assert.deepEqual(keyring.candidates("SOC_WEST", "hmac-sha256"), [wildcard]);
  assert.deepEqual(keyring.candidates(TEST_ENV, "ed25519"), [verifier]);
  assert.deepEqual(keyring.candidates("SOC_WEST", "ed25519"), []);
});
