/**
 * Reading and writing the zip container of a JRM-X packet.
 *
 * Packets come from sources that may be hostile, so the reader is our own.
 * No zip library we know of (including `@zip.js/zip.js`, which we use for
 * writing) checks local headers against the central directory, notices
 * overlapping entries or data smuggled before, between or after them, or
 * bounds inflation by anything but the size the archive itself declares. Each
 * of those gaps lets two readers see two different packets, or lets a small
 * file exhaust memory. So {@linkcode readArchive} is a small hand-written
 * parser on top of `node:zlib`: `inflateRawSync` with `maxOutputLength` stops
 * at the limit and throws `ERR_BUFFER_TOO_LARGE`, so a zip bomb costs bounded
 * memory and time, and `crc32` is native. Entry data is never walked byte by
 * byte in JavaScript.
 *
 * The reader accepts one layout only: local records (local header, data,
 * optional data descriptor) packed from offset 0, then the central directory,
 * then the end-of-central-directory record and its comment, with no byte
 * unaccounted for. Bytes before the first local header are
 * `ARCHIVE_PREPENDED_DATA`; any other unaccounted bytes (between two entries,
 * between the last entry and the central directory, between the central
 * directory and its end record, after the comment) are
 * `ARCHIVE_TRAILING_DATA`, named after the structure they follow. Everything
 * a packet does not need is refused rather than interpreted: ZIP64 (reported
 * as `ARCHIVE_CORRUPT`, "ZIP64 archives are not supported", since it is not a
 * compression method), multi-disk archives, encryption, methods other than
 * stored and deflate, the Info-ZIP Unicode Path extra field (which some
 * readers would use as the entry's name instead of the one checked here), and
 * every entry that is not a regular file (`ARCHIVE_SPECIAL_ENTRY`): a
 * symbolic link, device, FIFO, socket or directory by its external attributes
 * (Unix mode or MS-DOS bits), or a directory by its trailing `/`, which
 * `unzip` would make into something other than a file.
 *
 * Checks run cheapest first, and nothing is inflated before the whole
 * structure has passed: end record, central directory, declared sizes
 * against the limits, local headers, layout; only then inflation and CRC-32.
 *
 * A caller that reads many archives one after another can pass an
 * {@linkcode InflateArena}: entries are then inflated into one buffer reused
 * from read to read instead of a fresh one each (fresh buffers cost page faults
 * and garbage collection in a tight loop), with the same checks and answers.
 *
 * {@linkcode writeArchive} uses `@zip.js/zip.js` with its embedded deflate
 * (`useCompressionStream: false`) rather than the host's, so equal input gives
 * identical bytes on every platform, and writes no data descriptors and no
 * extra fields.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { crc32, createInflateRaw, inflateRawSync, type ZlibOptions } from "node:zlib";
import { PacketError, UsageError, type ViolationCode } from "./errors.ts";

/** Bounds on what {@linkcode readArchive} will read, so a hostile archive costs bounded memory and time. */
export interface ArchiveLimits {
  /** Most entries an archive may hold. */
  maxEntries: number;
  /** Most uncompressed bytes in one entry. */
  maxEntryBytes: number;
  /** Most uncompressed bytes in all entries together. */
  maxTotalBytes: number;
  /**
   * Highest uncompressed/compressed size ratio of one entry, enforced only on
   * entries larger than {@linkcode COMPRESSION_RATIO_FLOOR}.
   */
  maxCompressionRatio: number;
  /** Deepest nesting of a JSON value; enforced by the JSON layer, not by the archive reader. */
  maxJsonDepth: number;
  /**
   * Most entries in one packet's `canon_entry.json`; enforced by the packet
   * reader, which counts them before it builds any.
   */
  maxCanonEntries: number;
}

/**
 * The limits used when none are given: 64 entries, 256 MiB per entry, 1 GiB
 * in all, a compression ratio of 200, JSON nested 64 deep, 1,000,000 canon
 * entries per packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_LIMITS } from "./archive.ts";
 * assert.equal(DEFAULT_LIMITS.maxEntryBytes, 256 * 1024 * 1024);
 * ```
 */
export const DEFAULT_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxEntries: 64,
  maxEntryBytes: 256 * 1024 * 1024,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxCompressionRatio: 200,
  maxJsonDepth: 64,
  maxCanonEntries: 1_000_000,
});

/**
 * Entries that inflate to at most this many bytes are exempt from
 * `maxCompressionRatio`: small JSON files of repeated keys or zeros can
 * legitimately compress far better than 200 to 1, and cost nothing to hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COMPRESSION_RATIO_FLOOR } from "./archive.ts";
 * assert.equal(COMPRESSION_RATIO_FLOOR, 64 * 1024);
 * ```
 */
export const COMPRESSION_RATIO_FLOOR = 64 * 1024;

/** One entry of an archive, read and checked. */
export interface ArchiveEntry {
  /** The entry's name, as in the central directory (UTF-8). */
  name: string;
  /** The compression method: 0 (stored) or 8 (deflate). */
  method: number;
  /** Size of the entry's data in the archive. */
  compressedSize: number;
  /** Size of the entry's data once inflated; equals `data.length`. */
  uncompressedSize: number;
  /** The CRC-32 of the inflated data, as declared and verified. */
  crc32: number;
  /**
   * The inflated data. For a stored entry, a view into the archive's bytes (not
   * a copy); read with an {@linkcode InflateArena}, a view into the arena.
   */
  data: Uint8Array;
}

/**
 * Merge partial limits over {@linkcode DEFAULT_LIMITS} and check them.
 *
 * @param limits the limits to override
 * @returns the complete limits
 * @throws {UsageError} when a limit is not a positive number, or a count or size is not an integer
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveLimits } from "./archive.ts";
 * assert.equal(resolveLimits({ maxEntries: 8 }).maxEntries, 8);
 * ```
 */
export function resolveLimits(limits: Partial<ArchiveLimits> = {}): ArchiveLimits {
  const resolved: ArchiveLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ArchiveLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    const valid = key === "maxCompressionRatio"
      ? typeof value === "number" && Number.isFinite(value) && value > 0
      : Number.isSafeInteger(value) && value > 0;
    if (!valid) {
      throw new UsageError(
        `Limit "${key}" must be a positive ${
          key === "maxCompressionRatio" ? "number" : "integer"
        }, got "${String(value)}"`,
      );
    }
    resolved[key] = value;
  }
  return resolved;
}

const LOCAL_SIGNATURE = 0x04034b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const END_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const DESCRIPTOR_SIGNATURE = 0x08074b50;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const END_RECORD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const MAX_COMMENT_LENGTH = 0xffff;

const FLAG_ENCRYPTED = 0x0001;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8 = 0x0800;
/** Flags that change how an entry is read; local and central headers must agree on them. */
const FLAGS_THAT_MATTER = FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR | FLAG_STRONG_ENCRYPTION |
  FLAG_UTF8;

const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const METHOD_AES = 99;

const EXTRA_ZIP64 = 0x0001;
const EXTRA_UNICODE_PATH = 0x7075;

const ZLIB_MIN_CHUNK = 64;
/** Inflate chunk once an entry has lied about its size: large enough to keep the call count low. */
const OVERRUN_CHUNK = 1024 * 1024;

const ZIP64_REFUSED = "ZIP64 archives are not supported";

// ignoreBOM keeps a leading U+FEFF in the name instead of silently dropping it,
// which would let "\uFEFFmanifest.json" pass as "manifest.json".
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lossyUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const nameEncoder = new TextEncoder();

/** A central directory record, checked on its own. */
interface CentralRecord {
  name: string;
  rawName: Uint8Array;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

/** A record whose local header has been checked: where its bytes lie. */
interface PlacedRecord extends CentralRecord {
  dataStart: number;
  dataEnd: number;
  /** End of the local record, data descriptor included. */
  end: number;
}

function fail(code: ViolationCode, message: string, entry?: string): never {
  throw new PacketError(entry === undefined ? { code, message } : { code, message, entry });
}

/** Quote a name for a message; JSON escaping keeps control characters from reaching a terminal. */
function quote(name: string): string {
  return JSON.stringify(name);
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}

/**
 * Why a name is unsafe to extract or ambiguous between readers, or undefined
 * when it is safe. A trailing `/` (a directory entry) is left to
 * {@link specialEntryKind}.
 */
function unsafeNameReason(name: string): string | undefined {
  if (name === "") return "is empty";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "contains a control character";
  if (name.includes("\\")) return "contains a backslash";
  if (name.startsWith("/")) return "is an absolute path";
  if (/^[A-Za-z]:/.test(name)) return "starts with a drive letter";
  const segments = name.split("/");
  if (segments.at(-1) === "") segments.pop();
  for (const segment of segments) {
    if (segment === "") return "has an empty path segment";
    if (segment === "." || segment === "..") return `has a "${segment}" path segment`;
  }
  return undefined;
}

/** Unix file types (the `S_IFMT` bits of a mode) other than a regular file. */
const UNIX_FILE_TYPES: Record<number, string> = {
  0o010000: "a FIFO",
  0o020000: "a character device",
  0o040000: "a directory",
  0o060000: "a block device",
  0o120000: "a symbolic link",
  0o140000: "a socket",
};
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
/** MS-DOS/Windows attribute bits of things that are not regular files. */
const DOS_DIRECTORY = 0x10;
const DOS_DEVICE = 0x40;
const DOS_REPARSE_POINT = 0x400;

/**
 * What an entry is when it is not a regular file, from its name and its
 * external attributes; undefined for a regular file. Unix mode bits (the
 * attributes' high 16 bits) are read whatever host "version made by" names:
 * Info-ZIP's unzip reads them for MS-DOS hosts too (PKZIP for Unix writes
 * them so), and `unzip` makes a link, a FIFO or a device of what they say,
 * so another reader would see another packet. A mode with no file type (all
 * zero) says nothing and is accepted.
 */
function specialEntryKind(name: string, madeBy: number, external: number): string | undefined {
  const mode = external >>> 16;
  const type = mode & S_IFMT;
  if (type !== 0 && type !== S_IFREG) {
    const host = madeBy >>> 8;
    return UNIX_FILE_TYPES[type] ??
      `a special file (mode 0o${mode.toString(8)}, made on host ${host})`;
  }
  if ((external & DOS_DIRECTORY) !== 0 || name.endsWith("/")) return "a directory";
  if ((external & DOS_DEVICE) !== 0) return "a device";
  if ((external & DOS_REPARSE_POINT) !== 0) return "a reparse point (a link)";
  return undefined;
}

/** Key under which two names would become one file on a case-insensitive or normalizing file system. */
function collisionKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Walk an extra field, refusing ZIP64 and Unicode Path records and malformed layouts. */
function checkExtraField(
  view: DataView,
  start: number,
  end: number,
  name: string,
  where: string,
): void {
  let at = start;
  while (at + 4 <= end) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (at + 4 + size > end) break;
    if (id === EXTRA_ZIP64) fail("ARCHIVE_CORRUPT", `${ZIP64_REFUSED}: entry ${quote(name)}`, name);
    if (id === EXTRA_UNICODE_PATH) {
      fail(
        "ARCHIVE_UNSAFE_PATH",
        `Entry ${
          quote(name)
        } carries a Unicode Path extra field that other readers would use as its name`,
        name,
      );
    }
    at += 4 + size;
  }
  if (at !== end) {
    fail("ARCHIVE_CORRUPT", `Entry ${quote(name)} has a malformed ${where} extra field`, name);
  }
}

/** Find the end-of-central-directory record: the last signature whose comment fits in the file. */
function findEndRecord(bytes: Uint8Array, view: DataView): number {
  const lowest = Math.max(0, bytes.length - END_RECORD_SIZE - MAX_COMMENT_LENGTH);
  let overlong = -1;
  // A negative start would make lastIndexOf count from the end.
  const highest = bytes.length - END_RECORD_SIZE;
  // lastIndexOf is native; it skips to each candidate "P" instead of testing every byte in JS.
  for (
    let at = highest < 0 ? -1 : bytes.lastIndexOf(0x50, highest);
    at >= lowest;
    at = at === 0 ? -1 : bytes.lastIndexOf(0x50, at - 1)
  ) {
    if (view.getUint32(at, true) !== END_SIGNATURE) continue;
    const commentLength = view.getUint16(at + 20, true);
    if (at + END_RECORD_SIZE + commentLength <= bytes.length) return at;
    if (overlong < 0) overlong = at;
  }
  if (overlong >= 0) {
    fail(
      "ARCHIVE_TRUNCATED",
      `Archive comment runs past the end of the file (end record at offset ${overlong})`,
    );
  }
  if (bytes.length >= 4 && view.getUint32(0, true) === LOCAL_SIGNATURE) {
    fail(
      "ARCHIVE_TRUNCATED",
      "Archive has no end-of-central-directory record: the file starts as a zip but is cut short",
    );
  }
  fail("ARCHIVE_NOT_ZIP", "File is not a zip archive: no end-of-central-directory record");
}

/** Parse and check the central directory; returns its records in directory order. */
function readCentralDirectory(
  bytes: Uint8Array,
  view: DataView,
  limits: ArchiveLimits,
): { records: CentralRecord[]; directoryStart: number } {
  const endAt = findEndRecord(bytes, view);
  const commentEnd = endAt + END_RECORD_SIZE + view.getUint16(endAt + 20, true);
  if (commentEnd < bytes.length) {
    fail(
      "ARCHIVE_TRAILING_DATA",
      `${bytes.length - commentEnd} bytes follow the end-of-central-directory record`,
    );
  }

  const disk = view.getUint16(endAt + 4, true);
  const directoryDisk = view.getUint16(endAt + 6, true);
  const entriesOnDisk = view.getUint16(endAt + 8, true);
  const entryCount = view.getUint16(endAt + 10, true);
  const directorySize = view.getUint32(endAt + 12, true);
  const directoryStart = view.getUint32(endAt + 16, true);
  const directoryEnd = directoryStart + directorySize;

  const hasZip64Locator = endAt >= ZIP64_LOCATOR_SIZE &&
    directoryEnd <= endAt - ZIP64_LOCATOR_SIZE &&
    view.getUint32(endAt - ZIP64_LOCATOR_SIZE, true) === ZIP64_LOCATOR_SIGNATURE;
  if (
    hasZip64Locator || entryCount === 0xffff || entriesOnDisk === 0xffff ||
    directorySize === 0xffffffff || directoryStart === 0xffffffff
  ) {
    fail("ARCHIVE_CORRUPT", ZIP64_REFUSED);
  }
  if (disk !== 0 || directoryDisk !== 0) {
    fail("ARCHIVE_CORRUPT", `Multi-disk archives are not supported (disk ${disk})`);
  }
  if (entriesOnDisk !== entryCount) {
    fail(
      "ARCHIVE_CORRUPT",
      `End-of-central-directory record counts ${entriesOnDisk} entries on this disk but ${entryCount} in all`,
    );
  }
  if (entryCount === 0) fail("ARCHIVE_EMPTY", "Archive holds no entries");
  if (entryCount > limits.maxEntries) {
    fail(
      "LIMIT_ENTRY_COUNT",
      `Archive declares ${entryCount} entries, past the limit of ${limits.maxEntries}`,
    );
  }
  if (directoryEnd > endAt) {
    fail(
      "ARCHIVE_TRUNCATED",
      `Central directory (${directorySize} bytes at offset ${directoryStart}) runs past its end record at offset ${endAt}`,
    );
  }
  if (directoryEnd < endAt) {
    const shift = endAt - directoryEnd;
    if (
      view.getUint32(directoryStart, true) !== CENTRAL_SIGNATURE &&
      view.getUint32(directoryStart + shift, true) === CENTRAL_SIGNATURE
    ) {
      fail(
        "ARCHIVE_PREPENDED_DATA",
        `Archive is preceded by ${shift} bytes of other data (its offsets start after them)`,
      );
    }
    fail(
      "ARCHIVE_TRAILING_DATA",
      `${shift} unaccounted bytes lie between the central directory and its end record`,
    );
  }

  const records: CentralRecord[] = [];
  const namesSeen = new Map<string, string>();
  let declaredTotal = 0;
  let at = directoryStart;
  for (let index = 1; index <= entryCount; index++) {
    if (at + CENTRAL_HEADER_SIZE > directoryEnd) {
      fail("ARCHIVE_CORRUPT", `Central directory ends inside record ${index} of ${entryCount}`);
    }
    if (view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      fail("ARCHIVE_CORRUPT", `Central directory record ${index} has a bad signature`);
    }
    const madeBy = view.getUint16(at + 4, true);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    const compressedSize = view.getUint32(at + 20, true);
    const uncompressedSize = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const startDisk = view.getUint16(at + 34, true);
    const externalAttributes = view.getUint32(at + 38, true);
    const localOffset = view.getUint32(at + 42, true);
    const nameStart = at + CENTRAL_HEADER_SIZE;
    const extraStart = nameStart + nameLength;
    const recordEnd = extraStart + extraLength + commentLength;
    if (recordEnd > directoryEnd) {
      fail("ARCHIVE_CORRUPT", `Central directory record ${index} runs past the directory's end`);
    }

    const rawName = bytes.subarray(nameStart, extraStart);
    let name: string;
    try {
      name = utf8.decode(rawName);
    } catch {
      const shown = lossyUtf8.decode(rawName);
      fail(
        "ARCHIVE_UNSAFE_PATH",
        `Entry ${quote(shown)} has a name that is not valid UTF-8`,
        shown,
      );
    }
    // Without the UTF-8 flag, readers decode a name as code page 437: the same bytes, another name.
    if ((flags & FLAG_UTF8) === 0 && rawName.some((byte) => byte >= 0x80)) {
      fail(
        "ARCHIVE_UNSAFE_PATH",
        `Entry ${quote(name)} has a non-ASCII name without the UTF-8 flag`,
        name,
      );
    }
    const unsafe = unsafeNameReason(name);
    if (unsafe) {
      fail("ARCHIVE_UNSAFE_PATH", `Entry ${quote(name)} is unsafe: its name ${unsafe}`, name);
    }
    const special = specialEntryKind(name, madeBy, externalAttributes);
    if (special) {
      fail(
        "ARCHIVE_SPECIAL_ENTRY",
        `Entry ${quote(name)} is ${special}, not a regular file`,
        name,
      );
    }
    const key = collisionKey(name);
    const earlier = namesSeen.get(key);
    if (earlier !== undefined) {
      fail(
        "ARCHIVE_DUPLICATE_ENTRY",
        earlier === name
          ? `Entry ${quote(name)} appears more than once`
          : `Entry ${quote(name)} collides with entry ${
            quote(earlier)
          } (names differ only in case or normalization)`,
        name,
      );
    }
    namesSeen.set(key, name);

    if ((flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0 || method === METHOD_AES) {
      fail("ARCHIVE_ENCRYPTED_ENTRY", `Entry ${quote(name)} is encrypted`, name);
    }
    if (method !== METHOD_STORED && method !== METHOD_DEFLATE) {
      fail(
        "ARCHIVE_UNSUPPORTED_COMPRESSION",
        `Entry ${
          quote(name)
        } uses compression method ${method}; only 0 (stored) and 8 (deflate) are supported`,
        name,
      );
    }
    if (
      compressedSize === 0xffffffff || uncompressedSize === 0xffffffff ||
      localOffset === 0xffffffff || startDisk === 0xffff
    ) {
      fail("ARCHIVE_CORRUPT", `${ZIP64_REFUSED}: entry ${quote(name)}`, name);
    }
    if (startDisk !== 0) {
      fail("ARCHIVE_CORRUPT", `Entry ${quote(name)} starts on disk ${startDisk}`, name);
    }
    checkExtraField(view, extraStart, extraStart + extraLength, name, "central");
    if (method === METHOD_STORED && compressedSize !== uncompressedSize) {
      fail(
        "ARCHIVE_CORRUPT",
        `Stored entry ${
          quote(name)
        } declares ${compressedSize} bytes stored but ${uncompressedSize} bytes uncompressed`,
        name,
      );
    }

    if (uncompressedSize > limits.maxEntryBytes) {
      fail(
        "LIMIT_ENTRY_SIZE",
        `Entry ${
          quote(name)
        } declares ${uncompressedSize} uncompressed bytes, past the ${limits.maxEntryBytes}-byte limit`,
        name,
      );
    }
    checkRatio(name, uncompressedSize, compressedSize, limits, "declares");
    declaredTotal += uncompressedSize;
    if (declaredTotal > limits.maxTotalBytes) {
      fail(
        "LIMIT_TOTAL_SIZE",
        `Entry ${
          quote(name)
        } brings the declared total to ${declaredTotal} bytes, past the ${limits.maxTotalBytes}-byte total limit`,
        name,
      );
    }

    records.push({
      name,
      rawName,
      flags,
      method,
      crc32: crc,
      compressedSize,
      uncompressedSize,
      localOffset,
    });
    at = recordEnd;
  }
  if (at !== directoryEnd) {
    fail(
      "ARCHIVE_CORRUPT",
      `Central directory holds ${directoryEnd - at} bytes past its ${entryCount} records`,
    );
  }
  return { records, directoryStart };
}

function checkRatio(
  name: string,
  uncompressedSize: number,
  compressedSize: number,
  limits: ArchiveLimits,
  verb: string,
): void {
  if (uncompressedSize <= COMPRESSION_RATIO_FLOOR) return;
  const ratio = uncompressedSize / Math.max(compressedSize, 1);
  if (ratio > limits.maxCompressionRatio) {
    fail(
      "LIMIT_COMPRESSION_RATIO",
      `Entry ${quote(name)} ${verb} a compression ratio of ${
        Math.round(ratio * 10) / 10
      }, past the limit of ${limits.maxCompressionRatio}`,
      name,
    );
  }
}

/** Check an entry's local header against its central record and find where its bytes lie. */
function placeRecord(
  bytes: Uint8Array,
  view: DataView,
  record: CentralRecord,
  directoryStart: number,
): PlacedRecord {
  const { name, localOffset: start } = record;
  const where = (what: string, end: number): void => {
    if (end > bytes.length) {
      fail(
        "ARCHIVE_TRUNCATED",
        `Entry ${quote(name)} has its ${what} past the end of the archive`,
        name,
      );
    }
    if (end > directoryStart) {
      fail(
        "ARCHIVE_OVERLAPPING_ENTRIES",
        `Entry ${quote(name)} has its ${what} inside the central directory`,
        name,
      );
    }
  };
  const mismatch = (what: string, local: string, central: string): never =>
    fail(
      "ARCHIVE_HEADER_MISMATCH",
      `Entry ${
        quote(name)
      } has ${what} ${local} in its local header but ${central} in the central directory`,
      name,
    );

  where(`local header (offset ${start})`, start + LOCAL_HEADER_SIZE);
  if (view.getUint32(start, true) !== LOCAL_SIGNATURE) {
    fail("ARCHIVE_CORRUPT", `Entry ${quote(name)} has no local header at offset ${start}`, name);
  }
  const flags = view.getUint16(start + 6, true);
  const method = view.getUint16(start + 8, true);
  const crc = view.getUint32(start + 14, true);
  const compressedSize = view.getUint32(start + 18, true);
  const uncompressedSize = view.getUint32(start + 22, true);
  const nameLength = view.getUint16(start + 26, true);
  const extraLength = view.getUint16(start + 28, true);
  const nameStart = start + LOCAL_HEADER_SIZE;
  const extraStart = nameStart + nameLength;
  const dataStart = extraStart + extraLength;
  where("local header", dataStart);

  const localName = bytes.subarray(nameStart, extraStart);
  if (!sameBytes(localName, record.rawName)) {
    mismatch("name", quote(lossyUtf8.decode(localName)), quote(name));
  }
  if (method !== record.method) mismatch("method", String(method), String(record.method));
  if ((flags & FLAGS_THAT_MATTER) !== (record.flags & FLAGS_THAT_MATTER)) {
    const shown = (value: number) =>
      `0x${(value & FLAGS_THAT_MATTER).toString(16).padStart(4, "0")}`;
    mismatch("flags", shown(flags), shown(record.flags));
  }
  checkExtraField(view, extraStart, dataStart, name, "local");

  const usesDescriptor = (record.flags & FLAG_DATA_DESCRIPTOR) !== 0;
  // With a data descriptor the local header may leave these at zero; a non-zero value must still agree.
  const agrees = (local: number, central: number) =>
    local === central || (usesDescriptor && local === 0);
  if (!agrees(crc, record.crc32)) mismatch("CRC-32", hex32(crc), hex32(record.crc32));
  if (!agrees(compressedSize, record.compressedSize)) {
    mismatch("compressed size", String(compressedSize), String(record.compressedSize));
  }
  if (!agrees(uncompressedSize, record.uncompressedSize)) {
    mismatch("uncompressed size", String(uncompressedSize), String(record.uncompressedSize));
  }

  const dataEnd = dataStart + record.compressedSize;
  where("data", dataEnd);
  let end = dataEnd;
  if (usesDescriptor) {
    const matches = (at: number) =>
      at + 12 <= directoryStart &&
      view.getUint32(at, true) === record.crc32 &&
      view.getUint32(at + 4, true) === record.compressedSize &&
      view.getUint32(at + 8, true) === record.uncompressedSize;
    if (
      dataEnd + 16 <= directoryStart &&
      view.getUint32(dataEnd, true) === DESCRIPTOR_SIGNATURE && matches(dataEnd + 4)
    ) {
      end = dataEnd + 16;
    } else if (matches(dataEnd)) {
      end = dataEnd + 12;
    } else {
      fail(
        "ARCHIVE_HEADER_MISMATCH",
        `Entry ${quote(name)} has no data descriptor matching the central directory after its data`,
        name,
      );
    }
  }
  return { ...record, dataStart, dataEnd, end };
}

/** Require the local records and the central directory to tile the file with no gap and no overlap. */
function checkLayout(placed: PlacedRecord[], directoryStart: number): void {
  const ordered = placed.toSorted((a, b) => a.localOffset - b.localOffset);
  const first = ordered[0];
  if (first.localOffset > 0) {
    fail(
      "ARCHIVE_PREPENDED_DATA",
      `${first.localOffset} bytes of other data precede the first entry ${quote(first.name)}`,
      first.name,
    );
  }
  for (let i = 1; i < ordered.length; i++) {
    const previous = ordered[i - 1];
    const current = ordered[i];
    if (current.localOffset < previous.end) {
      fail(
        "ARCHIVE_OVERLAPPING_ENTRIES",
        `Entries ${quote(previous.name)} and ${
          quote(current.name)
        } overlap at offset ${current.localOffset}`,
        current.name,
      );
    }
    if (current.localOffset > previous.end) {
      fail(
        "ARCHIVE_TRAILING_DATA",
        `${current.localOffset - previous.end} unaccounted bytes follow entry ${
          quote(previous.name)
        }`,
        previous.name,
      );
    }
  }
  const last = ordered[ordered.length - 1];
  if (last.end < directoryStart) {
    fail(
      "ARCHIVE_TRAILING_DATA",
      `${directoryStart - last.end} unaccounted bytes lie between entry ${
        quote(last.name)
      } and the central directory`,
      last.name,
    );
  }
}

type InflateResult = { buffer: Uint8Array; engine: { bytesWritten: number } };

function isBufferTooLarge(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_BUFFER_TOO_LARGE";
}

function inflateFailed(name: string, error: unknown): never {
  fail(
    "ARCHIVE_CORRUPT",
    `Entry ${quote(name)} does not inflate: ${error instanceof Error ? error.message : error}`,
    name,
  );
}

/**
 * One buffer that {@linkcode _readArchiveInto} inflates entries into, reused from
 * read to read. The entries a read returns are views into it: they are valid
 * until the arena's next read, which overwrites them. For a caller that is done
 * with each archive's entries before it reads the next (the hub's workers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { _readArchiveInto, InflateArena, writeArchive } from "./archive.ts";
 * const arena = new InflateArena();
 * const zip = await writeArchive([{ name: "a.json", data: new TextEncoder().encode("{}") }]);
 * const [entry] = _readArchiveInto(zip, {}, arena);
 * assert.equal(new TextDecoder().decode(entry.data), "{}");
 * ```
 */
export class InflateArena {
  readonly #maxBytes: number;
  readonly #createEngine: (options: ZlibOptions) => unknown;
  #buffer = Buffer.alloc(0);

  /**
   * @param maxBytes the most bytes the arena keeps; an archive that inflates to
   *   more is read into fresh buffers, as without an arena
   * @param createEngine makes the inflate engine an entry is inflated with:
   *   `node:zlib`'s `createInflateRaw`. One without the internals
   *   {@linkcode _isInflateEngine} looks for gets fresh buffers through the
   *   public `inflateRawSync` (tests pass one to force that path)
   */
  constructor(
    maxBytes = 64 * 1024 * 1024,
    createEngine: (options: ZlibOptions) => unknown = createInflateRaw,
  ) {
    this.#maxBytes = maxBytes;
    this.#createEngine = createEngine;
  }

  /** An inflate engine, to drive if it has the internals. Internal. */
  _engine(options: ZlibOptions): unknown {
    return this.#createEngine(options);
  }

  /** A region of `bytes` bytes, or undefined past the arena's size. Internal. */
  _take(bytes: number): Buffer | undefined {
    if (bytes > this.#maxBytes) return undefined;
    if (this.#buffer.length < bytes) {
      // Room to spare, so slightly larger archives do not allocate again.
      this.#buffer = Buffer.alloc(
        Math.min(this.#maxBytes, Math.max(bytes, this.#buffer.length * 2)),
      );
    }
    return this.#buffer.subarray(0, bytes);
  }
}

/**
 * The inflate engine of `node:zlib` as `inflateRawSync` drives it: its
 * synchronous `_processChunk` writes into `_outBuffer` from `_outOffset` up to
 * `_chunkSize`, and returns the output as a view of that buffer.
 */
interface InflateEngine {
  _processChunk(chunk: Uint8Array, flushFlag: number): Uint8Array;
  _outBuffer: Buffer;
  _outOffset: number;
  _chunkSize: number;
  _finishFlushFlag: number;
  bytesWritten: number;
}

/**
 * Whether `engine` has the internals {@linkcode inflateEntry} uses to inflate
 * into a given buffer (those of Node's zlib, which Deno's follows). Without
 * them, entries get fresh buffers. Internal; exported for tests.
 */
export function _isInflateEngine(engine: unknown): engine is InflateEngine {
  const e = engine as Partial<InflateEngine> | null;
  return typeof e?._processChunk === "function" && e._outBuffer instanceof Buffer &&
    typeof e._outOffset === "number" && typeof e._chunkSize === "number" &&
    typeof e._finishFlushFlag === "number";
}

/**
 * Inflate one entry. The first pass allows only the declared size (plus one
 * byte to notice a lie) in a single exact buffer, so an honest entry costs one
 * allocation and no copy; with `into` (an arena's region of the declared size
 * plus one), none. Only an
 * entry that inflates past its declared size gets a second pass, bounded by
 * the limits, to tell which rule it breaks.
 */
function inflateEntry(
  record: PlacedRecord,
  compressed: Uint8Array,
  limits: ArchiveLimits,
  inflatedSoFar: number,
  into?: { buffer: Buffer; arena: InflateArena },
): Uint8Array {
  const { name, uncompressedSize: declared } = record;
  let result: InflateResult | undefined;
  try {
    const options = { maxOutputLength: declared + 1, chunkSize: ZLIB_MIN_CHUNK };
    // node:zlib's internals, not its API: every runtime without them takes the public path below.
    const engine: unknown = into?.arena._engine(options);
    if (into && _isInflateEngine(engine)) {
      // What inflateRawSync does, with the output buffer ours: the same checks, the same errors.
      engine._outBuffer = into.buffer;
      engine._outOffset = 0;
      engine._chunkSize = into.buffer.length;
      result = { buffer: engine._processChunk(compressed, engine._finishFlushFlag), engine };
    } else {
      (engine as { close?(): void } | undefined)?.close?.();
      result = inflateRawSync(
        compressed,
        { ...options, chunkSize: Math.max(ZLIB_MIN_CHUNK, declared + 1), info: true } as Parameters<
          typeof inflateRawSync
        >[1],
      ) as unknown as InflateResult;
    }
  } catch (error) {
    if (!isBufferTooLarge(error)) inflateFailed(name, error);
  }
  if (result === undefined || result.buffer.length > declared) {
    measureOverrun(record, compressed, limits, inflatedSoFar);
  }
  const { buffer, engine } = result;
  if (engine.bytesWritten !== compressed.length) {
    fail(
      "ARCHIVE_CORRUPT",
      `Entry ${quote(name)} has ${
        compressed.length - engine.bytesWritten
      } bytes after the end of its deflate stream`,
      name,
    );
  }
  if (buffer.length !== declared) {
    fail(
      "ARCHIVE_CORRUPT",
      `Entry ${quote(name)} inflates to ${buffer.length} bytes, not the declared ${declared}`,
      name,
    );
  }
  // A plain view: a Buffer's slice() shares memory, which callers would not expect of a Uint8Array.
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

/** An entry inflated past its declared size: inflate again, stopping at the limits, and say which rule it breaks. */
function measureOverrun(
  record: PlacedRecord,
  compressed: Uint8Array,
  limits: ArchiveLimits,
  inflatedSoFar: number,
): never {
  const { name, uncompressedSize: declared } = record;
  const remaining = limits.maxTotalBytes - inflatedSoFar;
  const cap = Math.min(limits.maxEntryBytes, remaining);
  let actual: number;
  try {
    actual = inflateRawSync(compressed, { maxOutputLength: cap + 1, chunkSize: OVERRUN_CHUNK })
      .length;
  } catch (error) {
    if (!isBufferTooLarge(error)) inflateFailed(name, error);
    actual = cap + 1;
  }
  if (actual > cap) {
    if (cap === limits.maxEntryBytes) {
      fail(
        "LIMIT_ENTRY_SIZE",
        `Entry ${quote(name)} inflates past the ${limits.maxEntryBytes}-byte limit`,
        name,
      );
    }
    fail(
      "LIMIT_TOTAL_SIZE",
      `Entry ${quote(name)} inflates past the ${limits.maxTotalBytes}-byte total limit`,
      name,
    );
  }
  checkRatio(name, actual, record.compressedSize, limits, "inflates with");
  fail(
    "ARCHIVE_CORRUPT",
    `Entry ${quote(name)} inflates to ${actual} bytes, not the declared ${declared}`,
    name,
  );
}

/**
 * Read every entry of a zip archive in memory, under the limits, refusing
 * anything ambiguous or unbounded.
 *
 * Stored entries' data are views into `bytes`; do not modify `bytes` while
 * the entries are in use.
 *
 * @param bytes the whole archive
 * @param limits limits to override; the rest come from {@linkcode DEFAULT_LIMITS}
 * @returns the entries, in central directory order
 * @throws {PacketError} when the archive breaks a rule; its `violation` carries the code and the entry
 * @throws {UsageError} when a limit is invalid
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readArchive, writeArchive } from "./archive.ts";
 * const zip = await writeArchive([{ name: "a.json", data: new TextEncoder().encode("{}") }]);
 * const [entry] = readArchive(zip);
 * assert.equal(entry.name, "a.json");
 * assert.equal(new TextDecoder().decode(entry.data), "{}");
 * ```
 */
export function readArchive(
  bytes: Uint8Array,
  limits: Partial<ArchiveLimits> = {},
): ArchiveEntry[] {
  return _readArchiveInto(bytes, limits);
}

/**
 * {@linkcode readArchive}, inflating into an {@linkcode InflateArena}: the
 * entries are then views into it, valid only until its next read. For the
 * hub's workers; not part of the library's API.
 * @param bytes the whole archive
 * @param limits limits to override
 * @param arena the arena to inflate into, if any
 * @returns as {@linkcode readArchive}
 */
export function _readArchiveInto(
  bytes: Uint8Array,
  limits: Partial<ArchiveLimits> = {},
  arena?: InflateArena,
): ArchiveEntry[] {
  const resolved = resolveLimits(limits);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { records, directoryStart } = readCentralDirectory(bytes, view, resolved);
  const placed = records.map((record) => placeRecord(bytes, view, record, directoryStart));
  checkLayout(placed, directoryStart);

  return inflateRecords(bytes, placed, resolved, arena);
}

/**
 * Read one entry of an archive: the whole structure is checked as
 * {@linkcode readArchive} checks it, but only the named entry is inflated.
 * The hub uses it to order packets by window before reading them whole.
 *
 * @param bytes the whole archive
 * @param name the entry to read
 * @param limits limits to override
 * @returns the entry, or undefined when the archive has no entry of that name
 * @throws {PacketError} when the archive breaks a rule
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readArchiveEntry, writeArchive } from "./archive.ts";
 * const zip = await writeArchive([
 *   { name: "a.json", data: new TextEncoder().encode("{}") },
 *   { name: "b.json", data: new TextEncoder().encode("[]") },
 * ]);
 * assert.equal(new TextDecoder().decode(readArchiveEntry(zip, "b.json")!.data), "[]");
 * ```
 */
export function readArchiveEntry(
  bytes: Uint8Array,
  name: string,
  limits: Partial<ArchiveLimits> = {},
): ArchiveEntry | undefined {
  const resolved = resolveLimits(limits);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { records, directoryStart } = readCentralDirectory(bytes, view, resolved);
  const placed = records.map((record) => placeRecord(bytes, view, record, directoryStart));
  checkLayout(placed, directoryStart);
  return inflateRecords(bytes, placed.filter((record) => record.name === name), resolved)[0];
}

/**
 * Read an archive's first entry from the first bytes of the file, when it is
 * the named one: a cheap look for the hub, which wants only the manifest of
 * each packet to order them, and writers put the manifest first. It looks at
 * the local header at offset 0 only; the central directory, the layout and
 * everything {@linkcode readArchive} checks are not looked at, so the answer
 * is a hint to be confirmed by a full read. Anything unusual (another first
 * entry, a data descriptor, encryption, data past `head`, more than
 * `maxBytes`, bad deflate or CRC) gives `undefined`: read the file whole.
 *
 * @param head the first bytes of the file
 * @param name the entry wanted
 * @param maxBytes the largest inflated size accepted
 * @returns the entry's bytes, or undefined
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLeadingEntry, writeArchive } from "./archive.ts";
 * const zip = await writeArchive([
 *   { name: "a.json", data: new TextEncoder().encode("{}") },
 *   { name: "b.json", data: new TextEncoder().encode("[]") },
 * ]);
 * assert.equal(new TextDecoder().decode(readLeadingEntry(zip, "a.json", 1024)), "{}");
 * assert.equal(readLeadingEntry(zip, "b.json", 1024), undefined);
 * ```
 */
export function readLeadingEntry(
  head: Uint8Array,
  name: string,
  maxBytes: number,
): Uint8Array | undefined {
  if (head.length < LOCAL_HEADER_SIZE) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0, true) !== LOCAL_SIGNATURE) return undefined;
  const flags = view.getUint16(6, true);
  const method = view.getUint16(8, true);
  const crc = view.getUint32(14, true);
  const compressedSize = view.getUint32(18, true);
  const uncompressedSize = view.getUint32(22, true);
  const nameLength = view.getUint16(26, true);
  const extraLength = view.getUint16(28, true);
  const dataStart = LOCAL_HEADER_SIZE + nameLength + extraLength;
  const dataEnd = dataStart + compressedSize;
  if (
    (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_DATA_DESCRIPTOR)) !== 0 ||
    (method !== METHOD_STORED && method !== METHOD_DEFLATE) || dataEnd > head.length ||
    uncompressedSize > maxBytes || compressedSize === 0xffffffff
  ) {
    return undefined;
  }
  const wanted = nameEncoder.encode(name);
  if (!sameBytes(head.subarray(LOCAL_HEADER_SIZE, LOCAL_HEADER_SIZE + nameLength), wanted)) {
    return undefined;
  }
  const compressed = head.subarray(dataStart, dataEnd);
  let data: Uint8Array;
  if (method === METHOD_STORED) {
    data = compressed;
  } else {
    try {
      const buffer = inflateRawSync(compressed, { maxOutputLength: Math.max(1, uncompressedSize) });
      data = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    } catch {
      return undefined;
    }
  }
  if (data.length !== uncompressedSize || crc32(data) !== crc) return undefined;
  return data;
}

function inflateRecords(
  bytes: Uint8Array,
  placed: ReturnType<typeof placeRecord>[],
  resolved: ArchiveLimits,
  arena?: InflateArena,
): ArchiveEntry[] {
  let inflatedTotal = 0;
  // With an arena, deflated entries lie end to end in one region, each with one byte to spare.
  let region: Buffer | undefined;
  if (arena) {
    let size = 0;
    for (const record of placed) {
      if (record.method !== METHOD_STORED) size += record.uncompressedSize + 1;
    }
    region = arena._take(size);
  }
  let at = 0;
  return placed.map((record) => {
    const compressed = bytes.subarray(record.dataStart, record.dataEnd);
    let into: { buffer: Buffer; arena: InflateArena } | undefined;
    if (arena && region && record.method !== METHOD_STORED) {
      into = { buffer: region.subarray(at, at += record.uncompressedSize + 1), arena };
    }
    const data = record.method === METHOD_STORED
      ? compressed
      : inflateEntry(record, compressed, resolved, inflatedTotal, into);
    const actualCrc = crc32(data);
    if (actualCrc !== record.crc32) {
      fail(
        "ARCHIVE_CRC_MISMATCH",
        `Entry ${quote(record.name)} declares CRC-32 ${hex32(record.crc32)} but its data has ${
          hex32(actualCrc)
        }`,
        record.name,
      );
    }
    inflatedTotal += data.length;
    return {
      name: record.name,
      method: record.method,
      compressedSize: record.compressedSize,
      uncompressedSize: data.length,
      crc32: record.crc32,
      data,
    };
  });
}

/** 1980-01-01T00:00:00Z, the earliest time a zip header can hold. */
const ZIP_EPOCH = new Date(Date.UTC(1980, 0, 1));

/** A date as the 32-bit MS-DOS date and time of a zip header, from its UTC fields. */
function dosDateTime(date: Date): number {
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 1980 || year > 2107) {
    throw new UsageError(
      `Cannot write archive: last-modified date "${
        Number.isNaN(date.getTime()) ? "Invalid Date" : date.toISOString()
      }" is outside 1980-2107`,
    );
  }
  const time = (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) |
    (date.getUTCSeconds() >> 1);
  const day = ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate();
  return ((day << 16) | time) >>> 0;
}

/**
 * Write a deterministic zip archive: entries in the given order, deflated,
 * every timestamp the same, no data descriptors and no extra fields, so equal
 * input gives identical bytes. The date is written from its UTC fields, so the
 * output does not depend on the host's time zone.
 *
 * @param entries names and contents; names must be safe and unique, as {@linkcode readArchive} requires
 * @param options `lastModified`: the timestamp of every entry, 1980-01-01T00:00:00Z by default
 * @returns the archive's bytes
 * @throws {UsageError} when there are no entries, a name is unsafe or repeated, or the date is outside 1980-2107
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeArchive } from "./archive.ts";
 * const entries = [{ name: "manifest.json", data: new TextEncoder().encode('{"part":1}') }];
 * const first = await writeArchive(entries);
 * const second = await writeArchive(entries);
 * assert.deepEqual(first, second);
 * ```
 */
export async function writeArchive(
  entries: { name: string; data: Uint8Array }[],
  options: { lastModified?: Date } = {},
): Promise<Uint8Array> {
  if (entries.length === 0) throw new UsageError("Cannot write an archive with no entries");
  const seen = new Map<string, string>();
  for (const { name } of entries) {
    const unsafe = unsafeNameReason(name);
    if (unsafe) throw new UsageError(`Cannot write entry ${quote(name)}: its name ${unsafe}`);
    const earlier = seen.get(collisionKey(name));
    if (earlier !== undefined) {
      throw new UsageError(
        `Cannot write entry ${quote(name)}: it collides with entry ${quote(earlier)}`,
      );
    }
    seen.set(collisionKey(name), name);
  }
  const lastModDate = options.lastModified ?? ZIP_EPOCH;
  // Loaded on first use: readers (the hub's worker threads) never pay for it.
  const { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } = await import(
    "npm:@zip.js/zip.js@2.24.0"
  );
  const writer = new ZipWriter(new Uint8ArrayWriter(), {
    useWebWorkers: false,
    // The embedded deflate gives the same bytes on every host; the native one may not.
    useCompressionStream: false,
    level: 6,
    keepOrder: true,
    dataDescriptor: false,
    extendedTimestamp: false,
    zip64: false,
    lastModDate,
    rawLastModDate: dosDateTime(lastModDate),
  });
  for (const { name, data } of entries) {
    await writer.add(name, new Uint8ArrayReader(data));
  }
  return await writer.close();
}
