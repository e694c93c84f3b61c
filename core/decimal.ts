/**
 * Exact decimal arithmetic for the few comparisons that must not depend on
 * binary floating point.
 *
 * A JavaScript number is read through its shortest round-trip spelling
 * (`String(n)`), which is the decimal a person wrote when the JSON said `0.4`.
 * So `0.4 - 0.1` is exactly `0.3` here, where floats give
 * `0.30000000000000004`; the spec compares confidence spreads this way.
 *
 * @example
 * ```ts
 * import { compareDecimals, formatDecimal, parseDecimal, subtractDecimals } from "./decimal.ts";
 * import assert from "node:assert/strict";
 *
 * const spread = subtractDecimals(parseDecimal(0.4), parseDecimal(0.1));
 * assert.equal(formatDecimal(spread), "0.3");
 * assert.equal(compareDecimals(spread, parseDecimal("0.3")), 0);
 * ```
 *
 * @module
 */

/**
 * An exact decimal: `units × 10^-scale`, normalized so that `units` has no
 * trailing zero digit unless `scale` is 0 (so equal values have equal fields).
 */
export interface Decimal {
  /** The digits as an integer, with the sign. */
  readonly units: bigint;
  /** How many of the digits are after the decimal point; never negative. */
  readonly scale: number;
}

/** Beyond this, an exponent is refused rather than expanded into a huge integer. */
const _MAX_EXPONENT = 1000;

const _DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * Read a decimal from a number (through `String(n)`, so `0.1` is exactly
 * one tenth) or from a decimal string such as `"0.3"`, `"-2.50"` or `"1e-7"`.
 *
 * @param value a finite number, or a string of optional sign, digits,
 *   optional fraction and optional exponent
 * @returns the exact decimal
 * @throws {RangeError} for NaN, ±Infinity, a string that is not a decimal
 *   number, or an exponent beyond ±1000
 *
 * @example
 * ```ts
 * import { formatDecimal, parseDecimal } from "./decimal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseDecimal(0.35), { units: 35n, scale: 2 });
 * assert.deepEqual(parseDecimal(1e-7), { units: 1n, scale: 7 }); // String(1e-7) is "1e-7"
 * assert.deepEqual(parseDecimal("2.50"), { units: 25n, scale: 1 });
 * assert.equal(formatDecimal(parseDecimal(0.40000000000000002)), "0.4"); // the same double as 0.4
 * assert.throws(() => parseDecimal("abc"), /Cannot read "abc" as a decimal number/);
 * ```
 */
export function parseDecimal(value: number | string): Decimal {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError(`Cannot read ${value} as a decimal number: it is not finite`);
  }
  const text = typeof value === "number" ? String(value) : value;
  const match = typeof text === "string" ? _DECIMAL.exec(text) : null;
  if (match === null) {
    throw new RangeError(`Cannot read ${JSON.stringify(text)} as a decimal number`);
  }
  const [, sign, whole, fraction = "", exponentText = "0"] = match;
  const exponent = Number(exponentText);
  if (Math.abs(exponent) > _MAX_EXPONENT) {
    throw new RangeError(
      `Cannot read "${text}" as a decimal number: its exponent is beyond ±${_MAX_EXPONENT}`,
    );
  }
  const magnitude = BigInt(whole + fraction);
  const scale = fraction.length - exponent;
  const units = sign === "-" ? -magnitude : magnitude;
  return scale >= 0 ? _normalize(units, scale) : _normalize(units * 10n ** BigInt(-scale), 0);
}

/**
 * Write a decimal in plain positional form, without exponent or trailing
 * zeros.
 *
 * @param decimal the decimal
 * @returns e.g. `"0.35"`, `"-2.5"`, `"0.0000001"`, `"3"`
 *
 * @example
 * ```ts
 * import { formatDecimal, parseDecimal } from "./decimal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatDecimal(parseDecimal(1e-7)), "0.0000001");
 * assert.equal(formatDecimal(parseDecimal("-0.0")), "0");
 * assert.equal(formatDecimal({ units: 3500n, scale: 4 }), "0.35");
 * ```
 */
export function formatDecimal(decimal: Decimal): string {
  const { units, scale } = _normalize(decimal.units, decimal.scale);
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString();
  if (scale === 0) return (negative ? "-" : "") + digits;
  const padded = digits.padStart(scale + 1, "0");
  const point = padded.length - scale;
  return (negative ? "-" : "") + padded.slice(0, point) + "." + padded.slice(point);
}

/**
 * The exact difference `a − b`.
 *
 * @param a the minuend
 * @param b the subtrahend
 * @returns `a − b`, normalized
 *
 * @example
 * ```ts
 * import { formatDecimal, parseDecimal, subtractDecimals } from "./decimal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(0.4 - 0.1, 0.30000000000000004);
 * assert.equal(formatDecimal(subtractDecimals(parseDecimal(0.4), parseDecimal(0.1))), "0.3");
 * ```
 */
export function subtractDecimals(a: Decimal, b: Decimal): Decimal {
  const [x, y, scale] = _align(a, b);
  return _normalize(x - y, scale);
}

/**
 * The exact sum `a + b`.
 *
 * @param a one addend
 * @param b the other addend
 * @returns `a + b`, normalized
 *
 * @example
 * ```ts
 * import { addDecimals, formatDecimal, parseDecimal } from "./decimal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(0.1 + 0.2, 0.30000000000000004);
 * assert.equal(formatDecimal(addDecimals(parseDecimal(0.1), parseDecimal(0.2))), "0.3");
 * ```
 */
export function addDecimals(a: Decimal, b: Decimal): Decimal {
  const [x, y, scale] = _align(a, b);
  return _normalize(x + y, scale);
}

/**
 * Compare two decimals exactly.
 *
 * @param a the first decimal
 * @param b the second decimal
 * @returns -1 when `a < b`, 0 when they are equal, 1 when `a > b`
 *
 * @example
 * ```ts
 * import { compareDecimals, parseDecimal } from "./decimal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(compareDecimals(parseDecimal("0.30"), parseDecimal(0.3)), 0);
 * assert.equal(compareDecimals(parseDecimal(0.3000001), parseDecimal("0.3")), 1);
 * assert.equal(compareDecimals(parseDecimal(-1), parseDecimal(1e-7)), -1);
 * ```
 */
export function compareDecimals(a: Decimal, b: Decimal): -1 | 0 | 1 {
  const [x, y] = _align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Both decimals' units at their common (larger) scale. */
function _align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [
    a.units * 10n ** BigInt(scale - a.scale),
    b.units * 10n ** BigInt(scale - b.scale),
    scale,
  ];
}

function _normalize(units: bigint, scale: number): Decimal {
  if (scale < 0) return { units: units * 10n ** BigInt(-scale), scale: 0 };
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale--;
  }
  return { units, scale };
}
