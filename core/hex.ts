/**
 * Lowercase hex encoding, as signature values are written.
 *
 * @module
 */

/**
 * Encode bytes as lowercase hex.
 * @param bytes the bytes
 * @returns two lowercase hex digits per byte
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toHex } from "./hex.ts";
 * assert.equal(toHex(new Uint8Array([0, 171])), "00ab");
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/**
 * Decode hex (already checked to be well-formed) into bytes.
 * @param hex an even number of hex digits
 * @returns the bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromHex } from "./hex.ts";
 * assert.equal(fromHex("00ab")[1], 171);
 * ```
 */
export function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
