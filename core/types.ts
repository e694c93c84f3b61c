/**
 * Type-level helpers.
 *
 * @module
 */

/**
 * `true` when `A` and `B` are the same type, field for field (optional or not, index signatures
 * included), else `false`: mutual assignability is weaker (an optional field missing on one side
 * passes it when the other has an index signature).
 *
 * @example
 * ```ts
 * import type { SameType } from "./types.ts";
 * const same: SameType<{ a?: number }, { a?: number }> = true;
 * const apart: SameType<{ a?: number; [k: string]: unknown }, { [k: string]: unknown }> = false;
 * void same, apart;
 * ```
 */
export type SameType<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? true
  : false;
