/**
 * RFC 3339 date-times as exact instants: the packet format compares times
 * at the precision written (`10:10:00.000001Z` is later than `10:10:00Z`),
 * which `Date` (milliseconds) cannot. An {@link Instant} is whole seconds
 * since the epoch plus the fraction's digits, so any two can be compared
 * exactly and a time can be moved by whole seconds.
 *
 * Only RFC 3339 `date-time` is read: `YYYY-MM-DDTHH:MM:SS[.fraction]`
 * followed by `Z` or `±hh:mm`. A local time without an offset names no
 * instant and is refused, as are leap seconds (no reader here can place them).
 *
 * @module
 */

/** An instant: whole seconds since 1970-01-01T00:00:00Z, and the digits of the fraction of a second. */
export interface Instant {
  /** Whole seconds since the epoch (negative before 1970). */
  readonly seconds: number;
  /** The fraction of a second as decimal digits, without trailing zeros (`""` for none). */
  readonly fraction: string;
}

const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:Z|([+-])(\d\d):(\d\d))$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The proleptic Gregorian date of a day count from 1970-01-01 (civil_from_days). */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
      Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

/**
 * Read an RFC 3339 date-time (with `Z` or an `±hh:mm` offset) as an instant.
 * @param text the date-time, e.g. `2026-02-28T10:10:00.000001Z`
 * @returns the instant, or undefined when `text` is not an RFC 3339
 *   date-time (a local time without an offset is not one)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareInstants, parseInstant } from "./instant.ts";
 * assert.equal(compareInstants(parseInstant("2026-02-28T11:10:00+01:00")!, parseInstant("2026-02-28T10:10:00Z")!), 0);
 * assert.equal(parseInstant("2026-02-28T10:10:00"), undefined);
 * ```
 */
export function parseInstant(text: unknown): Instant | undefined {
  if (typeof text !== "string") return undefined;
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  const days = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1];
  if (
    month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || second > 59
  ) {
    return undefined;
  }
  let offset = 0;
  if (m[8] !== undefined) {
    const offsetHours = Number(m[9]);
    const offsetMinutes = Number(m[10]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    offset = (m[8] === "-" ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  }
  return {
    seconds: daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
      offset,
    fraction: (m[7] ?? "").replace(/0+$/, ""),
  };
}

/**
 * Compare two instants exactly.
 * @param a an instant
 * @param b another
 * @returns negative when `a` is earlier, 0 when they are the same instant, positive when later
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareInstants, parseInstant } from "./instant.ts";
 * const later = parseInstant("2026-02-28T10:10:00.000001Z")!;
 * assert.ok(compareInstants(later, parseInstant("2026-02-28T10:10:00Z")!) > 0);
 * ```
 */
export function compareInstants(a: Instant, b: Instant): number {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  // Digit strings without trailing zeros: the string order is the order of the fractions.
  return a.fraction === b.fraction ? 0 : a.fraction < b.fraction ? -1 : 1;
}

/**
 * An instant moved by whole seconds.
 * @param instant the instant
 * @param seconds a whole number of seconds (negative moves it earlier)
 * @returns the moved instant
 * @throws RangeError when `seconds` is not a safe integer
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addSeconds, formatInstant, parseInstant } from "./instant.ts";
 * assert.equal(formatInstant(addSeconds(parseInstant("2026-03-01T00:00:00.5Z")!, 900)), "2026-03-01T00:15:00.500Z");
 * ```
 */
export function addSeconds(instant: Instant, seconds: number): Instant {
  if (!Number.isSafeInteger(seconds)) {
    throw new RangeError(`Cannot move an instant by ${seconds} seconds: not a whole number`);
  }
  return { seconds: instant.seconds + seconds, fraction: instant.fraction };
}

/**
 * The instant a `Date`-style millisecond count names.
 * @param milliseconds milliseconds since the epoch (a whole number)
 * @returns the instant
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatInstant, instantFromMillis } from "./instant.ts";
 * assert.equal(formatInstant(instantFromMillis(Date.UTC(2026, 2, 1, 0, 0, 0, 250))), "2026-03-01T00:00:00.250Z");
 * ```
 */
export function instantFromMillis(milliseconds: number): Instant {
  const ms = Math.floor(milliseconds);
  const seconds = Math.floor(ms / 1000);
  const fraction = String(ms - seconds * 1000).padStart(3, "0").replace(/0+$/, "");
  return { seconds, fraction };
}

/**
 * An instant as UTC RFC 3339, the way `Date.prototype.toISOString` writes
 * it (at least three fraction digits, more when the instant has them).
 * @param instant the instant
 * @returns e.g. `2026-02-28T10:10:00.000001Z`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatInstant, parseInstant } from "./instant.ts";
 * assert.equal(formatInstant(parseInstant("2026-02-28T11:10:00.000001+01:00")!), "2026-02-28T10:10:00.000001Z");
 * assert.equal(formatInstant(parseInstant("2026-02-28T10:10:00Z")!), "2026-02-28T10:10:00.000Z");
 * ```
 */
export function formatInstant(instant: Instant): string {
  const days = Math.floor(instant.seconds / 86400);
  const rest = instant.seconds - days * 86400;
  const [year, month, day] = civilFromDays(days);
  const two = (n: number) => String(n).padStart(2, "0");
  const yearText = year >= 0 && year <= 9999
    ? String(year).padStart(4, "0")
    : `${year < 0 ? "-" : "+"}${String(Math.abs(year)).padStart(6, "0")}`;
  return `${yearText}-${two(month)}-${two(day)}T${two(Math.floor(rest / 3600))}:${
    two(Math.floor(rest / 60) % 60)
  }:${two(rest % 60)}.${instant.fraction.padEnd(3, "0")}Z`;
}

/**
 * A string that is equal for two instants exactly when they are the same
 * instant, whatever the offsets and trailing zeros they were written with:
 * for map keys.
 * @param instant the instant
 * @returns the key
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { instantKey, parseInstant } from "./instant.ts";
 * assert.equal(instantKey(parseInstant("2026-02-28T11:10:00.10+01:00")!), instantKey(parseInstant("2026-02-28T10:10:00.1Z")!));
 * ```
 */
export function instantKey(instant: Instant): string {
  return instant.fraction === ""
    ? String(instant.seconds)
    : `${instant.seconds}.${instant.fraction}`;
}

/** Seconds added so that every instant of years 0000-9999 (with any offset) is a positive count. */
const SORT_SHIFT = 100_000_000_000;

/**
 * A string that sorts, as text, exactly as the instants compare (and is
 * equal for equal instants): the seconds shifted positive and zero-padded,
 * then `.` and the fraction's digits. For databases that order by text.
 * @param instant the instant
 * @returns the key
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { instantSortKey, parseInstant } from "./instant.ts";
 * const key = (text: string) => instantSortKey(parseInstant(text)!);
 * assert.equal(key("2026-02-28T11:10:00+01:00"), key("2026-02-28T10:10:00.0Z"));
 * assert.ok(key("2026-02-28T10:10:00.000001Z") > key("2026-02-28T10:10:00Z"));
 * assert.ok(key("2026-02-28T10:10:00.5Z") > key("2026-02-28T10:10:00.05Z"));
 * assert.ok(key("1969-12-31T23:59:59Z") < key("1970-01-01T00:00:00Z"));
 * ```
 */
export function instantSortKey(instant: Instant): string {
  return `${String(instant.seconds + SORT_SHIFT).padStart(13, "0")}.${instant.fraction}`;
}
