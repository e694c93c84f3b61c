/**
 * The `hmac-sha256` signer: HMAC-SHA256 over the canonical manifest bytes
 * with the shared key's bytes, written as lowercase hex, as the reference
 * signer does. Verification goes through WebCrypto's `verify`, which compares
 * in constant time.
 *
 * @module
 */

import { fromHex, toHex } from "../../core/hex.ts";
import { defineSigner } from "../../core/plugin.ts";
import type { KeyMaterial, SignerCreation } from "../../core/signer.ts";

/** Keys shorter than this draw a warning (RFC 2104 asks for at least the hash length). */
export const MIN_HMAC_KEY_BYTES = 32;

const HEX_64 = /^[0-9a-f]{64}$/;

/**
 * The built-in HMAC-SHA256 signer plugin.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import hmacSha256 from "./hmac_sha256.ts";
 * const { signer } = await hmacSha256.createSigner({
 *   bytes: new TextEncoder().encode("k"), origin: "example",
 * });
 * const canonical = new TextEncoder().encode('{"a":"first","b":{"a":[3,{"x":null,"y":true}],"z":1}}');
 * const value = await signer.sign(canonical);
 * assert.equal(value, "16399752278efc35b16717fb62ba24aa71a15f825519dedcca6eebee3976f551");
 * assert(await signer.verify(canonical, value));
 * ```
 */
const hmacSha256 = defineSigner({
  kind: "signer",
  name: "hmac-sha256",
  version: "1.0.0",
  description: "HMAC-SHA256 with a shared key (the reference algorithm)",
  algorithm: "hmac-sha256",
  async createSigner(key: KeyMaterial): Promise<SignerCreation> {
    const warnings: string[] = [];
    const text = new TextDecoder().decode(key.bytes);
    if (text.includes("-----BEGIN")) {
      throw new Error(
        `The key from ${key.origin} is a PEM key, not an HMAC secret; use it with the "ed25519" algorithm`,
      );
    }
    if (key.bytes.length < MIN_HMAC_KEY_BYTES) {
      warnings.push(
        `HMAC key from ${key.origin} is ${key.bytes.length} bytes; use at least ${MIN_HMAC_KEY_BYTES}`,
      );
    }
    const cryptoKey = await crypto.subtle.importKey(
      "raw",
      new Uint8Array(key.bytes),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return {
      warnings,
      signer: {
        algorithm: "hmac-sha256",
        keyId: key.keyId,
        canSign: true,
        async sign(bytes: Uint8Array): Promise<string> {
          const mac = await crypto.subtle.sign("HMAC", cryptoKey, new Uint8Array(bytes));
          return toHex(new Uint8Array(mac));
        },
        async verify(bytes: Uint8Array, value: string): Promise<boolean> {
          if (typeof value !== "string" || !HEX_64.test(value)) return false;
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

export default hmacSha256;
