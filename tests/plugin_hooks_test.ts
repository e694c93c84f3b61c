/**
 * Every call into a plugin goes through one wrapper: a throw, a rejection or
 * a result of the wrong type is a PluginError naming the plugin and the hook,
 * with the cause; for signers, reporters and detector option schemas, as a
 * library call and through the CLI.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { PluginError, UsageError } from "../core/errors.ts";
import { validate } from "../core/gate.ts";
import { createSigner, singleKeyKeyring } from "../core/keyring.ts";
import { defineDetector, defineSigner, PluginRegistry } from "../core/plugin.ts";
import type { Signer, SignerCreation } from "../core/signer.ts";
import { signManifest } from "../core/writer.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { buildTestPacket } from "./_packets.ts";
import { report } from "./_report_fixture.ts";
import { type CliRun, oneErrorLine, runJrm, withTempDir } from "./_cli.ts";

const PACKETS = fileURLToPath(new URL("../fixtures/packets", import.meta.url));
const KEY_FILE = fileURLToPath(new URL("../fixtures/keys/SOC_EAST.key", import.meta.url));
const TEMP_PREFIX = "plugin_hooks_test_";
const KEY = { bytes: new TextEncoder().encode("k".repeat(32)), origin: "test key" };

/** A registry holding one signer plugin for `odd`, whose signer is `signer`. */
function registryWith(
  createSigner: () => Promise<SignerCreation>,
): PluginRegistry {
  const registry = new PluginRegistry();
  registry.register(
    defineSigner({ kind: "signer", name: "odd", version: "1.0.0", algorithm: "odd", createSigner }),
  );
  return registry;
}

/** A signer for `odd` with these `sign` and `verify`. */
function oddSigner(sign: Signer["sign"], verify: Signer["verify"]): Signer {
  return { algorithm: "odd", canSign: true, sign, verify };
}

function assertPluginError(
  error: unknown,
  hook: string,
  reason: PluginError["reason"],
  message: string | RegExp,
): true {
  assert.ok(error instanceof PluginError, `not a PluginError: ${error}`);
  assert.equal(error.plugin, "odd");
  assert.equal(error.hook, hook);
  assert.equal(error.reason, reason);
  if (typeof message === "string") assert.equal(error.message, message);
  else assert.match(error.message, message);
  return true;
}

Deno.test("createSigner() names the plugin and the hook when createSigner returns the wrong thing", async (t) => {
  const cases: [string, unknown, string][] = [
    ["a number", 42, "it returned a number, not { signer, warnings }"],
    ["no warnings", { signer: {} }, 'its "warnings" is undefined, not a list of strings'],
    [
      "a signer of another algorithm",
      {
        signer: {
          ...oddSigner(() => Promise.resolve(""), () => Promise.resolve(true)),
          algorithm: "rsa",
        },
        warnings: [],
      },
      `its signer's "algorithm" is "rsa", not the plugin's "odd"`,
    ],
    [
      "a signer without verify",
      { signer: { algorithm: "odd", canSign: true, sign: () => "" }, warnings: [] },
      `its signer's "verify" is not a function`,
    ],
  ];
  for (const [name, created, problem] of cases) {
    await t.step(name, async () => {
      const registry = registryWith(() => Promise.resolve(created as SignerCreation));
      await assert.rejects(
        createSigner(registry, "odd", KEY),
        (error) =>
          assertPluginError(
            error,
            "createSigner",
            "invalid-result",
            `Plugin "odd" failed in hook "createSigner": ${problem}`,
          ),
      );
    });
  }
});

Deno.test("createSigner() turns a plugin's refusal of the key into a usage error naming the plugin", async () => {
  const registry = registryWith(() => Promise.reject(new Error("the key is too short")));
  await assert.rejects(createSigner(registry, "odd", KEY), (error) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.exitCode, 2);
    assert.equal(
      error.message,
      'Plugin "odd" failed in hook "createSigner": the key is too short',
    );
    return true;
  });
});

Deno.test("a signer's sign and verify are wrapped: throws and wrong types name the plugin and the hook", async (t) => {
  const make = async (signer: Signer) =>
    (await createSigner(registryWith(() => Promise.resolve({ signer, warnings: [] })), "odd", KEY))
      .signer;
  await t.step("sign throws", async () => {
    const boom = new Error("HSM offline");
    const signer = await make(oddSigner(() => Promise.reject(boom), () => Promise.resolve(true)));
    await assert.rejects(signManifest({ a: 1 }, signer), (error) => {
      assertPluginError(error, "sign", "threw", 'Plugin "odd" failed in hook "sign": HSM offline');
      assert.equal((error as Error).cause, boom);
      return true;
    });
  });
  await t.step("sign returns a number", async () => {
    const signer = await make(
      oddSigner(() => Promise.resolve(7 as unknown as string), () => Promise.resolve(true)),
    );
    await assert.rejects(
      signManifest({ a: 1 }, signer),
      (error) =>
        assertPluginError(
          error,
          "sign",
          "invalid-result",
          /it returned a number, not a signature value/,
        ),
    );
  });
  await t.step("verify returns a string while the gate checks a packet", async () => {
    const signer = oddSigner(
      () => Promise.resolve("ab"),
      () => Promise.resolve("yes" as unknown as boolean),
    );
    const { bytes } = await buildTestPacket({ signer });
    const keyring = await singleKeyKeyring(
      registryWith(() => Promise.resolve({ signer, warnings: [] })),
      "odd",
      KEY,
    );
    await assert.rejects(
      validate(bytes, { keyring }),
      (error) =>
        assertPluginError(
          error,
          "verify",
          "invalid-result",
          'Plugin "odd" failed in hook "verify": it returned a string, not true or false',
        ),
    );
  });
  await t.step("verify throws", async () => {
    const signer = await make(oddSigner(() => Promise.resolve("ab"), () => Promise.reject("nope")));
    await assert.rejects(
      signer.verify(new Uint8Array(), "ab"),
      (error) => assertPluginError(error, "verify", "threw", /failed in hook "verify": nope$/),
    );
  });
});

Deno.test("resolveDetectorRuns() wraps an options schema: a throw or a wrong answer names the detector", async (t) => {
  const cases: [string, () => unknown, PluginError["reason"], RegExp][] = [
    [
      "it throws",
      () => {
        throw new Error("schema broke");
      },
      "threw",
      /: schema broke$/,
    ],
    ["it answers a number", () => 3, "invalid-result", /it returned a number, not \{ success/],
    [
      "it answers a promise",
      () => Promise.resolve({ success: true, data: {} }),
      "invalid-result",
      /it returned a promise; this hook must answer at once/,
    ],
    [
      "it fails without an error",
      () => ({ success: false }),
      "invalid-result",
      /it failed with an "error" that is undefined, not an object/,
    ],
  ];
  for (const [name, safeParse, reason, message] of cases) {
    await t.step(name, () => {
      const registry = new PluginRegistry();
      registry.register(defineDetector({
        kind: "detector",
        name: "odd",
        version: "1.0.0",
        driftTypes: [],
        optionsSchema: { safeParse: safeParse as never },
        detect: () => [],
      }));
      assert.throws(
        () => resolveDetectorRuns(registry, defaultConfig()),
        (error) => assertPluginError(error, "optionsSchema.safeParse", reason, message),
      );
    });
  }
});

// --- the command line ---------------------------------------------------------------------------

function jrm(args: string[]): Promise<CliRun> {
  return runJrm(args, { env: { SOURCE_DATE_EPOCH: "" } });
}

Deno.test("jrm report --format names a reporter that returns a number, exit 1, writing nothing", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    await Deno.writeTextFile(`${dir}/report.json`, JSON.stringify(report([])));
    await Deno.writeTextFile(
      `${dir}/number.ts`,
      'export default { kind: "reporter", name: "number", version: "1.0.0", format: "num", ' +
        "render: () => 42 };\n",
    );
    const run = await jrm([
      "report",
      "--from",
      `${dir}/report.json`,
      "--plugin",
      `${dir}/number.ts`,
      "--format",
      "num",
      "--out",
      `${dir}/out.num`,
    ]);
    assert.equal(
      oneErrorLine(run, 1),
      'error: Plugin "number" failed in hook "render": it returned a number, not bytes or text',
    );
    await assert.rejects(Deno.stat(`${dir}/out.num`), Deno.errors.NotFound);
  });
});

Deno.test("jrm federate names a signer plugin whose verify returns a non-boolean, exit 1", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    // Replaces the built-in HMAC signer, so the demo packets' signatures reach its verify.
    await Deno.writeTextFile(
      `${dir}/signer.ts`,
      `export default {
  kind: "signer", name: "hmac-sha256", version: "9.9.9", algorithm: "hmac-sha256", override: true,
  createSigner: async () => ({ warnings: [], signer: {
    algorithm: "hmac-sha256", canSign: false,
    sign: async () => { throw new Error("cannot sign"); },
    verify: async () => 1,
  } }),
};
`,
    );
    const run = await jrm([
      "federate",
      "--packets",
      PACKETS,
      "--plugin",
      `${dir}/signer.ts`,
      "--key-file",
      KEY_FILE,
      "--out",
      `${dir}/report.json`,
    ]);
    assert.equal(
      oneErrorLine(run, 1),
      'error: Plugin "hmac-sha256" failed in hook "verify": it returned a number, not true or false',
    );
    await assert.rejects(Deno.stat(`${dir}/report.json`), Deno.errors.NotFound);
  });
});

Deno.test("the built-in signers still sign and verify through the wrapper", async () => {
  const { signer } = await createSigner(builtinRegistry(), "hmac-sha256", KEY);
  const signed = await signManifest({ a: 1 }, signer);
  assert.match((signed.signature as { value: string }).value, /^[0-9a-f]{64}$/);
  assert.ok(Object.isFrozen(signer));
});
