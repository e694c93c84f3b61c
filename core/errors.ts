/**
 * Error types and the stable violation codes of the trust layer.
 *
 * A verdict is not an error: a rejected packet is reported as violations.
 * These classes are for the cases where reading cannot go on (an archive that
 * is not a zip) or where the user asked for something impossible.
 *
 * @module
 */

/** Every violation code the gate can report, stable across releases. */
export const VIOLATION_CODES = [
  // the file itself
  "FILE_UNREADABLE",
  "FILE_NOT_REGULAR",
  "FILE_CHANGED",
  // the zip container
  "ARCHIVE_NOT_ZIP",
  "ARCHIVE_EMPTY",
  "ARCHIVE_TRUNCATED",
  "ARCHIVE_CORRUPT",
  "ARCHIVE_PREPENDED_DATA",
  "ARCHIVE_TRAILING_DATA",
  "ARCHIVE_HEADER_MISMATCH",
  "ARCHIVE_OVERLAPPING_ENTRIES",
  "ARCHIVE_DUPLICATE_ENTRY",
  "ARCHIVE_UNSAFE_PATH",
  "ARCHIVE_SPECIAL_ENTRY",
  "ARCHIVE_ENCRYPTED_ENTRY",
  "ARCHIVE_UNSUPPORTED_COMPRESSION",
  "ARCHIVE_CRC_MISMATCH",
  // limits
  "LIMIT_ENTRY_COUNT",
  "LIMIT_ENTRY_SIZE",
  "LIMIT_TOTAL_SIZE",
  "LIMIT_COMPRESSION_RATIO",
  "LIMIT_JSON_DEPTH",
  "LIMIT_CANON_ENTRIES",
  // JSON content
  "JSON_INVALID",
  "JSON_NON_FINITE",
  "JSON_DUPLICATE_KEY",
  "JSON_LONE_SURROGATE",
  // packet structure
  "MANIFEST_MISSING",
  "MANIFEST_SNAKE_CASE",
  "SCHEMA_INVALID",
  "FILE_MISSING",
  "FILE_UNLISTED",
  "HASH_MISMATCH",
  "ENVIRONMENT_MISMATCH",
  "PACKET_NAME_MISMATCH",
  "WINDOW_INVALID",
  "WINDOW_IN_FUTURE",
  "CANON_SIGNATURE_COLLISION",
  // signature
  "SIGNATURE_MISSING",
  "SIGNATURE_INVALID",
  "SIGNATURE_UNSUPPORTED",
  "SIGNATURE_KEY_UNKNOWN",
  // scope
  "SCOPE_VIOLATION",
  // migrating reference-built packets (`jrm migrate`)
  "MIGRATE_NOT_LEGACY",
  "MIGRATE_MANIFEST_INVALID",
  "MIGRATE_TIME_INVALID",
  "MIGRATE_OUTPUT_CONFLICT",
  // among packets
  "EQUIVOCATION",
] as const;

/** A stable machine code naming one kind of violation. */
export type ViolationCode = typeof VIOLATION_CODES[number];

/** One reason a packet is not trusted: a stable code, a human message, and the entry it concerns. */
export interface Violation {
  /** Stable machine code, e.g. `HASH_MISMATCH`. */
  code: ViolationCode;
  /** One human sentence naming the entry and the problem. */
  message: string;
  /** The archive entry concerned, when there is one. */
  entry?: string;
  /** For `EQUIVOCATION`: the digests of the packets that contradict this one, sorted. */
  equivocatesWith?: string[];
  /** The caller's setting that would change this outcome, if one would (the message names no flag). */
  option?: CallerOption;
}

/**
 * A packet could not be read at all, or broke a hard rule while being read.
 * Carries the violation that says why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PacketError } from "./errors.ts";
 * const err = new PacketError({ code: "ARCHIVE_EMPTY", message: "Archive holds no entries" });
 * assert.equal(err.violation.code, "ARCHIVE_EMPTY");
 * ```
 */
export class PacketError extends Error {
  /** The violation that stopped reading. */
  readonly violation: Violation;
  /**
   * Build an error from a violation.
   * @param violation the code, message and entry
   */
  constructor(violation: Violation) {
    super(violation.message);
    this.name = "PacketError";
    this.violation = violation;
  }
}

/**
 * A setting the caller gives, named as the library names it. Kernel messages
 * never name a command-line flag: an error or violation about such a setting
 * carries it as data (`option`), and a front end words it in its own terms
 * (the CLI names its flag).
 */
export type CallerOption = typeof CALLER_OPTIONS[number];

/** Every {@link CallerOption}. */
export const CALLER_OPTIONS = [
  /** A keyring (or a single key) to check signatures with. */
  "keyring",
  /** The advisory ledger to open. */
  "ledger",
  /** The reason of an advisory decision. */
  "reason",
  /** Who publishes or decides. */
  "by",
  /** The UTC offset assumed for a legacy time that has none. */
  "assumeOffset",
] as const;

/** How a {@link UsageError} is made beyond its message. */
export interface UsageErrorOptions {
  /** The exit code, 2 unless said otherwise. */
  exitCode?: number;
  /** The caller's setting that the error is about, for a front end to word. */
  option?: CallerOption;
}

/**
 * Bad user input: bad flags, missing files, bad config. The CLI prints the
 * message on one line and exits with `exitCode` (2 unless said otherwise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./errors.ts";
 * const err = new UsageError('Cannot read key file "k.txt": not found');
 * assert.equal(err.exitCode, 2);
 * const missing = new UsageError("Declining needs a reason", { option: "reason" });
 * assert.equal(missing.option, "reason");
 * ```
 */
export class UsageError extends Error {
  /** The process exit code the CLI uses for this error. */
  readonly exitCode: number;
  /** The caller's setting the error is about, if one is (the message does not name a flag). */
  readonly option?: CallerOption;
  /**
   * Make a usage error.
   * @param message one line naming the input and the problem
   * @param options the exit code (2 by default), or the exit code and the setting concerned
   */
  constructor(message: string, options: number | UsageErrorOptions = 2) {
    super(message);
    this.name = "UsageError";
    const { exitCode = 2, option } = typeof options === "number" ? { exitCode: options } : options;
    this.exitCode = exitCode;
    if (option !== undefined) this.option = option;
  }
}

/**
 * How a plugin hook failed: it threw (or rejected), returned something of the
 * wrong type or shape, did not finish within its time budget, or returned
 * more findings than allowed.
 */
export type PluginFailure = typeof PLUGIN_FAILURES[number];

/** Every {@link PluginFailure}, stable across releases (reports carry them). */
export const PLUGIN_FAILURES = ["threw", "invalid-result", "timeout", "too-many-findings"] as const;

/**
 * A plugin failed: names the plugin, the hook, how it failed and the cause.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PluginError } from "./errors.ts";
 * const err = new PluginError("stale-env", "detect", new Error("boom"));
 * assert.equal(err.message, 'Plugin "stale-env" failed in hook "detect": boom');
 * assert.equal(err.reason, "threw");
 * ```
 */
export class PluginError extends Error {
  /** The plugin's name. */
  readonly plugin: string;
  /** The hook that failed (or `load`). */
  readonly hook: string;
  /** How it failed. */
  readonly reason: PluginFailure;
  /**
   * Wrap what a plugin's hook threw.
   * @param plugin the plugin's name
   * @param hook the hook that failed
   * @param cause the underlying error (what was thrown, or an Error describing the problem)
   * @param reason how it failed; `threw` unless said otherwise
   */
  constructor(plugin: string, hook: string, cause: unknown, reason: PluginFailure = "threw") {
    super(`Plugin "${plugin}" failed in hook "${hook}": ${causeMessage(cause)}`, { cause });
    this.name = "PluginError";
    this.plugin = plugin;
    this.hook = hook;
    this.reason = reason;
  }
}

/**
 * The one-line text of anything thrown: an Error's message, else the value as a string.
 * @param cause what was thrown
 * @returns its message
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { causeMessage } from "./errors.ts";
 * assert.equal(causeMessage(new Error("boom")), "boom");
 * assert.equal(causeMessage(42), "42");
 * ```
 */
export function causeMessage(cause: unknown): string {
  try {
    return cause instanceof Error ? String(cause.message) : String(cause);
  } catch {
    // A plugin may throw an object whose toString throws, or a null-prototype object.
    try {
      return Object.prototype.toString.call(cause);
    } catch {
      return "(a value that cannot be shown)";
    }
  }
}
