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
// depth stack (one byte per level: 1 for an object) starts at `stack`; the member names of the
// open objects (see uniqueName) at `names`, 16-byte aligned.

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

/**
 * Skip a `\\uD...` escape at `i` (its four hex digits checked): 6 bytes, or 12 for a surrogate
 * pair; -1 for a lone surrogate, which I-JSON refuses (the exact path words it).
 */
function skipSurrogateEscape(i: i32): i32 {
  const second = at(i + 3) | 0x20;
  if (second == 0x38 || second == 0x39 || second == 0x61 || second == 0x62) {
    // A high surrogate, D800 to DBFF: a low one, DC00 to DFFF, must follow at once.
    if (at(i + 6) != BACKSLASH || at(i + 7) != 0x75 || (at(i + 8) | 0x20) != 0x64) return -1;
    const low = at(i + 9) | 0x20;
    if (low < 0x63 || low > 0x66 || !isHex(at(i + 10)) || !isHex(at(i + 11))) return -1;
    return i + 12;
  }
  return second >= 0x63 && second <= 0x66 ? -1 : i + 6; // DC00 to DFFF alone
}

/** Skip a string body from just after its opening quote; -1 when malformed or unterminated. */
@inline function skipString(i: i32): i32 {
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
      if ((at(i + 2) | 0x20) == 0x64) {
        i = skipSurrogateEscape(i);
        if (i < 0) return -1;
      } else {
        i += 6;
      }
    } else {
      return -1;
    }
  }
}

/** Number token facts from skipNumberClass: set when it returns. */
let numberNegative: bool = false;
let numberPlain: bool = false; // no fraction, no exponent, at most 15 integer digits
let numberUnit: bool = false; // in [0, 1] for sure: 0, 0.x, 1, 1.000 (no sign, no exponent)

/**
 * Skip a number token and check that it is finite; -1 when malformed or not. Also classifies
 * it, for the canon scan's rev, previousRev and confidence.
 */
function skipNumberClass(i: i32): i32 {
  const start = i;
  let c = at(i);
  numberNegative = c == MINUS;
  if (numberNegative) c = at(++i);
  const integerStart = i;
  if (c == ZERO) {
    c = at(++i);
  } else if (c >= ONE && c <= NINE) {
    do c = at(++i); while (isDigit(c));
  } else {
    return -1;
  }
  const integerDigits = i - integerStart;
  const integerIsZero = integerDigits == 1 && at(integerStart) == ZERO;
  const integerIsOne = integerDigits == 1 && at(integerStart) == ONE;
  let mayOverflow = integerDigits > 15;
  let fraction = false;
  let fractionZero = true;
  if (c == DOT) {
    fraction = true;
    c = at(++i);
    if (!isDigit(c)) return -1;
    do {
      if (c != ZERO) fractionZero = false;
      c = at(++i);
    } while (isDigit(c));
  }
  let exponent = false;
  if (c == 0x65 || c == 0x45) {
    exponent = true;
    mayOverflow = true;
    c = at(++i);
    if (c == PLUS || c == MINUS) c = at(++i);
    if (!isDigit(c)) return -1;
    do c = at(++i); while (isDigit(c));
  }
  if (mayOverflow && hostFinite(start, i) == 0) return -1;
  numberPlain = !fraction && !exponent && integerDigits <= 15;
  numberUnit = !numberNegative && !exponent && (integerIsZero || (integerIsOne && fractionZero));
  return i;
}

/** Skip `true`, `false` or `null` at `i`; -1 when the bytes spell none of them. */
function skipLiteral(i: i32): i32 {
  const c = at(i);
  if (c == 0x74) return at(i + 1) == 0x72 && at(i + 2) == 0x75 && at(i + 3) == 0x65 ? i + 4 : -1;
  if (c == 0x66) {
    return at(i + 1) == 0x61 && at(i + 2) == 0x6c && at(i + 3) == 0x73 && at(i + 4) == 0x65
      ? i + 5
      : -1;
  }
  return at(i + 1) == 0x75 && at(i + 2) == 0x6c && at(i + 3) == 0x6c ? i + 4 : -1;
}

// Member names, for I-JSON's one name per member. A name the walk knows (a captured field of a
// record, a checked field of a canon entry) is one bit in a mask of its object. Any other name is
// noted as a record of 16 bytes from `nameRecords` (a tag: the length's low byte over the first 7
// bytes; the start; the length); per depth, 16 bytes at `nameFrom` hold the object's first record
// (i32) and a filter of its names (u64, one bit per name picked by the tag's hash). A name whose
// bit is clear is new; otherwise it is compared with the object's earlier names, at most
// MAX_MEMBERS of them, past which, as for a name holding an escape, the walk is not sure (the
// exact path counts and names duplicates in linear time).

/** The most members of one object (other than known fields) that the walks compare names of. */
const MAX_MEMBERS = 32;
let nameFrom: i32 = 0;
let nameRecords: i32 = 0;
let nameTop: i32 = 0;

/** Lay the names out at `names` (16-byte aligned), after 16 bytes per depth. */
function initNames(names: i32, depthLimit: i32): void {
  nameFrom = names;
  nameRecords = names + ((depthLimit + 2) << 4);
  nameTop = 0;
}

/** Start the names of an object opening at `depth`. */
@inline function openNames(depth: i32): void {
  const slot = nameFrom + (depth << 4);
  store<i32>(<usize>slot, nameTop);
  store<u64>(<usize>(slot + 8), 0);
}

/**
 * Note the name at [start, start + length) of the object at `depth`; false when the object
 * already has it, or has MAX_MEMBERS names.
 */
@inline function uniqueName(start: i32, length: i32, depth: i32): bool {
  const slot = nameFrom + (depth << 4);
  const from = load<i32>(<usize>slot);
  if (nameTop - from >= MAX_MEMBERS) return false;
  const word = load<u64>(<usize>start);
  const kept: u64 = length >= 7 ? 0x00ffffffffffffff : ((<u64>1 << <u64>(length << 3)) - 1);
  const tag = (word & kept) | (<u64>(length & 0xff) << 56);
  const bit: u64 = <u64>1 << ((tag * 0x9e3779b97f4a7c15) >> 58);
  const filter = load<u64>(<usize>(slot + 8));
  if ((filter & bit) != 0) {
    for (let k = from; k < nameTop; k++) {
      const record = nameRecords + (k << 4);
      if (load<u64>(<usize>record) == tag && load<i32>(<usize>(record + 12)) == length) {
        const other = load<i32>(<usize>(record + 8));
        let same = true;
        for (let b = 7; same && b < length; b++) same = at(start + b) == at(other + b);
        if (same) return false;
      }
    }
  }
  store<u64>(<usize>(slot + 8), filter | bit);
  const record = nameRecords + (nameTop << 4);
  store<u64>(<usize>record, tag);
  store<i32>(<usize>(record + 8), start);
  store<i32>(<usize>(record + 12), length);
  nameTop++;
  return true;
}

/** {@link uniqueName} as a call, for canonMember: a canon entry's names are mostly known ones. */
function uniqueNameCall(start: i32, length: i32, depth: i32): bool {
  return uniqueName(start, length, depth);
}

/** Forget the names of the object closing at `depth`. */
@inline function closeNames(depth: i32): void {
  nameTop = load<i32>(<usize>(nameFrom + (depth << 4)));
}

/** The captured fields a record has named so far (bit k: field k). */
let fieldsNamed: u64 = 0;

/**
 * Read a member's key, colon and the space after; set memberField. -1 when malformed, or when
 * not sure the name is unique in its object.
 */
@inline function member(i: i32, fieldCount: i32, cfg: i32, depth: i32): i32 {
  memberField = -1;
  if (at(i) != QUOTE) return -1;
  const start = i + 1;
  i = skipString(start);
  if (i < 0) return -1;
  // An escaped name may equal another (or a captured field) once decoded: not sure.
  if (escaped) return -1;
  if (fieldCount > 0) {
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
  if (memberField >= 0) {
    const bit: u64 = <u64>1 << <u64>memberField;
    if ((fieldsNamed & bit) != 0) return -1; // a captured field twice
    fieldsNamed |= bit;
  } else if (!uniqueName(start, i - 1 - start, depth)) {
    return -1;
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
  names: i32,
): i32 {
  const end = data + n;
  let i = data;
  let count = 0;
  initNames(names, depthLimit);
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
            openNames(depth);
            if (depth == 1) fieldsNamed = 0;
            i = member(i, depth == 1 ? fieldCount : 0, cfg, depth);
            if (i < 0) return -1;
            field = memberField;
            closeFollows = false;
          } else {
            i++;
            depth--;
          }
        }
      } else if (c == 0x74 || c == 0x66 || c == 0x6e) { // true, false, null
        i = skipLiteral(i);
        if (i < 0) return -1;
        if (field >= 0) store<u8>(<usize>(cfg + field), c == 0x74 ? T_TRUE : c == 0x66 ? T_FALSE : T_NULL);
      } else {
        i = skipNumberClass(i);
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
            i = member(i, depth == 1 ? fieldCount : 0, cfg, depth);
            if (i < 0) return -1;
            field = memberField;
          }
          break;
        }
        if (c != (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
        if (inObject) closeNames(depth);
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

// --- canon_entry.json --------------------------------------------------------------------
//
// scanCanon walks a canon_entry.json document as validate walks a line, and also checks what
// fastCanonEntryCheck (core/packet.ts) checks of every entry, records where each entry's key
// is, and writes each entry's value without the white space between tokens to `dst` onwards.
// It answers only when sure: -1 sends the file to the exact path (parse, schema), which
// decides and words any error. Per entry it writes ten i32 at `out` + 40 * i: key start, key
// end (inside the quotes), value start, value end, flags (1: the key holds an escape, 2: a
// signatureId string is present, 4: it holds an escape or differs from the key), the compact
// value's start and end. At `out` - 8: the `entries` object's start and end.

// Roles of the container at each depth (one byte each at `roles`).
const R_OTHER: u8 = 0;
const R_TOP: u8 = 1;
const R_ENTRIES: u8 = 2;
const R_ENTRY: u8 = 3;
const R_LINEAGE: u8 = 4;
const R_CHANGES: u8 = 5;
const R_CHANGE: u8 = 6;

// Fields of an entry, and of a change.
const F_SIGNATURE_ID = 0;
const F_REV = 1;
const F_PREVIOUS_REV = 2;
const F_PATCH_ID = 3;
const F_LINEAGE = 4;
const F_CHANGES = 5;
const F_CONFIDENCE = 6;
const F_ACTION = 0;
const F_FIELD = 1;
// Fields the spec names whose values are not checked: told apart by a bit, as the checked ones,
// which spares the name comparisons of I-JSON for the usual entry and change.
const F_STATEMENT = 7;
const F_LAST_UPDATED_AT = 8;
const F_FROM = 2;
const F_TO = 3;
const F_DETAIL = 4;
/** A bit of `seen`: the object's other names are noted (see uniqueName). */
const NAMES_OPEN = 1 << 31;
/** The first field of an entry, and of a change, whose value is not checked. */
const F_ENTRY_UNCHECKED = F_STATEMENT;
const F_CHANGE_UNCHECKED = F_FROM;

const LINE_FEEDS = i8x16.splat(0x0a);
const TABS = i8x16.splat(0x09);
const RETURNS = i8x16.splat(0x0d);

/** JSON white space between the tokens of a document (a line break included). */
@inline function isWs(c: i32): bool {
  return c == SPACE || c == TAB || c == CR || c == LF;
}

/** Skip white space, 16 bytes at a time once past the first (indentation comes in runs). */
function skipWs(i: i32): i32 {
  if (!isWs(at(i))) return i;
  i++;
  while (true) {
    const v = v128.load(<usize>i);
    const space = v128.or(
      v128.or(i8x16.eq(v, SPACES), i8x16.eq(v, LINE_FEEDS)),
      v128.or(i8x16.eq(v, TABS), i8x16.eq(v, RETURNS)),
    );
    const mask = ~i8x16.bitmask(space) & 0xffff;
    if (mask != 0) return i + <i32>ctz(mask);
    i += 16;
  }
}

/** Where the compact copies are being written, and whether the walk is inside an entry. */
let to: i32 = 0;
let emitting: bool = false;

@inline function emit(c: i32): void {
  if (emitting) {
    store<u8>(<usize>to, <u8>c);
    to++;
  }
}

/**
 * Copy the token at [start, stop) to the compact output when inside an entry, 16 bytes at a
 * time (tokens are short, and memory.copy costs a call each): up to 15 bytes past the token are
 * written too, which the next token overwrites. Reading past it stays inside the input and its
 * 16 bytes of padding, writing inside the output's 16 bytes of slack (the host's layout).
 */
@inline function emitSpan(start: i32, stop: i32): void {
  if (emitting) {
    for (let k = 0; k < stop - start; k += 16) {
      v128.store(<usize>(to + k), v128.load(<usize>(start + k)));
    }
    to += stop - start;
  }
}

/** Whether the key at [start, start+length) spells `name` (ASCII). */
function keyIs(start: i32, length: i32, name: string): bool {
  if (length != name.length) return false;
  for (let k = 0; k < length; k++) if (at(start + k) != name.charCodeAt(k)) return false;
  return true;
}

// The checked fields' names as little-endian words, so that entryField compares a word or two,
// picked by the key's length, instead of byte by byte. Loads may read past a short key: into
// the rest of the input or its 16 bytes of padding, then masked off.
const W_SIGNATUR: u64 = 0x727574616e676973; // "signatur"
const W_EID: u64 = 0x644965; // "eId"
const W_PREVIOUS: u64 = 0x73756f6976657270; // "previous"
const W_REV_TAIL: u64 = 0x766552; // "Rev"
const W_REV: u64 = 0x766572; // "rev"
const W_PATCHID: u64 = 0x64496863746170; // "patchId"
const W_LINEAGE: u64 = 0x656761656e696c; // "lineage"
const W_CHANGES: u64 = 0x7365676e616863; // "changes"
const W_CONFIDEN: u64 = 0x6e656469666e6f63; // "confiden"
const W_CE: u64 = 0x6563; // "ce"
const W_STATEMEN: u64 = 0x6e656d6574617473; // "statemen"
const W_LASTUPDA: u64 = 0x616470557473616c; // "lastUpda"
const W_TEDAT: u64 = 0x7441646574; // "tedAt"
const LOW_5: u64 = 0xffffffffff;
const W_ACTION: u64 = 0x6e6f69746361; // "action"
const W_DETAIL: u64 = 0x6c6961746564; // "detail"
const W_FIELD: u64 = 0x646c656966; // "field"
const W_FROM: u64 = 0x6d6f7266; // "from"
const W_TO: u64 = 0x6f74; // "to"
const LOW_3: u64 = 0xffffff;
const LOW_7: u64 = 0xffffffffffffff;

function entryField(start: i32, length: i32): i32 {
  const head = load<u64>(<usize>start);
  if (length == 11) {
    const tail = load<u64>(<usize>(start + 8)) & LOW_3;
    if (head == W_SIGNATUR && tail == W_EID) return F_SIGNATURE_ID;
    if (head == W_PREVIOUS && tail == W_REV_TAIL) return F_PREVIOUS_REV;
  } else if (length == 7) {
    const word = head & LOW_7;
    if (word == W_PATCHID) return F_PATCH_ID;
    if (word == W_LINEAGE) return F_LINEAGE;
    if (word == W_CHANGES) return F_CHANGES;
  } else if (length == 3) {
    if ((head & LOW_3) == W_REV) return F_REV;
  } else if (length == 10) {
    if (head == W_CONFIDEN && (load<u64>(<usize>(start + 8)) & 0xffff) == W_CE) {
      return F_CONFIDENCE;
    }
  } else if (length == 9) {
    if (head == W_STATEMEN && at(start + 8) == 0x74) return F_STATEMENT;
  } else if (length == 13) {
    if (head == W_LASTUPDA && (load<u64>(<usize>(start + 8)) & LOW_5) == W_TEDAT) {
      return F_LAST_UPDATED_AT;
    }
  }
  return -1;
}

function changeField(start: i32, length: i32): i32 {
  const head = load<u64>(<usize>start);
  if (length == 6) {
    const word = head & 0xffffffffffff;
    if (word == W_ACTION) return F_ACTION;
    if (word == W_DETAIL) return F_DETAIL;
  } else if (length == 5) {
    if ((head & 0xffffffffff) == W_FIELD) return F_FIELD;
  } else if (length == 4) {
    if ((head & 0xffffffff) == W_FROM) return F_FROM;
  } else if (length == 2) {
    if ((head & 0xffff) == W_TO) return F_TO;
  }
  return -1;
}

/**
 * Check canon_entry.json at [data, data + n), record its entries and write their compact
 * copies from `dst` (see above).
 * @returns the number of entries, -1 (invalid, or not sure), or -2 (more than maxEntries)
 */
export function scanCanon(
  data: i32,
  n: i32,
  depthLimit: i32,
  stack: i32,
  out: i32,
  maxEntries: i32,
  dst: i32,
  names: i32,
): i32 {
  const end = data + n;
  // Per depth: 1 for an object (stack), the role (roles), the field being read (fields, i32),
  // the fields seen (seen, i32 bit mask).
  const roles = stack + depthLimit + 2;
  const fields = (roles + depthLimit + 2 + 3) & ~3;
  const seen = fields + (depthLimit + 2) * 4;
  to = dst;
  emitting = false;
  initNames(names, depthLimit);
  let count = 0;
  let entriesSeen = false;
  let i = skipWs(data);
  if (at(i) != OPEN_BRACE) return -1;
  let depth = 0;
  while (true) {
    // `i` is at the first byte of a value, inside a container of role `parent` (or none).
    let c = at(i);
    const parent = depth == 0 ? R_OTHER : load<u8>(<usize>(roles + depth));
    const field = depth == 0 ? -1 : load<i32>(<usize>(fields + (depth << 2)));
    let closeFollows = true;
    if (c == OPEN_BRACE || c == OPEN_BRACKET) {
      let role = R_OTHER;
      if (depth == 0) {
        role = R_TOP;
      } else if (parent == R_TOP && field == 0) {
        if (c != OPEN_BRACE) return -1;
        role = R_ENTRIES;
        store<i32>(<usize>(out - 8), i);
      } else if (parent == R_ENTRIES) {
        if (c != OPEN_BRACE) return -1;
        if (count >= maxEntries) return -2; // no room: the host retries with more
        role = R_ENTRY;
        store<i32>(<usize>(out + count * 40 + 8), i);
        store<i32>(<usize>(out + count * 40 + 20), to);
        emitting = true;
      } else if (parent == R_ENTRY && field == F_LINEAGE) {
        if (c != OPEN_BRACKET) return -1;
        role = R_LINEAGE;
      } else if (parent == R_ENTRY && field == F_CHANGES) {
        if (c != OPEN_BRACKET) return -1;
        role = R_CHANGES;
      } else if (parent == R_CHANGES) {
        if (c != OPEN_BRACE) return -1;
        role = R_CHANGE;
      } else if (
        parent == R_LINEAGE || (parent == R_ENTRY && field >= 0) ||
        (parent == R_CHANGE && field >= 0)
      ) {
        return -1; // a lineage item, or a field that must be a string or a number
      }
      if (++depth > depthLimit) return -1;
      store<u8>(<usize>(stack + depth), c == OPEN_BRACE ? 1 : 0);
      store<u8>(<usize>(roles + depth), role);
      store<i32>(<usize>(seen + (depth << 2)), 0);
      store<i32>(<usize>(fields + (depth << 2)), -1);
      emit(c);
      const opener = c;
      i = skipWs(i + 1);
      c = at(i);
      if (opener == OPEN_BRACKET) {
        if (c != CLOSE_BRACKET) {
          closeFollows = false;
        } else {
          emit(c);
          i++;
          depth--;
        }
      } else if (c != CLOSE_BRACE) {
        i = canonMember(i, depth, roles, fields, seen, out, count);
        if (i < 0) return -1;
        if (role == R_TOP && load<i32>(<usize>(fields + (depth << 2))) == 0) {
          if (entriesSeen) return -1;
          entriesSeen = true;
        }
        closeFollows = false;
      } else {
        // An empty object: close it here, as the closer loop below would.
        emit(c);
        i++;
        if (closeContainer(role, depth, seen, out, count, i) < 0) return -1;
        if (role == R_ENTRY) count++;
        depth--;
      }
    } else {
      // A scalar: check it against what its place requires. `entries`, an entry and a change
      // are never scalars.
      if ((parent == R_TOP && field == 0) || parent == R_ENTRIES || parent == R_CHANGES) return -1;
      const start = i;
      if (c == QUOTE) {
        i = skipString(start + 1);
        if (i < 0) return -1;
        if (parent == R_ENTRY) {
          if (field == F_REV || field == F_PREVIOUS_REV || field == F_CONFIDENCE) return -1;
          if (field == F_LINEAGE || field == F_CHANGES) return -1;
          if (field == F_SIGNATURE_ID) {
            const record = out + count * 40;
            const keyStart = load<i32>(<usize>record);
            const keyLength = load<i32>(<usize>(record + 4)) - keyStart;
            const length = i - 2 - start;
            let flags = load<i32>(<usize>(record + 16)) | 2;
            let same = !escaped && (flags & 1) == 0 && length == keyLength;
            for (let k = 0; same && k < length; k++) same = at(start + 1 + k) == at(keyStart + k);
            if (!same) flags |= 4;
            store<i32>(<usize>(record + 16), flags);
          }
        }
      } else {
        if (parent == R_LINEAGE) return -1; // lineage items are strings
        if (parent == R_CHANGE && field >= 0) return -1; // action and field are strings
        if (c == 0x74 || c == 0x66 || c == 0x6e) { // true, false, null
          i = skipLiteral(i);
          if (i < 0 || (parent == R_ENTRY && field >= 0)) return -1;
        } else {
          i = skipNumberClass(i);
          if (i < 0) return -1;
          if (parent == R_ENTRY && field >= 0) {
            if (field == F_REV) {
              if (!numberPlain || numberNegative) return -1;
            } else if (field == F_PREVIOUS_REV) {
              if (!numberPlain) return -1;
            } else if (field == F_CONFIDENCE) {
              if (!numberUnit) return -1;
            } else {
              return -1; // signatureId, patchId, lineage, changes: not numbers
            }
          }
        }
      }
      emitSpan(start, i);
    }
    if (!closeFollows) continue;
    // After a value: a separator, or closers until one is followed by a separator.
    while (true) {
      i = skipWs(i);
      c = at(i);
      if (depth == 0) return skipWs(i) < end ? -1 : (entriesSeen ? count : -1);
      const inObject = load<u8>(<usize>(stack + depth)) == 1;
      if (c == COMMA) {
        emit(c);
        i = skipWs(i + 1);
        if (inObject) {
          i = canonMember(i, depth, roles, fields, seen, out, count);
          if (i < 0) return -1;
          if (
            load<u8>(<usize>(roles + depth)) == R_TOP &&
            load<i32>(<usize>(fields + (depth << 2))) == 0
          ) {
            if (entriesSeen) return -1;
            entriesSeen = true;
          }
        }
        break;
      }
      if (c != (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
      emit(c);
      i++;
      const role = load<u8>(<usize>(roles + depth));
      if ((load<i32>(<usize>(seen + (depth << 2))) & NAMES_OPEN) != 0) closeNames(depth);
      if (closeContainer(role, depth, seen, out, count, i) < 0) return -1;
      if (role == R_ENTRY) count++;
      depth--;
    }
  }
}

/** Checks and records at the close of a container of `role` (`i` just after its closer). */
function closeContainer(role: u8, depth: i32, seen: i32, out: i32, count: i32, i: i32): i32 {
  if (role == R_ENTRY) {
    store<i32>(<usize>(out + count * 40 + 12), i);
    store<i32>(<usize>(out + count * 40 + 24), to);
    emitting = false;
  } else if (role == R_ENTRIES) {
    store<i32>(<usize>(out - 4), i);
  } else if (role == R_CHANGE) {
    if ((load<i32>(<usize>(seen + (depth << 2))) & (1 << F_ACTION)) == 0) return -1;
  }
  return 0;
}

/**
 * Read a member's key in a container of the role at `depth`, the colon and the space after; set
 * the field being read at that depth. -1 when malformed or not sure. Names are checked for I-JSON
 * here in every object but the top and `entries`: the host parses the top, and packKeys checks
 * the keys of `entries`.
 */
function canonMember(
  i: i32,
  depth: i32,
  roles: i32,
  fields: i32,
  seen: i32,
  out: i32,
  count: i32,
): i32 {
  if (at(i) != QUOTE) return -1;
  const start = i + 1;
  i = skipString(start);
  if (i < 0) return -1;
  const length = i - 1 - start;
  const role = load<u8>(<usize>(roles + depth));
  let field = -1;
  if (role == R_TOP) {
    if (escaped) return -1; // it might spell "entries"
    if (keyIs(start, length, "entries")) field = 0;
  } else if (role == R_ENTRIES) {
    const record = out + count * 40;
    store<i32>(<usize>record, start);
    store<i32>(<usize>(record + 4), start + length);
    store<i32>(<usize>(record + 16), escaped ? 1 : 0);
    field = 0;
  } else {
    // It might spell a checked field, or another name of its object, once decoded.
    if (escaped) return -1;
    if (role == R_ENTRY || role == R_CHANGE) {
      field = role == R_ENTRY ? entryField(start, length) : changeField(start, length);
    }
    if (field >= 0) {
      const mask = load<i32>(<usize>(seen + (depth << 2)));
      if ((mask & (1 << field)) != 0) return -1; // a known field twice: the exact path says
      store<i32>(<usize>(seen + (depth << 2)), mask | (1 << field));
      if (field >= (role == R_ENTRY ? F_ENTRY_UNCHECKED : F_CHANGE_UNCHECKED)) field = -1;
    } else {
      // The object's first other name opens its names (most entries have none).
      const mask = load<i32>(<usize>(seen + (depth << 2)));
      if ((mask & NAMES_OPEN) == 0) {
        openNames(depth);
        store<i32>(<usize>(seen + (depth << 2)), mask | NAMES_OPEN);
      }
      if (!uniqueNameCall(start, length, depth)) return -1; // I-JSON: the exact path says
    }
  }
  store<i32>(<usize>(fields + (depth << 2)), field);
  emitSpan(start - 1, i);
  i = skipWs(i);
  if (at(i) != COLON) return -1;
  emit(COLON);
  return skipWs(i + 1);
}

// packKeys follows a scanCanon that found `count` entries: it checks their keys as the host
// must before handing them on (none that JSON.parse would treat apart: "__proto__", or one that
// may be an array index, which Object.keys lists first; none twice, found with an
// open-addressing table of 2^bits i32 slots at `table`), copies them back to back to `keys` and
// writes, per entry i, the end of its compact text (from `dst`) at ends + 4i and the end of its
// key (from `keys`) at ends + 4(count + i). It returns the keys' total length; -1 when not sure
// (the exact path decides), -3 when a key holds an escape (the host decodes those). FNV-1a is
// not keyed, so a hostile file can make keys collide: past 8 probes per key on average (a table
// at most half full needs about 2) it sends the file to the exact path (JSON.parse, whose
// hashing is seeded) instead of letting the table go quadratic.
export function packKeys(
  out: i32,
  count: i32,
  dst: i32,
  keys: i32,
  ends: i32,
  table: i32,
  bits: i32,
): i32 {
  const mask = (1 << bits) - 1;
  memory.fill(<usize>table, 0, <usize>(4 << bits));
  let probesLeft = count * 8 + 1024;
  let write = keys;
  for (let e = 0; e < count; e++) {
    const record = out + e * 40;
    if ((load<i32>(<usize>(record + 16)) & 1) != 0) return -3;
    const start = load<i32>(<usize>record);
    const length = load<i32>(<usize>(record + 4)) - start;
    if (keyIs(start, length, "__proto__")) return -1;
    // An array index as Object.keys sees it: "0", or up to ten digits without a leading zero.
    if (length >= 1 && length <= 10 && (length == 1 || at(start) != ZERO)) {
      let digits = true;
      for (let k = 0; digits && k < length; k++) digits = isDigit(at(start + k));
      if (digits) return -1;
    }
    let hash: u32 = 2166136261; // FNV-1a
    for (let k = 0; k < length; k++) hash = (hash ^ <u32>at(start + k)) * 16777619;
    let slot = <i32>hash & mask;
    while (true) {
      if (--probesLeft < 0) return -1;
      const held = load<i32>(<usize>(table + (slot << 2)));
      if (held == 0) {
        store<i32>(<usize>(table + (slot << 2)), e + 1);
        break;
      }
      const other = out + (held - 1) * 40;
      const otherStart = load<i32>(<usize>other);
      if (load<i32>(<usize>(other + 4)) - otherStart == length) {
        let same = true;
        for (let k = 0; same && k < length; k++) same = at(start + k) == at(otherStart + k);
        if (same) return -1; // a key twice: JSON.parse keeps the last, the exact path decides
      }
      slot = (slot + 1) & mask;
    }
    for (let k = 0; k < length; k++) store<u8>(<usize>(write + k), <u8>at(start + k));
    write += length;
    store<i32>(<usize>(ends + (e << 2)), load<i32>(<usize>(record + 24)) - dst);
    store<i32>(<usize>(ends + ((count + e) << 2)), write - keys);
  }
  return write - keys;
}

// --- memory_graph.json ---------------------------------------------------------------------
//
// scanGraph walks a memory_graph.json document as validate walks a line and checks every node
// (an item of the top-level `nodesAdded`) and every edge (of `edgesAdded`) as validate checks a
// record: the types of its top-level fields against the shape the host laid out at `nodeCfg` or
// `edgeCfg` (validate's layout: types @0, field name ends @192, type masks @960, names @1152;
// the field count at @1088, how many of the first fields make the record's identity at @1092).
// Every field of the identity must be a string (the host lays out no other shape). Per record
// it writes four i32 at `out` + 16r: flags (1: an edge; 2: its compact text may differ from
// what JSON.stringify makes of its parsed value), the start and end of its line from `dst`,
// and the end of its identity from `keys`: each identity field's value, decoded (WTF-8), after
// its length as LEB128. With `lines`, a record's line is written from `dst`: the prefix the host
// laid out for its kind (address and length at @1096 and @1100 of its cfg), the record without
// the white space between tokens, then `}` and a line feed. At `out` - 16: where the
// `nodesAdded` and `edgesAdded` arrays start and end. Every object's member names must differ
// (see uniqueName: at most MAX_MEMBERS of them are compared, past which the walk is not sure),
// and no name may hold an escape; a lone surrogate escape makes it not sure too (skipString). It answers only when sure: -1 sends the file to the exact path (parse,
// schema), which decides and words any error.
//
// Compared with validate, the cfg areas of expected values hold, per identity field, where its
// value starts (@448, i32) and ends (@704, i32, just before the closing quote) and whether it
// holds an escape (@128, u8).

@external("env", "canonicalNumber")
declare function hostCanonicalNumber(start: i32, end: i32): i32;

const R_NODES: u8 = 7;
const R_EDGES: u8 = 8;
const R_RECORD: u8 = 9;

/** The record being read: its shape, and whether its compact text is JSON.stringify's. */
let recordCfg: i32 = 0;
let recordOdd: bool = false;

/** Whether the string at [start, stop) (inside its quotes) holds an escape JSON.stringify would not write. */
function oddEscapes(start: i32, stop: i32): bool {
  for (let k = start; k < stop; k++) {
    if (at(k) == BACKSLASH) {
      const e = at(k + 1);
      if (e == 0x2f || e == 0x75) return true; // `\/` and `\u` it writes otherwise, or not at all
      k++;
    }
  }
  return false;
}

/**
 * Read a member's name in an object of `role` at `depth` (`first`: its first member), the colon
 * and the space after, writing the name to the line; set memberField to the captured field it
 * names (records only). -1 when malformed or not sure.
 */
function graphMember(i: i32, depth: i32, role: u8, first: bool, top: i32): i32 {
  memberField = -1;
  if (at(i) != QUOTE) return -1;
  const start = i + 1;
  i = skipString(start);
  if (i < 0 || escaped) return -1; // an escaped name may equal another once decoded
  const length = i - 1 - start;
  if (first) openNames(depth);
  if (!uniqueNameCall(start, length, depth)) return -1;
  if (role == R_TOP) {
    if (keyIs(start, length, "nodesAdded")) memberField = 0;
    else if (keyIs(start, length, "edgesAdded")) memberField = 1;
    store<i32>(<usize>(top + (depth << 2)), memberField);
  } else if (role == R_RECORD) {
    const fieldCount = load<i32>(<usize>(recordCfg + 1088));
    const names = recordCfg + 1152;
    let nameStart = 0;
    for (let k = 0; k < fieldCount; k++) {
      const nameEnd = load<i32>(<usize>(recordCfg + 192 + (k << 2)));
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
  if (depth >= 3 && length >= 1 && length <= 10 && (length == 1 || at(start) != ZERO)) {
    // A name that may be an array index: JSON.stringify lists those first.
    let digits = true;
    for (let k = 0; digits && k < length; k++) digits = isDigit(at(start + k));
    if (digits) recordOdd = true;
  }
  emitSpan(start - 1, i);
  i = skipWs(i);
  if (at(i) != COLON) return -1;
  emit(COLON);
  return skipWs(i + 1);
}

/** Write `value` as LEB128 at `p`; the byte after it. */
function writeLeb(p: i32, value: i32): i32 {
  while (value >= 0x80) {
    store<u8>(<usize>p, <u8>((value & 0x7f) | 0x80));
    p++;
    value >>>= 7;
  }
  store<u8>(<usize>p, <u8>value);
  p++;
  return p;
}

/** Write `code` (a code point, or a lone surrogate) as UTF-8 (WTF-8 for a lone surrogate) at `p`. */
function writeCodePoint(p: i32, code: i32): i32 {
  if (code < 0x80) {
    store<u8>(<usize>p, <u8>code);
    p++;
  } else if (code < 0x800) {
    store<u8>(<usize>p, <u8>(0xc0 | (code >> 6)));
    p++;
    store<u8>(<usize>p, <u8>(0x80 | (code & 0x3f)));
    p++;
  } else if (code < 0x10000) {
    store<u8>(<usize>p, <u8>(0xe0 | (code >> 12)));
    p++;
    store<u8>(<usize>p, <u8>(0x80 | ((code >> 6) & 0x3f)));
    p++;
    store<u8>(<usize>p, <u8>(0x80 | (code & 0x3f)));
    p++;
  } else {
    store<u8>(<usize>p, <u8>(0xf0 | (code >> 18)));
    p++;
    store<u8>(<usize>p, <u8>(0x80 | ((code >> 12) & 0x3f)));
    p++;
    store<u8>(<usize>p, <u8>(0x80 | ((code >> 6) & 0x3f)));
    p++;
    store<u8>(<usize>p, <u8>(0x80 | (code & 0x3f)));
    p++;
  }
  return p;
}

@inline function hexValue(c: i32): i32 {
  return c <= NINE ? c - ZERO : (c | 0x20) - 0x61 + 10;
}

@inline function hex4(i: i32): i32 {
  return (hexValue(at(i)) << 12) | (hexValue(at(i + 1)) << 8) | (hexValue(at(i + 2)) << 4) |
    hexValue(at(i + 3));
}

/** Decode the checked string body at [start, stop) to `p` as WTF-8; the byte after it. */
function decodeString(start: i32, stop: i32, p: i32): i32 {
  let k = start;
  while (k < stop) {
    const c = at(k);
    if (c != BACKSLASH) {
      store<u8>(<usize>p, <u8>c);
      p++;
      k++;
      continue;
    }
    const e = at(k + 1);
    if (e != 0x75) {
      // `"`, `\` and `/` stand for themselves.
      const decoded = e == 0x62 ? 0x08 : e == 0x66 ? 0x0c : e == 0x6e ? 0x0a : e == 0x72 ? 0x0d :
        e == 0x74 ? 0x09 : e;
      store<u8>(<usize>p, <u8>decoded);
      p++;
      k += 2;
      continue;
    }
    let code = hex4(k + 2);
    k += 6;
    if (code >= 0xd800 && code <= 0xdbff && k + 6 <= stop && at(k) == BACKSLASH && at(k + 1) == 0x75) {
      const low = hex4(k + 2);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        k += 6;
      }
    }
    p = writeCodePoint(p, code);
  }
  return p;
}

/**
 * Close the record just read (the walk is after its `}`): check its field types, write its
 * identity from `keyAt` and its line's end; the end of its identity, or -1 when refused.
 */
function closeRecord(record: i32, keyAt: i32, cfg: i32): i32 {
  const fieldCount = load<i32>(<usize>(cfg + 1088));
  for (let k = 0; k < fieldCount; k++) {
    const mask = <i32>load<u16>(<usize>(cfg + 960 + (k << 1)));
    if (((mask >> <i32>load<u8>(<usize>(cfg + k))) & 1) == 0) return -1;
  }
  const identity = load<i32>(<usize>(cfg + 1092));
  for (let k = 0; k < identity; k++) {
    const type = <i32>load<u8>(<usize>(cfg + k));
    if (type != T_STRING && type != T_EMPTY_STRING) return -1; // the host's shapes say strings
    const start = load<i32>(<usize>(cfg + 448 + (k << 2)));
    const stop = load<i32>(<usize>(cfg + 704 + (k << 2)));
    if (load<u8>(<usize>(cfg + 128 + k)) == 0) {
      keyAt = writeLeb(keyAt, stop - start);
      memory.copy(<usize>keyAt, <usize>start, <usize>(stop - start));
      keyAt += stop - start;
    } else {
      // Decoded past the longest LEB128 length first, then moved behind its length.
      const scratch = keyAt + 5;
      const length = decodeString(start, stop, scratch) - scratch;
      keyAt = writeLeb(keyAt, length);
      memory.copy(<usize>keyAt, <usize>scratch, <usize>length);
      keyAt += length;
    }
  }
  if (emitting) {
    store<u8>(<usize>to, CLOSE_BRACE);
    to++;
    store<u8>(<usize>to, LF);
    to++;
  }
  store<i32>(<usize>(record + 8), to);
  store<i32>(<usize>(record + 12), keyAt);
  if (recordOdd) store<i32>(<usize>record, load<i32>(<usize>record) | 2);
  return keyAt;
}

/**
 * Check memory_graph.json at [data, data + n), record its nodes and edges (see above).
 * @returns the number of records, -1 (invalid, or not sure), or -2 (more than maxRecords)
 */
export function scanGraph(
  data: i32,
  n: i32,
  depthLimit: i32,
  stack: i32,
  nodeCfg: i32,
  edgeCfg: i32,
  out: i32,
  maxRecords: i32,
  dst: i32,
  keys: i32,
  names: i32,
  lines: i32,
): i32 {
  const end = data + n;
  // Per depth: 1 for an object (stack), the role (roles), the top-level member being read
  // (tops, i32: 0 nodesAdded, 1 edgesAdded, -1 another).
  const roles = stack + depthLimit + 2;
  const tops = (roles + depthLimit + 2 + 3) & ~3;
  initNames(names, depthLimit);
  to = dst;
  emitting = false;
  let count = 0;
  let keyAt = keys;
  let field = -1; // the captured field of the record whose value comes next
  let seenNodes = false;
  let seenEdges = false;
  let i = skipWs(data);
  if (at(i) != OPEN_BRACE) return -1;
  let depth = 0;
  while (true) {
    // `i` is at the first byte of a value.
    let c = at(i);
    const parent = depth == 0 ? R_OTHER : load<u8>(<usize>(roles + depth));
    let closeFollows = true;
    if (c == OPEN_BRACE || c == OPEN_BRACKET) {
      let role = R_OTHER;
      if (depth == 0) {
        role = R_TOP;
      } else if (parent == R_TOP) {
        const member = load<i32>(<usize>(tops + (depth << 2)));
        if (member >= 0) {
          if (c != OPEN_BRACKET) return -1;
          role = member == 0 ? R_NODES : R_EDGES;
          store<i32>(<usize>(out - 16 + (member << 3)), i);
        }
      } else if (parent == R_NODES || parent == R_EDGES) {
        if (c != OPEN_BRACE) return -1;
        if (count >= maxRecords) return -2; // no room: the host retries with more
        role = R_RECORD;
        recordCfg = parent == R_NODES ? nodeCfg : edgeCfg;
        recordOdd = false;
        const fieldCount = load<i32>(<usize>(recordCfg + 1088));
        for (let k = 0; k < fieldCount; k++) store<u8>(<usize>(recordCfg + k), T_ABSENT);
        const record = out + (count << 4);
        store<i32>(<usize>record, parent == R_NODES ? 0 : 1);
        store<i32>(<usize>(record + 4), to);
        if (lines != 0) {
          emitting = true;
          const prefix = load<i32>(<usize>(recordCfg + 1096));
          const length = load<i32>(<usize>(recordCfg + 1100));
          memory.copy(<usize>to, <usize>prefix, <usize>length);
          to += length;
        }
      } else if (parent == R_RECORD && field >= 0) {
        store<u8>(<usize>(recordCfg + field), c == OPEN_BRACE ? T_OBJECT : T_ARRAY);
      }
      field = -1;
      if (++depth > depthLimit) return -1;
      store<u8>(<usize>(stack + depth), c == OPEN_BRACE ? 1 : 0);
      store<u8>(<usize>(roles + depth), role);
      emit(c);
      const opener = c;
      i = skipWs(i + 1);
      c = at(i);
      if (opener == OPEN_BRACKET) {
        if (c != CLOSE_BRACKET) {
          closeFollows = false;
        } else {
          emit(c);
          i++;
          if (role == R_NODES || role == R_EDGES) store<i32>(<usize>(out - 12 + ((role - R_NODES) << 3)), i);
          depth--;
        }
      } else if (c != CLOSE_BRACE) {
        i = graphMember(i, depth, role, true, tops);
        if (i < 0) return -1;
        if (role == R_RECORD) field = memberField;
        if (role == R_TOP && memberField == 0) {
          if (seenNodes) return -1;
          seenNodes = true;
        } else if (role == R_TOP && memberField == 1) {
          if (seenEdges) return -1;
          seenEdges = true;
        }
        closeFollows = false;
      } else {
        // An empty object: close it here, as the closer loop below would.
        emit(c);
        i++;
        if (role == R_RECORD) {
          keyAt = closeRecord(out + (count << 4), keyAt, recordCfg);
          if (keyAt < 0) return -1;
          emitting = false;
          count++;
        }
        depth--;
      }
    } else {
      // A scalar: `nodesAdded` and `edgesAdded` are arrays, and their items objects.
      if (parent == R_NODES || parent == R_EDGES) return -1;
      if (parent == R_TOP && load<i32>(<usize>(tops + (depth << 2))) >= 0) return -1;
      const start = i;
      if (c == QUOTE) {
        i = skipString(start + 1);
        if (i < 0) return -1;
        if (escaped && emitting && oddEscapes(start + 1, i - 1)) recordOdd = true;
        if (parent == R_RECORD && field >= 0) {
          store<u8>(<usize>(recordCfg + field), i - start == 2 ? T_EMPTY_STRING : T_STRING);
          if (field < load<i32>(<usize>(recordCfg + 1092))) {
            store<i32>(<usize>(recordCfg + 448 + (field << 2)), start + 1);
            store<i32>(<usize>(recordCfg + 704 + (field << 2)), i - 1);
            store<u8>(<usize>(recordCfg + 128 + field), escaped ? 1 : 0);
          }
        }
      } else if (c == 0x74 || c == 0x66 || c == 0x6e) { // true, false, null
        i = skipLiteral(i);
        if (i < 0) return -1;
        if (parent == R_RECORD && field >= 0) {
          store<u8>(<usize>(recordCfg + field), c == 0x74 ? T_TRUE : c == 0x66 ? T_FALSE : T_NULL);
        }
      } else {
        i = skipNumberClass(i);
        if (i < 0) return -1;
        if (emitting) {
          // JSON.stringify writes an integer of up to 15 digits as it is (but "-0" as "0").
          const plain = numberPlain && !(numberNegative && at(start + 1) == ZERO);
          if (!plain && hostCanonicalNumber(start, i) == 0) recordOdd = true;
        }
        if (parent == R_RECORD && field >= 0) store<u8>(<usize>(recordCfg + field), T_NUMBER);
      }
      emitSpan(start, i);
      field = -1;
    }
    if (!closeFollows) continue;
    // After a value: a separator, or closers until one is followed by a separator.
    while (true) {
      i = skipWs(i);
      c = at(i);
      if (depth == 0) return i < end || !seenNodes || !seenEdges ? -1 : count;
      const inObject = load<u8>(<usize>(stack + depth)) == 1;
      const role = load<u8>(<usize>(roles + depth));
      if (c == COMMA) {
        emit(c);
        i = skipWs(i + 1);
        if (inObject) {
          i = graphMember(i, depth, role, false, tops);
          if (i < 0) return -1;
          if (role == R_RECORD) field = memberField;
          if (role == R_TOP && memberField == 0) {
            if (seenNodes) return -1;
            seenNodes = true;
          } else if (role == R_TOP && memberField == 1) {
            if (seenEdges) return -1;
            seenEdges = true;
          }
        }
        break;
      }
      if (c != (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
      emit(c);
      i++;
      if (inObject) closeNames(depth);
      if (role == R_RECORD) {
        keyAt = closeRecord(out + (count << 4), keyAt, recordCfg);
        if (keyAt < 0) return -1;
        emitting = false;
        count++;
      } else if (role == R_NODES || role == R_EDGES) {
        store<i32>(<usize>(out - 12 + ((role - R_NODES) << 3)), i);
      }
      depth--;
    }
  }
}

// hashKeys writes SipHash-2-4 (64 bits, as two i32: low, high) of each of `count` keys laid
// end to end from `keys` (key i ends at the i32 at ends + 4i, relative to `keys`) to `out`,
// under the key k0 (low, high), k1 (low, high). The bytes after the last key are read (and
// ignored): the host leaves 8 bytes there.

@inline function sipRound(): void {
  v0 += v1;
  v1 = rotl<u64>(v1, 13);
  v1 ^= v0;
  v0 = rotl<u64>(v0, 32);
  v2 += v3;
  v3 = rotl<u64>(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl<u64>(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl<u64>(v1, 17);
  v1 ^= v2;
  v2 = rotl<u64>(v2, 32);
}

let v0: u64 = 0;
let v1: u64 = 0;
let v2: u64 = 0;
let v3: u64 = 0;

function sipHash(p: i32, length: i32, k0: u64, k1: u64): u64 {
  v0 = k0 ^ 0x736f6d6570736575;
  v1 = k1 ^ 0x646f72616e646f6d;
  v2 = k0 ^ 0x6c7967656e657261;
  v3 = k1 ^ 0x7465646279746573;
  const blocks = p + (length & ~7);
  for (; p < blocks; p += 8) {
    const m = load<u64>(<usize>p);
    v3 ^= m;
    sipRound();
    sipRound();
    v0 ^= m;
  }
  const rest = length & 7;
  let b: u64 = <u64>(length & 0xff) << 56;
  if (rest != 0) b |= load<u64>(<usize>p) & ((<u64>1 << <u64>(rest << 3)) - 1);
  v3 ^= b;
  sipRound();
  sipRound();
  v0 ^= b;
  v2 ^= 0xff;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  return v0 ^ v1 ^ v2 ^ v3;
}

export function hashKeys(
  keys: i32,
  ends: i32,
  count: i32,
  out: i32,
  k0Low: i32,
  k0High: i32,
  k1Low: i32,
  k1High: i32,
): void {
  const k0 = (<u64><u32>k0Low) | (<u64><u32>k0High << 32);
  const k1 = (<u64><u32>k1Low) | (<u64><u32>k1High << 32);
  let start = 0;
  for (let r = 0; r < count; r++) {
    const end = load<i32>(<usize>(ends + (r << 2)));
    const hash = sipHash(keys + start, end - start, k0, k1);
    store<u64>(<usize>(out + (r << 3)), hash);
    start = end;
  }
}

/** Where free memory starts, after this module's static data: the host lays out from here. */
export function heapBase(): i32 {
  return <i32>__heap_base;
}
