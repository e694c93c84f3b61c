/**
 * An example signer plugin, `hmac-sha512`: HMAC-SHA-512 over the canonical
 * manifest bytes with a shared key, written as 128 lowercase hex digits. It
 * is the built-in `hmac-sha256` with a longer hash, for a team whose policy
 * asks for SHA-512.
 *
 * The hub verifies with it once it is loaded (`--plugin` or the config's
 * `"plugins"`) and a key is configured for its algorithm:
 *
 * ```sh
 * deno task jrm federate --packets packets/ --out report.json --require-signature \
 *   --plugin examples/hmac_sha512_signer.ts --key-file team.key --algorithm hmac-sha512
 * ```
 *
 * A signer keeps its contract: `createSigner` refuses a key it cannot use by
 * throwing (the message names the key's origin) and warns about a weak one;
 * `verify` answers `false` for any malformed value rather than throwing.
 *
 * A signer outside this repository imports the kernel through the library's
 * public module instead of `../core/…`:
 * `import { defineSigner } from "<path or URL of your checkout>/mod.ts";`.
 *
 * @module
 */

import { fromHex, toHex } from "../core/hex.ts";
import { defineSigner } from "../core/plugin.ts";
import type { KeyMaterial, SignerCreation } from "../core/signer.ts";

/** Keys shorter than this draw a warning (RFC 2104: at least the hash's output length). */
export const MIN_HMAC_SHA512_KEY_BYTES = 64;

const HEX_128 = /^[0-9a-f]{128}$/;

/**
 * The `hmac-sha512` signer plugin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import hmacSha512 from "./hmac_sha512_signer.ts";
 *
 * const { signer, warnings } = await hmacSha512.createSigner({
 *   bytes: new TextEncoder().encode("Jefe"), origin: 'file "team.key"',
 * });
 * assert.deepEqual(warnings, ['HMAC-SHA-512 key from file "team.key" is 4 bytes; use at least 64']);
 * // RFC 4231, test case 2.
 * const data = new TextEncoder().encode("what do ya want for nothing?");
 * const value = await signer.sign(data);
 * assert.equal(value.slice(0, 32), "164b7a7bfcf819e2e395fbe73b56e0a3");
 * assert.equal(await signer.verify(data, value), true);
 * assert.equal(await signer.verify(data, "not hex"), false);
 * ```
 */
const hmacSha512 = defineSigner({
  kind: "signer",
  name: "hmac-sha512",
  version: "1.0.0",
  description: "HMAC-SHA-512 with a shared key (example plugin)",
  algorithm: "hmac-sha512",
  async createSigner(key: KeyMaterial): Promise<SignerCreation> {
    if (key.bytes.length === 0) throw new Error(`The key from ${key.origin} is empty`);
    if (new TextDecoder().decode(key.bytes).includes("-----BEGIN")) {
      throw new Error(`The key from ${key.origin} is a PEM key, not an HMAC secret`);
    }
    const warnings = key.bytes.length < MIN_HMAC_SHA512_KEY_BYTES
      ? [
        `HMAC-SHA-512 key from ${key.origin} is ${key.bytes.length} bytes; ` +
        `use at least ${MIN_HMAC_SHA512_KEY_BYTES}`,
      ]
      : [];
    const cryptoKey = await crypto.subtle.importKey(
      "raw",
      new Uint8Array(key.bytes),
      { name: "HMAC", hash: "SHA-512" },
      false,
      ["sign", "verify"],
    );
    return {
      warnings,
      signer: {
        algorithm: "hmac-sha512",
        keyId: key.keyId,
        canSign: true,
        async sign(bytes: Uint8Array): Promise<string> {
          return toHex(
            new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, new Uint8Array(bytes))),
          );
        },
        // WebCrypto compares in constant time; a value of the wrong shape is simply not valid.
        async verify(bytes: Uint8Array, value: string): Promise<boolean> {
          if (typeof value !== "string" || !HEX_128.test(value)) return false;
          return await crypto.subtle.verify(
            "HMAC",
            cryptoKey,
            fromHex(value),
            new Uint8Array(bytes),
          );
        },
      },
    };
  },
});

export default hmacSha512;
