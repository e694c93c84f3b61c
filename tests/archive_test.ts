import assert from "node:assert/strict";
import { crc32, createInflateRaw, deflateRawSync } from "node:zlib";
import {
  _isInflateEngine,
  _readArchiveInto,
  type ArchiveEntry,
  type ArchiveLimits,
  COMPRESSION_RATIO_FLOOR,
  DEFAULT_LIMITS,
  InflateArena,
  readArchive,
  readLeadingEntry,
  resolveLimits,
  writeArchive,
} from "../core/archive.ts";
import { PacketError, UsageError, type ViolationCode } from "../core/errors.ts";
import { type CraftEntry, craftZip, deflatedZeros, extraField, localRecord } from "./_craft.ts";

const encoder = new TextEncoder();
const text = (value: string) => encoder.encode(value);
const MIB = 1024 * 1024;

/** Run `read` and check it throws a PacketError with `code`, naming `entry`, in the house style. */
function assertRefused(
  read: () => unknown,
  code: ViolationCode,
  entry?: string,
  message?: RegExp,
): PacketError {
  let caught: unknown;
  try {
    read();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof PacketError, `expected PacketError ${code}, got ${caught}`);
  assert.equal(caught.violation.code, code, caught.message);
  assert.equal(caught.violation.entry, entry, caught.message);
  assert.equal(caught.violation.message, caught.message);
  assert.doesNotMatch(caught.message, /\.$/, "messages end without a period");
  assert.match(caught.message, /^[A-Z0-9]/, "messages are in sentence case");
  if (entry !== undefined) assert.ok(caught.message.includes(JSON.stringify(entry)));
  if (message) assert.match(caught.message, message);
  return caught;
}

/** One arena for every read below: each read overwrites what the one before left in it. */
const arena = new InflateArena();

/**
 * An arena whose engines lack node:zlib's internals, as on a runtime that renamed them: it must
 * take the public `inflateRawSync` path, with the same answers and the same refusals.
 */
function publicOnlyArena(maxBytes?: number): InflateArena {
  const engines: unknown[] = [];
  const made = new InflateArena(maxBytes, (options) => {
    const engine = createInflateRaw(options) as unknown as Record<string, unknown>;
    engines.push(engine);
    // What a runtime without the internals looks like: the public object, no _processChunk.
    return { close: () => (engine.close as () => void)() };
  });
  fallbackEngines.set(made, engines);
  return made;
}
const fallbackEngines = new WeakMap<InflateArena, unknown[]>();
const fallback = publicOnlyArena();

/** Refused the same way with fresh buffers, with an {@link InflateArena} and with its fallback. */
function refuse(
  bytes: Uint8Array,
  code: ViolationCode,
  entry?: string,
  message?: RegExp,
  limits?: Partial<ArchiveLimits>,
): PacketError {
  const plain = assertRefused(() => readArchive(bytes, limits), code, entry, message);
  const inArena = assertRefused(() => _readArchiveInto(bytes, limits, arena), code, entry, message);
  assert.equal(inArena.message, plain.message);
  const public_ = assertRefused(
    () => _readArchiveInto(bytes, limits, fallback),
    code,
    entry,
    message,
  );
  assert.equal(public_.message, plain.message);
  return plain;
}

const manifest: CraftEntry = { name: "manifest.json", data: text('{"part":1}') };
const canon: CraftEntry = { name: "canon_entry.json", data: text('{"entries":{}}') };

Deno.test("writeArchive() output reads back with readArchive()", async () => {
  const large = text(JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ i, s: `x${i}` }))));
  const entries = [
    { name: "manifest.json", data: text('{"packetName":"JRM_X_PACKET_A"}') },
    { name: "decision_lineage.jsonl", data: new Uint8Array() },
    { name: "memory_graph.json", data: large.subarray(3, -3) },
    { name: "notes/été.json", data: text("[]") },
  ];
  const zip = await writeArchive(entries);
  const read = readArchive(zip);
  assert.deepEqual(read.map((entry) => entry.name), entries.map((entry) => entry.name));
  for (const [i, entry] of read.entries()) {
    assert.deepEqual(entry.data, entries[i].data);
    assert.equal(entry.uncompressedSize, entries[i].data.length);
    assert.equal(entry.crc32, crc32(entries[i].data));
    assert.equal(entry.method, 8);
  }
});

Deno.test("readArchive() with an InflateArena reads the same entries into one reused buffer", async () => {
  // The arena path drives node:zlib's inflate engine directly; if a runtime lacked its
  // internals, reads would quietly fall back to fresh buffers: this says so instead.
  assert.ok(_isInflateEngine(createInflateRaw()));
  assert.ok(!_isInflateEngine({ _processChunk() {} }));
  const own = new InflateArena(1024 * 1024);
  const archives = await Promise.all([
    writeArchive([
      { name: "a.json", data: text('{"a":' + "1".repeat(5000) + "}") },
      { name: "b.jsonl", data: new Uint8Array() },
      { name: "c.json", data: text("[" + "0,".repeat(20000) + "0]") },
    ]),
    writeArchive([{ name: "d.json", data: text('"' + "d".repeat(30000) + '"') }]),
    craftZip([{ ...canon, descriptor: {} }, { ...manifest, method: 0 }]),
  ]);
  let earlier: ArrayBufferLike | undefined;
  for (const zip of archives) {
    const expected = readArchive(zip);
    const read = _readArchiveInto(zip, {}, own);
    assert.deepEqual(
      read.map(({ data, ...fields }) => ({ ...fields, data: [...data] })),
      expected.map(({ data, ...fields }) => ({ ...fields, data: [...data] })),
    );
    for (const entry of read) {
      if (entry.method === 0) {
        assert.equal(entry.data.buffer, zip.buffer, "a stored entry is a view of the archive");
        continue;
      }
      if (entry.data.length === 0) continue;
      // Every read lands in the same buffer: the arena is reused, not reallocated.
      assert.ok(entry.data.buffer !== zip.buffer);
      earlier ??= entry.data.buffer;
      assert.equal(entry.data.buffer, earlier);
    }
  }
  // More than the arena holds: fresh buffers, the same entries.
  let seed = 7;
  const large = Uint8Array.from({ length: 2 * 1024 * 1024 }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return 0x61 + (seed >>> 28);
  });
  const [entry] = _readArchiveInto(
    await writeArchive([{ name: "big.txt", data: large }]),
    {},
    own,
  );
  assert.deepEqual(entry.data, large);
  assert.notEqual(entry.data.buffer, earlier);
});

Deno.test("readArchive() with an InflateArena whose engine lacks the internals takes the public path", async () => {
  const arena = publicOnlyArena(1024 * 1024);
  const zips = await Promise.all([
    writeArchive([
      { name: "a.json", data: text('{"a":' + "1".repeat(5000) + "}") },
      { name: "b.jsonl", data: new Uint8Array() },
    ]),
    writeArchive([{ name: "d.json", data: text('"' + "d".repeat(30000) + '"') }]),
  ]);
  const buffers = new Set<ArrayBufferLike>();
  for (const zip of zips) {
    const read = _readArchiveInto(zip, {}, arena);
    assert.deepEqual(
      read.map(({ data, ...fields }) => ({ ...fields, data: [...data] })),
      readArchive(zip).map(({ data, ...fields }) => ({ ...fields, data: [...data] })),
    );
    for (const { data } of read) if (data.length > 0) buffers.add(data.buffer);
  }
  // The arena was asked for an engine per deflated entry, found no internals, and every entry
  // got a buffer of its own from inflateRawSync.
  assert.equal(fallbackEngines.get(arena)!.length, 3);
  assert.equal(buffers.size, 2);
});

Deno.test("writeArchive() gives identical bytes for equal input", async () => {
  const entries = () => [
    { name: "manifest.json", data: text('{"part":1}') },
    { name: "truth_snapshot.json", data: text('{"events":3}') },
  ];
  const first = await writeArchive(entries());
  const second = await writeArchive(entries());
  assert.deepEqual(first, second);
  const dated = { lastModified: new Date("2024-05-06T07:08:09Z") };
  assert.deepEqual(await writeArchive(entries(), dated), await writeArchive(entries(), dated));
  assert.notDeepEqual(await writeArchive(entries(), dated), first);
  // 1980-01-01 00:00:00 as an MS-DOS time and date: time 0, date 0x0021
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  assert.equal(view.getUint16(10, true), 0);
  assert.equal(view.getUint16(12, true), 0x0021);
});

Deno.test("writeArchive() refuses input that readArchive() would refuse", async (t) => {
  const cases: [string, { name: string; data: Uint8Array }[], Date | undefined][] = [
    ["no entries", [], undefined],
    ["a parent segment", [{ name: "../x.json", data: text("{}") }], undefined],
    ["an absolute name", [{ name: "/x.json", data: text("{}") }], undefined],
    ["a repeated name", [
      { name: "a.json", data: text("{}") },
      { name: "A.json", data: text("{}") },
    ], undefined],
    ["a date before 1980", [{ name: "a.json", data: text("{}") }], new Date("1979-12-31")],
  ];
  for (const [what, entries, lastModified] of cases) {
    await t.step(what, async () => {
      await assert.rejects(() => writeArchive(entries, { lastModified }), UsageError);
    });
  }
});

Deno.test("readArchive() returns stored entries as views into the archive", () => {
  const zip = craftZip([{ name: "a.json", data: text('{"a":1}'), method: 0 }, manifest]);
  const [stored, deflated] = readArchive(zip);
  assert.equal(stored.data.buffer, zip.buffer);
  assert.equal(stored.method, 0);
  assert.deepEqual(stored.data, text('{"a":1}'));
  assert.deepEqual(deflated.data, manifest.data);
});

Deno.test("readArchive() accepts data descriptors, a comment and extra fields", async (t) => {
  const cases: [string, Uint8Array][] = [
    ["signed data descriptor", craftZip([{ ...manifest, descriptor: {} }, canon])],
    ["unsigned data descriptor", craftZip([{ ...manifest, descriptor: { signature: false } }])],
    ["archive comment", craftZip([manifest], { comment: text("made by a test") })],
    [
      "harmless extra field",
      craftZip([{ ...manifest, local: { extra: extraField(0x5455, new Uint8Array(5)) } }]),
    ],
    ["stored entry in an archive read from a subarray", craftZip([{ ...manifest, method: 0 }])],
  ];
  for (const [what, zip] of cases) {
    await t.step(what, () => {
      const padded = new Uint8Array(zip.length + 16);
      padded.set(zip, 8);
      for (const bytes of [zip, padded.subarray(8, 8 + zip.length)]) {
        const entries = readArchive(bytes);
        assert.ok(entries.length >= 1);
        const found = entries.find((entry) => entry.name === "manifest.json");
        if (found) assert.deepEqual(found.data, manifest.data);
      }
    });
  }
});

Deno.test("readArchive() rejects a file that is not a zip archive", async (t) => {
  const cases: [string, Uint8Array][] = [
    ["empty file", new Uint8Array()],
    ["short file", text("PK")],
    ["JSON file", text('{"packetName":"JRM_X_PACKET_A"}')],
    ["random bytes", new Uint8Array(4096).map((_, i) => (i * 7919) % 251)],
  ];
  for (const [what, bytes] of cases) {
    await t.step(what, () => void refuse(bytes, "ARCHIVE_NOT_ZIP"));
  }
});

Deno.test("readArchive() rejects an archive with no entries", () => {
  refuse(craftZip([]), "ARCHIVE_EMPTY", undefined, /no entries/);
});

Deno.test("readArchive() rejects a truncated archive", async (t) => {
  const whole = craftZip([manifest, canon]);
  const cases: [string, Uint8Array, string | undefined][] = [
    ["cut before its end record", whole.subarray(0, whole.length - 30), undefined],
    ["comment runs past the end", craftZip([manifest], { end: { commentLength: 40 } }), undefined],
    [
      "central directory runs past the end",
      craftZip([manifest], { end: { directoryOffset: 10_000 } }),
      undefined,
    ],
    [
      "data runs past the end",
      craftZip([{
        ...manifest,
        local: { compressedSize: 100_000 },
        central: { compressedSize: 100_000 },
      }]),
      "manifest.json",
    ],
    [
      "local header past the end",
      craftZip([{ ...manifest, central: { localOffset: 50_000 } }]),
      "manifest.json",
    ],
  ];
  for (const [what, zip, entry] of cases) {
    await t.step(what, () => void refuse(zip, "ARCHIVE_TRUNCATED", entry));
  }
});

Deno.test("readArchive() rejects a corrupt archive", async (t) => {
  const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
  const valid = craftZip([manifest]);
  const badDirectory = valid.slice();
  const directoryOffset = new DataView(valid.buffer).getUint32(valid.length - 6, true);
  badDirectory[directoryOffset] = 0x51;
  const badLocal = valid.slice();
  badLocal[0] = 0x51;
  const cases: [string, Uint8Array, string | undefined, RegExp?][] = [
    ["central directory signature", badDirectory, undefined, /bad signature/],
    ["local header signature", badLocal, "manifest.json", /no local header/],
    ["deflate stream", craftZip([{ ...manifest, payload: garbage }]), "manifest.json", /inflate/],
    [
      "bytes after the deflate stream",
      craftZip([{ ...manifest, payload: concat(deflateRawSync(manifest.data!), text("hidden")) }]),
      "manifest.json",
      /6 bytes after the end of its deflate stream/,
    ],
    [
      "data shorter than declared",
      craftZip([{
        ...manifest,
        local: { uncompressedSize: 50 },
        central: { uncompressedSize: 50 },
      }]),
      "manifest.json",
      /not the declared 50/,
    ],
    [
      "stored sizes that differ",
      craftZip([{ ...manifest, method: 0, central: { uncompressedSize: 3 } }]),
      "manifest.json",
    ],
    [
      "ZIP64 end record",
      craftZip([manifest], { end: { directoryOffset: 0xffffffff } }),
      undefined,
      /ZIP64/,
    ],
    [
      "ZIP64 locator",
      craftZip([manifest], {
        beforeEnd: concat(new Uint8Array([0x50, 0x4b, 6, 7]), new Uint8Array(16)),
      }),
      undefined,
      /ZIP64/,
    ],
    [
      "ZIP64 extra field",
      craftZip([{ ...manifest, central: { extra: extraField(0x0001, new Uint8Array(8)) } }]),
      "manifest.json",
      /ZIP64/,
    ],
    [
      "multi-disk archive",
      craftZip([manifest], { end: { disk: 1, directoryDisk: 1 } }),
      undefined,
      /disk/,
    ],
    [
      "entry on another disk",
      craftZip([{ ...manifest, central: { disk: 2 } }]),
      "manifest.json",
      /disk 2/,
    ],
    [
      "central directory longer than its records",
      craftZip([manifest, canon], { end: { entriesOnDisk: 1, entryCount: 1 } }),
      undefined,
      /past its 1 records/,
    ],
    [
      "malformed extra field",
      craftZip([{ ...manifest, central: { extra: new Uint8Array([1, 2, 3]) } }]),
      "manifest.json",
      /malformed central extra field/,
    ],
  ];
  for (const [what, zip, entry, message] of cases) {
    await t.step(what, () => void refuse(zip, "ARCHIVE_CORRUPT", entry, message));
  }
});

Deno.test("readArchive() rejects data before the first entry", async (t) => {
  const stub = text('#!/bin/sh\nexec unzip "$0"\n');
  await t.step("offsets that count the prepended bytes", () => {
    refuse(
      craftZip([manifest, canon], { prepend: stub }),
      "ARCHIVE_PREPENDED_DATA",
      "manifest.json",
      new RegExp(`${stub.length} bytes`),
    );
  });
  await t.step("offsets relative to the archive (a self-extractor)", () => {
    refuse(
      craftZip([manifest, canon], { prepend: stub, offsetsIncludePrepend: false }),
      "ARCHIVE_PREPENDED_DATA",
      undefined,
      new RegExp(`${stub.length} bytes`),
    );
  });
});

Deno.test("readArchive() rejects unaccounted bytes after an entry or the end record", async (t) => {
  const hidden = text("hidden payload");
  const cases: [string, Uint8Array, string | undefined][] = [
    ["after the end record", craftZip([manifest], { append: hidden }), undefined],
    ["after the comment", craftZip([manifest], { comment: text("c"), append: hidden }), undefined],
    [
      "between the last entry and the central directory",
      craftZip([manifest, { ...canon, after: hidden }]),
      "canon_entry.json",
    ],
    ["between two entries", craftZip([{ ...manifest, after: hidden }, canon]), "manifest.json"],
    [
      "between the central directory and its end record",
      craftZip([manifest], { beforeEnd: hidden }),
      undefined,
    ],
  ];
  for (const [what, zip, entry] of cases) {
    await t.step(what, () => void refuse(zip, "ARCHIVE_TRAILING_DATA", entry));
  }
});

Deno.test("readArchive() rejects an entry whose local header disagrees with the central directory", async (t) => {
  const cases: [string, CraftEntry][] = [
    ["name", { ...manifest, local: { name: "manifest.jso_" } }],
    ["method", { ...manifest, method: 0, local: { method: 8 } }],
    ["data descriptor flag", { ...manifest, local: { flags: 0x0008 } }],
    ["encryption flag in the local header only", { ...manifest, local: { flags: 0x0001 } }],
    ["CRC-32", { ...manifest, local: { crc32: 0x12345678 } }],
    ["compressed size", { ...manifest, local: { compressedSize: 3 } }],
    ["uncompressed size", { ...manifest, local: { uncompressedSize: 4000 } }],
    ["non-zero local size with a data descriptor", {
      ...manifest,
      descriptor: {},
      local: { uncompressedSize: 4000 },
    }],
    ["data descriptor CRC-32", { ...manifest, descriptor: { crc32: 0xdeadbeef } }],
    ["data descriptor size", {
      ...manifest,
      descriptor: { signature: false, uncompressedSize: 1 },
    }],
  ];
  for (const [what, entry] of cases) {
    await t.step(
      what,
      () => void refuse(craftZip([entry, canon]), "ARCHIVE_HEADER_MISMATCH", "manifest.json"),
    );
  }
});

Deno.test("readArchive() rejects entries whose bytes overlap", async (t) => {
  await t.step("an entry inside another entry's data", () => {
    const inner: CraftEntry = { name: "inner.json", data: text("{}") };
    const outer: CraftEntry = { name: "outer.bin", method: 0, data: localRecord(inner) };
    // inner's local record starts right after outer's 30-byte header and 9-byte name
    const zip = craftZip([outer, { ...inner, omitLocal: true, central: { localOffset: 39 } }]);
    refuse(zip, "ARCHIVE_OVERLAPPING_ENTRIES", "inner.json", /overlap at offset 39/);
  });
  await t.step("an entry's data running into the central directory", () => {
    const zip = craftZip([{
      ...manifest,
      method: 0,
      local: { compressedSize: 60, uncompressedSize: 60 },
      central: { compressedSize: 60, uncompressedSize: 60 },
    }]);
    refuse(zip, "ARCHIVE_OVERLAPPING_ENTRIES", "manifest.json", /central directory/);
  });
});

Deno.test("readArchive() rejects two entries with the same name", async (t) => {
  await t.step("same name", () => {
    refuse(craftZip([manifest, canon, manifest]), "ARCHIVE_DUPLICATE_ENTRY", "manifest.json");
  });
  await t.step("names that differ only in case", () => {
    refuse(
      craftZip([manifest, { ...manifest, name: "Manifest.json" }]),
      "ARCHIVE_DUPLICATE_ENTRY",
      "Manifest.json",
    );
  });
});

Deno.test("readArchive() rejects an entry with an unsafe name", async (t) => {
  const names = [
    "../manifest.json",
    "a/../../etc/passwd",
    "/etc/passwd",
    "C:evil.json",
    "c:/evil.json",
    "dir\\evil.json",
    "evil\u0000.json",
    "evil\u001b[31m.json",
    "",
    "./manifest.json",
    "a//b.json",
  ];
  for (const name of names) {
    await t.step(JSON.stringify(name), () => {
      refuse(craftZip([{ name, data: text("{}") }]), "ARCHIVE_UNSAFE_PATH", name);
    });
  }
  await t.step("non-ASCII name without the UTF-8 flag", () => {
    refuse(craftZip([{ name: "été.json", flags: 0 }]), "ARCHIVE_UNSAFE_PATH", "été.json");
  });
  await t.step("name that is not UTF-8", () => {
    const name = new Uint8Array([0x61, 0xff, 0x62]);
    refuse(
      craftZip([{ name: "x", flags: 0x0800, local: { name }, central: { name } }]),
      "ARCHIVE_UNSAFE_PATH",
      "a\ufffdb",
    );
  });
  await t.step("Unicode Path extra field", () => {
    const extra = extraField(0x7075, concat(new Uint8Array(5), text("../evil")));
    refuse(craftZip([{ ...manifest, central: { extra } }]), "ARCHIVE_UNSAFE_PATH", "manifest.json");
  });
});

Deno.test("readArchive() refuses an entry that is not a regular file, by its attributes or name", async (t) => {
  const UNIX = 0x031e;
  const DOS = 0x0014;
  const unix = (mode: number) => mode * 0x10000;
  // [what, made by, external attributes, name, the kind named in the message]
  const cases: [string, number, number, string, string][] = [
    ["Unix symbolic link", UNIX, unix(0o120777), "canon_entry.json", "a symbolic link"],
    ["Unix directory", UNIX, unix(0o040755) | 0x10, "canon_entry.json", "a directory"],
    ["Unix FIFO", UNIX, unix(0o010644), "canon_entry.json", "a FIFO"],
    ["Unix character device", UNIX, unix(0o020644), "canon_entry.json", "a character device"],
    ["Unix block device", UNIX, unix(0o060644), "canon_entry.json", "a block device"],
    ["Unix socket", UNIX, unix(0o140755), "canon_entry.json", "a socket"],
    ["Unix file type no system has", UNIX, unix(0o030644), "canon_entry.json", "a special file"],
    // Info-ZIP's unzip reads Unix modes from MS-DOS-host entries too (PKZIP for Unix writes them).
    [
      "symbolic link from an MS-DOS host",
      DOS,
      unix(0o120777),
      "canon_entry.json",
      "a symbolic link",
    ],
    [
      "symbolic link from a macOS host",
      0x131e,
      unix(0o120755),
      "canon_entry.json",
      "a symbolic link",
    ],
    ["MS-DOS directory bit", DOS, 0x10, "canon_entry.json", "a directory"],
    ["MS-DOS device bit", DOS, 0x40, "canon_entry.json", "a device"],
    ["Windows reparse point (a link)", 0x0a14, 0x400 | 0x20, "canon_entry.json", "a reparse point"],
    ["directory by its name", UNIX, unix(0o100644), "logs/", "a directory"],
    ["directory by its name, no attributes", DOS, 0, "logs/", "a directory"],
  ];
  for (const [what, madeBy, externalAttributes, name, kind] of cases) {
    await t.step(what, () => {
      const special = { ...canon, name, central: { madeBy, externalAttributes } };
      refuse(
        craftZip([manifest, special]),
        "ARCHIVE_SPECIAL_ENTRY",
        name,
        new RegExp(
          `^Entry ${JSON.stringify(name).replace("/", "\\/")} is ${kind}.*, not a regular file$`,
        ),
      );
    });
  }
  const regular: [string, number, number][] = [
    ["Unix regular file", UNIX, unix(0o100755)],
    ["Unix mode with no file type", UNIX, unix(0o000644)],
    ["MS-DOS archive and read-only bits", DOS, 0x21],
    ["no attributes at all", DOS, 0],
  ];
  for (const [what, madeBy, externalAttributes] of regular) {
    await t.step(`accepts: ${what}`, () => {
      const entries = readArchive(
        craftZip([manifest, { ...canon, central: { madeBy, externalAttributes } }]),
      );
      assert.deepEqual(entries.map((e) => e.name), ["manifest.json", "canon_entry.json"]);
    });
  }
});

Deno.test("readArchive() rejects an encrypted entry", async (t) => {
  const cases: [string, CraftEntry][] = [
    ["traditional encryption (flag bit 0)", { ...manifest, flags: 0x0001 }],
    ["strong encryption (flag bit 6)", { ...manifest, flags: 0x0040 }],
    ["AES (method 99)", { ...manifest, method: 99 }],
  ];
  for (const [what, entry] of cases) {
    await t.step(
      what,
      () => void refuse(craftZip([entry]), "ARCHIVE_ENCRYPTED_ENTRY", "manifest.json"),
    );
  }
});

Deno.test("readArchive() rejects an entry compressed with another method than stored or deflate", async (t) => {
  for (const method of [9, 12, 14, 93]) {
    await t.step(`method ${method}`, () => {
      refuse(
        craftZip([{ ...manifest, method }]),
        "ARCHIVE_UNSUPPORTED_COMPRESSION",
        "manifest.json",
        new RegExp(`method ${method}`),
      );
    });
  }
});

Deno.test("readArchive() rejects an entry whose data does not match its CRC-32", async (t) => {
  for (const method of [0, 8]) {
    await t.step(`method ${method}`, () => {
      const wrong = { crc32: crc32(manifest.data!) ^ 1 };
      refuse(
        craftZip([canon, { ...manifest, method, local: wrong, central: wrong }]),
        "ARCHIVE_CRC_MISMATCH",
        "manifest.json",
      );
    });
  }
});

Deno.test("readArchive() rejects more entries than the limit", async (t) => {
  await t.step("declared by the end record, checked before the directory", () => {
    refuse(
      craftZip([manifest], { end: { entriesOnDisk: 1000, entryCount: 1000 } }),
      "LIMIT_ENTRY_COUNT",
      undefined,
      /1000 entries, past the limit of 64/,
    );
  });
  await t.step("with a lower limit", () => {
    const zip = craftZip([manifest, canon, { name: "x.json" }]);
    refuse(zip, "LIMIT_ENTRY_COUNT", undefined, undefined, { maxEntries: 2 });
    assert.equal(readArchive(zip, { maxEntries: 3 }).length, 3);
  });
});

Deno.test("readArchive() rejects an entry larger than the entry limit", async (t) => {
  const data = new Uint8Array(2000).fill(7);
  await t.step("declared size", () => {
    refuse(
      craftZip([{ name: "big.bin", data }]),
      "LIMIT_ENTRY_SIZE",
      "big.bin",
      /declares 2000 uncompressed bytes, past the 1000-byte limit/,
      { maxEntryBytes: 1000 },
    );
  });
  await t.step("actual size when the declared size lies", () => {
    const lie = { uncompressedSize: 10 };
    refuse(
      craftZip([{ name: "big.bin", data, local: lie, central: lie }]),
      "LIMIT_ENTRY_SIZE",
      "big.bin",
      /inflates past the 1000-byte limit/,
      { maxEntryBytes: 1000 },
    );
  });
});

Deno.test("readArchive() rejects entries larger than the total limit", async (t) => {
  const data = new Uint8Array(600).fill(7);
  const limits = { maxTotalBytes: 1000 };
  await t.step("declared sizes", () => {
    refuse(
      craftZip([{ name: "a.bin", data }, { name: "b.bin", data }]),
      "LIMIT_TOTAL_SIZE",
      "b.bin",
      /declared total to 1200 bytes/,
      limits,
    );
  });
  await t.step("actual sizes when a declared size lies", () => {
    const lie = { uncompressedSize: 10 };
    refuse(
      craftZip([{ name: "a.bin", data }, { name: "b.bin", data, local: lie, central: lie }]),
      "LIMIT_TOTAL_SIZE",
      "b.bin",
      /inflates past the 1000-byte total limit/,
      limits,
    );
  });
});

Deno.test("readArchive() rejects an entry compressed past the ratio limit", async (t) => {
  await t.step("1 MiB of zeros", () => {
    refuse(
      craftZip([{ name: "zeros.bin", data: new Uint8Array(MIB) }]),
      "LIMIT_COMPRESSION_RATIO",
      "zeros.bin",
      /past the limit of 200/,
    );
  });
  await t.step("1 MiB of zeros declared as 1 byte", () => {
    const lie = { uncompressedSize: 1 };
    refuse(
      craftZip([{ name: "zeros.bin", data: new Uint8Array(MIB), local: lie, central: lie }]),
      "LIMIT_COMPRESSION_RATIO",
      "zeros.bin",
    );
  });
  await t.step("small entries are exempt", () => {
    const zip = craftZip([{ name: "zeros.bin", data: new Uint8Array(COMPRESSION_RATIO_FLOOR) }]);
    assert.equal(readArchive(zip)[0].data.length, COMPRESSION_RATIO_FLOOR);
  });
});

Deno.test("readArchive() stops inflating a 1 GiB zip bomb at the entry limit", async (t) => {
  const bomb = deflatedZeros(1024);
  const honest = { crc32: bomb.crc32, uncompressedSize: 1024 * MIB };
  const lying = { crc32: bomb.crc32, uncompressedSize: 1000 };
  const cases: [string, typeof honest, Partial<ArchiveLimits> | undefined, number][] = [
    ["declared size, default limits", honest, undefined, DEFAULT_LIMITS.maxEntryBytes],
    ["lying size, default limits", lying, undefined, DEFAULT_LIMITS.maxEntryBytes],
    ["declared size, 1 MiB limit", honest, { maxEntryBytes: MIB }, MIB],
    ["lying size, 1 MiB limit", lying, { maxEntryBytes: MIB }, MIB],
  ];
  for (const [what, fields, limits, limit] of cases) {
    await t.step(what, () => {
      const zip = craftZip([{
        name: "bomb.bin",
        payload: bomb.payload,
        local: fields,
        central: fields,
      }]);
      refuse(zip, "LIMIT_ENTRY_SIZE", "bomb.bin", new RegExp(`the ${limit}-byte limit`), limits);
    });
  }
});

Deno.test("readArchive() refuses mutated archives with PacketError only", async () => {
  const seeds = [
    await writeArchive([manifest as { name: string; data: Uint8Array }, {
      name: "decision_lineage.jsonl",
      data: new Uint8Array(),
    }]),
    craftZip([{ ...canon, descriptor: {} }, { ...manifest, method: 0 }], { comment: text("c") }),
  ];
  // A fixed linear congruential generator: the same mutations on every run.
  let state = 0x9e3779b9;
  const random = (below: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * below);
  };
  for (let i = 0; i < 3000; i++) {
    let bytes: Uint8Array = seeds[i % seeds.length].slice();
    for (let k = random(4); k >= 0; k--) {
      const choice = random(10);
      if (choice < 7) bytes[random(bytes.length)] = random(256);
      else if (choice < 8) bytes = bytes.slice(0, random(bytes.length));
      else {
        const at = random(bytes.length);
        bytes = concat(bytes.subarray(0, at), new Uint8Array([random(256)]), bytes.subarray(at));
      }
    }
    // With fresh buffers and in an arena: the same entries, or the same refusal.
    const outcome = (read: () => ArchiveEntry[]) => {
      try {
        return read().map(({ data, ...fields }) => ({ ...fields, data: [...data] }));
      } catch (error) {
        assert.ok(error instanceof PacketError, `mutation ${i}: ${error}`);
        return error.message;
      }
    };
    assert.deepEqual(
      outcome(() => _readArchiveInto(bytes, {}, arena)),
      outcome(() => readArchive(bytes)),
      `mutation ${i}`,
    );
  }
});

Deno.test("resolveLimits() fills in defaults and refuses invalid limits", async (t) => {
  assert.deepEqual(resolveLimits(), DEFAULT_LIMITS);
  assert.equal(resolveLimits({ maxCompressionRatio: 2.5 }).maxCompressionRatio, 2.5);
  const invalid: Partial<ArchiveLimits>[] = [
    { maxEntries: 0 },
    { maxEntryBytes: -1 },
    { maxTotalBytes: 1.5 },
    { maxCompressionRatio: Number.NaN },
    { maxJsonDepth: Infinity },
  ];
  for (const limits of invalid) {
    await t.step(Object.entries(limits).map(([key, value]) => `${key} ${value}`).join(), () => {
      assert.throws(() => readArchive(craftZip([manifest]), limits), UsageError);
    });
  }
});

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("readLeadingEntry() reads the first entry from the head of a file, and nothing unusual", async (t) => {
  const manifest = text('{"packetName":"JRM_X_PACKET_A"}');
  const other = { name: "canon_entry.json", data: text("{}") };
  const first = (entry: Partial<CraftEntry> = {}) =>
    craftZip([{ name: "manifest.json", data: manifest, ...entry }, other]);
  const read = (zip: Uint8Array, max = 1024) => readLeadingEntry(zip, "manifest.json", max);

  await t.step("deflated or stored, from the whole file or just its head", () => {
    assert.deepEqual(read(first()), manifest);
    assert.deepEqual(read(first({ method: 0 })), manifest);
    const zip = first();
    assert.deepEqual(read(zip.subarray(0, 30 + 13 + deflateRawSync(manifest).length)), manifest);
  });
  await t.step("written by writeArchive", async () => {
    const zip = await writeArchive([{ name: "manifest.json", data: manifest }, other]);
    assert.deepEqual(read(zip), manifest);
  });
  await t.step("undefined (read the file whole) for anything else", () => {
    const cases: [string, Uint8Array, number?][] = [
      ["another entry first", craftZip([other, { name: "manifest.json", data: manifest }])],
      ["a head that ends inside the data", first().subarray(0, 50)],
      ["a head shorter than a local header", first().subarray(0, 20)],
      ["not a zip", text("manifest.json, honestly")],
      ["a data descriptor", first({ descriptor: {} })],
      ["encryption", first({ flags: 0x0001 })],
      ["an unsupported method", first({ method: 12, payload: manifest })],
      ["a CRC that does not match", first({ local: { crc32: 1234 } } as Partial<CraftEntry>)],
      ["a size that lies", first({ local: { uncompressedSize: 5 } } as Partial<CraftEntry>)],
      ["broken deflate", first({ payload: text("\xff\xff not deflate") })],
      ["more than the limit", first(), manifest.length - 1],
      ["a name differing in case", craftZip([{ name: "Manifest.json", data: manifest }, other])],
    ];
    for (const [what, zip, max] of cases) assert.equal(read(zip, max), undefined, what);
  });
});
