import assert from "node:assert/strict";
import {
  canonTextsCount,
  decodeCanonTexts,
  makeCanonTexts,
  sameCanonKeys,
} from "../core/canon_texts.ts";

Deno.test("makeCanonTexts() and decodeCanonTexts() give back the keys and texts, both ways of decoding", () => {
  const cases: [string[], string[]][] = [
    [[], []],
    [["s1"], ['{"rev":1}']],
    [["s1", "", "s3"], ['{"rev":1}', "{}", '{"a":"\\u0041"}']],
    [["caf\u00e9", "\u2713k"], ['{"note":"\u00e9\u00e9"}', '{"n":"\ud83d\ude00"}']],
  ];
  for (const [keys, texts] of cases) {
    const packed = makeCanonTexts(keys, texts, []);
    assert.equal(canonTextsCount(packed), keys.length);
    assert.deepEqual(decodeCanonTexts(packed), { keys, texts });
    assert.deepEqual(decodeCanonTexts(packed, { own: true }), { keys, texts });
    // Its buffers are its own, so a worker can transfer them.
    assert.equal(packed.bytes.byteOffset, 0);
    assert.equal(packed.bytes.byteLength, packed.bytes.buffer.byteLength);
    assert.notEqual(packed.bytes.buffer, packed.ends.buffer);
  }
  assert.throws(() => makeCanonTexts(["a"], [], []), TypeError);
});

Deno.test("decodeCanonTexts() refuses offsets that do not fit the bytes", () => {
  const packed = makeCanonTexts(["s1", "s2"], ['{"rev":1}', '{"rev":2}'], []);
  const broken = [
    Int32Array.of(9, 8, 2, 4), // texts out of order
    Int32Array.of(9, 18, 4, 2), // keys out of order
    Int32Array.of(9, 18, 2, 5), // past the bytes
    Int32Array.of(9, 18, 2, 3), // short of the bytes
    Int32Array.of(9, -1, 2, 4),
  ];
  for (const ends of broken) {
    assert.throws(() => decodeCanonTexts({ ...packed, ends }), TypeError, String(ends));
  }
  const notUtf8 = makeCanonTexts(["s1"], ['"\u00e9"'], []);
  notUtf8.bytes[1] = 0xff;
  assert.throws(() => decodeCanonTexts(notUtf8), TypeError);
});

Deno.test("sameCanonKeys() compares keys one by one, not their bytes end to end", () => {
  const texts = ["{}", "{}"];
  const a = makeCanonTexts(["ab", "c"], texts, []);
  assert.ok(sameCanonKeys(a, makeCanonTexts(["ab", "c"], ['{"rev":1}', '{"rev":22}'], [])));
  assert.ok(!sameCanonKeys(a, makeCanonTexts(["a", "bc"], texts, [])));
  assert.ok(!sameCanonKeys(a, makeCanonTexts(["c", "ab"], texts, [])));
  assert.ok(!sameCanonKeys(a, makeCanonTexts(["ab"], ["{}"], [])));
  assert.ok(!sameCanonKeys(a, makeCanonTexts(["ab", "c"], texts, [[1, "ab"]])));
  assert.ok(
    sameCanonKeys(
      makeCanonTexts(["ab", "c"], texts, [[1, "ab"]]),
      makeCanonTexts(["ab", "c"], texts, [[1, "ab"]]),
    ),
  );
  assert.ok(
    !sameCanonKeys(
      makeCanonTexts(["ab", "c"], texts, [[1, "ab"]]),
      makeCanonTexts(["ab", "c"], texts, [[1, "x"]]),
    ),
  );
  assert.ok(sameCanonKeys(makeCanonTexts([], [], []), makeCanonTexts([], [], [])));
});
