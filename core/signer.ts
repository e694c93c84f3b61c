/**
 * The signer contract and the keyring.
 *
 * A signer is made by a signer plugin from key material and is bound to one
 * algorithm: a key configured for `hmac-sha256` is never used to check an
 * `ed25519` signature (or the reverse), which closes the algorithm-confusion
 * hole where a public key doubles as an HMAC secret. Both operations are
 * async so a KMS-backed signer, whose every call is a network request, fits.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import { describeFsError, readInputFile, SMALL_FILE_LIMIT } from "./fs.ts";

/** The signature object a manifest carries under `signature`. */
export interface PacketSignature {
  /** Algorithm name, e.g. `hmac-sha256`. */
  algorithm: string;
  /** The signature value (lowercase hex for HMAC, base64url or hex for others, as the signer writes). */
  value: string;
  /** Who signed. */
  signerId?: string;
  /** Which key signed, for rotation. */
  keyId?: string;
  /** The canonical form signed; absent means `deepsigma-v1`. */
  canonicalization?: string;
  /** Fields a signer may add, kept and signed over like the rest. */
  [extra: string]: unknown;
}

/** A key ready to sign or verify with one algorithm. */
export interface Signer {
  /** The algorithm this signer implements. */
  readonly algorithm: string;
  /** The key id, when the key has one. */
  readonly keyId?: string;
  /** Whether this signer holds a private or secret key and can sign. */
  readonly canSign: boolean;
  /** Sign bytes; returns the signature value as the manifest stores it. */
  sign(bytes: Uint8Array): Promise<string>;
  /** Verify a signature value over bytes; false for any malformed value, never throws on bad input. */
  verify(bytes: Uint8Array, value: string): Promise<boolean>;
}

/** Key material as read from a file, an environment variable or a keyring. */
export interface KeyMaterial {
  /** The raw bytes (a trailing newline of a key file is already removed). */
  bytes: Uint8Array;
  /** Where it came from, for messages: `file "k.key"`, `environment variable "JRM_KEY"`. */
  origin: string;
  /** The key id, when configured. */
  keyId?: string;
}

/** What a signer plugin hands back besides the signer: warnings about weak keys and the like. */
export interface SignerCreation {
  /** The signer made from the key. */
  signer: Signer;
  /** Human warnings (e.g. a short HMAC key); the CLI prints them on stderr. */
  warnings: string[];
}

/** One key in a keyring, bound to environments and an algorithm. */
export interface KeyringEntry {
  /** Environment id this key serves, or `*` for the fallback (environments without keys of their own). */
  environment: string;
  /** The key, bound to its algorithm. */
  signer: Signer;
}

/** The environment name that marks a fallback key in a keyring. */
export const FALLBACK_ENVIRONMENT = "*";

/**
 * The keys a gate checks signatures with. Keys are chosen by the packet's
 * environment, the signature's `keyId` (when it names one) and algorithm.
 *
 * A key listed for `*` is a fallback: it serves only environments that have
 * no key of their own, so it can never vouch for a packet of an environment
 * that has one (whoever holds the fallback key cannot pass as that
 * environment). A `keyId` must name a key that serves the packet's
 * environment; naming another environment's key, or the fallback for an
 * environment with keys of its own, matches nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Keyring, type Signer } from "./signer.ts";
 * const key = (keyId: string) => ({ algorithm: "hmac-sha256", keyId } as Signer);
 * const east = key("east-1");
 * const fallback = key("fallback");
 * const keyring = new Keyring([
 *   { environment: "SOC_EAST", signer: east },
 *   { environment: "*", signer: fallback },
 * ]);
 * assert.deepEqual(keyring.candidates("SOC_EAST", "hmac-sha256"), [east]);
 * assert.deepEqual(keyring.candidates("SOC_EAST", "hmac-sha256", "fallback"), []);
 * assert.deepEqual(keyring.candidates("SOC_WEST", "hmac-sha256"), [fallback]);
 * assert.deepEqual(keyring.candidates("SOC_WEST", "hmac-sha256", "east-1"), []);
 * ```
 */
export class Keyring {
  /** Warnings gathered while loading keys. */
  readonly warnings: string[];
  readonly #entries: KeyringEntry[];

  /**
   * Make a keyring of the given keys.
   * @param entries keys with the environments they serve
   * @param warnings warnings gathered while loading them
   */
  constructor(entries: KeyringEntry[], warnings: string[] = []) {
    this.#entries = [...entries];
    this.warnings = warnings;
  }

  /** Every key, in configuration order. */
  get entries(): readonly KeyringEntry[] {
    return this.#entries;
  }

  /**
   * Whether an environment has keys of its own (fallback keys do not count).
   * @param environment the packet's environment id
   * @returns true when a key is listed for exactly this environment
   */
  hasOwnKeys(environment: string): boolean {
    return this.#entries.some((entry) => isOwnKey(entry, environment));
  }

  /**
   * The keys that serve an environment, whatever their algorithm: its own
   * keys when it has any, else the fallback keys.
   * @param environment the packet's environment id
   * @returns the keyring entries, in configuration order
   */
  keysFor(environment: string): KeyringEntry[] {
    const own = this.#entries.filter((entry) => isOwnKey(entry, environment));
    return own.length > 0
      ? own
      : this.#entries.filter((entry) => entry.environment === FALLBACK_ENVIRONMENT);
  }

  /**
   * Keys that may have signed a packet of `environment` with `algorithm`:
   * among the keys that serve the environment ({@link keysFor}), those of the
   * algorithm whose key id is `keyId` or who have none. A `keyId` that names
   * only keys not serving the environment matches nothing.
   * @param environment the packet's environment id
   * @param algorithm the signature's algorithm
   * @param keyId the signature's key id, when it names one
   * @returns matching signers, in configuration order
   */
  candidates(environment: string, algorithm: string, keyId?: string): Signer[] {
    const served = this.keysFor(environment);
    if (keyId !== undefined && this.foreignKeyOwners(environment, keyId).length > 0) return [];
    return served.filter((entry) =>
      entry.signer.algorithm === algorithm &&
      (keyId === undefined || entry.signer.keyId === undefined || entry.signer.keyId === keyId)
    ).map((entry) => entry.signer);
  }

  /**
   * The environments (`*` for the fallback) whose keys carry `keyId` while
   * not serving `environment`, when no key serving it carries that id: a
   * signature naming such a key claims a key the environment may not use.
   * @param environment the packet's environment id
   * @param keyId the signature's key id
   * @returns the owners' environment names, without repeats; empty when the id is not foreign
   */
  foreignKeyOwners(environment: string, keyId: string): string[] {
    const served = this.keysFor(environment);
    if (served.some((entry) => entry.signer.keyId === keyId)) return [];
    const owners = this.#entries
      .filter((entry) => !served.includes(entry) && entry.signer.keyId === keyId)
      .map((entry) => entry.environment);
    return [...new Set(owners)];
  }

  /**
   * Whether any key serves this environment, whatever its algorithm.
   * @param environment the packet's environment id
   * @returns true when a key is configured for it, or a fallback is
   */
  servesEnvironment(environment: string): boolean {
    return this.keysFor(environment).length > 0;
  }
}

function isOwnKey(entry: KeyringEntry, environment: string): boolean {
  return entry.environment !== FALLBACK_ENVIRONMENT && entry.environment === environment;
}

/**
 * Read a key file: its bytes with one trailing newline (LF or CRLF) removed.
 * A missing or empty file is a {@link UsageError} naming it.
 * @param path the key file
 * @param keyId the key id to attach, if any
 * @returns the key material
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readKeyFile } from "./signer.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "secret\n");
 * const key = await readKeyFile(path);
 * assert.equal(new TextDecoder().decode(key.bytes), "secret");
 * await Deno.remove(path);
 * ```
 */
export async function readKeyFile(path: string, keyId?: string): Promise<KeyMaterial> {
  // A key is small: /dev/zero or a FIFO given as one is refused, never read without end.
  const bytes = trimTrailingNewline(await readInputFile(path, "key file", SMALL_FILE_LIMIT));
  if (bytes.length === 0) throw new UsageError(`Key file "${path}" is empty`);
  return { bytes, origin: `file "${path}"`, keyId };
}

/**
 * Read a key from an environment variable. An unset or empty variable is a
 * {@link UsageError} naming it.
 * @param name the variable's name
 * @param keyId the key id to attach, if any
 * @returns the key material
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readKeyEnv } from "./signer.ts";
 * Deno.env.set("JRM_DOC_KEY", "secret");
 * assert.equal(readKeyEnv("JRM_DOC_KEY").bytes.length, 6);
 * ```
 */
export function readKeyEnv(name: string, keyId?: string): KeyMaterial {
  let value: string | undefined;
  try {
    value = Deno.env.get(name);
  } catch (error) {
    throw new UsageError(`Cannot read environment variable "${name}": ${describeFsError(error)}`);
  }
  if (!value) throw new UsageError(`Environment variable "${name}" is not set or empty`);
  return {
    bytes: new TextEncoder().encode(value),
    origin: `environment variable "${name}"`,
    keyId,
  };
}

function trimTrailingNewline(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) {
    end--;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
  }
  return bytes.subarray(0, end);
}
