/**
 * The rules that make the hub's result independent of file names, arrival
 * order and run: where a packet sits in window order ({@link packetOrderKey},
 * {@link compareWindowOrder}), when two archives hold the same packet
 * ({@link samePacketKey}), when two packets contradict each other
 * ({@link judgeEquivocation}), and when a packet's times lie in the future
 * ({@link futureTimeViolations}). The gate, the hub and any stateful hub
 * share them, so they all decide alike.
 *
 * - Packets are ordered by `windowEnd`, then `part`, then `createdAt`, each
 *   time compared as an exact instant (core/instant.ts).
 * - Two archives hold the same packet when their manifests, without
 *   `signature`, are equal in canonical form (`deepsigma-v1`, which keeps
 *   every integer exact); the manifest fixes every data file's hash.
 * - Two different packets of one environment with the same `windowEnd`,
 *   `part` and `createdAt` are equivocation: all of them are refused. Only
 *   packets that passed every other check are candidates.
 *
 * @module
 */

import { canonicalize } from "./canonical_json.ts";
import { UsageError, type Violation } from "./errors.ts";
import {
  addSeconds,
  compareInstants,
  formatInstant,
  type Instant,
  instantFromMillis,
  instantKey,
  instantSortKey,
  parseInstant,
} from "./instant.ts";
import { MANIFEST_FILE, sha256Ref } from "./packet.ts";

/** The clock skew allowed by default, in seconds: a time up to this far ahead of the clock is accepted. */
export const DEFAULT_MAX_CLOCK_SKEW = 900;

/** Where a packet sits in window order, and what makes two packets of one environment contradict each other. */
export interface PacketOrderKey {
  /** The environment. */
  readonly environmentId: string;
  /** `windowEnd`, as an instant. */
  readonly windowEnd: Instant;
  /** `part`. */
  readonly part: number;
  /** `createdAt`, as an instant. */
  readonly createdAt: Instant;
}

/**
 * A manifest's place in window order.
 * @param manifest a manifest (or any object with its fields)
 * @returns the key, or undefined when the environment, `windowEnd`, `part`
 *   or `createdAt` is missing or malformed (the times must be RFC 3339)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packetOrderKey } from "./order.ts";
 * const key = packetOrderKey({ environmentId: "E", windowEnd: "2026-02-28T10:10:00Z", part: 1, createdAt: "2026-02-28T10:10:00Z" });
 * assert.equal(key?.part, 1);
 * assert.equal(packetOrderKey({ environmentId: "E", windowEnd: "2026-02-28T10:10:00", part: 1, createdAt: "2026-02-28T10:10:00Z" }), undefined);
 * ```
 */
export function packetOrderKey(manifest: {
  readonly environmentId?: unknown;
  readonly windowEnd?: unknown;
  readonly part?: unknown;
  readonly createdAt?: unknown;
}): PacketOrderKey | undefined {
  const { environmentId, part } = manifest;
  const windowEnd = parseInstant(manifest.windowEnd);
  const createdAt = parseInstant(manifest.createdAt);
  if (
    typeof environmentId !== "string" || !Number.isSafeInteger(part) || windowEnd === undefined ||
    createdAt === undefined
  ) {
    return undefined;
  }
  return { environmentId, windowEnd, part: part as number, createdAt };
}

/**
 * Window order: `windowEnd`, then `part`, then `createdAt` (the environment
 * is not compared: each environment's packets are ordered among themselves).
 * @param a a key
 * @param b another
 * @returns negative when `a` comes first, 0 when they share a place, positive when `b` does
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareWindowOrder, packetOrderKey } from "./order.ts";
 * const at = (windowEnd: string, part: number) =>
 *   packetOrderKey({ environmentId: "E", windowEnd, part, createdAt: "2026-02-28T10:20:00Z" })!;
 * assert.ok(compareWindowOrder(at("2026-02-28T10:10:00.000001Z", 1), at("2026-02-28T10:10:00Z", 2)) > 0);
 * ```
 */
export function compareWindowOrder(a: PacketOrderKey, b: PacketOrderKey): number {
  return compareInstants(a.windowEnd, b.windowEnd) || (a.part - b.part) ||
    compareInstants(a.createdAt, b.createdAt);
}

/**
 * A string equal for two keys exactly when they name one environment,
 * window end, part and creation time (as instants): two packets with one
 * such key are the same packet or contradict each other.
 * @param key the key
 * @returns the string, for maps
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { orderKeyId, packetOrderKey } from "./order.ts";
 * const a = packetOrderKey({ environmentId: "E", windowEnd: "2026-02-28T11:10:00+01:00", part: 1, createdAt: "2026-02-28T10:10:00.0Z" })!;
 * const b = packetOrderKey({ environmentId: "E", windowEnd: "2026-02-28T10:10:00Z", part: 1, createdAt: "2026-02-28T10:10:00Z" })!;
 * assert.equal(orderKeyId(a), orderKeyId(b));
 * ```
 */
export function orderKeyId(key: PacketOrderKey): string {
  return JSON.stringify([
    key.environmentId,
    instantKey(key.windowEnd),
    key.part,
    instantKey(key.createdAt),
  ]);
}

/**
 * A string that sorts, as text, in window order ({@link compareWindowOrder})
 * and is equal for keys that share a place (the environment is not in it):
 * for a store that orders packets in its database.
 * @param key the key
 * @returns the sortable string
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { orderSortKey, packetOrderKey } from "./order.ts";
 * const at = (windowEnd: string, part: number, createdAt = windowEnd) =>
 *   orderSortKey(packetOrderKey({ environmentId: "E", windowEnd, part, createdAt })!);
 * assert.ok(at("2026-01-01T00:10:00Z", 2) > at("2026-01-01T00:10:00Z", 1));
 * assert.ok(at("2026-01-01T00:10:00.1Z", 1) > at("2026-01-01T00:10:00Z", 9));
 * assert.ok(at("2026-01-01T00:10:00Z", 1, "2026-01-01T00:11:00Z") > at("2026-01-01T00:10:00Z", 1));
 * assert.equal(at("2026-01-01T01:10:00+01:00", 1), at("2026-01-01T00:10:00.0Z", 1));
 * ```
 */
export function orderSortKey(key: PacketOrderKey): string {
  // A space sorts before every digit and ".", so a shorter instant key sorts first.
  return `${instantSortKey(key.windowEnd)} ${String(key.part).padStart(16, "0")} ${
    instantSortKey(key.createdAt)
  }`;
}

/**
 * What two archives of the same packet share: the SHA-256 of the manifest
 * without `signature` in canonical form (`deepsigma-v1`), whatever the zip
 * bytes, the name or the signer.
 * @param manifestTree the manifest as read, numbers with their spelling kept
 * @returns `sha256:<hex>`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { samePacketKey } from "./order.ts";
 * const signed = { b: 1, a: "x", signature: { algorithm: "hmac-sha256", value: "00" } };
 * assert.equal(samePacketKey(signed), samePacketKey({ a: "x", b: 1 }));
 * assert.notEqual(samePacketKey({ a: "x", b: 2 }), samePacketKey({ a: "x", b: 1 }));
 * ```
 */
export function samePacketKey(manifestTree: Record<string, unknown>): string {
  const { signature: _signature, ...unsigned } = manifestTree;
  return sha256Ref(canonicalize(unsigned, "deepsigma-v1"));
}

/** A packet that passed every other check, as {@link judgeEquivocation} weighs it. */
export interface PacketCandidate {
  /** Where it came from; orders byte-identical copies only. */
  readonly source: string;
  /** `sha256:` digest of the archive bytes. */
  readonly digest: string;
  /** Its place in window order ({@link packetOrderKey}). */
  readonly orderKey: PacketOrderKey;
  /** {@link samePacketKey} of its manifest. */
  readonly sameness: string;
}

/** What becomes of one candidate. */
export type CandidateVerdict =
  /** the packet to use (the only one with its key, or the kept copy of one packet) */
  | { kind: "accepted" }
  /** another archive of the packet kept (`of`: the kept candidate's index) */
  | { kind: "duplicate"; of: number }
  /** another packet with the same key differs from it: refused, naming the others' digests (sorted) */
  | { kind: "equivocation"; conflictsWith: string[] };

/**
 * Judge candidates that passed every other check: per order key, one packet
 * (in any number of archives) is accepted once, the other archives being
 * duplicates of the copy with the smallest digest; two or more different
 * packets are equivocation and all are refused. The verdicts depend neither
 * on the order of the candidates nor on their sources (but for which of two
 * byte-identical archives is called the duplicate).
 * @param candidates the candidates, any order
 * @returns one verdict per candidate, in the same order
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { judgeEquivocation, packetOrderKey } from "./order.ts";
 * const orderKey = packetOrderKey({ environmentId: "E", windowEnd: "2026-02-28T10:10:00Z", part: 1, createdAt: "2026-02-28T10:10:00Z" })!;
 * const verdicts = judgeEquivocation([
 *   { source: "a.zip", digest: "sha256:aa", orderKey, sameness: "sha256:01" },
 *   { source: "b.zip", digest: "sha256:bb", orderKey, sameness: "sha256:02" },
 * ]);
 * assert.deepEqual(verdicts, [
 *   { kind: "equivocation", conflictsWith: ["sha256:bb"] },
 *   { kind: "equivocation", conflictsWith: ["sha256:aa"] },
 * ]);
 * ```
 */
export function judgeEquivocation(candidates: readonly PacketCandidate[]): CandidateVerdict[] {
  const groups = new Map<string, number[]>();
  candidates.forEach((candidate, index) => {
    const id = orderKeyId(candidate.orderKey);
    const group = groups.get(id);
    if (group) group.push(index);
    else groups.set(id, [index]);
  });
  const verdicts = new Array<CandidateVerdict>(candidates.length);
  for (const group of groups.values()) {
    const samenesses = new Set(group.map((i) => candidates[i].sameness));
    if (samenesses.size > 1) {
      for (const i of group) {
        const own = candidates[i].sameness;
        const others = group.filter((j) => candidates[j].sameness !== own)
          .map((j) => candidates[j].digest);
        verdicts[i] = { kind: "equivocation", conflictsWith: [...new Set(others)].sort() };
      }
      continue;
    }
    let kept = group[0];
    for (const i of group) if (preferred(candidates[i], candidates[kept])) kept = i;
    for (const i of group) {
      verdicts[i] = i === kept ? { kind: "accepted" } : { kind: "duplicate", of: kept };
    }
  }
  return verdicts;
}

/**
 * Whether `a` is the copy to keep rather than `b`: the smaller digest, then
 * the smaller source (the same bytes under two names).
 * @param a a candidate
 * @param b another, of the same packet
 * @returns true when `a` is kept
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preferred } from "./order.ts";
 * assert.ok(preferred({ source: "z.zip", digest: "sha256:01" }, { source: "a.zip", digest: "sha256:02" }));
 * ```
 */
export function preferred(
  a: Pick<PacketCandidate, "source" | "digest">,
  b: Pick<PacketCandidate, "source" | "digest">,
): boolean {
  return a.digest < b.digest || (a.digest === b.digest && a.source < b.source);
}

/**
 * The violation of a packet refused for equivocation.
 * @param manifest the packet's name and environment
 * @param conflictsWith the digests of the packets that contradict it
 * @returns an `EQUIVOCATION` violation, the digests in `equivocatesWith`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { equivocationViolation } from "./order.ts";
 * const violation = equivocationViolation({ packetName: "JRM_X_PACKET_E", environmentId: "E" }, ["sha256:bb"]);
 * assert.equal(violation.code, "EQUIVOCATION");
 * assert.deepEqual(violation.equivocatesWith, ["sha256:bb"]);
 * ```
 */
export function equivocationViolation(
  manifest: { readonly packetName: string; readonly environmentId: string },
  conflictsWith: readonly string[],
): Violation {
  const one = conflictsWith.length === 1;
  return {
    code: "EQUIVOCATION",
    entry: MANIFEST_FILE,
    equivocatesWith: [...conflictsWith],
    message: `Packet "${manifest.packetName}" has the same windowEnd, part and createdAt as ${
      one ? "another packet" : "other packets"
    } of environment "${manifest.environmentId}" (${conflictsWith.join(", ")}) but differs from ${
      one ? "it" : "them"
    }: equivocation, so none of them is used`,
  };
}

/** The clock a check of future times uses. */
export interface Clock {
  /** The current time. */
  readonly now: Instant;
  /** How far ahead of `now` (whole seconds) a time may be. */
  readonly maxClockSkew: number;
}

/**
 * The clock options describe: `now` (RFC 3339; the current time when
 * absent) and `maxClockSkew` (whole seconds, {@link DEFAULT_MAX_CLOCK_SKEW}
 * when absent).
 * @param options the time and skew, when given
 * @returns the clock
 * @throws UsageError when `now` is not an RFC 3339 date-time or the skew not a whole number of seconds
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveClock } from "./order.ts";
 * assert.equal(resolveClock({ now: "2026-03-01T01:00:00+01:00" }).now.seconds, Date.UTC(2026, 2, 1) / 1000);
 * assert.equal(resolveClock({}).maxClockSkew, 900);
 * assert.throws(() => resolveClock({ now: "2026-03-01T00:00:00" }), /not an RFC 3339 date-time/);
 * ```
 */
export function resolveClock(
  options: { readonly now?: string; readonly maxClockSkew?: number } = {},
): Clock {
  let now: Instant;
  if (options.now === undefined) now = instantFromMillis(Date.now());
  else {
    const given = parseInstant(options.now);
    if (given === undefined) {
      throw new UsageError(
        `Time "${options.now}" is not an RFC 3339 date-time with an offset (such as 2026-03-01T00:00:00Z)`,
      );
    }
    now = given;
  }
  const maxClockSkew = options.maxClockSkew ?? DEFAULT_MAX_CLOCK_SKEW;
  if (!Number.isSafeInteger(maxClockSkew) || maxClockSkew < 0) {
    throw new UsageError(`Clock skew ${maxClockSkew} is not a whole number of seconds`);
  }
  return { now, maxClockSkew };
}

/**
 * `WINDOW_IN_FUTURE` violations of a manifest whose `windowEnd` or
 * `createdAt` is later than the clock plus the allowed skew (a time exactly
 * at the limit is accepted). A time that is not RFC 3339 is left to the
 * schema.
 * @param manifest the manifest's times
 * @param clock the clock ({@link resolveClock})
 * @returns the violations, none when both times are in range
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { futureTimeViolations, resolveClock } from "./order.ts";
 * const clock = resolveClock({ now: "2026-03-01T00:00:00Z" });
 * const manifest = { windowEnd: "9999-12-31T23:59:59Z", createdAt: "2026-03-01T00:15:00Z" };
 * assert.deepEqual(futureTimeViolations(manifest, clock).map((v) => v.code), ["WINDOW_IN_FUTURE"]);
 * ```
 */
export function futureTimeViolations(
  manifest: { readonly windowEnd?: unknown; readonly createdAt?: unknown },
  clock: Clock,
): Violation[] {
  const limit = addSeconds(clock.now, clock.maxClockSkew);
  const violations: Violation[] = [];
  for (const field of ["windowEnd", "createdAt"] as const) {
    const time = parseInstant(manifest[field]);
    if (time !== undefined && compareInstants(time, limit) > 0) {
      violations.push({
        code: "WINDOW_IN_FUTURE",
        entry: MANIFEST_FILE,
        message: `Entry "${MANIFEST_FILE}" has ${field} "${
          manifest[field]
        }", later than the clock (${
          formatInstant(clock.now)
        }) plus the allowed skew of ${clock.maxClockSkew} seconds`,
      });
    }
  }
  return violations;
}
