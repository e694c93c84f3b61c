import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { validate } from "../core/gate.ts";
import { createSigner } from "../core/keyring.ts";
import { loadPluginModule } from "../core/plugin.ts";
import type { FederationReport } from "../core/report.ts";
import { Keyring, type Signer } from "../core/signer.ts";
import { generateCorpus } from "../fixtures/corpus.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import hmacSha512 from "./hmac_sha512_signer.ts";
import { oneErrorLine, runJrm, withTempDir } from "../tests/_cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** 64 bytes, the length RFC 2104 asks of an HMAC-SHA-512 key. */
const KEY = new TextEncoder().encode("the team's secret".padEnd(64, "."));
const OTHER_KEY = new TextEncoder().encode("a secret that signed nothing".padEnd(64, "."));

async function signerFor(bytes: Uint8Array): Promise<Signer> {
  const registry = builtinRegistry();
  await loadPluginModule(registry, "examples/hmac_sha512_signer.ts");
  return (await createSigner(registry, "hmac-sha512", { bytes, origin: "test key" })).signer;
}

/** A small corpus of two environments, every packet signed with `signer`. */
async function signedPackets(signer: Signer) {
  const { packets } = await generateCorpus({
    environments: ["SOC_EAST", "SOC_WEST"],
    packetsPerEnvironment: 2,
    signatures: 14,
    eventsPerPacket: 1,
    signers: { SOC_EAST: signer, SOC_WEST: signer },
  });
  return packets;
}

Deno.test("hmac-sha512 signer: RFC 4231 test case 2, and its contract", async () => {
  const { signer, warnings } = await hmacSha512.createSigner({
    bytes: new TextEncoder().encode("Jefe"),
    origin: 'file "team.key"',
  });
  assert.deepEqual(warnings, ['HMAC-SHA-512 key from file "team.key" is 4 bytes; use at least 64']);
  assert.equal(signer.algorithm, "hmac-sha512");
  const data = new TextEncoder().encode("what do ya want for nothing?");
  const value = await signer.sign(data);
  assert.equal(
    value,
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554" +
      "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
  );
  assert.equal(await signer.verify(data, value), true);
  for (const bad of ["", value.toUpperCase(), value.slice(2), `${value}00`, "zz".repeat(64)]) {
    assert.equal(await signer.verify(data, bad), false, bad);
  }
  assert.equal(await signer.verify(new TextEncoder().encode("other"), value), false);
  assert.deepEqual((await hmacSha512.createSigner({ bytes: KEY, origin: "k" })).warnings, []);
  await assert.rejects(
    hmacSha512.createSigner({
      bytes: new TextEncoder().encode("-----BEGIN PUBLIC KEY-----\n"),
      origin: "k",
    }),
    { message: "The key from k is a PEM key, not an HMAC secret" },
  );
  await assert.rejects(hmacSha512.createSigner({ bytes: new Uint8Array(), origin: "k" }), {
    message: "The key from k is empty",
  });
});

Deno.test("hmac-sha512 signer: loaded as a plugin module, it signs packets the gate then accepts", async () => {
  const signer = await signerFor(KEY);
  const [packet] = await signedPackets(signer);
  const manifest = JSON.parse(
    new TextDecoder().decode(
      (await import("../core/archive.ts")).readArchive(packet.bytes)
        .find(({ name }) => name === "manifest.json")!.data,
    ),
  );
  assert.equal(manifest.signature.algorithm, "hmac-sha512");
  assert.match(manifest.signature.value, /^[0-9a-f]{128}$/);

  const accepted = await validate(packet.bytes, {
    keyring: new Keyring([{ environment: "*", signer }]),
    requireSignature: true,
  });
  assert.equal(accepted.accepted, true, JSON.stringify(accepted.violations));

  const other = await validate(packet.bytes, {
    keyring: new Keyring([{ environment: "*", signer: await signerFor(OTHER_KEY) }]),
    requireSignature: true,
  });
  assert.equal(other.accepted, false);
  assert.equal(other.reasonCode, "SIGNATURE_INVALID");
});

async function writeCorpus(dir: string): Promise<number> {
  const packets = await signedPackets(await signerFor(KEY));
  await Deno.mkdir(`${dir}/packets`);
  for (const { fileName, bytes } of packets) {
    await Deno.writeFile(`${dir}/packets/${fileName}`, bytes);
  }
  await Deno.writeFile(`${dir}/team.key`, KEY);
  await Deno.writeFile(`${dir}/other.key`, OTHER_KEY);
  return packets.length;
}

async function federate(dir: string, args: string[], out = "report.json") {
  const run = await runJrm([
    "federate",
    "--now=2026-03-01T00:00:00Z",
    "--packets",
    `${dir}/packets`,
    "--require-signature",
    "--out",
    `${dir}/${out}`,
    ...args,
  ]);
  return run;
}

Deno.test("jrm federate --plugin examples/hmac_sha512_signer.ts verifies packets signed with it", async () => {
  await withTempDir("jrm-hmac-sha512-", async (dir) => {
    const count = await writeCorpus(dir);
    const run = await federate(dir, [
      "--plugin",
      "examples/hmac_sha512_signer.ts",
      "--key-file",
      `${dir}/team.key`,
      "--algorithm",
      "hmac-sha512",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report: FederationReport = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.equal(report.packetsIngested, count);
    assert.deepEqual(report.packetsRejected, []);

    // The wrong key: every packet is refused for its signature.
    const wrong = await federate(dir, [
      "--plugin",
      "examples/hmac_sha512_signer.ts",
      "--key-file",
      `${dir}/other.key`,
      "--algorithm",
      "hmac-sha512",
    ], "wrong.json");
    assert.notEqual(wrong.code, 0);
    const refused: FederationReport = JSON.parse(await Deno.readTextFile(`${dir}/wrong.json`));
    assert.equal(refused.packetsIngested, 0);
    assert.deepEqual(
      [...new Set(refused.packetsRejected.map(({ reasonCode }) => reasonCode))],
      ["SIGNATURE_INVALID"],
    );

    // Without the plugin, nobody implements the algorithm.
    const unloaded = await federate(dir, [
      "--key-file",
      `${dir}/team.key`,
      "--algorithm",
      "hmac-sha512",
    ], "unloaded.json");
    assert.match(
      oneErrorLine(unloaded, 2),
      /^error: Unknown signature algorithm "hmac-sha512" \(known: "hmac-sha256", "ed25519"\)$/,
    );
  });
});

Deno.test("jrm federate --config loads the signer from the config and its keyring uses it", async () => {
  await withTempDir("jrm-hmac-sha512-config-", async (dir) => {
    const count = await writeCorpus(dir);
    await Deno.writeTextFile(
      `${dir}/keyring.json`,
      JSON.stringify({ keys: [{ environment: "*", algorithm: "hmac-sha512", file: "team.key" }] }),
    );
    await Deno.writeTextFile(
      `${dir}/jrm.config.json`,
      JSON.stringify({ plugins: [`${ROOT}examples/hmac_sha512_signer.ts`] }),
    );
    const run = await federate(dir, [
      "--config",
      `${dir}/jrm.config.json`,
      "--keyring",
      `${dir}/keyring.json`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report: FederationReport = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.equal(report.packetsIngested, count);
    assert.deepEqual(report.packetsRejected, []);
  });
});
