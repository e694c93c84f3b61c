import assert from "node:assert/strict";
import { readArchive } from "../core/archive.ts";
import { PacketError } from "../core/errors.ts";
import { inspect } from "../core/gate.ts";
import { parseJsonLines } from "../core/json.ts";
import {
  MAX_COMPARED_MEMBERS,
  MAX_TRACKED_DEPTH,
  T_ABSENT,
  T_ARRAY,
  T_EMPTY_STRING,
  T_FALSE,
  T_NULL,
  T_NUMBER,
  T_OBJECT,
  T_STRING,
  T_TRUE,
  typeMask,
  validateJsonLines as validateEither,
  validateJsonLinesJs,
  validateJsonLinesWasm,
} from "../core/jsonl_validate.ts";
import {
  FAST_RECORD_CHECKS,
  type JsonLinesFile,
  MANIFEST_FILE,
  readPacket,
  RECORD_SHAPES,
} from "../core/packet.ts";
import { generateCorpus } from "../fixtures/corpus.ts";
import { buildTestPacket, jsonl, TEST_ENV, text } from "./_packets.ts";
import { random } from "./_random.ts";

const encoder = new TextEncoder();

/**
 * Every check below runs both walks, which must agree (and the dispatcher with
 * them): the JavaScript reference and the WebAssembly one the tool uses.
 */
function validateJsonLines(...args: Parameters<typeof validateJsonLinesJs>): number {
  const js = validateJsonLinesJs(...args);
  const wasm = validateJsonLinesWasm(...args);
  assert.equal(wasm, js, `the WebAssembly walk says ${wasm}, the JavaScript one ${js}`);
  assert.equal(validateEither(...args), js);
  return js;
}

const JSONL_FILES: JsonLinesFile[] = ["decision_lineage.jsonl", "drift_signal.jsonl"];

/**
 * The exact path: what readPacket decides for a JSON-lines file that it
 * keeps, plus the gate's environment check of its records.
 * @returns the record count, or -1 when the file or a record is refused
 */
function exactPath(
  bytes: Uint8Array,
  maxDepth: number,
  file?: JsonLinesFile,
  environmentId?: string,
): number {
  let records: unknown[];
  try {
    records = parseJsonLines(bytes, { maxDepth, file });
  } catch (error) {
    if (error instanceof PacketError) return -1;
    throw error;
  }
  if (file !== undefined) {
    for (const record of records) {
      if (!FAST_RECORD_CHECKS[file]!(record)) return -1;
      const env = (record as Record<string, unknown>).environmentId;
      if (environmentId !== undefined && env !== undefined && env !== environmentId) return -1;
    }
  }
  return records.length;
}

/** The validator as readPacket calls it for `file`. */
function fastPath(
  bytes: Uint8Array,
  maxDepth: number,
  file?: JsonLinesFile,
  environmentId?: string,
): number {
  if (file === undefined) return validateJsonLines(bytes, maxDepth);
  const { shape } = RECORD_SHAPES[file];
  const expected = environmentId === undefined ? undefined : { environmentId };
  return validateJsonLines(bytes, maxDepth, shape, undefined, expected);
}

// --- grammar ------------------------------------------------------------------

/** [text, valid]: each is one JSON-lines file, checked without a record shape. */
const GRAMMAR_CASES: Record<string, [string, boolean][]> = {
  "literals": [
    ["true", true],
    ["false", true],
    ["null", true],
    ["tru", false],
    ["nul", false],
    ["True", false],
    ["nulll", false],
    ["true false", false],
    ["undefined", false],
    ["NaN", false],
    ["Infinity", false],
  ],
  "numbers": [
    ["0", true],
    ["-0", true],
    ["7", true],
    ["-12", true],
    ["0.5", true],
    ["-0.0", true],
    ["1e5", true],
    ["1E5", true],
    ["1e+5", true],
    ["1e-5", true],
    ["1.25E-07", true],
    ["01", false],
    ["-01", false],
    ["+1", false],
    ["-", false],
    [".5", false],
    ["1.", false],
    ["1.e5", false],
    ["1e", false],
    ["1e+", false],
    ["1e-+5", false],
    ["0x10", false],
    ["1_000", false],
    ["--1", false],
    ["[1,-]", false],
  ],
  "numbers that overflow to Infinity": [
    ["1e308", true],
    ["1.7976931348623157e308", true],
    ["1.7976931348623159e308", false],
    ["1e309", false],
    ["-1e400", false],
    ["1e-400", true],
    ["-1e-400", true],
    ["0e999999", true],
    ["[1E+309]", false],
    ["9".repeat(308), true],
    ["9".repeat(309), false],
    ["-" + "9".repeat(400), false],
    ["0." + "9".repeat(400), true],
    ["123456789012345678901234567890", true],
    ["0.000001e314", true],
    ["0.000001e315", false],
  ],
  "strings": [
    ['""', true],
    ['"abc"', true],
    ['"caf\u00e9 \u65e5\u672c \u{1f600}"', true],
    ['"\u2028\u2029"', true],
    ['"\\" \\\\ \\/ \\b \\f \\n \\r \\t"', true],
    ['"\\u0041\\u00e9\\uD800\\udc00\\uFFFF"', true],
    ['"\\uD800"', false],
    ['"\\udc00\\ud800"', false],
    ['"\\u12"', false],
    ['"\\u12g4"', false],
    ['"\\U0041"', false],
    ['"\\x41"', false],
    ['"\\a"', false],
    ['"\\\'"', false],
    ['"\\0"', false],
    ['"\\', false],
    ['"abc', false],
    ['"a\tb"', false],
    ['"a\rb"', false],
    ['"a\u0000b"', false],
    ['"a\u001fb"', false],
    ['"a\u007fb"', true],
    ["'a'", false],
    ['"a"b"', false],
  ],
  "arrays and objects": [
    ["[]", true],
    ["{}", true],
    ["[1,2,3]", true],
    ['{"a":1,"b":[{}]}', true],
    ['{"a":1,"a":"x"}', false],
    ['[{"a":{"b":1,"c":2,"b":3}}]', false],
    ['{"a":1,"b":{"a":2}}', true],
    ['{"__proto__":{"x":1},"constructor":2}', true],
    ['{"":0}', true],
    ["[1,]", false],
    ["[,1]", false],
    ["[1 2]", false],
    ['{"a":1,}', false],
    ['{"a" 1}', false],
    ['{"a":}', false],
    ["{a:1}", false],
    ["{'a':1}", false],
    ['{"a":1', false],
    ["[1", false],
    ["[1}", false],
    ['{"a":1]', false],
    ["]", false],
    ["}", false],
    ['{"a"}', false],
    ["{1:2}", false],
    ["[][]", false],
  ],
  "white space and lines": [
    [" \t\r1 \t\r", true],
    ['[ 1 , { "a" : 2 } ]', true],
    ["[\t1\r,\r2\t]", true],
    ["1\n2\r\n\r\n  \n3\n", true],
    ["", true],
    ["\n\n \t\r\n", true],
    ["1 2", false],
    ["[1,\n2]", false],
    ['{"a":\n1}', false],
    ["\u00a01", false],
    ["\u20281", false],
    ["\f1", false],
    ["\v1", false],
    ["\ufeff1", false],
    ["1\n\ufeff2", false],
    ["1\n{", false],
    ["1\u0000", false],
    ["/* c */ 1", false],
  ],
};

Deno.test("validateJsonLines() follows the JSON grammar of JSON.parse", async (t) => {
  for (const [rule, cases] of Object.entries(GRAMMAR_CASES)) {
    await t.step(rule, () => {
      for (const [source, valid] of cases) {
        const bytes = encoder.encode(source);
        const expected = exactPath(bytes, 64);
        assert.equal(expected >= 0, valid, `the exact path disagrees with the table on ${source}`);
        assert.equal(validateJsonLines(bytes, 64), expected, JSON.stringify(source));
      }
    });
  }
});

Deno.test("validateJsonLines() refuses malformed UTF-8 and a byte order mark", () => {
  const cases = [
    [0x22, 0xff, 0x22],
    [0x22, 0xc3, 0x22],
    [0x22, 0xed, 0xa0, 0x80, 0x22], // an encoded surrogate
    [0x22, 0xc0, 0xaf, 0x22], // an overlong "/"
    [0xef, 0xbb, 0xbf, 0x31],
  ];
  for (const bytes of cases) {
    assert.equal(exactPath(new Uint8Array(bytes), 64), -1);
    assert.equal(validateJsonLines(new Uint8Array(bytes), 64), -1, String(bytes));
  }
});

Deno.test("validateJsonLines() counts depth as the JSON parser's check does", async (t) => {
  const shapes = [
    (d: number) => "[".repeat(d) + "]".repeat(d),
    (d: number) => '{"a":'.repeat(d - 1) + "{}" + "}".repeat(d - 1),
    (d: number) => "[".repeat(d) + "1" + "]".repeat(d),
    (d: number) => '{"k":[[1],{"x":' + "[".repeat(d) + "]".repeat(d) + "}]}",
  ];
  for (const maxDepth of [0, 1, 2, 3, 8, 64]) {
    await t.step(`maxDepth ${maxDepth}`, () => {
      for (const shape of shapes) {
        for (let depth = 1; depth <= maxDepth + 2; depth++) {
          const bytes = encoder.encode(shape(depth) + "\n1\n");
          const expected = exactPath(bytes, maxDepth);
          assert.equal(validateJsonLines(bytes, maxDepth), expected, shape(depth));
        }
      }
      assert.equal(validateJsonLines(encoder.encode('1\n"x"\nnull'), maxDepth), 3);
    });
  }
  await t.step("beyond the tracked depth, it is not sure", () => {
    const deep = encoder.encode(
      "[".repeat(MAX_TRACKED_DEPTH + 1) + "]".repeat(MAX_TRACKED_DEPTH + 1),
    );
    assert.equal(exactPath(deep, Infinity), 1);
    assert.equal(validateJsonLines(deep, Infinity), -1);
    const limit = encoder.encode("[".repeat(MAX_TRACKED_DEPTH) + "]".repeat(MAX_TRACKED_DEPTH));
    assert.equal(validateJsonLines(limit, Infinity), 1);
  });
  await t.step("a maxDepth the parser refuses is left to the parser", () => {
    for (const maxDepth of [-1, 1.5, NaN]) {
      assert.equal(validateJsonLines(encoder.encode("1"), maxDepth), -1);
    }
  });
});

Deno.test("validateJsonLines() is never sure of an object with two members of one name", () => {
  // I-JSON: the exact path refuses them at any depth (JSON.parse would keep the last).
  const lines = [
    '{"a":1e999,"a":1}',
    '{"a":[[[]]],"a":1}',
    '{"eventId":"e","eventId":"e"}',
    '{"x":[{"k":1,"l":2,"k":1}]}',
    '{"x":{"y":{"z":{"a":1,"abcdefghij":2,"abcdefghij":3}}}}',
    '{"abcdefghik":1,"abcdefghij":2}\n{"a":1,"b":{"c":1,"c":1}}',
    '{"":1,"":2}',
  ];
  for (const source of lines) {
    const bytes = encoder.encode(source);
    assert.equal(exactPath(bytes, 64), -1, source);
    assert.equal(validateJsonLines(bytes, 64), -1, source);
  }
  // With a record shape, a captured field twice, or another name twice next to captured ones.
  const shape = RECORD_SHAPES["decision_lineage.jsonl"].shape;
  for (
    const source of [
      '{"eventId":"e","lane":"a","lane":"a"}',
      '{"lane":"a","eventId":"e","x":1,"x":2}',
      '{"eventId":"e","metadata":{"eventId":1,"eventId":1}}',
    ]
  ) {
    assert.equal(validateJsonLines(encoder.encode(source), 64, shape, () => true), -1, source);
  }
  const others = Array.from({ length: MAX_COMPARED_MEMBERS }, (_, k) => `"o${k}":${k}`).join(",");
  for (
    const [source, count] of [
      ['{"eventId":"e","metadata":{"eventId":1},"x":{"lane":1}}', 1],
      [`{"eventId":"e","lane":"l",${others},"claims":[]}`, 1], // captured fields are not counted
      [`{"eventId":"e","lane":"l",${others},"extra":0}`, -1],
    ] as const
  ) {
    assert.equal(validateJsonLines(encoder.encode(source), 64, shape, () => true), count, source);
  }
  // The same names in different objects, or names alike but for their end, are no duplicates.
  for (
    const source of [
      '{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}',
      '{"abcdefghij":1,"abcdefghik":2,"abcdefgh":3,"abcdefg":4,"abcdef":5}',
      '{"a":{"b":1},"c":{"b":2},"b":3}',
    ]
  ) {
    assert.equal(validateJsonLines(encoder.encode(source), 64), 1, source);
  }
});

Deno.test("validateJsonLines() is never sure of a lone surrogate, in a name or a value", () => {
  const refused = [
    '{"a":"\\ud800"}',
    '{"a":"\\uDBFFx"}',
    '{"a":"\\udc00"}',
    '{"a":"\\ud800\\u0041"}',
    '{"a":"\\ud800\\ud800"}',
    '{"a":"x\\ude00"}',
    '{"x":{"\\ud800":1}}',
    '["\\ud83d"]',
  ];
  for (const source of refused) {
    const bytes = encoder.encode(source);
    assert.equal(exactPath(bytes, 64), -1, source);
    assert.equal(validateJsonLines(bytes, 64), -1, source);
  }
  // A pair is one character (as Python writes non-ASCII text), and an escaped backslash is not
  // an escape.
  for (const source of ['{"a":"\\ud83d\\ude00"}', '["\\uD83D\\uDE00x"]', '["\\\\ud800"]']) {
    const bytes = encoder.encode(source);
    assert.equal(exactPath(bytes, 64), 1, source);
    assert.equal(validateJsonLines(bytes, 64), 1, source);
  }
});

Deno.test("validateJsonLines() compares the names of objects up to MAX_COMPARED_MEMBERS", () => {
  const object = (n: number, last = `k${n - 1}`) =>
    "{" + Array.from({ length: n }, (_, k) => `"${k === n - 1 ? last : `k${k}`}":${k}`).join(",") +
    "}";
  const sure = encoder.encode(`{"deep":[${object(MAX_COMPARED_MEMBERS)}]}`);
  assert.equal(validateJsonLines(sure, 64), 1);
  const wide = encoder.encode(`{"deep":[${object(MAX_COMPARED_MEMBERS + 1)}]}`);
  assert.equal(exactPath(wide, 64), 1);
  assert.equal(validateJsonLines(wide, 64), -1);
  // Past the limit the exact path finds the duplicate, however wide the object.
  const duplicated = encoder.encode(object(100_000, "k0"));
  assert.equal(exactPath(duplicated, 64), -1);
  assert.equal(validateJsonLines(duplicated, 64), -1);
});

// --- records ------------------------------------------------------------------

Deno.test("validateJsonLines() captures the types of top-level fields", () => {
  const shape = { fields: ["a", "b", "c", "d", "e", "f", "g", "h", "caf\u00e9"] };
  const cases: [string, number[]][] = [
    [
      '{"a":"x","b":"","c":1.5,"d":true,"e":false,"f":null,"g":[],"h":{},"caf\u00e9":0}',
      [T_STRING, T_EMPTY_STRING, T_NUMBER, T_TRUE, T_FALSE, T_NULL, T_ARRAY, T_OBJECT, T_NUMBER],
    ],
    ["{}", [0, 0, 0, 0, 0, 0, 0, 0, 0]],
    // Nested fields of the same names are not the record's own.
    ['{"x":{"a":"s","b":[]},"y":[{"c":1}]}', [T_ABSENT, T_ABSENT, T_ABSENT, 0, 0, 0, 0, 0, 0]],
    ['{"a":"\\n","b":"\\u0000"}', [T_STRING, T_STRING, 0, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [source, types] of cases) {
    let seen: number[] = [];
    const count = validateJsonLines(encoder.encode(source), 64, shape, (captured) => {
      seen = [...captured];
      return true;
    });
    assert.equal(count, 1, source);
    assert.deepEqual(seen, types, source);
  }
  // With a shape, every line must be an object.
  for (const source of ["[]", "1", '"a"', "null", '{"a":1}\n[]']) {
    assert.equal(validateJsonLines(encoder.encode(source), 64, shape, () => true), -1, source);
  }
  // An escaped key might spell a field, or another key of its object: not sure, at any depth.
  assert.equal(validateJsonLines(encoder.encode('{"\\u0061":1}'), 64, shape, () => true), -1);
  assert.equal(validateJsonLines(encoder.encode('{"x":{"\\u0061":1}}'), 64, shape, () => true), -1);
  const escaped = encoder.encode('{"a\\u0000b":0,"\\t":1}');
  assert.equal(exactPath(escaped, 64), 1);
  assert.equal(validateJsonLines(escaped, 64), -1);
});

/** Records of every field type, for the record shapes. */
const FIELD_VALUES = ['"x"', '""', "0", "true", "false", "null", "[]", '["a"]', "{}", '{"k":1}'];

Deno.test("RECORD_SHAPES accept exactly what FAST_RECORD_CHECKS accept", async (t) => {
  const valid: Record<JsonLinesFile, Record<string, string>> = {
    "decision_lineage.jsonl": {
      eventId: '"e1"',
      lane: '"triage"',
      whyBullets: '["a"]',
      claims: "[]",
      metadata: '{"ip":"1"}',
    },
    "drift_signal.jsonl": {
      driftId: '"d1"',
      driftType: '"LOCAL"',
      severity: '"low"',
      detectedAt: '"2026-01-01T00:00:00Z"',
      evidenceRefs: "[]",
      notes: '"n"',
    },
  };
  for (const file of JSONL_FILES) {
    await t.step(file, () => {
      const base = valid[file];
      let accepted = 0;
      for (const field of [...Object.keys(base), "extra", "__proto__", "environmentId"]) {
        for (const value of [undefined, ...FIELD_VALUES]) {
          // A Map, so that "__proto__" is a key like any other.
          const members = new Map(Object.entries(base));
          if (value === undefined) members.delete(field);
          else members.set(field, value);
          const line = "{" + [...members].map(([k, v]) => `"${k}":${v}`).join(",") + "}";
          const bytes = encoder.encode(line);
          const expected = exactPath(bytes, 64, file, TEST_ENV);
          assert.equal(fastPath(bytes, 64, file, TEST_ENV), expected, line);
          if (expected === 1) accepted++;
        }
      }
      assert.ok(accepted > 20);
    });
  }
});

Deno.test("validateJsonLines() checks an expected field's value", async (t) => {
  const lineage = (extra: string) => encoder.encode(`{"eventId":"e1"${extra}}\n`);
  const cases: [string, string, boolean][] = [
    ["absent", "", true],
    ["equal", ',"environmentId":"SOC_EAST"', true],
    ["another", ',"environmentId":"SOC_WEST"', false],
    ["a prefix", ',"environmentId":"SOC_EAS"', false],
    ["longer", ',"environmentId":"SOC_EAST_2"', false],
    ["empty", ',"environmentId":""', false],
    ["a number", ',"environmentId":1', false],
    ["null", ',"environmentId":null', false],
    ["an object", ',"environmentId":{"x":"SOC_EAST"}', false],
    ["nested only", ',"x":{"environmentId":"SOC_WEST"}', true],
    ["equal, then another", ',"environmentId":"SOC_EAST","environmentId":"SOC_WEST"', false],
    ["another, then equal", ',"environmentId":"SOC_WEST","environmentId":"SOC_EAST"', false],
    ["null, then equal", ',"environmentId":null,"environmentId":"SOC_EAST"', false],
  ];
  for (const [what, extra, sure] of cases) {
    await t.step(what, () => {
      const bytes = lineage(extra);
      const expected = exactPath(bytes, 64, "decision_lineage.jsonl", TEST_ENV);
      assert.equal(expected, sure ? 1 : -1);
      assert.equal(fastPath(bytes, 64, "decision_lineage.jsonl", TEST_ENV), expected);
    });
  }
  await t.step("an escaped value or key is left to the exact path", () => {
    for (
      const extra of [',"environmentId":"SOC_E\\u0041ST"', ',"environment\\u0049d":"SOC_EAST"']
    ) {
      const bytes = lineage(extra);
      assert.equal(exactPath(bytes, 64, "decision_lineage.jsonl", TEST_ENV), 1);
      assert.equal(fastPath(bytes, 64, "decision_lineage.jsonl", TEST_ENV), -1);
    }
  });
  await t.step("an escape is never compared as its spelling", () => {
    // The record's value is "E" and a newline; the expected one "E", "\\", "n".
    const bytes = lineage(',"environmentId":"E\\n"');
    assert.equal(exactPath(bytes, 64, "decision_lineage.jsonl", "E\\n"), -1);
    assert.equal(fastPath(bytes, 64, "decision_lineage.jsonl", "E\\n"), -1);
  });
  await t.step("non-ASCII values compare as UTF-8", () => {
    const bytes = lineage(',"environmentId":"Z\u00fcrich \u65e5"');
    assert.equal(fastPath(bytes, 64, "decision_lineage.jsonl", "Z\u00fcrich \u65e5"), 1);
    assert.equal(fastPath(bytes, 64, "decision_lineage.jsonl", "Zurich \u65e5"), -1);
  });
  await t.step("an expected lone surrogate, which no UTF-8 spells, is never sure", () => {
    assert.equal(fastPath(lineage(""), 64, "decision_lineage.jsonl", "\ud800"), 1);
    const bytes = lineage(',"environmentId":"\ufffd"');
    assert.equal(fastPath(bytes, 64, "decision_lineage.jsonl", "\ud800"), -1);
  });
  await t.step("an expected field outside the shape is captured too", () => {
    const bytes = encoder.encode('{"a":"x"}\n{"b":1}\n');
    assert.equal(validateJsonLines(bytes, 64, undefined, undefined, { a: "x" }), 2);
    assert.equal(validateJsonLines(bytes, 64, undefined, undefined, { a: "y" }), -1);
    assert.equal(validateJsonLines(encoder.encode("[]"), 64, undefined, undefined, { a: "x" }), -1);
  });
});

// --- differential fuzz ----------------------------------------------------------

const NUMBERS = [
  "0",
  "-0",
  "1",
  "-17",
  "0.5",
  "3.25e2",
  "1e308",
  "1e309",
  "-1e400",
  "1e-400",
  "1.7976931348623157e308",
  "1.7976931348623159e308",
  "9".repeat(400),
  "1" + "0".repeat(308),
  "1" + "0".repeat(309),
  "123456789012345678",
  "0.12345678901234567890123",
  "2E+3",
  "-2e-3",
  "1E400",
];
const STRINGS = [
  "",
  "x",
  "SOC_EAST",
  "SOC_WEST",
  "caf\u00e9",
  "\u65e5\u672c",
  "\u2028",
  "\\n",
  "\\u0041",
  "\\ud800",
  "\\/",
  "\\\\",
  'a\\"b',
  "\u{1f600}",
];
const KEYS = [
  "eventId",
  "lane",
  "whyBullets",
  "claims",
  "metadata",
  "driftId",
  "driftType",
  "severity",
  "detectedAt",
  "evidenceRefs",
  "environmentId",
  "__proto__",
  "constructor",
  "extra",
  "",
  "event\\u0049d",
  "environment\\u0049d",
  "\\t",
  "a\\\\",
];
const SPACES = ["", "", "", "", " ", "\t", "\r", " \t"];
/** Bytes a mutation writes: structure, escapes, controls, non-ASCII lead bytes. */
const MUTATION_BYTES = [
  0x22,
  0x5c,
  0x7b,
  0x7d,
  0x5b,
  0x5d,
  0x3a,
  0x2c,
  0x30,
  0x31,
  0x65,
  0x2d,
  0x2e,
  0x75,
  0x6e,
  0x20,
  0x09,
  0x0d,
  0x0a,
  0x00,
  0x1f,
  0x7f,
  0x80,
  0xc3,
  0xff,
];

class Fuzz {
  /** Whether the file made has an object with a repeated key (both paths refuse it). */
  duplicated = false;
  /** Whether the file being made is meant to be valid: records that fit, no mutations. */
  clean = false;
  constructor(readonly next: () => number) {}
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  space(): string {
    return this.pick(SPACES);
  }
  string(): string {
    return `"${this.pick(STRINGS)}"`;
  }
  value(depth: number): string {
    const kind = this.int(depth > 3 ? 6 : 9);
    switch (kind) {
      case 0:
        return this.pick(NUMBERS);
      case 1:
      case 2:
        return this.string();
      case 3:
        return this.pick(["true", "false", "null"]);
      case 4:
        return String(this.int(1000) - 500);
      case 5:
        return this.nested();
      case 6:
      case 7: {
        const items = Array.from({ length: this.int(4) }, () => this.value(depth + 1));
        return this.container("[", items, "]");
      }
      default: {
        const keys = Array.from({ length: this.int(4) }, () => this.pick(KEYS));
        this.noteKeys(keys);
        const members = keys.map((key) =>
          `"${key}"${this.space()}:${this.space()}${this.value(depth + 1)}`
        );
        return this.container("{", members, "}");
      }
    }
  }
  noteKeys(keys: string[]): void {
    const decoded = keys.map((key) => JSON.parse(`"${key}"`));
    if (new Set(decoded).size < decoded.length) this.duplicated = true;
  }
  /** Nesting around the depth limits the fuzz uses. */
  nested(): string {
    const depth = this.int(7);
    return this.chance(0.5)
      ? "[".repeat(depth) + "]".repeat(depth)
      : '{"a":'.repeat(depth) + "0" + "}".repeat(depth);
  }
  container(open: string, items: string[], close: string): string {
    return open + this.space() + items.join(`${this.space()},${this.space()}`) + this.space() +
      close;
  }
  /** A record that mostly fits `file`'s shape, with fields added, retyped and duplicated. */
  record(file: JsonLinesFile | undefined): string {
    if (file === undefined && this.chance(0.3)) return this.value(0);
    const fields = file === undefined
      ? RECORD_SHAPES["decision_lineage.jsonl"].shape.fields
      : RECORD_SHAPES[file].shape.fields;
    const good: Record<string, () => string> = {
      eventId: () => this.string(),
      driftId: () => this.string(),
      driftType: () => this.string(),
      lane: () => this.string(),
      severity: () => this.string(),
      detectedAt: () => this.string(),
      whyBullets: () => this.container("[", [this.string()], "]"),
      claims: () => "[]",
      evidenceRefs: () =>
        this.container("[", this.chance(0.3) ? [this.string(), this.value(2)] : [], "]"),
      metadata: () => `{"ip":${this.value(2)}}`,
    };
    const keys: string[] = [];
    const members: string[] = [];
    for (const [index, field] of fields.entries()) {
      // The first field of each shape is required.
      if (this.chance(0.1) && (index > 0 || !this.clean)) continue;
      keys.push(field);
      const fits = this.clean || this.chance(0.9);
      members.push(`"${field}":${this.space()}${fits ? good[field]() : this.value(1)}`);
    }
    for (let extra = this.int(3); extra > 0 && !this.clean; extra--) {
      const key = this.chance(0.3) ? this.pick(fields) : this.pick(KEYS);
      const value = key === "environmentId" && this.chance(0.6)
        ? this.pick(['"SOC_EAST"', '"SOC_WEST"', '"SOC_E\\u0041ST"'])
        : this.value(1);
      keys.push(key);
      members.splice(this.int(members.length + 1), 0, `"${key}"${this.space()}:${value}`);
    }
    this.noteKeys(keys);
    return this.container("{", members, "}");
  }
  /** A file of records with blank lines, CRLF or LF, and byte mutations. */
  file(file: JsonLinesFile | undefined): Uint8Array {
    this.duplicated = false;
    this.clean = this.chance(0.5);
    const eol = this.chance(0.2) ? "\r\n" : "\n";
    const lines: string[] = [];
    for (let n = 1 + this.int(4); n > 0; n--) {
      if (this.chance(0.15)) lines.push(this.pick(["", " ", "\t\r", "  \t"]));
      lines.push(this.space() + this.record(file) + this.space());
    }
    const bytes = [...encoder.encode(lines.join(eol) + (this.chance(0.7) ? eol : ""))];
    if (!this.clean) {
      for (let m = 1 + this.int(3); m > 0; m--) {
        const at = this.int(bytes.length + 1);
        switch (this.int(5)) {
          case 0:
            bytes[at] = this.pick(MUTATION_BYTES);
            break;
          case 1:
            bytes.splice(at, 0, this.pick(MUTATION_BYTES));
            break;
          case 2:
            bytes.splice(at, 1);
            break;
          case 3:
            bytes.length = at;
            break;
          default:
            bytes.splice(at, 0, ...bytes.slice(this.int(bytes.length), this.int(bytes.length)));
        }
      }
    }
    return new Uint8Array(bytes.filter((byte) => byte !== undefined));
  }
}

Deno.test("validateJsonLines() never accepts what the exact path refuses (differential fuzz)", async (t) => {
  const fuzz = new Fuzz(random(0x5eed));
  const rounds = 4000;
  for (const file of [undefined, ...JSONL_FILES]) {
    await t.step(file ?? "without a record shape", () => {
      let sure = 0;
      let valid = 0;
      let duplicated = 0;
      for (let round = 0; round < rounds; round++) {
        const bytes = fuzz.file(file);
        const maxDepth = fuzz.pick([0, 1, 2, 3, 4, 64, 64, 64]);
        const env = fuzz.pick(["SOC_EAST", "SOC_EAST", "SOC_WEST", "\u00e9", "\ud800"]);
        const expected = exactPath(bytes, maxDepth, file, env);
        const fast = fastPath(bytes, maxDepth, file, env);
        const shown = () => JSON.stringify(new TextDecoder().decode(bytes));
        if (fast >= 0) {
          assert.equal(fast, expected, `accepted ${shown()} at maxDepth ${maxDepth}`);
          sure++;
        }
        if (expected >= 0) valid++;
        // Without escapes (whose keys it cannot compare) the validator decides exactly, files
        // with duplicate keys included.
        const comparable = !bytes.includes(0x5c) && (file === undefined || env !== "\ud800");
        if (comparable) {
          assert.equal(fast, expected, `${shown()} at maxDepth ${maxDepth}, env ${env}`);
          if (fuzz.duplicated) duplicated++;
        }
      }
      // The fuzz reaches both verdicts often, and duplicates too.
      assert.ok(sure > rounds / 10, `only ${sure} sure`);
      assert.ok(rounds - valid > rounds / 10, `only ${rounds - valid} refused`);
      assert.ok(duplicated > rounds / 100, `only ${duplicated} with duplicates decided exactly`);
    });
  }
});

// --- real packets and readPacket ------------------------------------------------

Deno.test("validateJsonLines() is sure of the benchmark corpus's files", async () => {
  const corpus = await generateCorpus({
    environments: ["SOC_A", "SOC_B"],
    packetsPerEnvironment: 2,
    signatures: 28,
    eventsPerPacket: 40,
  });
  let checked = 0;
  for (const packet of corpus.packets) {
    const entries = new Map(readArchive(packet.bytes).map((entry) => [entry.name, entry.data]));
    const { environmentId } = JSON.parse(new TextDecoder().decode(entries.get(MANIFEST_FILE)));
    for (const file of JSONL_FILES) {
      const data = entries.get(file)!;
      const count = fastPath(data, 64, file, environmentId);
      assert.ok(count >= 0, `not sure of ${file} of ${packet.fileName}`);
      assert.equal(count, exactPath(data, 64, file, environmentId));
      checked += count;
    }
  }
  assert.ok(checked >= corpus.packets.length * 40);
});

const BENCH_CORPUS = new URL("../bench/.cache/corpus-4x25-5000e-5000s/packets/", import.meta.url);
const hasBenchCorpus = (() => {
  try {
    return Deno.statSync(BENCH_CORPUS).isDirectory;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "validateJsonLines() is sure of the cached benchmark corpus's files",
  ignore: !hasBenchCorpus,
  fn() {
    const names = [...Deno.readDirSync(BENCH_CORPUS)].map((e) => e.name).sort().slice(0, 2);
    for (const name of names) {
      const archive = readArchive(Deno.readFileSync(new URL(name, BENCH_CORPUS)));
      const entries = new Map(archive.map((entry) => [entry.name, entry.data]));
      const { environmentId } = JSON.parse(new TextDecoder().decode(entries.get(MANIFEST_FILE)));
      for (const file of JSONL_FILES) {
        assert.ok(fastPath(entries.get(file)!, 64, file, environmentId) > 0, `${name} ${file}`);
      }
    }
  },
});

Deno.test("readPacket() with materializeRecords false keeps counts, not records", async () => {
  const { bytes } = await buildTestPacket();
  const kept = readPacket(bytes);
  const counted = readPacket(bytes, { materializeRecords: false });
  assert.deepEqual(counted.violations, []);
  assert.equal(kept.packet!.decisionLineage.length, 2);
  assert.equal(kept.packet!.recordCounts, undefined);
  assert.deepEqual(counted.packet!.decisionLineage, []);
  assert.deepEqual(counted.packet!.driftSignals, []);
  assert.deepEqual(counted.packet!.recordCounts, {
    "decision_lineage.jsonl": 2,
    "drift_signal.jsonl": 1,
  });
  assert.deepEqual(inspect(counted), inspect(kept));
});

Deno.test("readPacket() reports the same violations whether it keeps records or not", async (t) => {
  const lineage = (...lines: string[]) => text(lines.join("\n") + "\n");
  const cases: [string, Record<string, Uint8Array | null>][] = [
    ["a lineage line that is not JSON", {
      "decision_lineage.jsonl": lineage('{"eventId":"e1"', "{"),
    }],
    ["a line too deep", {
      "decision_lineage.jsonl": lineage(
        '{"eventId":"e","x":' + "[".repeat(80) + "]".repeat(80) + "}",
      ),
    }],
    ["a number too large", {
      "drift_signal.jsonl": lineage('{"driftId":"d","driftType":"t","x":1e999}'),
    }],
    ["a record of the wrong shape", { "decision_lineage.jsonl": lineage('{"eventId":""}') }],
    ["a record the zod schema accepts", {
      "drift_signal.jsonl": lineage('{"driftId":"d","driftType":"t","evidenceRefs":null}'),
    }],
    ["a record that is no object", { "decision_lineage.jsonl": lineage("[1]") }],
    ["malformed UTF-8", { "decision_lineage.jsonl": new Uint8Array([0x7b, 0xff, 0x7d]) }],
    ["a byte order mark", { "decision_lineage.jsonl": text('\ufeff{"eventId":"e"}') }],
    ["a record of another environment", {
      "decision_lineage.jsonl": jsonl([{ eventId: "e1" }, {
        eventId: "e2",
        environmentId: "SOC_WEST",
      }]),
    }],
    ["an environment spelled with an escape", {
      "decision_lineage.jsonl": lineage('{"eventId":"e","environment\\u0049d":"SOC_WEST"}'),
    }],
    ["an environment that is not a string", {
      "drift_signal.jsonl": lineage('{"driftId":"d","driftType":"t","environmentId":7}'),
    }],
    ["a record of this environment", {
      "decision_lineage.jsonl": jsonl([{ eventId: "e1", environmentId: TEST_ENV }]),
    }],
    ["an empty file", { "drift_signal.jsonl": new Uint8Array() }],
    ["a missing file", { "drift_signal.jsonl": null }],
  ];
  for (const [what, files] of cases) {
    await t.step(what, async () => {
      const { bytes } = await buildTestPacket({ files });
      const kept = readPacket(bytes);
      const counted = readPacket(bytes, { materializeRecords: false });
      assert.deepEqual(counted.violations, kept.violations);
      assert.deepEqual(inspect(counted).violations, inspect(kept).violations);
    });
  }
  await t.step("a broken manifest", async () => {
    const { bytes } = await buildTestPacket({
      editEntries: (entries) => entries.set(MANIFEST_FILE, text("{")),
    });
    const counted = readPacket(bytes, { materializeRecords: false });
    assert.deepEqual(counted.violations, readPacket(bytes).violations);
    assert.equal(counted.packet, undefined);
  });
});

// --- the WebAssembly walk ----------------------------------------------------------

Deno.test("the WebAssembly walk agrees with the JavaScript one on long strings, numbers and depth", () => {
  // String bodies are skipped 16 bytes at a time: put quotes, escapes and control bytes at
  // every offset around the 16-byte steps, and numbers the host must judge finite.
  const next = random(0x51d);
  const int = (n: number) => Math.floor(next() * n);
  const good = ["a", "é", "€", "𝄞", '\\"', "\\\\", "\\n", "\\u00e9"];
  const bad = ["\\u12", "\\x", "\t", "\u0001"];
  const string = () => {
    let body = "";
    for (let n = int(40); n > 0; n--) {
      const roll = next();
      body += roll < 0.85 ? "abcdefgh"[int(8)] : roll < 0.997 ? good[int(8)] : bad[int(4)];
    }
    return `"${body}"`;
  };
  const finite = ["0", "-0", "12", "1.5", "1e3", "1E+308", "0.0e-999", "12345678901234567890"];
  const wrong = ["1e309", "-1e999", "1".repeat(400), "01", "1.", "-", "2e", "3e+"];
  const value = (depth: number): string => {
    const roll = int(depth > 6 ? 3 : 6);
    if (roll === 0) return string();
    if (roll === 1) return next() < 0.97 ? finite[int(8)] : wrong[int(8)];
    if (roll === 2) return ["true", "false", "null", "nul", "tru"][int(5)];
    if (roll === 3) return `[${Array.from({ length: int(4) }, () => value(depth + 1)).join(",")}]`;
    const members = Array.from({ length: int(4) }, () => `${string()}:${value(depth + 1)}`);
    return `{${members.join(",")}}`;
  };
  let sure = 0;
  let refused = 0;
  for (let round = 0; round < 3000; round++) {
    const lines = Array.from({ length: 1 + int(4) }, () => {
      const fields = ["eventId", "environmentId", "lane"].filter(() => next() < 0.6);
      const members = fields.map((field) => `"${field}":${next() < 0.7 ? string() : value(1)}`);
      return next() < 0.8 ? `{${members.join(",")}}` : value(0);
    });
    const text = lines.join(next() < 0.2 ? "\r\n" : "\n");
    const bytes = encoder.encode(text);
    const maxDepth = [1, 2, 3, 8, 64][int(5)];
    const shape = next() < 0.5 ? { fields: ["eventId", "lane"] } : undefined;
    const accept = shape && ((types: Uint8Array) => types[0] !== T_NUMBER);
    const expected = next() < 0.5 ? { environmentId: "SOC_EAST" } : undefined;
    // The wrapper asserts that the walks agree.
    const answer = validateJsonLines(bytes, maxDepth, shape, accept, expected);
    if (answer >= 0) sure++;
    else refused++;
  }
  assert.ok(sure > 600 && refused > 600, `sure ${sure}, refused ${refused}`);
});

Deno.test("the WebAssembly walk takes inputs above its kept memory on an instance of their own", () => {
  const line = encoder.encode(`{"eventId":"${"x".repeat(1000)}","lane":"triage"}\n`);
  const count = Math.ceil((17 * 1024 * 1024) / line.length);
  const bytes = new Uint8Array(line.length * count);
  for (let i = 0; i < count; i++) bytes.set(line, i * line.length);
  const shape = { fields: ["eventId"] };
  const accept = (types: Uint8Array) => types[0] === T_STRING;
  assert.equal(validateJsonLines(bytes, 64, shape, accept), count);
  bytes[bytes.length - 10] = 0x01; // a control byte in the last string
  assert.equal(validateJsonLines(bytes, 64, shape, accept), -1);
  // A small input afterwards still goes to the kept instance and is right.
  assert.equal(validateJsonLines(line, 64, shape, accept), 1);
});

Deno.test("an accept callback that validates again gets the JavaScript walk, and both are right", () => {
  const outer = encoder.encode('{"eventId":"a"}\n{"eventId":"b"}\n');
  const inner = encoder.encode('{"eventId":"c"}\n[1,{"x":1e999}]\n');
  const inners: (number | undefined)[] = [];
  const accept = (types: Uint8Array) => {
    inners.push(validateJsonLinesWasm(inner, 64), validateEither(inner, 64));
    return types[0] === T_STRING;
  };
  assert.equal(validateJsonLinesWasm(outer, 64, { fields: ["eventId"] }, accept), 2);
  // Inside a walk the WebAssembly one declines (undefined); the dispatcher answers anyway.
  assert.deepEqual(inners, [undefined, -1, undefined, -1]);
});

Deno.test("the embedded WebAssembly was built from the AssemblyScript source in the repository", async () => {
  const { SOURCE_SHA256 } = await import("../core/jsonl_validate_wasm.ts");
  const { SOURCE, sourceDigest } = await import("../scripts/build_wasm.ts");
  const source = await Deno.readTextFile(new URL(`../${SOURCE}`, import.meta.url));
  assert.equal(
    SOURCE_SHA256,
    await sourceDigest(source),
    `${SOURCE} changed since core/jsonl_validate_wasm.ts was built: run \`deno task wasm\``,
  );
});

Deno.test("type masks refuse a field of another type, in both walks, before accept is asked", () => {
  const shape = {
    fields: ["id", "tags", "note"],
    types: [typeMask(T_STRING), typeMask(T_ABSENT, T_ARRAY)], // "note": no mask, any type
  };
  const asked: string[] = [];
  const accept = (types: Uint8Array) => {
    asked.push([...types].join(""));
    return true;
  };
  const lines = (text: string) => validateJsonLines(encoder.encode(text), 64, shape, accept);
  assert.equal(lines('{"id":"a","tags":[],"note":1}\n{"id":"b","note":{}}\n'), 2);
  assert.equal(lines('{"id":"a","tags":{}}\n'), -1);
  assert.equal(lines('{"id":""}\n'), -1); // the empty string is its own type
  assert.equal(lines('{"tags":[]}\n'), -1); // "id" absent
  // accept saw only the records that passed the masks: the wrapper runs three walks
  // (JavaScript, WebAssembly, the dispatcher's), each asking once per record.
  assert.deepEqual(asked, ["173", "108", "173", "108", "173", "108"]);
  assert.equal(typeMask(), 0);
  assert.equal(typeMask(T_ABSENT, T_OBJECT), 0b100000001);
});
