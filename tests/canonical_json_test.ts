import assert from "node:assert/strict";
import {
  _canonicalStringGeneral,
  type CanonicalForm,
  canonicalize,
  canonicalString,
  JsonNumber,
  parseLossless,
} from "../core/canonical_json.ts";
import { PacketError, type ViolationCode } from "../core/errors.ts";

const REPO_ROOT = new URL("../", import.meta.url);
const VECTORS = new URL("fixtures/vectors/canonical-json.json", REPO_ROOT);
const SHARED_VECTORS = new URL("../shared/vectors/canonical-json.json", REPO_ROOT);

/** One test vector made by the reference (Python) signer. */
interface Vector {
  name: string;
  source: string;
  key: string;
  canonical: string;
  hmacSha256: string;
}

const encoder = new TextEncoder();
const vectors: Vector[] = JSON.parse(Deno.readTextFileSync(VECTORS));

function exists(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function hmacSha256Hex(key: string, data: Uint8Array<ArrayBuffer>): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data));
  return Array.from(mac, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** deepsigma-v1 text of a JSON source read losslessly. */
function deepsigma(source: string): string {
  return canonicalString(parseLossless(source));
}

function assertRefused(read: () => unknown, code: ViolationCode): PacketError {
  let caught: unknown;
  try {
    read();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PacketError, `expected a PacketError, got ${caught}`);
  assert.equal(caught.violation.code, code);
  assert.match(caught.message, /^Cannot parse /);
  assert.doesNotMatch(caught.message, /\.$/);
  return caught;
}

/** A double from its IEEE 754 bits, as RFC 8785 Appendix B lists them. */
function doubleFromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

// --- the reference vectors -------------------------------------------------

Deno.test("canonicalize() gives every reference vector its canonical bytes and HMAC", async (t) => {
  assert.ok(vectors.length > 0);
  for (const vector of vectors) {
    await t.step(vector.name, async () => {
      const bytes = canonicalize(parseLossless(vector.source));
      assert.deepEqual(bytes, encoder.encode(vector.canonical));
      assert.equal(await hmacSha256Hex(vector.key, bytes), vector.hmacSha256);
    });
  }
});

Deno.test({
  name: "fixtures/vectors/canonical-json.json is a byte-identical copy of the shared vectors",
  ignore: !exists(SHARED_VECTORS),
  fn() {
    assert.deepEqual(Deno.readFileSync(VECTORS), Deno.readFileSync(SHARED_VECTORS));
  },
});

// --- deepsigma-v1: numbers -------------------------------------------------

Deno.test("canonicalize() writes floats as Python's repr does", async (t) => {
  // Expected values printed by CPython 3.11: json.dumps(json.loads(source)).
  const cases: [source: string, python: string][] = [
    ["1.0", "1.0"],
    ["0.0", "0.0"],
    ["-0.0", "-0.0"],
    ["0.1", "0.1"],
    ["0.0001", "0.0001"],
    ["0.00001", "1e-05"],
    ["1e-05", "1e-05"],
    ["1e-07", "1e-07"],
    ["1.2345e-05", "1.2345e-05"],
    ["0.00012345", "0.00012345"],
    ["-2.5E-3", "-0.0025"],
    ["1e15", "1000000000000000.0"],
    ["1000000000000000.0", "1000000000000000.0"],
    ["9999999999999998.0", "9999999999999998.0"],
    ["1e16", "1e+16"],
    ["1E16", "1e+16"],
    ["1e+16", "1e+16"],
    ["12345678901234567.0", "1.2345678901234568e+16"],
    ["100000000000000000000.0", "1e+20"],
    ["1e22", "1e+22"],
    ["1.5e300", "1.5e+300"],
    ["0.3333333333333333", "0.3333333333333333"],
    ["0.30000000000000004", "0.30000000000000004"],
    ["123.456", "123.456"],
    ["1e0", "1.0"],
    ["10.0e-1", "1.0"],
    ["5e-324", "5e-324"],
    ["1.7976931348623157e308", "1.7976931348623157e+308"],
    ["1e-400", "0.0"],
    ["-1e-400", "-0.0"],
  ];
  for (const [source, python] of cases) {
    await t.step(`canonicalize() writes ${source} as Python does (${python})`, () => {
      assert.equal(deepsigma(source), python);
      assert.equal(deepsigma(`[${source}]`), `[${python}]`);
    });
  }
});

Deno.test("canonicalize() writes 1e-07 as Python does", () => {
  assert.equal(deepsigma('{"small": 1e-7}'), '{"small":1e-07}');
});

Deno.test("canonicalize() keeps integers exact at any size", async (t) => {
  const cases: [source: string, python: string][] = [
    ["0", "0"],
    ["-0", "0"],
    ["42", "42"],
    ["-17", "-17"],
    ["9007199254740993", "9007199254740993"],
    ["12345678901234567890", "12345678901234567890"],
    ["-12345678901234567890123", "-12345678901234567890123"],
    ["1" + "0".repeat(400), "1" + "0".repeat(400)],
  ];
  for (const [source, python] of cases) {
    await t.step(
      `${source.length > 30 ? source.slice(0, 30) + "…" : source} → ${python.slice(0, 30)}`,
      () => {
        assert.equal(deepsigma(source), python);
      },
    );
  }
});

Deno.test("canonicalize() writes JavaScript numbers and bigints", async (t) => {
  const cases: [value: unknown, canonical: string][] = [
    [1, "1"],
    [-0, "0"],
    [1.5, "1.5"],
    [1e-7, "1e-07"],
    [0.1, "0.1"],
    [1e21, "1000000000000000000000"],
    [2 ** 64, "18446744073709551616"],
    [12345678901234567890n, "12345678901234567890"],
    [-5n, "-5"],
  ];
  for (const [value, canonical] of cases) {
    await t.step(`${String(value)} → ${canonical}`, () => {
      assert.equal(canonicalString(value), canonical);
    });
  }
});

// --- deepsigma-v1: strings and keys ----------------------------------------

Deno.test("canonicalize() sorts keys by code point, not by UTF-16 code unit", () => {
  // U+1F600 is the pair D83D DE00, below U+E000 and U+FFFF in code units but above them as a code point.
  const source = '{"\\ud83d\\ude00": 2, "\\uffff": 3, "z": 4, "\\ue000": 1}';
  assert.equal(deepsigma(source), '{"z":4,"\\ue000":1,"\\uffff":3,"\\ud83d\\ude00":2}');
  // JCS sorts by code unit, so the astral key comes first there.
  assert.equal(
    canonicalString(parseLossless(source), "jcs"),
    '{"z":4,"\u{1F600}":2,"\ue000":1,"\uffff":3}',
  );
});

Deno.test("canonicalize() sorts a lone surrogate key as its own code point", () => {
  // Python: U+D800 < U+E000 < U+1F600. (Packets cannot hold one, I-JSON; a caller's value can.)
  const value = { "\ud83d\ude00": 3, "\ue000": 2, "\ud800": 1 };
  assert.equal(canonicalString(value), '{"\\ud800":1,"\\ue000":2,"\\ud83d\\ude00":3}');
  // A lone high surrogate sorts before the pair that starts with it.
  assert.equal(
    canonicalString({ "\ud83d\ude00": 2, "\ud83dA": 1, "\ud83d\ue000": 3 }),
    '{"\\ud83dA":1,"\\ud83d\\ue000":3,"\\ud83d\\ude00":2}',
  );
});

Deno.test("canonicalize() escapes strings as Python's ensure_ascii does", async (t) => {
  const cases: [value: string, python: string][] = [
    ["plain ~ text", '"plain ~ text"'],
    ['quote " backslash \\', '"quote \\" backslash \\\\"'],
    ["\n\r\t\b\f", '"\\n\\r\\t\\b\\f"'],
    ["\u0000\u0007\u001f", '"\\u0000\\u0007\\u001f"'],
    ["\u007f\u0080", '"\\u007f\\u0080"'],
    ["caf\u00e9 \u2014 \u2028", '"caf\\u00e9 \\u2014 \\u2028"'],
    ["\u{1F600}", '"\\ud83d\\ude00"'],
    ["/", '"/"'],
  ];
  for (const [value, python] of cases) {
    await t.step(python, () => assert.equal(canonicalString(value), python));
  }
});

Deno.test("canonicalize() writes lone surrogates as escapes, as Python does", () => {
  assert.equal(
    canonicalString(["\ud800", "\udfff x", "a\udc00"]),
    '["\\ud800","\\udfff x","a\\udc00"]',
  );
  assert.equal(canonicalString("\ud800"), '"\\ud800"');
  assert.equal(canonicalString("\udfff", "jcs"), '"\\udfff"');
});

Deno.test("canonicalize() writes true, false and null", () => {
  assert.equal(
    canonicalString({ b: true, a: null, c: false, "d/": "/" }),
    '{"a":null,"b":true,"c":false,"d/":"/"}',
  );
});

Deno.test("canonicalize() gives only ASCII bytes in deepsigma-v1", () => {
  const bytes = canonicalize(parseLossless('{"k\u00fc": "\u{1F600}\u00e9"}'));
  assert.ok(bytes.every((byte) => byte >= 0x20 && byte <= 0x7e));
  assert.equal(new TextDecoder().decode(bytes), '{"k\\u00fc":"\\ud83d\\ude00\\u00e9"}');
});

// --- refusals --------------------------------------------------------------

Deno.test("canonicalize() refuses values JSON cannot hold", async (t) => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const cases: [name: string, value: unknown, message: RegExp][] = [
    ["NaN", NaN, /^Cannot canonicalize NaN at \$/],
    ["Infinity", { a: [Infinity] }, /^Cannot canonicalize Infinity at \$\.a\[0\]/],
    ["-Infinity", -Infinity, /-Infinity/],
    ["a JsonNumber that overflows", [new JsonNumber("1e400")], /1e400 at \$\[0\]/],
    ["undefined in an array", [1, undefined], /undefined at \$\[1\]/],
    ["undefined at the top", undefined, /undefined at \$/],
    ["a function", { "a b": () => 1 }, /function at \$\["a b"\]/],
    ["a symbol", Symbol("x"), /symbol/],
    ["a Date", { when: new Date(0) }, /a Date object at \$\.when/],
    ["a Map", new Map(), /a Map object/],
    ["a circular structure", circular, /a circular structure at \$\.self/],
  ];
  for (const [name, value, message] of cases) {
    await t.step(name, () => {
      for (const form of ["deepsigma-v1", "jcs"] as const) {
        assert.throws(() => canonicalize(value, form), (err: unknown) => {
          assert.ok(err instanceof TypeError);
          assert.match(err.message, message);
          return true;
        });
      }
    });
  }
});

Deno.test("canonicalize() leaves out object properties that are undefined, as JSON.stringify does", () => {
  const value = { b: 1, a: undefined, c: { d: undefined } };
  assert.equal(canonicalString(value), '{"b":1,"c":{}}');
  assert.equal(canonicalString(value, "jcs"), JSON.stringify({ b: 1, c: {} }));
});

Deno.test("canonicalize() refuses an unknown form", () => {
  assert.throws(
    () => canonicalize({}, "c14n" as CanonicalForm),
    /^TypeError: Cannot canonicalize with form "c14n": expected "deepsigma-v1" or "jcs"$/,
  );
});

Deno.test("canonicalize() writes an object with a null prototype", () => {
  const value = Object.assign(Object.create(null), { b: 2, a: 1 });
  assert.equal(canonicalString(value), '{"a":1,"b":2}');
});

Deno.test("canonicalString() in jcs: the quick paths write what the general walk writes", async (t) => {
  // A fixed linear congruential generator: the same values on every run.
  let state = 0x2545f491;
  const random = (below: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * below);
  };
  const pick = <T>(items: readonly T[]): T => items[random(items.length)];
  const keys = [
    "a",
    "b",
    "B",
    "aa",
    "é",
    "\u20ac",
    "\ud83d\ude00",
    "\ufb33",
    "0",
    "1",
    "10",
    "9",
    "",
    '"',
    "a b",
  ];
  const numbers = [
    0,
    -0,
    1,
    -1,
    0.5,
    1e21,
    1e-7,
    5e-324,
    1.7976931348623157e308,
    123456789.125,
    -3e-5,
  ];
  const strings = [
    "",
    "x",
    "\u0000\u001f",
    '"\\',
    "\u2028",
    "\ud800",
    "\udfff",
    "€😀",
    "long ".repeat(20),
  ];
  const value = (depth: number): unknown => {
    const kind = random(depth > 4 ? 5 : 8);
    if (kind === 0) return pick(numbers);
    if (kind === 1) return pick(strings);
    if (kind === 2) return pick([true, false, null]);
    if (kind === 3) return random(10) === 0 ? pick([undefined, NaN, Infinity]) : pick(numbers);
    if (kind === 4) return random(1000) / 8;
    if (kind === 5) return Array.from({ length: random(4) }, () => value(depth + 1));
    const chosen = [...new Set(Array.from({ length: random(5) }, () => pick(keys)))];
    // Half of the objects get their keys in JCS order (the JSON.stringify path), half not.
    if (random(2) === 0) chosen.sort();
    const object: Record<string, unknown> = kind === 6 ? {} : Object.create(null);
    for (const key of chosen) object[key] = value(depth + 1);
    return object;
  };
  const outcome = (write: () => string) => {
    try {
      return write();
    } catch (error) {
      return `throws ${(error as Error).message}`;
    }
  };
  let quick = 0;
  for (let i = 0; i < 4000; i++) {
    const v = value(0);
    const general = outcome(() => _canonicalStringGeneral(v, "jcs"));
    assert.equal(outcome(() => canonicalString(v, "jcs")), general, `value ${i}`);
    if (!general.startsWith("throws") && general === JSON.stringify(v)) quick++;
  }
  assert.ok(quick > 1000, `only ${quick} values could take the JSON.stringify path`);

  await t.step("a toJSON on Object.prototype is not called", () => {
    const v = { a: { b: 1 } };
    const expected = _canonicalStringGeneral(v, "jcs");
    Object.defineProperty(Object.prototype, "toJSON", {
      value: () => "changed",
      configurable: true,
      writable: true,
    });
    try {
      assert.equal(canonicalString(v, "jcs"), expected);
    } finally {
      delete (Object.prototype as { toJSON?: unknown }).toJSON;
    }
  });
  await t.step("array-index keys come first in an object: their order is checked as given", () => {
    const v = { "10": 1, "9": 2, a: 3 }; // Object.keys: "9", "10", "a"
    assert.equal(canonicalString(v, "jcs"), '{"10":1,"9":2,"a":3}');
  });
});

// --- jcs (RFC 8785) --------------------------------------------------------

Deno.test("canonicalize() writes RFC 8785 Appendix B numbers in jcs", async (t) => {
  const cases: [bits: string, jcs: string][] = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  for (const [bits, jcs] of cases) {
    await t.step(`${bits} → ${jcs}`, () => {
      const value = doubleFromBits(bits);
      assert.equal(canonicalString(value, "jcs"), jcs);
      // The same double read from its JCS spelling as a lossless number.
      assert.equal(canonicalString(parseLossless(jcs), "jcs"), jcs);
    });
  }
  await t.step("NaN and Infinity are refused", () => {
    assert.throws(() => canonicalize(doubleFromBits("7fffffffffffffff"), "jcs"), TypeError);
    assert.throws(() => canonicalize(doubleFromBits("7ff0000000000000"), "jcs"), TypeError);
  });
});

Deno.test("canonicalize() sorts the RFC 8785 section 3.2.3 example by UTF-16 code units in jcs", () => {
  const source = `{
    "\\u20ac": "Euro Sign",
    "\\r": "Carriage Return",
    "\\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\\ud83d\\ude00": "Emoji: Grinning Face",
    "\\u0080": "Control",
    "\\u00f6": "Latin Small Letter O With Diaeresis"
  }`;
  assert.equal(
    canonicalString(parseLossless(source), "jcs"),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
      '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\u{1F600}":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
  // deepsigma-v1 sorts by code point: U+FB33 before U+1F600.
  assert.equal(
    deepsigma(source),
    '{"\\r":"Carriage Return","1":"One","\\u0080":"Control",' +
      '"\\u00f6":"Latin Small Letter O With Diaeresis","\\u20ac":"Euro Sign",' +
      '"\\ufb33":"Hebrew Letter Dalet With Dagesh","\\ud83d\\ude00":"Emoji: Grinning Face"}',
  );
});

Deno.test("canonicalize() writes the RFC 8785 section 3.2.2 example in jcs", () => {
  const source = `{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
    "literals": [null, true, false]
  }`;
  const expected =
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
  assert.equal(canonicalString(parseLossless(source), "jcs"), expected);
  // jcs writes non-ASCII as UTF-8: the euro sign is E2 82 AC.
  const bytes = canonicalize(parseLossless(source), "jcs");
  assert.deepEqual(bytes, encoder.encode(expected));
  assert.ok(bytes.includes(0xe2));
});

Deno.test("canonicalize() writes numbers as doubles in jcs", async (t) => {
  const cases: [value: unknown, jcs: string][] = [
    [new JsonNumber("-0"), "0"],
    [new JsonNumber("-0.0"), "0"],
    [-0, "0"],
    [new JsonNumber("1.0"), "1"],
    [new JsonNumber("12345678901234567890"), "12345678901234567000"],
    [12345678901234567890n, "12345678901234567000"],
    [new JsonNumber("1e-7"), "1e-7"],
    [new JsonNumber("1e21"), "1e+21"],
    [new JsonNumber("100000000000000000000.0"), "100000000000000000000"],
  ];
  for (const [value, jcs] of cases) {
    await t.step(`${value instanceof JsonNumber ? value.source : String(value)} → ${jcs}`, () => {
      assert.equal(canonicalString(value, "jcs"), jcs);
    });
  }
  await t.step("an integer beyond the double range is refused", () => {
    assert.throws(() => canonicalize(new JsonNumber("1" + "0".repeat(400)), "jcs"), TypeError);
    assert.throws(() => canonicalize(10n ** 400n, "jcs"), TypeError);
  });
});

// --- JsonNumber and parseLossless ------------------------------------------

Deno.test("JsonNumber keeps its spelling and knows if it is an integer", () => {
  const ratio = new JsonNumber("1.0");
  assert.equal(ratio.source, "1.0");
  assert.equal(ratio.isInteger, false);
  assert.equal(ratio.valueOf(), 1);
  assert.equal(+ratio, 1);
  // Written back, a number keeps its spelling, so re-serialized manifests still verify.
  assert.equal(JSON.stringify([ratio]), "[1.0]");
  assert.equal(
    JSON.stringify({ id: new JsonNumber("12345678901234567890") }),
    '{"id":12345678901234567890}',
  );
  assert.equal(new JsonNumber("-12").isInteger, true);
  assert.equal(new JsonNumber("1E5").isInteger, false);
  assert.equal(new JsonNumber("12345678901234567890").valueOf(), 12345678901234567000);
});

Deno.test("JsonNumber refuses a spelling that is not a JSON number", async (t) => {
  for (const source of ["", "abc", "01", "1.", ".5", "+1", "1e", "NaN", "Infinity", " 1", "0x10"]) {
    await t.step(JSON.stringify(source), () => {
      assert.throws(() => new JsonNumber(source), TypeError);
    });
  }
});

Deno.test("parseLossless() yields a JsonNumber for every number", () => {
  const value = parseLossless(encoder.encode('{"a": [1, 1.0, -0.0, 12345678901234567890]}'), {
    maxDepth: 3,
  });
  assert.ok(value !== null && typeof value === "object");
  const list = (value as { a: JsonNumber[] }).a;
  assert.deepEqual(list.map((n) => n.source), ["1", "1.0", "-0.0", "12345678901234567890"]);
});

Deno.test("parseLossless() is JSON_NON_FINITE for a float that overflows to Infinity", async (t) => {
  for (const source of ["1e400", "[-1.5e309]", '{"a": {"b": 2E+999}}', `[${"9".repeat(400)}.0]`]) {
    await t.step(source.slice(0, 30), () => {
      const err = assertRefused(
        () => parseLossless(source, { file: "manifest.json" }),
        "JSON_NON_FINITE",
      );
      assert.match(
        err.message,
        /^Cannot parse "manifest\.json": the number .+ overflows to Infinity$/,
      );
      assert.equal(err.violation.entry, "manifest.json");
    });
  }
});

Deno.test("parseLossless() keeps an integer beyond the double range exactly", () => {
  const source = "1" + "0".repeat(400);
  assert.equal(deepsigma(`{"n": ${source}}`), `{"n":${source}}`);
});

Deno.test("parseLossless() is LIMIT_JSON_DEPTH for nesting deeper than maxDepth", async (t) => {
  await t.step("64 levels pass by default", () => {
    parseLossless("[".repeat(64) + "1" + "]".repeat(64));
  });
  await t.step("65 levels do not", () => {
    assertRefused(() => parseLossless("[".repeat(65) + "1" + "]".repeat(65)), "LIMIT_JSON_DEPTH");
  });
  await t.step("a number is a leaf, not a level", () => {
    parseLossless('{"a": 1.5}', { maxDepth: 1 });
    assertRefused(() => parseLossless('{"a": [1.5]}', { maxDepth: 1 }), "LIMIT_JSON_DEPTH");
  });
  await t.step("nesting that exhausts JSON.parse's reviver stack", () => {
    const depth = 200_000;
    const err = assertRefused(
      () => parseLossless("[".repeat(depth) + "]".repeat(depth), { file: "manifest.json" }),
      "LIMIT_JSON_DEPTH",
    );
    assert.match(err.message, /deeper than 64 levels/);
  });
});

Deno.test("parseLossless() is JSON_INVALID for text that is not JSON", async (t) => {
  for (const source of ["", "{", "NaN", "[Infinity]", "{'a': 1}", "[1,]", "\ufeff{}"]) {
    await t.step(JSON.stringify(source), () => {
      assertRefused(() => parseLossless(source), "JSON_INVALID");
    });
  }
  await t.step("bytes that are not UTF-8", () => {
    assertRefused(() => parseLossless(new Uint8Array([0x7b, 0xff, 0x7d])), "JSON_INVALID");
  });
});

Deno.test("parseLossless() keeps __proto__ an own data property", () => {
  const value = parseLossless('{"__proto__": {"polluted": 1}, "constructor": 2}') as Record<
    string,
    unknown
  >;
  assert.ok(Object.hasOwn(value, "__proto__"));
  assert.ok(Object.hasOwn(value, "constructor"));
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(deepsigma('{"__proto__": {"b": 1.0}}'), '{"__proto__":{"b":1.0}}');
});

Deno.test("parseLossless() reads an escaped key right after V8 saw a key ending in a backslash", () => {
  // V8's JSON.parse (Deno 2.9) can answer the cached key "\\" for the escaped
  // key "\t" once an object with the same earlier keys had "\\" there.
  JSON.parse('{"lossless-probe": 1, "\\\\": 2}');
  const value = parseLossless('{"lossless-probe": 1.0, "\\t": 2.0}') as Record<string, JsonNumber>;
  assert.deepEqual(Object.keys(value), ["lossless-probe", "\t"]);
  assert.equal(value["\t"].source, "2.0");
  assert.equal(
    deepsigma('[{"x": 1, "\\\\": 2}, {"x": 1, "\\u0000": 3.0}]'),
    '[{"\\\\":2,"x":1},{"\\u0000":3.0,"x":1}]',
  );
});

Deno.test("canonicalize() and parseLossless() round-trip their own output", () => {
  for (const vector of vectors) {
    assert.equal(deepsigma(vector.canonical), vector.canonical);
  }
});
