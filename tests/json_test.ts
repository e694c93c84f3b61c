import assert from "node:assert/strict";
import { PacketError, type ViolationCode } from "../core/errors.ts";
import { parseJson, parseJsonLines } from "../core/json.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

/** Run `read`, check it throws a PacketError with `code` in the house style, and return it. */
function assertRefused(read: () => unknown, code: ViolationCode, entry?: string): PacketError {
  let caught: unknown;
  try {
    read();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PacketError, `expected a PacketError, got ${caught}`);
  assert.equal(caught.violation.code, code);
  assert.equal(caught.violation.entry, entry);
  assert.equal(caught.violation.message, caught.message);
  assert.match(caught.message, /^Cannot parse /);
  assert.doesNotMatch(caught.message, /\.$/);
  if (entry !== undefined) assert.ok(caught.message.includes(`"${entry}"`), caught.message);
  return caught;
}

// --- parseJson: values -----------------------------------------------------

Deno.test("parseJson() parses UTF-8 bytes and strings into plain values", () => {
  const source = '{"a": [1, 2.5, "caf\\u00e9", "Z\u00fcrich", true, false, null], "b": {}}';
  const expected = { a: [1, 2.5, "caf\u00e9", "Z\u00fcrich", true, false, null], b: {} };
  assert.deepEqual(parseJson(bytes(source)), expected);
  assert.deepEqual(parseJson(source), expected);
  assert.equal(parseJson(" 42 "), 42);
  assert.equal(parseJson('"\\ud83d\\ude00"'), "\u{1f600}");
});

Deno.test("parseJson() keeps __proto__ and constructor as own data properties", () => {
  const value = parseJson(
    bytes('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}'),
  ) as Record<string, unknown>;
  assert.ok(Object.hasOwn(value, "__proto__"));
  assert.ok(Object.hasOwn(value, "constructor"));
  assert.deepEqual(value["__proto__"], { polluted: true });
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
});

Deno.test("parseJson() keeps __proto__ an own property on the slow path too", () => {
  // A key holding a backslash sends the text through the slow parser.
  const value = parseJson('{"a\\\\": 1, "__proto__": {"polluted": true}}') as Record<
    string,
    unknown
  >;
  assert.ok(Object.hasOwn(value, "__proto__"));
  assert.deepEqual(Object.keys(value), ["a\\", "__proto__"]);
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("parseJson() reads an escaped key right after V8 saw a key ending in a backslash", async (t) => {
  // V8's JSON.parse (Deno 2.9) can answer the cached key "\\" for an escaped
  // key once an object with the same earlier keys had "\\" there.
  const cases: [poison: string, source: string, key: string][] = [
    ['{"json-probe-1": 1, "\\\\": 2}', '{"json-probe-1": 1, "\\t": 2}', "\t"],
    ['{"json-probe-2": 1, "\\\\": 2}', '{"json-probe-2": 1, "\\u0000": 2}', "\u0000"],
    ['{"json-probe-3": 1, "x\\\\": 2}', '{"json-probe-3": 1, "x\\n": 2}', "x\n"],
  ];
  for (const [poison, source, key] of cases) {
    await t.step(JSON.stringify(key), () => {
      JSON.parse(poison);
      const value = parseJson(source) as Record<string, unknown>;
      assert.deepEqual(Object.keys(value).slice(1), [key]);
    });
  }
  await t.step("within one document", () => {
    const value = parseJson('[{"k": 1, "\\\\": 2}, {"k": 1, "\\"": 3}]');
    assert.deepEqual(value, [{ k: 1, "\\": 2 }, { k: 1, '"': 3 }]);
  });
  await t.step("in JSON lines", () => {
    const values = parseJsonLines('{"j": 1, "\\\\": 2}\n{"j": 1, "\\/": 3}\n');
    assert.deepEqual(values, [{ j: 1, "\\": 2 }, { j: 1, "/": 3 }]);
  });
});

Deno.test("parseJson() gives the slow path's result the same as JSON.parse's", async (t) => {
  const sources = [
    '{"a\\\\": [1, -0, 2.5e-3, 1E2, "x\\u00e9\\n\\"\\/", true, false, null, {}, []]}',
    ' { "a\\\\" : { "b" : [ { } , [ ] ] } , "c" : 2 } ',
    '{"a\\\\": "\\ud83d\\ude00 \\uD83D\\uDE00"}',
  ];
  for (const source of sources) {
    await t.step(source, () => assert.deepEqual(parseJson(source), JSON.parse(source)));
  }
});

// --- parseJson: refusals ---------------------------------------------------

Deno.test("parseJson() is JSON_INVALID for malformed JSON, naming the file and place", async (t) => {
  const cases: [source: string, message: RegExp][] = [
    ['{"a": 1,\n  "b" 2}', /^Cannot parse "manifest\.json": .+ at line 2 column 7$/],
    ["[1, 2", /^Cannot parse "manifest\.json": .+ at line 1 column 6$/],
    ["", /^Cannot parse "manifest\.json": Unexpected end of JSON input$/],
    ["NaN", /^Cannot parse "manifest\.json": Unexpected token 'N' at line 1 column 1$/],
    ["[\n Infinity]", /^Cannot parse "manifest\.json": Unexpected token 'I' at line 2 column 2$/],
    ["[\u0001]", /^Cannot parse "manifest\.json": Unexpected token U\+0001 at line 1 column 2$/],
    ["[1] [2]", /after JSON at line 1 column 5$/],
    ['"tab\there"', /Bad control character/],
    ["{'a': 1}", /^Cannot parse "manifest\.json": /],
  ];
  for (const [source, message] of cases) {
    await t.step(JSON.stringify(source), () => {
      const err = assertRefused(
        () => parseJson(bytes(source), { file: "manifest.json" }),
        "JSON_INVALID",
        "manifest.json",
      );
      assert.match(err.message, message);
    });
  }
});

Deno.test("parseJson() does not quote untrusted source text in its message", () => {
  const secret = "x".repeat(200);
  const err = assertRefused(() => parseJson(`{"a": ${secret}}`), "JSON_INVALID");
  assert.ok(!err.message.includes(secret.slice(0, 20)), err.message);
  assert.equal(err.message, "Cannot parse JSON: Unexpected token 'x' at line 1 column 7");
});

Deno.test("parseJson() is JSON_INVALID for bytes that are not UTF-8", async (t) => {
  const cases: [name: string, data: number[]][] = [
    ["a stray continuation byte", [0x22, 0x80, 0x22]],
    ["0xff", [0x22, 0xff, 0x22]],
    ["an overlong encoding", [0x22, 0xc0, 0xaf, 0x22]],
    ["an encoded surrogate", [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ["a truncated sequence", [0x22, 0xe2, 0x82]],
  ];
  for (const [name, data] of cases) {
    await t.step(name, () => {
      const err = assertRefused(
        () => parseJson(new Uint8Array(data), { file: "truth_snapshot.json" }),
        "JSON_INVALID",
        "truth_snapshot.json",
      );
      assert.equal(
        err.message,
        'Cannot parse "truth_snapshot.json": the bytes are not valid UTF-8',
      );
    });
  }
});

Deno.test("parseJson() is JSON_INVALID for a leading byte order mark", () => {
  for (const input of [new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), "\ufeff{}"]) {
    const err = assertRefused(() => parseJson(input, { file: "a.json" }), "JSON_INVALID", "a.json");
    assert.equal(
      err.message,
      'Cannot parse "a.json": it starts with a byte order mark (U+FEFF)',
    );
  }
  // Inside a string a U+FEFF is only a character.
  assert.equal(parseJson(new Uint8Array([0x22, 0xef, 0xbb, 0xbf, 0x22])), "\ufeff");
});

Deno.test("parseJson() is JSON_NON_FINITE for a number that overflows to Infinity", async (t) => {
  const sources = [
    "1e400",
    "-1e400",
    "[1, 2, 1E+309]",
    '{"a": {"b": [-2e308]}}',
    "1" + "0".repeat(400),
  ];
  for (const source of sources) {
    await t.step(source.slice(0, 30), () => {
      const err = assertRefused(
        () => parseJson(source, { file: "canon_entry.json" }),
        "JSON_NON_FINITE",
        "canon_entry.json",
      );
      assert.equal(
        err.message,
        'Cannot parse "canon_entry.json": a number is too large and overflows to Infinity',
      );
    });
  }
  await t.step("1e-400 underflows to 0 and is accepted", () => {
    assert.equal(parseJson("1e-400"), 0);
  });
});

Deno.test("parseJson() is LIMIT_JSON_DEPTH for nesting deeper than maxDepth", async (t) => {
  await t.step("64 levels pass by default, 65 do not", () => {
    assert.equal((parseJson(nested(64)) as unknown[]).length, 1);
    const err = assertRefused(
      () => parseJson(nested(65), { file: "memory_graph.json" }),
      "LIMIT_JSON_DEPTH",
      "memory_graph.json",
    );
    assert.equal(
      err.message,
      'Cannot parse "memory_graph.json": arrays and objects are nested deeper than 64 levels',
    );
  });
  await t.step("objects count as levels", () => {
    parseJson('{"a": {"b": 1}}', { maxDepth: 2 });
    assertRefused(() => parseJson('{"a": {"b": {}}}', { maxDepth: 2 }), "LIMIT_JSON_DEPTH");
  });
  await t.step("maxDepth 0 accepts only a scalar", () => {
    assert.equal(parseJson("7", { maxDepth: 0 }), 7);
    assertRefused(() => parseJson("[]", { maxDepth: 0 }), "LIMIT_JSON_DEPTH");
  });
  await t.step("a deep branch after shallow ones", () => {
    const source = `[[1], {"a": 2}, ${nested(4)}]`;
    parseJson(source, { maxDepth: 5 });
    assertRefused(() => parseJson(source, { maxDepth: 4 }), "LIMIT_JSON_DEPTH");
  });
  await t.step("a million levels without exhausting the stack", () => {
    assertRefused(() => parseJson(nested(1_000_000)), "LIMIT_JSON_DEPTH");
    assert.equal(typeof parseJson(nested(100_000), { maxDepth: Infinity }), "object");
  });
});

Deno.test("parseJson() refuses a maxDepth that is not an integer >= 0", () => {
  for (const maxDepth of [-1, 1.5, NaN]) {
    assert.throws(() => parseJson("1", { maxDepth }), RangeError);
  }
});

// --- parseJsonLines --------------------------------------------------------

Deno.test("parseJsonLines() parses each non-blank line", () => {
  const text = '{"eventId": "e1"}\n\n  \n[1, 2]\r\n"three"\n\t\n';
  assert.deepEqual(parseJsonLines(bytes(text)), [{ eventId: "e1" }, [1, 2], "three"]);
  assert.deepEqual(parseJsonLines("1\n2"), [1, 2]);
});

Deno.test("parseJsonLines() gives [] for an empty or blank file", async (t) => {
  for (const text of ["", "\n", "\n\n", "  \r\n\t\n"]) {
    await t.step(JSON.stringify(text), () => {
      assert.deepEqual(parseJsonLines(bytes(text)), []);
    });
  }
});

Deno.test("parseJsonLines() names the file and the line of an error", async (t) => {
  const file = "decision_lineage.jsonl";
  await t.step("JSON_INVALID", () => {
    const err = assertRefused(
      () => parseJsonLines(bytes('{"a": 1}\n\n{"a": }\n'), { file }),
      "JSON_INVALID",
      file,
    );
    assert.match(err.message, /^Cannot parse line 3 of "decision_lineage\.jsonl": /);
  });
  await t.step("JSON_INVALID with a column", () => {
    const err = assertRefused(
      () => parseJsonLines("1\n[1, 2 3]", { file }),
      "JSON_INVALID",
      file,
    );
    assert.match(err.message, /^Cannot parse line 2 of "decision_lineage\.jsonl": .+ at column 7$/);
  });
  await t.step("a value split over two lines", () => {
    const err = assertRefused(() => parseJsonLines('{"a":\n1}\n', { file }), "JSON_INVALID", file);
    assert.match(err.message, /line 1 of/);
  });
  await t.step("JSON_NON_FINITE", () => {
    const err = assertRefused(
      () => parseJsonLines("1\n2\n[3e999]\n", { file }),
      "JSON_NON_FINITE",
      file,
    );
    assert.match(err.message, /^Cannot parse line 3 of "decision_lineage\.jsonl": /);
  });
  await t.step("LIMIT_JSON_DEPTH, per line", () => {
    assert.equal(parseJsonLines(`${nested(3)}\n${nested(3)}`, { maxDepth: 3 }).length, 2);
    const err = assertRefused(
      () => parseJsonLines(`${nested(3)}\n${nested(4)}`, { maxDepth: 3, file }),
      "LIMIT_JSON_DEPTH",
      file,
    );
    assert.match(err.message, /^Cannot parse line 2 of "decision_lineage\.jsonl": /);
  });
  await t.step("without a file name", () => {
    const err = assertRefused(() => parseJsonLines("1\nx"), "JSON_INVALID");
    assert.match(err.message, /^Cannot parse line 2 of the input: /);
  });
  await t.step("invalid UTF-8 and a byte order mark", () => {
    assertRefused(
      () => parseJsonLines(new Uint8Array([0x31, 0x0a, 0xff]), { file }),
      "JSON_INVALID",
      file,
    );
    assertRefused(() => parseJsonLines("\ufeff1\n2", { file }), "JSON_INVALID", file);
  });
});

Deno.test("parseJsonLines() keeps __proto__ an own property on every line", () => {
  const values = parseJsonLines('{"__proto__": {"polluted": 1}}\n{"__proto__": null}\n') as Record<
    string,
    unknown
  >[];
  for (const value of values) {
    assert.ok(Object.hasOwn(value, "__proto__"));
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

// --- I-JSON: duplicate member names and lone surrogates ----------------------------

/** Both parsers the module has: JSON.parse and its checks, and (keys holding a backslash) the slow one. */
const SLOW = '"slow\\\\": 0, ';

Deno.test("parseJson() refuses an object with two members of one name, at any depth", async (t) => {
  const cases: [source: string, shown: string][] = [
    ['{"environmentId": "A", "environmentId": "B"}', '"environmentId"'],
    ['{"a": {"b": {"c": [{"d": 1, "e": 2, "d": 1}]}}}', '"d"'],
    ['{"signature": {"value": "x"}, "part": 1, "signature": null}', '"signature"'],
    ['{"__proto__": 1, "__proto__": 2}', '"__proto__"'],
    ['{"a": 1, "\\u0061": 2}', '"a"'],
    ['{"time:": "10:00", "time:": "10:00"}', '"time:"'],
    ['{"": 1, "": 1}', '""'],
    ['{"x\\u001b[2J": 1, "x\\u001b[2J": 2}', '"x\\u{001B}[2J"'],
    ['{"\\u202e": 1, "\\u202e": 2}', '"\\u{202E}"'],
    [`{"${"k".repeat(100)}": 1, "${"k".repeat(100)}": 2}`, `"${"k".repeat(80)}"…`],
  ];
  for (const [source, shown] of cases) {
    await t.step(source.slice(0, 60), () => {
      for (const text of [source, source.replace("{", `{${SLOW}`)]) {
        const err = assertRefused(
          () => parseJson(bytes(text), { file: "manifest.json" }),
          "JSON_DUPLICATE_KEY",
          "manifest.json",
        );
        assert.ok(err.message.includes(`the member name ${shown} appears twice`), err.message);
        // deno-lint-ignore no-control-regex
        assert.doesNotMatch(err.message, /[\u0000-\u001f\u202e]/);
      }
    });
  }
  await t.step("the place: the line and column of the second name", () => {
    const err = assertRefused(
      () => parseJson('{\n  "a": 1,\n  "a": 2\n}', { file: "x.json" }),
      "JSON_DUPLICATE_KEY",
      "x.json",
    );
    assert.match(err.message, /at line 3 column 3$/);
  });
  await t.step("in JSON lines, naming the line", () => {
    const err = assertRefused(
      () => parseJsonLines('{"a": 1}\n{"b": {"c": 1, "c": 2}}\n', { file: "drift_signal.jsonl" }),
      "JSON_DUPLICATE_KEY",
      "drift_signal.jsonl",
    );
    assert.match(err.message, /^Cannot parse line 2 of "drift_signal\.jsonl": the member name "c"/);
  });
  await t.step("in a wide object, in linear time", () => {
    const members = Array.from({ length: 200_000 }, (_, k) => `"k${k}": ${k}`);
    const source = `{${members.join(", ")}, "k123456": 0}`;
    assertRefused(() => parseJson(source), "JSON_DUPLICATE_KEY");
  });
});

Deno.test("parseJson() accepts what only looks like a duplicate", () => {
  // Colons in strings, and the same names in different objects, are not dropped members.
  const sources = [
    '{"t": "10:00:00", "u": "a:b:c", "v": {"t": "x:"}}',
    '{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}',
    '{"a": "\\u003a", "b": ":"}',
    '{"a:\\u003a": "\\u003a:"}',
    '[{"k": 1}, {"k": 2}]',
  ];
  for (const source of sources) {
    assert.deepEqual(parseJson(source), JSON.parse(source), source);
    assert.deepEqual(parseJsonLines(`${source}\n${source}`), [
      JSON.parse(source),
      JSON.parse(source),
    ]);
  }
});

Deno.test("parseJson() refuses a lone surrogate in a name or a value", async (t) => {
  const cases: [source: string, message: RegExp][] = [
    ['"sig:\\ud800"', /the string "sig:\\u\{D800\}" holds a lone surrogate \(U\+D800\)/],
    ['["\\udc00"]', /the string "\\u\{DC00\}" holds a lone surrogate \(U\+DC00\)/],
    ['{"\\uDBFF": 1}', /the member name "\\u\{DBFF\}" holds a lone surrogate \(U\+DBFF\)/],
    ['{"a": "\\ud83d\\ude00\\ud83d"}', /holds a lone surrogate \(U\+D83D\)/],
    ['{"a": "\\ude00\\ud83d"}', /holds a lone surrogate \(U\+DE00\)/],
    ['{"a": {"b": ["x", "\\ud800\\u0041"]}}', /holds a lone surrogate \(U\+D800\)/],
  ];
  for (const [source, message] of cases) {
    await t.step(source, () => {
      const variants = [source, source.startsWith("{") ? source.replace("{", `{${SLOW}`) : source];
      for (const text of variants) {
        const err = assertRefused(
          () => parseJson(bytes(text), { file: "canon_entry.json" }),
          "JSON_LONE_SURROGATE",
          "canon_entry.json",
        );
        assert.match(err.message, message);
      }
    });
  }
  await t.step("a raw lone surrogate in a string given by a caller", () => {
    assertRefused(() => parseJson('["\ud800"]'), "JSON_LONE_SURROGATE");
  });
  await t.step("a raw encoding of a surrogate is not UTF-8", () => {
    // CESU-8 / WTF-8 spell U+D800 as ED A0 80, which strict UTF-8 refuses.
    const raw = new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]);
    assertRefused(() => parseJson(raw), "JSON_INVALID");
  });
  await t.step("pairs, and an escaped backslash before u, are no lone surrogates", () => {
    assert.equal(parseJson('"\\ud83d\\ude00 \\uD83D\\uDE00"'), "\u{1f600} \u{1f600}");
    assert.equal(parseJson('"\\\\ud800"'), "\\ud800");
  });
});
