/**
 * Operators: who may accept or decline advisories over HTTP. The operators
 * file holds only SHA-256 hashes of their tokens:
 * `{"operators": [{"name": "alice", "tokenSha256": "<64 hex>"}]}`. A file that
 * group or others may read or write is refused, as ssh refuses such a key.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import { UsageError } from "../core/errors.ts";
import { readInputFile, SMALL_FILE_LIMIT } from "../core/fs.ts";
import { parseJson } from "../core/json.ts";
import { fromHex } from "../core/hex.ts";

/** One operator: a name and the SHA-256 of its token. */
export interface Operator {
  /** The name recorded with each decision. */
  name: string;
  /** SHA-256 of the bearer token, 32 bytes. */
  tokenSha256: Uint8Array;
}

/**
 * Parse the operators file's text.
 *
 * @param text the file's JSON text
 * @param label the file's name, for messages
 * @returns the operators
 * @throws {UsageError} when the shape is wrong, a hash is not 64 hex digits, or a name repeats
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOperators } from "./operators.ts";
 * const operators = parseOperators(
 *   JSON.stringify({ operators: [{ name: "alice", tokenSha256: "ab".repeat(32) }] }),
 *   "operators.json",
 * );
 * assert.equal(operators[0].name, "alice");
 * assert.throws(() => parseOperators('{"operators": [{"name": "bob"}]}', "o.json"), /tokenSha256/);
 * ```
 */
export function parseOperators(text: string, label: string): Operator[] {
  let value: unknown;
  try {
    value = parseJson(text, { file: label });
  } catch (error) {
    throw new UsageError(`Cannot read operators file "${label}": ${(error as Error).message}`);
  }
  const list = (value as { operators?: unknown } | null)?.operators;
  if (typeof value !== "object" || value === null || !Array.isArray(list)) {
    throw new UsageError(`Operators file "${label}" needs {"operators": [...]}`);
  }
  const seen = new Set<string>();
  return list.map((item, index) => {
    const { name, tokenSha256 } = (item ?? {}) as { name?: unknown; tokenSha256?: unknown };
    if (typeof name !== "string" || name.trim() === "" || /[\p{Cc}\p{Cf}]/u.test(name)) {
      throw new UsageError(
        `Operators file "${label}": operator ${index + 1} needs a printable "name"`,
      );
    }
    if (typeof tokenSha256 !== "string" || !/^[0-9a-f]{64}$/.test(tokenSha256)) {
      throw new UsageError(
        `Operators file "${label}": operator "${name}" needs "tokenSha256" as 64 lowercase hex digits`,
      );
    }
    if (seen.has(name)) {
      throw new UsageError(`Operators file "${label}": operator "${name}" is listed twice`);
    }
    seen.add(name);
    return { name, tokenSha256: fromHex(tokenSha256) };
  });
}

/**
 * Read the operators file, refusing one that group or others may read or write.
 *
 * @param path the file
 * @returns the operators
 * @throws {UsageError} when the file is missing, too open, or malformed
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOperators } from "./operators.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, JSON.stringify({ operators: [] }));
 * await Deno.chmod(path, 0o644);
 * await assert.rejects(loadOperators(path), /readable by group or others/);
 * await Deno.chmod(path, 0o600);
 * assert.deepEqual(await loadOperators(path), []);
 * await Deno.remove(path);
 * ```
 */
export async function loadOperators(path: string): Promise<Operator[]> {
  let mode: number | null;
  try {
    mode = (await Deno.stat(path)).mode;
  } catch (error) {
    throw new UsageError(`Cannot read operators file "${path}": ${(error as Error).message}`);
  }
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new UsageError(
      `Operators file "${path}" is readable by group or others (mode ${
        (mode & 0o777).toString(8)
      }); run chmod 600 on it`,
    );
  }
  const bytes = await readInputFile(path, "operators file", SMALL_FILE_LIMIT);
  return parseOperators(new TextDecoder().decode(bytes), path);
}

/**
 * The SHA-256 of a token, as the operators file stores it.
 *
 * @param token the bearer token
 * @returns 32 bytes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenHash } from "./operators.ts";
 * assert.equal((await tokenHash("secret")).length, 32);
 * ```
 */
export async function tokenHash(token: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)),
  );
}

/**
 * The operator whose token an `Authorization: Bearer …` header carries. Every
 * operator's hash is compared, each in constant time, so the answer's timing
 * tells nothing about which hash or how much of it matched.
 *
 * @param operators the operators
 * @param header the `Authorization` header, or null
 * @returns the operator's name, or undefined
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { authenticate, tokenHash } from "./operators.ts";
 * const operators = [{ name: "alice", tokenSha256: await tokenHash("s3cret") }];
 * assert.equal(await authenticate(operators, "Bearer s3cret"), "alice");
 * assert.equal(await authenticate(operators, "Bearer wrong"), undefined);
 * assert.equal(await authenticate(operators, null), undefined);
 * ```
 */
export async function authenticate(
  operators: readonly Operator[],
  header: string | null,
): Promise<string | undefined> {
  const match = header === null ? null : /^Bearer ([\x21-\x7e]{1,4096})$/.exec(header.trim());
  if (match === null) return undefined;
  const presented = await tokenHash(match[1]);
  let found: string | undefined;
  for (const operator of operators) {
    if (timingSafeEqual(presented, operator.tokenSha256) && found === undefined) {
      found = operator.name;
    }
  }
  return found;
}
