import assert from "node:assert/strict";
import { readArchive } from "../core/archive.ts";
import { countCanonEntries, scanCanonFile } from "../core/canon_scan.ts";
import { canonTextsCount, decodeCanonTexts } from "../core/canon_texts.ts";
import { PacketError } from "../core/errors.ts";
import { parseJson } from "../core/json.ts";
import { fastCanonFileCheck, readPacket } from "../core/packet.ts";
import { generateCorpus } from "../fixtures/corpus.ts";

const encoder = new TextEncoder();

/**
 * The exact path: parse the file, check it as readPacket does, and cut it
 * into texts as the gate's packCanon does.
 * @returns the parsed file and its entries, or undefined when the file is refused
 */
function exactPath(bytes: Uint8Array, maxDepth: number) {
  let value: unknown;
  try {
    value = parseJson(bytes, { maxDepth, file: "canon_entry.json" });
  } catch (error) {
    if (error instanceof PacketError) return undefined;
    throw error;
  }
  if (!fastCanonFileCheck(value)) return undefined;
  const file = value as { entries: Record<string, Record<string, unknown>> };
  const keys = Object.keys(file.entries);
  const renamed: [number, string][] = [];
  keys.forEach((key, index) => {
    const id = file.entries[key].signatureId;
    if (typeof id === "string" && id !== key) renamed.push([index, id]);
  });
  return { file, keys, renamed };
}

/** The scan, when it answers (and the rest of the file passes, as readPacket asks), gives what the exact path gives. */
function agree(bytes: Uint8Array, maxDepth = 64): boolean {
  const scanned = scanCanonFile(bytes, maxDepth);
  const exact = exactPath(bytes, maxDepth);
  const shown = () => new TextDecoder().decode(bytes).slice(0, 400);
  if (scanned === undefined || !fastCanonFileCheck(scanned.top)) return false;
  assert.ok(exact, `the scan accepted what the exact path refuses: ${shown()}`);
  const { keys, texts } = decodeCanonTexts(scanned.canon);
  // Both ways of decoding agree (one decode then slices, or each piece on its own).
  assert.deepEqual(decodeCanonTexts(scanned.canon, { own: true }), { keys, texts });
  assert.equal(canonTextsCount(scanned.canon), exact.keys.length);
  assert.deepEqual(keys, exact.keys, shown());
  assert.deepEqual(scanned.canon.renamed, exact.renamed, shown());
  texts.forEach((text, index) => {
    assert.ok(!/[ \n\r\t]/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, "")), `not compact: ${text}`);
    assert.deepEqual(parseJson(text), exact.file.entries[exact.keys[index]], shown());
  });
  assert.deepEqual(scanned.top, { ...exact.file, entries: {} }, shown());
  return true;
}

Deno.test("scanCanonFile() cuts a corpus's canon files exactly as parsing them does", async () => {
  for (const snapshotCanon of [false, true]) {
    const corpus = await generateCorpus({
      environments: ["SOC_A", "SOC_B"],
      packetsPerEnvironment: 2,
      signatures: 40,
      eventsPerPacket: 3,
      snapshotCanon,
    });
    for (const packet of corpus.packets) {
      const canon = readArchive(packet.bytes).find((entry) => entry.name === "canon_entry.json")!;
      assert.ok(agree(canon.data), `not sure of ${packet.fileName}`);
    }
  }
});

Deno.test("scanCanonFile() answers only when sure, and then exactly", async (t) => {
  const cases: [string, boolean][] = [
    ['{"entries":{}}', true],
    ['{"environmentId":"E","entries":{"s":{}},"generatedAt":"x","extra":[1,{"a":null}]}', true],
    ['  {\n\t"entries" : {\r\n "s" : { "rev" : 0 } } }\n ', true],
    [
      '{"entries":{"s":{"rev":3,"previousRev":-2,"confidence":0,"patchId":"p","lineage":[]}}}',
      true,
    ],
    [
      '{"entries":{"s":{"confidence":1.000,"changes":[{"action":"a"},{"action":"b","field":"f"}]}}}',
      true,
    ],
    ['{"entries":{"s":{"confidence":0.999999999999999999999}}}', true],
    ['{"entries":{"s":{"signatureId":"t"},"u":{"signatureId":"u"}}}', true],
    ['{"entries":{"s\\u0041":{"signatureId":"sA"},"\\u00e9":{"signatureId":"\\u00e9"}}}', true],
    ['{"entries":{"é":{"statement":"ünïcode ✓ 𝄞","x":"\\"q\\\\"}}}', true],
    // Names one letter off a checked field's are other fields: values the field refuses pass.
    [
      '{"entries":{"s":{"signatureIX":7,"signatureid":7,"previousReX":"x","previousrev":"x"}}}',
      true,
    ],
    ['{"entries":{"s":{"reX":"x","Rev":"x","patchIX":1,"lineagX":1,"changeX":1}}}', true],
    ['{"entries":{"s":{"confidencX":2,"confidenceX":2,"revs":"x","re":"x"}}}', true],
    ['{"entries":{"s":{"x":1,"rev":"x"}}}', false],
    ['{"entries":{"s":{"x":1,"previousRev":"x"}}}', false],
    ['{"entries":{"s":{"x":1,"patchId":1}}}', false],
    ['{"entries":{"s":{"x":1,"changes":1}}}', false],
    ['{"entries":{"s":{"x":1,"confidence":2}}}', false],
    ['{"entries":{"s":{"rev":1,"rev":2}}}', false], // a repeated field: the exact path decides
    ['{"entries":{"s":{"x":1,"x":2}}}', false], // I-JSON, any field
    ['{"entries":{"s":{"lastUpdatedAt":"a","rev":1,"lastUpdatedAt":"a"}}}', false],
    ['{"entries":{"s":{"changes":[{"action":"a","detail":1,"detail":1}]}}}', false],
    // Fields the spec names but does not check hold anything, once each.
    [
      '{"entries":{"s":{"statement":{"x":[1]},"changes":[{"action":"a","from":{"k":1},"to":[1],"detail":null}]}}}',
      true,
    ],
    ['{"entries":{"s":{"changes":[{"action":"a","to":1,"to":2}]}}}', false],
    ['{"entries":{"s":{"x":{"y":[{"abcdefgh1":1,"abcdefgh1":2}]}}}}', false],
    ['{"entries":{"s":{"x":{"\\u0079":1}}}}', false], // an escaped name could be another
    ['{"entries":{"s":{"x":"\\ud800"}}}', false],
    ['{"entries":{"s":{"signatureId":"\\udfff"}}}', false],
    ['{"entries":{"\\ud800":{}}}', false],
    ['{"environmentId":"E","environmentId":"E","entries":{}}', false],
    ['{"entries":{"s":{"x":{"a":1},"y":{"a":1},"a":[{"a":1},{"a":1}]}}}', true],
    ['{"entries":{"s":{"abcdefgh1":1,"abcdefgh2":2,"abcdefg":3,"abcdef":4}}}', true],
    ['{"entries":{"s":{"statement":"\\ud83d\\ude00 \\\\ud800"}}}', true],
    ['{"entries":{"s":{}},"entries":{}}', false],
    ['{"entries":{"s":{},"s":{"rev":1}}}', false],
    ['{"entries":{"12":{},"a":{}}}', false], // an array index: Object.keys order differs
    ['{"entries":{"__proto__":{}}}', false],
    ['{"entries":{"s":{"rev":-1}}}', false],
    ['{"entries":{"s":{"rev":1.0}}}', false], // zod takes it; the scan leaves it to zod
    ['{"entries":{"s":{"rev":1e2}}}', false],
    ['{"entries":{"s":{"rev":"1"}}}', false],
    ['{"entries":{"s":{"confidence":1.5}}}', false],
    ['{"entries":{"s":{"confidence":-0}}}', false],
    ['{"entries":{"s":{"confidence":5e-1}}}', false],
    ['{"entries":{"s":{"lineage":["a",1]}}}', false],
    ['{"entries":{"s":{"lineage":"a"}}}', false],
    ['{"entries":{"s":{"changes":[{"field":"f"}]}}}', false],
    ['{"entries":{"s":{"changes":[{"action":1}]}}}', false],
    ['{"entries":{"s":{"changes":[{"action":"a","field":{}}]}}}', false],
    ['{"entries":{"s":{"changes":["a"]}}}', false],
    ['{"entries":{"s":{"patchId":null}}}', false],
    ['{"entries":{"s":{"signatureId":7}}}', false],
    ['{"entries":{"s":{"sign\\u0061tureId":7}}}', false], // an escaped key could be a field
    ['{"entr\\u0069es":{}}', false],
    ['{"entries":{"s":[]}}', false],
    ['{"entries":[]}', false],
    ['{"entries":{"s":{}}', false],
    ['{"entries":{"s":{}}} x', false],
    ['{"entries":{"s":{"x":1e999}}}', false],
    ['{"entries":{"s":{"x":[1,]}}}', false],
    ['{"environmentId":"","entries":{}}', false],
    ['{"environmentId":5,"entries":{}}', false],
    ["[1]", false],
    ['{"no":"entries"}', false],
    ['\ufeff{"entries":{}}', false],
  ];
  for (const [text, sure] of cases) {
    await t.step(text, () => assert.equal(agree(encoder.encode(text)), sure));
  }
  await t.step("what the scan is not sure of for I-JSON, the exact path refuses", () => {
    for (
      const text of [
        '{"entries":{"s":{"x":1,"x":2}}}',
        '{"entries":{"s":{"x":{"y":[{"abcdefgh1":1,"abcdefgh1":2}]}}}}',
        '{"entries":{"s":{"x":"\\ud800"}}}',
        '{"entries":{"\\ud800":{}}}',
        '{"entries":{"s":{},"s":{}}}',
      ]
    ) {
      assert.equal(exactPath(encoder.encode(text), 64), undefined, text);
    }
  });
  await t.step("an entry of more than 32 members is left to the exact path", () => {
    const entry = (n: number) =>
      `{"entries":{"s":{${Array.from({ length: n }, (_, k) => `"f${k}":${k}`).join(",")}}}}`;
    assert.equal(agree(encoder.encode(entry(32))), true);
    assert.equal(agree(encoder.encode(entry(33))), false);
    assert.ok(exactPath(encoder.encode(entry(33)), 64));
  });
  await t.step("nesting deeper than allowed is left to the exact path", () => {
    const deep = `{"entries":{"s":{"x":${"[".repeat(10)}${"]".repeat(10)}}}}`;
    assert.equal(agree(encoder.encode(deep), 13), true);
    assert.equal(agree(encoder.encode(deep), 12), false);
    assert.equal(exactPath(encoder.encode(deep), 12), undefined);
  });
  await t.step(
    "a file of very many tiny entries is scanned, small or large",
    () => {
      const file = (count: number) =>
        encoder.encode(
          `{"entries":{${Array.from({ length: count }, (_, i) => `"k${i}":{}`).join(",")}}}`,
        );
      assert.equal(agree(file(1000)), true); // more than one entry per 64 bytes
      assert.equal(agree(file(20_000)), true); // needs the second, roomier pass
    },
  );
  await t.step("malformed UTF-8 is refused", () => {
    const bytes = encoder.encode('{"entries":{"s":{"x":"ab"}}}');
    bytes[23] = 0xff;
    assert.equal(scanCanonFile(bytes, 64), undefined);
  });
});

Deno.test("scanCanonFile() never disagrees with the exact path (differential fuzz)", () => {
  let seed = 0xc0ffee;
  const random = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed / 2 ** 32;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const space = () => pick(["", "", "", " ", "\n  ", "\t", "\r\n    "]);
  const string = () =>
    JSON.stringify(pick(["p1", "sig-1", "é", 'a"b', "a\\b", "\u0000", "𝄞", ""])).replace(
      /a/g,
      () => pick(["a", "a", "\\u0061"]),
    );
  const numbers = [
    "0",
    "1",
    "2",
    "-3",
    "0.5",
    "1.0",
    "1.5",
    "1e0",
    "-0",
    "12345678901234567",
    "1e999",
  ];
  const value = (depth: number): string => {
    const roll = Math.floor(random() * (depth > 3 ? 4 : 6));
    if (roll === 0) return string();
    if (roll === 1) return pick(numbers);
    if (roll === 2) return pick(["true", "false", "null"]);
    if (roll === 3) return pick(["[]", "{}"]);
    if (roll === 4) return `[${space()}${value(depth + 1)}${space()},${value(depth + 1)}]`;
    return `{${string()}:${space()}${value(depth + 1)}}`;
  };
  const fields: Record<string, () => string> = {
    signatureId: () => random() < 0.8 ? pick(['"s1"', '"s2"', '"s\\u0031"']) : value(3),
    rev: () => random() < 0.8 ? pick(["0", "1", "7"]) : pick(numbers),
    previousRev: () => random() < 0.8 ? pick(["0", "-1", "6"]) : pick(numbers),
    patchId: () => random() < 0.9 ? string() : value(3),
    lineage: () => random() < 0.8 ? `[${string()},${space()}${string()}]` : value(3),
    changes: () =>
      random() < 0.8
        ? `[{"action":${string()},"field":${string()},"to":${value(4)}}]`
        : pick(['[{"field":"f"}]', '[{"action":"a","field":1}]', "[1]", value(3)]),
    confidence: () => random() < 0.8 ? pick(["0", "0.25", "1", "1.00"]) : pick(numbers),
    statement: () => value(3),
  };
  let sure = 0;
  let refused = 0;
  const rounds = 3000;
  for (let round = 0; round < rounds; round++) {
    const entries: string[] = [];
    for (let e = Math.floor(random() * 4); e > 0; e--) {
      const members = Object.keys(fields).filter(() => random() < 0.5).map((name) =>
        `${random() < 0.03 ? '"rev"' : JSON.stringify(name)}:${space()}${fields[name]()}`
      );
      const key = random() < 0.9
        ? pick(['"s1"', '"s2"', '"s3"', '"é"'])
        : pick(['"5"', '"__proto__"', '"s\\u0031"']);
      entries.push(`${space()}${key}${space()}:${space()}{${members.join(`,${space()}`)}}`);
    }
    const top = [`"entries":${space()}{${entries.join(",")}}`];
    if (random() < 0.5) top.unshift(`"environmentId":${pick(['"E"', '""', "3"])}`);
    if (random() < 0.3) top.push(`"extra":${value(1)}`);
    let bytes = encoder.encode(`${space()}{${top.join(",")}}${space()}`);
    if (random() < 0.2) {
      const at = Math.floor(random() * bytes.length);
      bytes = bytes.slice();
      bytes[at] = pick([0x22, 0x5c, 0x7b, 0x7d, 0x2c, 0x20, 0x31, 0x00, 0xff]);
    }
    const maxDepth = pick([64, 64, 64, 4, 5]);
    if (agree(bytes, maxDepth)) sure++;
    if (exactPath(bytes, maxDepth) === undefined) refused++;
  }
  assert.ok(sure > rounds / 5, `only ${sure} sure`);
  assert.ok(refused > rounds / 10, `only ${refused} refused`);
});

Deno.test("readPacket() with canonAsText gives the same packet as without", async () => {
  const corpus = await generateCorpus({
    environments: ["SOC_A", "SOC_B"],
    packetsPerEnvironment: 2,
    signatures: 30,
    eventsPerPacket: 3,
  });
  for (const { bytes } of corpus.packets) {
    const plain = readPacket(bytes).packet!;
    const scanned = readPacket(bytes, { canonAsText: true }).packet!;
    assert.ok(scanned.canonTexts, "the scan was not sure of a corpus packet");
    assert.deepEqual(scanned.canonEntry, { ...plain.canonEntry, entries: {} });
    const { keys, texts } = decodeCanonTexts(scanned.canonTexts);
    const entries = Object.fromEntries(keys.map((key, i) => [key, JSON.parse(texts[i])]));
    assert.deepEqual(entries, plain.canonEntry.entries);
  }
});

Deno.test("scanCanonFile() sends keys crafted to collide in its table to the exact path", () => {
  // packKeys hashes keys with FNV-1a, which is not keyed: keys chosen so that all of them land
  // in one slot would make its table quadratic. Past a probe budget the scan is not sure.
  const fnv1a = (text: string) => {
    let hash = 2166136261;
    for (const byte of encoder.encode(text)) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
    return hash;
  };
  const count = 300;
  const slots = 1024; // 2 * 300 + 1 rounded up to a power of two
  const colliding: string[] = [];
  for (let i = 0; colliding.length < count; i++) {
    if ((fnv1a(`k${i}`) & (slots - 1)) === 0) colliding.push(`k${i}`);
  }
  const file = (keys: string[]) =>
    encoder.encode(JSON.stringify({ entries: Object.fromEntries(keys.map((k) => [k, {}])) }));
  assert.equal(scanCanonFile(file(colliding), 64), undefined);
  // The same number of ordinary keys is cut as usual, and the exact path reads the crafted file.
  const ordinary = Array.from({ length: count }, (_, i) => `k${i}`);
  assert.equal(canonTextsCount(scanCanonFile(file(ordinary), 64)!.canon), count);
  assert.equal(Object.keys(exactPath(file(colliding), 64)!.file.entries).length, count);
});

Deno.test("scanCanonFile() stops past maxEntries, and countCanonEntries() counts as it does", () => {
  const file = (count: number, entry = "{}") =>
    encoder.encode(
      `{"environmentId":"E","entries":{${
        Array.from({ length: count }, (_, i) => `"k${i}":${entry}`).join(",")
      }},"x":{"k":{}}}`,
    );
  for (const count of [0, 1, 9, 10, 11, 5000]) {
    const bytes = file(count);
    const scanned = scanCanonFile(bytes, 64, 10);
    if (count <= 10) {
      assert.notEqual(scanned, "too many");
      assert.equal(canonTextsCount((scanned as Exclude<typeof scanned, "too many">)!.canon), count);
    } else {
      assert.equal(scanned, "too many", `${count} entries`);
    }
    assert.equal(countCanonEntries(bytes, 10), Math.min(count, 11));
    assert.equal(countCanonEntries(bytes, Infinity), count);
  }
  // Entries the scan is not sure of are counted all the same.
  const unsure = file(20, '{"rev":1.0,"x":{"a":[1,{"b":"}"}]}}');
  assert.equal(scanCanonFile(unsure, 64, 100), undefined);
  assert.equal(countCanonEntries(unsure, 100), 20);
  // Strings holding brackets, quotes and colons, an escaped "entries", white space.
  const tricky = encoder.encode(
    '{ "a\\"": {"entries": {"n": 1}}, "entr\\u0069es" : {\n "x\\":{" : [ "]}" ],\n "y" : {} } }',
  );
  assert.equal(countCanonEntries(tricky, 10), 2);
});
