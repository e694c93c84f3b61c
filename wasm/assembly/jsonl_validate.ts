// AssemblyScript source of core/jsonl_validate_wasm.ts (built by `deno task wasm`).
//
// The same walk as validateJsonLines in core/jsonl_validate.ts (the reference, and the
// fallback), byte for byte, with one difference: string bodies are skipped 16 bytes at a
// time with SIMD. The JavaScript side checks UTF-8, lays out the captured fields, copies the
// bytes in with 16 zero bytes after them (so every read here stays in bounds and every loop
// stops at the end), and answers two questions this side cannot: whether a long or
// exponent number token is finite, and whether a record's captured types are acceptable.
//
// Memory layout, from `cfg`: types u8[64] @0, matched u8[64] @64, expectMode u8[64] @128,
// nameEnds i32[64] @192 (relative to the names at cfg+1024), expectedStart i32[64] @448
// (absolute), expectedLength i32[64] @704, type masks u16[64] @960, names from @1152. The
// depth stack (one byte per level: 1 for an object) starts at `stack`.

@external("env", "finite")
declare function hostFinite(start: i32, end: i32): i32;

@external("env", "accept")
declare function hostAccept(): i32;

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const ONE = 0x31;
const NINE = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const T_ABSENT = 0;
const T_STRING = 1;
const T_EMPTY_STRING = 2;
const T_NUMBER = 3;
const T_TRUE = 4;
const T_FALSE = 5;
const T_NULL = 6;
const T_ARRAY = 7;
const T_OBJECT = 8;

const QUOTES = i8x16.splat(0x22);
const BACKSLASHES = i8x16.splat(0x5c);
const SPACES = i8x16.splat(0x20);

@inline function at(i: i32): i32 {
  return <i32>load<u8>(<usize>i);
}

@inline function isSpace(c: i32): bool {
  return c == SPACE || c == TAB || c == CR;
}

@inline function skipSpace(i: i32): i32 {
  while (isSpace(at(i))) i++;
  return i;
}

@inline function isHex(c: i32): bool {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

@inline function isDigit(c: i32): bool {
  return c >= ZERO && c <= NINE;
}

/** Whether the string last skipped held a backslash escape. */
let escaped: bool = false;
/** The captured field whose key `member` last read, or -1. */
let memberField: i32 = -1;

/** Skip a string body from just after its opening quote; -1 when malformed or unterminated. */
function skipString(i: i32): i32 {
  escaped = false;
  while (true) {
    // Stop at a quote, a backslash or a control byte (the zero padding is one).
    while (true) {
      const v = v128.load(<usize>i);
      const stops = v128.or(
        v128.or(i8x16.eq(v, QUOTES), i8x16.eq(v, BACKSLASHES)),
        i8x16.lt_u(v, SPACES),
      );
      const mask = i8x16.bitmask(stops);
      if (mask != 0) {
        i += <i32>ctz(mask);
        break;
      }
      i += 16;
    }
    const c = at(i);
    if (c == QUOTE) return i + 1;
    if (c != BACKSLASH) return -1;
    escaped = true;
    const e = at(i + 1);
    if (
      e == QUOTE || e == BACKSLASH || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e ||
      e == 0x72 || e == 0x74
    ) {
      i += 2;
    } else if (
      e == 0x75 && isHex(at(i + 2)) && isHex(at(i + 3)) && isHex(at(i + 4)) && isHex(at(i + 5))
    ) {
      i += 6;
    } else {
      return -1;
    }
  }
}

/** Skip a number token; -1 when malformed or not finite. */
function skipNumber(i: i32): i32 {
  const start = i;
  let c = at(i);
  if (c == MINUS) c = at(++i);
  const integerStart = i;
  if (c == ZERO) {
    c = at(++i);
  } else if (c >= ONE && c <= NINE) {
    do c = at(++i); while (isDigit(c));
  } else {
    return -1;
  }
  let mayOverflow = i - integerStart > 15;
  if (c == DOT) {
    c = at(++i);
    if (!isDigit(c)) return -1;
    do c = at(++i); while (isDigit(c));
  }
  if (c == 0x65 || c == 0x45) {
    mayOverflow = true;
    c = at(++i);
    if (c == PLUS || c == MINUS) c = at(++i);
    if (!isDigit(c)) return -1;
    do c = at(++i); while (isDigit(c));
  }
  if (mayOverflow && hostFinite(start, i) == 0) return -1;
  return i;
}

/** Read a member's key, colon and the space after; set memberField. -1 when malformed. */
function member(i: i32, fieldCount: i32, cfg: i32): i32 {
  memberField = -1;
  if (at(i) != QUOTE) return -1;
  const start = i + 1;
  i = skipString(start);
  if (i < 0) return -1;
  if (fieldCount > 0) {
    if (escaped) return -1;
    const length = i - 1 - start;
    const names = cfg + 1152;
    let nameStart = 0;
    for (let k = 0; k < fieldCount; k++) {
      const nameEnd = load<i32>(<usize>(cfg + 192 + (k << 2)));
      if (nameEnd - nameStart == length) {
        let same = 0;
        while (same < length && at(start + same) == at(names + nameStart + same)) same++;
        if (same == length) {
          memberField = k;
          break;
        }
      }
      nameStart = nameEnd;
    }
  }
  i = skipSpace(i);
  if (at(i) != COLON) return -1;
  return skipSpace(i + 1);
}

/**
 * Validate JSON lines at [data, data + n).
 * @returns the record count, or -1 for invalid or not sure
 */
export function validate(
  data: i32,
  n: i32,
  depthLimit: i32,
  stack: i32,
  cfg: i32,
  fieldCount: i32,
  records: i32,
  hasAccept: i32,
): i32 {
  const end = data + n;
  let i = data;
  let count = 0;
  while (i < end) {
    let c = at(i);
    while (isSpace(c)) c = at(++i);
    if (i >= end) break;
    if (c == LF) {
      i++;
      continue;
    }
    if (records != 0) {
      if (c != OPEN_BRACE) return -1;
      for (let k = 0; k < fieldCount; k++) store<u8>(<usize>(cfg + k), T_ABSENT);
    }
    let depth = 0;
    let field = -1;
    let done = false;
    while (!done) {
      // `i` is at the first byte of a value.
      c = at(i);
      let closeFollows = true;
      if (c == QUOTE) {
        const start = i + 1;
        i = skipString(start);
        if (i < 0) return -1;
        if (field >= 0) {
          const length = i - 1 - start;
          store<u8>(<usize>(cfg + field), length == 0 ? T_EMPTY_STRING : T_STRING);
          const mode = <i32>load<u8>(<usize>(cfg + 128 + field));
          if (mode != 0) {
            if (mode == 2 || escaped) return -1;
            const expected = load<i32>(<usize>(cfg + 448 + (field << 2)));
            const expectedLength = load<i32>(<usize>(cfg + 704 + (field << 2)));
            let same: u8 = 0;
            if (expectedLength == length) {
              let k = 0;
              while (k < length && at(start + k) == at(expected + k)) k++;
              same = k == length ? 1 : 0;
            }
            store<u8>(<usize>(cfg + 64 + field), same);
          }
        }
      } else if (c == OPEN_BRACE || c == OPEN_BRACKET) {
        if (++depth > depthLimit) return -1;
        if (field >= 0) store<u8>(<usize>(cfg + field), c == OPEN_BRACE ? T_OBJECT : T_ARRAY);
        field = -1;
        const opener = c;
        c = at(++i);
        while (isSpace(c)) c = at(++i);
        if (opener == OPEN_BRACKET) {
          store<u8>(<usize>(stack + depth), 0);
          if (c != CLOSE_BRACKET) {
            closeFollows = false;
          } else {
            i++;
            depth--;
          }
        } else {
          store<u8>(<usize>(stack + depth), 1);
          if (c != CLOSE_BRACE) {
            i = member(i, depth == 1 ? fieldCount : 0, cfg);
            if (i < 0) return -1;
            field = memberField;
            closeFollows = false;
          } else {
            i++;
            depth--;
          }
        }
      } else if (c == 0x74) { // true
        if (at(i + 1) != 0x72 || at(i + 2) != 0x75 || at(i + 3) != 0x65) return -1;
        i += 4;
        if (field >= 0) store<u8>(<usize>(cfg + field), T_TRUE);
      } else if (c == 0x66) { // false
        if (at(i + 1) != 0x61 || at(i + 2) != 0x6c || at(i + 3) != 0x73 || at(i + 4) != 0x65) {
          return -1;
        }
        i += 5;
        if (field >= 0) store<u8>(<usize>(cfg + field), T_FALSE);
      } else if (c == 0x6e) { // null
        if (at(i + 1) != 0x75 || at(i + 2) != 0x6c || at(i + 3) != 0x6c) return -1;
        i += 4;
        if (field >= 0) store<u8>(<usize>(cfg + field), T_NULL);
      } else {
        i = skipNumber(i);
        if (i < 0) return -1;
        if (field >= 0) store<u8>(<usize>(cfg + field), T_NUMBER);
      }
      if (!closeFollows) continue;
      field = -1;
      // After a value: a separator, or closers until one is followed by a separator.
      while (true) {
        c = at(i);
        while (isSpace(c)) c = at(++i);
        if (depth == 0) {
          if (c != LF && i < end) return -1;
          i++;
          done = true;
          break;
        }
        const inObject = load<u8>(<usize>(stack + depth)) == 1;
        if (c == COMMA) {
          c = at(++i);
          while (isSpace(c)) c = at(++i);
          if (inObject) {
            i = member(i, depth == 1 ? fieldCount : 0, cfg);
            if (i < 0) return -1;
            field = memberField;
          }
          break;
        }
        if (c != (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
        i++;
        depth--;
      }
    }
    count++;
    if (records != 0) {
      for (let k = 0; k < fieldCount; k++) {
        const type = <i32>load<u8>(<usize>(cfg + k));
        if (<i32>load<u8>(<usize>(cfg + 128 + k)) == 0 || type == T_ABSENT) continue;
        if (
          <i32>load<u8>(<usize>(cfg + 64 + k)) != 1 ||
          (type != T_STRING && type != T_EMPTY_STRING)
        ) return -1;
      }
      for (let k = 0; k < fieldCount; k++) {
        const mask = <i32>load<u16>(<usize>(cfg + 960 + (k << 1)));
        if (((mask >> <i32>load<u8>(<usize>(cfg + k))) & 1) == 0) return -1;
      }
      if (hasAccept != 0 && hostAccept() == 0) return -1;
    }
  }
  return count;
}
