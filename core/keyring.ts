/**
 * Loading keys: one key from a file or an environment variable, or a keyring
 * file that maps environments and key ids to keys, so each SOC can have its
 * own key and keys can rotate. A key is never taken from the command line.
 *
 * A keyring file is JSON:
 *
 * ```json
 * {
 *   "keys": [
 *     { "environment": "SOC_EAST", "keyId": "east-2026-11", "file": "keys/east.key" },
 *     { "environment": "SOC_WEST", "algorithm": "ed25519", "file": "keys/west.pub.pem" },
 *     { "environment": "*", "env": "JRM_FALLBACK_KEY" }
 *   ]
 * }
 * ```
 *
 * `algorithm` defaults to `hmac-sha256`; `file` paths are relative to the
 * keyring file; each key gives exactly one of `file` and `env`.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { PluginError, UsageError } from "./errors.ts";
import { readInputFile, SMALL_FILE_LIMIT } from "./fs.ts";
import { parseJsonFile } from "./config.ts";
import { callHook, expectSignerCreation, guardSigner, type PluginRegistry } from "./plugin.ts";
import {
  type KeyMaterial,
  Keyring,
  type KeyringEntry,
  readKeyEnv,
  readKeyFile,
  type SignerCreation,
} from "./signer.ts";

const KeyringFileSchema = z.strictObject({
  keys: z.array(
    z.strictObject({
      environment: z.string().min(1),
      keyId: z.string().min(1).optional(),
      algorithm: z.string().min(1).default("hmac-sha256"),
      file: z.string().min(1).optional(),
      env: z.string().min(1).optional(),
    }).refine((key) => (key.file === undefined) !== (key.env === undefined), {
      message: 'give exactly one of "file" and "env"',
    }),
  ).min(1),
});

/**
 * Make a signer for key material with the plugin of `algorithm`. The signer's
 * `sign` and `verify` are wrapped, so a failure in them names the plugin and
 * the hook. A plugin that throws refuses the key: a {@link UsageError} naming
 * the plugin, the hook and its reason; one that returns something else than
 * a signer of its algorithm fails with a {@link PluginError}.
 * @param registry the plugins
 * @param algorithm e.g. `hmac-sha256`
 * @param key the key material
 * @returns the signer and any warnings
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSigner } from "./keyring.ts";
 * import { builtinRegistry } from "../plugins/builtin.ts";
 * const { signer, warnings } = await createSigner(builtinRegistry(), "hmac-sha256", {
 *   bytes: new TextEncoder().encode("short"), origin: "example",
 * });
 * assert.equal(signer.algorithm, "hmac-sha256");
 * assert.equal(warnings.length, 1);
 * ```
 */
export async function createSigner(
  registry: PluginRegistry,
  algorithm: string,
  key: KeyMaterial,
): Promise<SignerCreation> {
  const plugin = registry.signer(algorithm);
  if (!plugin) {
    const known = registry.signers().map((p) => `"${p.algorithm}"`).join(", ");
    throw new UsageError(`Unknown signature algorithm "${algorithm}" (known: ${known})`);
  }
  let created: SignerCreation;
  try {
    created = await callHook(
      plugin,
      "createSigner",
      () => plugin.createSigner(key),
      expectSignerCreation(plugin),
    );
  } catch (error) {
    // Throwing is how the contract has a plugin refuse an unusable key: the user's input.
    if (error instanceof PluginError && error.reason === "threw") {
      throw new UsageError(error.message);
    }
    throw error;
  }
  return { signer: guardSigner(plugin, created.signer), warnings: [...created.warnings] };
}

/**
 * A keyring holding one key for every environment.
 * @param registry the plugins
 * @param algorithm the algorithm the key is for
 * @param key the key material
 * @returns the keyring
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { singleKeyKeyring } from "./keyring.ts";
 * import { builtinRegistry } from "../plugins/builtin.ts";
 * const keyring = await singleKeyKeyring(builtinRegistry(), "hmac-sha256", {
 *   bytes: new TextEncoder().encode("a-key-of-at-least-thirty-two-bytes!"), origin: "example",
 * });
 * assert.equal(keyring.candidates("ANY_ENV", "hmac-sha256").length, 1);
 * ```
 */
export async function singleKeyKeyring(
  registry: PluginRegistry,
  algorithm: string,
  key: KeyMaterial,
): Promise<Keyring> {
  const { signer, warnings } = await createSigner(registry, algorithm, key);
  return new Keyring([{ environment: "*", signer }], warnings);
}

/**
 * Load a keyring file.
 * @param registry the plugins
 * @param path the keyring JSON file
 * @returns the keyring, with warnings about weak keys
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadKeyring } from "./keyring.ts";
 * import { builtinRegistry } from "../plugins/builtin.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/east.key`, "0123456789abcdef0123456789abcdef\n");
 * await Deno.writeTextFile(`${dir}/keyring.json`, JSON.stringify({
 *   keys: [{ environment: "SOC_EAST", keyId: "k1", file: "east.key" }],
 * }));
 * const keyring = await loadKeyring(builtinRegistry(), `${dir}/keyring.json`);
 * assert.equal(keyring.candidates("SOC_EAST", "hmac-sha256", "k1").length, 1);
 * assert.equal(keyring.candidates("SOC_WEST", "hmac-sha256").length, 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadKeyring(registry: PluginRegistry, path: string): Promise<Keyring> {
  const bytes = await readInputFile(path, "keyring", SMALL_FILE_LIMIT);
  const keys = parseJsonFile(
    new TextDecoder().decode(bytes),
    `Keyring "${path}"`,
    KeyringFileSchema,
  ).keys;
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const entries: KeyringEntry[] = [];
  const warnings: string[] = [];
  for (const key of keys) {
    const material = key.file !== undefined
      ? await readKeyFile(key.file.startsWith("/") ? key.file : dir + key.file, key.keyId)
      : readKeyEnv(key.env!, key.keyId);
    const created = await createSigner(registry, key.algorithm, material);
    warnings.push(...created.warnings);
    entries.push({ environment: key.environment, signer: created.signer });
  }
  return new Keyring(entries, warnings);
}
