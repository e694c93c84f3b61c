/**
 * The `ed25519` signer (WebCrypto). The packet carries the signature as
 * lowercase hex of its 64 bytes; the verifier holds only the public key.
 *
 * Key files are PEM: `PRIVATE KEY` (PKCS #8) signs and verifies,
 * `PUBLIC KEY` (SPKI) only verifies.
 *
 * @module
 */

import { fromHex, toHex } from "../../core/hex.ts";
import { defineSigner } from "../../core/plugin.ts";
import type { KeyMaterial, SignerCreation } from "../../core/signer.ts";

const HEX_128 = /^[0-9a-f]{128}$/;

function pemBody(pem: string, label: string): Uint8Array<ArrayBuffer> | undefined {
  const match = pem.match(
    new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`),
  );
  if (!match) return undefined;
  const binary = atob(match[1].replace(/\s+/g, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * Encode an Ed25519 key as PEM, for `jrm keygen` and tests.
 * @param key an extractable Ed25519 key
 * @returns PEM text (`PRIVATE KEY` or `PUBLIC KEY`)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportPem } from "./ed25519.ts";
 * const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]) as CryptoKeyPair;
 * assert((await exportPem(pair.publicKey)).startsWith("-----BEGIN PUBLIC KEY-----"));
 * ```
 */
export async function exportPem(key: CryptoKey): Promise<string> {
  const isPrivate = key.type === "private";
  const der = new Uint8Array(
    await crypto.subtle.exportKey(isPrivate ? "pkcs8" : "spki", key),
  );
  const label = isPrivate ? "PRIVATE KEY" : "PUBLIC KEY";
  const base64 = btoa(String.fromCharCode(...der)).replace(/(.{64})/g, "$1\n").trim();
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

/**
 * The built-in Ed25519 signer plugin.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import ed25519, { exportPem } from "./ed25519.ts";
 * const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]) as CryptoKeyPair;
 * const encode = (s: string) => new TextEncoder().encode(s);
 * const { signer } = await ed25519.createSigner({ bytes: encode(await exportPem(pair.privateKey)), origin: "example" });
 * const { signer: verifier } = await ed25519.createSigner({ bytes: encode(await exportPem(pair.publicKey)), origin: "example" });
 * const value = await signer.sign(encode("{}"));
 * assert(await verifier.verify(encode("{}"), value));
 * assert(!verifier.canSign);
 * ```
 */
const ed25519 = defineSigner({
  kind: "signer",
  name: "ed25519",
  version: "1.0.0",
  description: "Ed25519 signatures; verifiers hold only the public key",
  algorithm: "ed25519",
  async createSigner(key: KeyMaterial): Promise<SignerCreation> {
    const pem = new TextDecoder().decode(key.bytes);
    let privateKey: CryptoKey | undefined;
    let publicKey: CryptoKey;
    const pkcs8 = pemBody(pem, "PRIVATE KEY");
    const spki = pemBody(pem, "PUBLIC KEY");
    try {
      if (pkcs8) {
        privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, [
          "sign",
        ]);
        const jwk = await crypto.subtle.exportKey("jwk", privateKey);
        publicKey = await crypto.subtle.importKey(
          "jwk",
          { kty: "OKP", crv: "Ed25519", x: jwk.x },
          { name: "Ed25519" },
          false,
          ["verify"],
        );
      } else if (spki) {
        publicKey = await crypto.subtle.importKey("spki", spki, { name: "Ed25519" }, false, [
          "verify",
        ]);
      } else {
        throw new Error('expected a PEM "PRIVATE KEY" or "PUBLIC KEY" block');
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`The key from ${key.origin} is not an Ed25519 key: ${reason}`);
    }
    return {
      warnings: [],
      signer: {
        algorithm: "ed25519",
        keyId: key.keyId,
        canSign: privateKey !== undefined,
        async sign(bytes: Uint8Array): Promise<string> {
          if (!privateKey) {
            throw new Error(`The key from ${key.origin} is a public key and cannot sign`);
          }
          const signature = await crypto.subtle.sign("Ed25519", privateKey, new Uint8Array(bytes));
          return toHex(new Uint8Array(signature));
        },
        async verify(bytes: Uint8Array, value: string): Promise<boolean> {
          if (typeof value !== "string" || !HEX_128.test(value)) return false;
          return await crypto.subtle.verify(
            "Ed25519",
            publicKey,
            fromHex(value),
            new Uint8Array(bytes),
          );
        },
      },
    };
  },
});

export default ed25519;
