/**
 * A zip builder for tests that writes whatever it is told: local and central
 * headers that disagree, offsets that point anywhere, bytes before, between
 * and after the records. It checks nothing, so it can build every archive the
 * reader must refuse.
 *
 * @module
 */

import { constants, crc32, deflateRawSync } from "node:zlib";

/** The fields a local header and a central directory record share. */
export interface CraftHeader {
  name: string | Uint8Array;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  extra: Uint8Array;
}

/** One entry to craft; everything not given is filled in as an honest writer would. */
export interface CraftEntry {
  name: string;
  /** The uncompressed content; empty by default. */
  data?: Uint8Array;
  /** 8 (deflate, the default) compresses `data`; any other method stores it as is. */
  method?: number;
  /** The bytes written as the entry's data, instead of `data` compressed. */
  payload?: Uint8Array;
  /** Flags of both headers. */
  flags?: number;
  /** Overrides of the local header. */
  local?: Partial<CraftHeader>;
  /** Overrides of the central record. */
  central?: Partial<CraftHeader> & {
    localOffset?: number;
    disk?: number;
    /** "Version made by": host in the high byte (3 = Unix, 0 = MS-DOS); 0x031e by default. */
    madeBy?: number;
    /** External attributes: a Unix mode in the high 16 bits, MS-DOS bits in the low; a 0644 regular file by default. */
    externalAttributes?: number;
  };
  /** Write a data descriptor after the data (sets flag bit 3); fields override the honest values. */
  descriptor?: {
    signature?: boolean;
    crc32?: number;
    compressedSize?: number;
    uncompressedSize?: number;
  };
  /** Write no local record; the central record then needs `central.localOffset`. */
  omitLocal?: boolean;
  /** Bytes written right after this entry's local record. */
  after?: Uint8Array;
}

/** Layout of the whole archive. */
export interface CraftOptions {
  /** Bytes before the first local record. */
  prepend?: Uint8Array;
  /** Whether offsets count the prepended bytes (as `zip -A` makes them); true by default. */
  offsetsIncludePrepend?: boolean;
  /** Bytes between the central directory and the end record. */
  beforeEnd?: Uint8Array;
  /** The archive comment. */
  comment?: Uint8Array;
  /** Bytes after the comment. */
  append?: Uint8Array;
  /** Overrides of the end-of-central-directory record. */
  end?: Partial<{
    disk: number;
    directoryDisk: number;
    entriesOnDisk: number;
    entryCount: number;
    directorySize: number;
    directoryOffset: number;
    commentLength: number;
  }>;
}

const encoder = new TextEncoder();

class ByteWriter {
  #parts: Uint8Array[] = [];
  length = 0;
  u16(value: number): this {
    const part = new Uint8Array(2);
    new DataView(part.buffer).setUint16(0, value, true);
    return this.bytes(part);
  }
  u32(value: number): this {
    const part = new Uint8Array(4);
    new DataView(part.buffer).setUint32(0, value >>> 0, true);
    return this.bytes(part);
  }
  bytes(part: Uint8Array): this {
    this.#parts.push(part);
    this.length += part.length;
    return this;
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.#parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

function nameBytes(name: string | Uint8Array): Uint8Array {
  return typeof name === "string" ? encoder.encode(name) : name;
}

interface Resolved {
  payload: Uint8Array;
  local: CraftHeader;
  central: CraftHeader;
}

function resolve(entry: CraftEntry): Resolved {
  const data = entry.data ?? new Uint8Array();
  const method = entry.method ?? 8;
  const payload = entry.payload ?? (method === 8 ? deflateRawSync(data) : data);
  const utf8 = encoder.encode(entry.name).some((byte) => byte >= 0x80) ? 0x0800 : 0;
  const flags = (entry.flags ?? utf8) | (entry.descriptor ? 0x0008 : 0);
  const honest: CraftHeader = {
    name: entry.name,
    flags,
    method,
    crc32: crc32(data),
    compressedSize: payload.length,
    uncompressedSize: data.length,
    extra: new Uint8Array(),
  };
  const localDefaults = entry.descriptor
    ? { ...honest, crc32: 0, compressedSize: 0, uncompressedSize: 0 }
    : honest;
  return {
    payload,
    local: { ...localDefaults, ...entry.local },
    central: { ...honest, ...entry.central },
  };
}

/**
 * The local record of an entry (header, name, extra, data, descriptor), to
 * embed inside another entry's data.
 */
export function localRecord(entry: CraftEntry): Uint8Array {
  const { payload, local, central } = resolve(entry);
  const name = nameBytes(local.name);
  const out = new ByteWriter()
    .u32(0x04034b50).u16(20).u16(local.flags).u16(local.method)
    .u16(0).u16(0x0021) // 00:00:00 on 1980-01-01
    .u32(local.crc32).u32(local.compressedSize).u32(local.uncompressedSize)
    .u16(name.length).u16(local.extra.length)
    .bytes(name).bytes(local.extra).bytes(payload);
  if (entry.descriptor) {
    if (entry.descriptor.signature !== false) out.u32(0x08074b50);
    out.u32(entry.descriptor.crc32 ?? central.crc32)
      .u32(entry.descriptor.compressedSize ?? central.compressedSize)
      .u32(entry.descriptor.uncompressedSize ?? central.uncompressedSize);
  }
  return out.concat();
}

/** Build an archive exactly as described, however wrong. */
export function craftZip(entries: CraftEntry[], options: CraftOptions = {}): Uint8Array {
  const prepend = options.prepend ?? new Uint8Array();
  const base = options.offsetsIncludePrepend === false ? prepend.length : 0;
  const out = new ByteWriter().bytes(prepend);
  const offsets: number[] = [];
  for (const entry of entries) {
    offsets.push(out.length - base);
    if (!entry.omitLocal) out.bytes(localRecord(entry));
    if (entry.after) out.bytes(entry.after);
  }

  const directoryOffset = out.length - base;
  entries.forEach((entry, index) => {
    const { central } = resolve(entry);
    const name = nameBytes(central.name);
    out.u32(0x02014b50).u16(entry.central?.madeBy ?? 0x031e).u16(20).u16(central.flags).u16(
      central.method,
    )
      .u16(0).u16(0x0021)
      .u32(central.crc32).u32(central.compressedSize).u32(central.uncompressedSize)
      .u16(name.length).u16(central.extra.length).u16(0)
      .u16(entry.central?.disk ?? 0).u16(0).u32(
        entry.central?.externalAttributes ?? 0o100644 * 0x10000,
      )
      .u32(entry.central?.localOffset ?? offsets[index])
      .bytes(name).bytes(central.extra);
  });
  const directorySize = out.length - base - directoryOffset;
  if (options.beforeEnd) out.bytes(options.beforeEnd);

  const comment = options.comment ?? new Uint8Array();
  const end = {
    disk: 0,
    directoryDisk: 0,
    entriesOnDisk: entries.length,
    entryCount: entries.length,
    directorySize,
    directoryOffset,
    commentLength: comment.length,
    ...options.end,
  };
  out.u32(0x06054b50).u16(end.disk).u16(end.directoryDisk)
    .u16(end.entriesOnDisk).u16(end.entryCount)
    .u32(end.directorySize).u32(end.directoryOffset).u16(end.commentLength)
    .bytes(comment);
  if (options.append) out.bytes(options.append);
  return out.concat();
}

/** An extra field holding one record. */
export function extraField(id: number, data: Uint8Array = new Uint8Array()): Uint8Array {
  return new ByteWriter().u16(id).u16(data.length).bytes(data).concat();
}

const MIB = 1024 * 1024;

/**
 * A raw deflate stream of `mebibytes` MiB of zeros, and their CRC-32, built
 * without holding the zeros: one MiB compressed with a full flush (which
 * leaves the stream byte-aligned and independent of what came before) is
 * repeated, then an empty final block ends the stream. 1 GiB gives about 1 MB.
 */
export function deflatedZeros(mebibytes: number): { payload: Uint8Array; crc32: number } {
  const zeros = new Uint8Array(MIB);
  const block = deflateRawSync(zeros, { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const finalBlock = deflateRawSync(new Uint8Array());
  const payload = new Uint8Array(block.length * mebibytes + finalBlock.length);
  let crc = 0;
  for (let i = 0; i < mebibytes; i++) {
    payload.set(block, i * block.length);
    crc = crc32(zeros, crc);
  }
  payload.set(finalBlock, block.length * mebibytes);
  return { payload, crc32: crc };
}
