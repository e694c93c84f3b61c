/**
 * I-JSON in packets (issue 13, item 6): every JSON file and JSON line of a
 * packet is refused when an object has two members of one name (at any
 * depth) or a string holds a lone surrogate, and two canon entries naming one
 * signature are refused; on every path that reads packets: the gate's
 * (`readPacket` with records kept), the hub's (records not kept, canon
 * entries as text, on this thread and on a worker), `ingestFiles`, and the
 * CLI's `gate validate`, `federate` and `hub replay`.
 */

import assert from "node:assert/strict";
import type { ViolationCode } from "../core/errors.ts";
import { validate } from "../core/gate.ts";
import { ingestFiles } from "../core/hub.ts";
import { inspectFile } from "../core/inspect.ts";
import { InspectorPool } from "../core/inspect_pool.ts";
import { readPacket } from "../core/packet.ts";
import { runJrm, withTempDir } from "./_cli.ts";
import { buildTestPacket, text } from "./_packets.ts";

const decoder = new TextDecoder();
const canon = (entries: string, top = '"environmentId": "SOC_EAST", ') =>
  `{${top}"generatedAt": "2026-02-28T10:10:00Z", "entries": {${entries}}}`;
const record = (extra: string) =>
  `{"eventId": "evt-1", "lane": "fast"${extra}}\n{"eventId": "evt-2"}\n`;

interface Case {
  what: string;
  file: string;
  /** The file's text, from the valid packet's (only the manifest's is used). */
  make: (original: string) => string;
  code: ViolationCode;
  /** What the message must hold (the member name, quoted and escaped). */
  shown: string;
}

/** A member added at the start of the manifest's object. */
const manifestWith = (member: string) => (original: string) =>
  original.replace("{", `{${member}, `);

const CASES: Case[] = [
  {
    what: "two environmentId in the manifest",
    file: "manifest.json",
    make: manifestWith('"environmentId": "SOC_WEST"'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"environmentId"',
  },
  {
    what: "two signature in the manifest",
    file: "manifest.json",
    make: (original) =>
      original.replace(
        "{",
        '{"signature": {"algorithm": "hmac-sha256", "value": "00"}, "signature": null, ',
      ),
    code: "JSON_DUPLICATE_KEY",
    shown: '"signature"',
  },
  {
    what: "a file hashed twice in the manifest's files",
    file: "manifest.json",
    make: (original) =>
      original.replace('"files": {', `"files": {"x.json": "sha256:${"0".repeat(64)}", `)
        .replace('"files": {', `"files": {"x.json": "sha256:${"1".repeat(64)}", `),
    code: "JSON_DUPLICATE_KEY",
    shown: '"x.json"',
  },
  {
    what: "a lone surrogate in a manifest value",
    file: "manifest.json",
    make: manifestWith('"note": "sig:\\ud800"'),
    code: "JSON_LONE_SURROGATE",
    shown: '"sig:\\u{D800}"',
  },
  {
    what: "a lone surrogate in a manifest name",
    file: "manifest.json",
    make: manifestWith('"\\udfff": 1'),
    code: "JSON_LONE_SURROGATE",
    shown: '"\\u{DFFF}"',
  },
  {
    what: "a nested duplicate in truth_snapshot.json",
    file: "truth_snapshot.json",
    make: () => '{"environmentId": "SOC_EAST", "counts": {"a": 1, "b": [{"c": 1, "c": 2}]}}',
    code: "JSON_DUPLICATE_KEY",
    shown: '"c"',
  },
  {
    what: "two environmentId in authority_slice.json",
    file: "authority_slice.json",
    make: () => '{"environmentId": "SOC_WEST", "environmentId": "SOC_EAST"}',
    code: "JSON_DUPLICATE_KEY",
    shown: '"environmentId"',
  },
  {
    what: "a duplicate in a node's properties",
    file: "memory_graph.json",
    make: () =>
      '{"nodesAdded": [{"nodeId": "n", "kind": "host", "properties": {"r": 1, "r": 2}}], "edgesAdded": []}',
    code: "JSON_DUPLICATE_KEY",
    shown: '"r"',
  },
  {
    what: "two eventId in a JSON line",
    file: "decision_lineage.jsonl",
    make: () => record(', "eventId": "evt-9"'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"eventId"',
  },
  {
    what: "two environmentId in a JSON line",
    file: "decision_lineage.jsonl",
    make: () => record(', "environmentId": "SOC_WEST", "environmentId": "SOC_EAST"'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"environmentId"',
  },
  {
    what: "a duplicate nested in a JSON line",
    file: "drift_signal.jsonl",
    make: () =>
      '{"driftId": "d", "driftType": "T", "fingerprint": {"k": [{"a": 1, "b": 2, "a": 3}]}}\n',
    code: "JSON_DUPLICATE_KEY",
    shown: '"a"',
  },
  {
    what: "an escaped duplicate in a JSON line",
    file: "drift_signal.jsonl",
    make: () => '{"driftId": "d", "driftType": "T", "drift\\u0049d": "e"}\n',
    code: "JSON_DUPLICATE_KEY",
    shown: '"driftId"',
  },
  {
    what: "a lone surrogate in a JSON line's value",
    file: "decision_lineage.jsonl",
    make: () => record(', "metadata": {"user": "a\\udc00b"}'),
    code: "JSON_LONE_SURROGATE",
    shown: '"a\\u{DC00}b"',
  },
  {
    what: "a lone surrogate in a JSON line's nested name",
    file: "decision_lineage.jsonl",
    make: () => record(', "metadata": {"\\ud83d": 1}'),
    code: "JSON_LONE_SURROGATE",
    shown: '"\\u{D83D}"',
  },
  {
    what: "two canon keys",
    file: "canon_entry.json",
    make: () => canon('"SIG-001": {"rev": 1}, "SIG-002": {"rev": 1}, "SIG-001": {"rev": 9}'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"SIG-001"',
  },
  {
    what: "two canon keys, one escaped",
    file: "canon_entry.json",
    make: () => canon('"SIG-001": {"rev": 1}, "SIG-00\\u0031": {"rev": 9}'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"SIG-001"',
  },
  {
    what: "two rev in a canon entry",
    file: "canon_entry.json",
    make: () => canon('"SIG-001": {"rev": 1, "confidence": 0.5, "rev": 9}'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"rev"',
  },
  {
    what: "two of an unchecked field in a canon entry",
    file: "canon_entry.json",
    make: () => canon('"SIG-001": {"rev": 1, "statement": "a", "statement": "b"}'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"statement"',
  },
  {
    what: "a duplicate in a change",
    file: "canon_entry.json",
    make: () => canon('"SIG-001": {"changes": [{"action": "set", "to": 1, "to": 2}]}'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"to"',
  },
  {
    what: "a duplicate deep in a canon entry",
    file: "canon_entry.json",
    make: () => canon('"SIG-001": {"x": {"y": [{"z": 1, "z\\u0000": 2, "z": 3}]}}'),
    code: "JSON_DUPLICATE_KEY",
    shown: '"z"',
  },
  {
    what: "two environmentId in canon_entry.json",
    file: "canon_entry.json",
    make: () =>
      canon('"SIG-001": {"rev": 1}', '"environmentId": "A", "environmentId": "SOC_EAST", '),
    code: "JSON_DUPLICATE_KEY",
    shown: '"environmentId"',
  },
  {
    what: "two signatureIds that differ by a lone surrogate",
    file: "canon_entry.json",
    make: () =>
      canon('"a": {"signatureId": "sig:\\ud800", "rev": 1}, "b": {"signatureId": "sig:\\ud801"}'),
    code: "JSON_LONE_SURROGATE",
    shown: '"sig:\\u{D800}"',
  },
  {
    what: "a lone surrogate in a canon key",
    file: "canon_entry.json",
    make: () => canon('"sig:\\ud800": {"rev": 1}'),
    code: "JSON_LONE_SURROGATE",
    shown: '"sig:\\u{D800}"',
  },
  {
    what: "two canon entries naming one signatureId",
    file: "canon_entry.json",
    make: () => canon('"a": {"signatureId": "SIG-1", "rev": 1}, "b": {"signatureId": "SIG-1"}'),
    code: "CANON_SIGNATURE_COLLISION",
    shown: '"SIG-1"',
  },
  {
    what: "a canon entry named by another's signatureId",
    file: "canon_entry.json",
    make: () => canon('"SIG-1": {"rev": 1}, "b": {"signatureId": "SIG-1", "rev": 2}'),
    code: "CANON_SIGNATURE_COLLISION",
    shown: '"SIG-1"',
  },
  {
    what: "two canon entries that swap their names",
    file: "canon_entry.json",
    make: () => canon('"x": {"signatureId": "y"}, "y": {"signatureId": "x"}'),
    code: "CANON_SIGNATURE_COLLISION",
    shown: '"y"',
  },
  {
    what: "a signatureId that is another entry's key and signatureId",
    file: "canon_entry.json",
    make: () => canon('"y": {"signatureId": "y"}, "x": {"signatureId": "y"}'),
    code: "CANON_SIGNATURE_COLLISION",
    shown: '"y"',
  },
  {
    what: "a collision that only the zod schema lets through",
    file: "canon_entry.json",
    // rev 1.0 is not a plain integer: the scan leaves the file to parsing and the schema.
    make: () => canon('"a": {"signatureId": "S", "rev": 1.0}, "b": {"signatureId": "S"}'),
    code: "CANON_SIGNATURE_COLLISION",
    shown: '"S"',
  },
];

/** The valid packet with one file replaced, as each case says. */
async function hostile(c: Case): Promise<Uint8Array> {
  if (c.file === "manifest.json") {
    return (await buildTestPacket({
      editEntries: (entries) => {
        entries.set(c.file, text(c.make(decoder.decode(entries.get(c.file)))));
      },
    })).bytes;
  }
  return (await buildTestPacket({ files: { [c.file]: text(c.make("")) } })).bytes;
}

/** Check that `violations` refuse the case: its code, naming its file and the member. */
function assertRefused(c: Case, violations: readonly { code: string; message: string }[]) {
  const found = violations.find((v) => v.code === c.code);
  assert.ok(found, `${c.what}: no ${c.code} in ${JSON.stringify(violations)}`);
  assert.ok(found.message.includes(`"${c.file}"`), found.message);
  assert.ok(found.message.includes(c.shown), `${found.message} does not show ${c.shown}`);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(found.message, /[\u0000-\u001f\ud800-\udfff]/);
}

Deno.test("readPacket() refuses ambiguous JSON on the gate's path and the hub's", async (t) => {
  for (const c of CASES) {
    await t.step(c.what, async () => {
      const bytes = await hostile(c);
      assertRefused(c, readPacket(bytes).violations);
      const asHub = readPacket(bytes, { materializeRecords: false, canonAsText: true });
      assertRefused(c, asHub.violations);
      assert.equal(asHub.packet, undefined);
      const verdict = await validate(bytes);
      assert.equal(verdict.accepted, false);
      assertRefused(c, verdict.violations);
    });
  }
});

Deno.test("readPacket() accepts what only looks ambiguous", async (t) => {
  const fine: [string, string, string][] = [
    ["one name in two objects", "canon_entry.json", canon('"a": {"x": {"a": 1}}, "b": {"a": 1}')],
    ["a signatureId equal to its key", "canon_entry.json", canon('"S": {"signatureId": "S"}')],
    ["an entry renamed to a free name", "canon_entry.json", canon('"a": {"signatureId": "S"}')],
    ["colons in strings", "canon_entry.json", canon('"S": {"statement": "a:b", "t": "10:00"}')],
    [
      "a surrogate pair",
      "canon_entry.json",
      canon('"S\\ud83d\\ude00": {"statement": "\\ud83d\\ude00"}'),
    ],
    [
      "an escaped backslash before u",
      "drift_signal.jsonl",
      '{"driftId": "\\\\ud800", "driftType": "T"}\n',
    ],
    ["one name on two lines", "decision_lineage.jsonl", record(', "x": 1') + record(', "x": 2')],
  ];
  for (const [what, file, content] of fine) {
    await t.step(what, async () => {
      const { bytes } = await buildTestPacket({ files: { [file]: text(content) } });
      assert.deepEqual(readPacket(bytes).violations, []);
      assert.deepEqual(
        readPacket(bytes, { materializeRecords: false, canonAsText: true }).violations,
        [],
      );
    });
  }
});

Deno.test("the hub refuses ambiguous JSON on this thread and on its workers", async () => {
  await withTempDir("jrm-ijson-", async (dir) => {
    const paths: string[] = [];
    for (const [index, c] of CASES.entries()) {
      paths.push(`${dir}/hostile-${String(index).padStart(2, "0")}.zip`);
      await Deno.writeFile(paths[index], await hostile(c));
    }
    const inspected = new Map<string, { code: string; message: string }[]>();
    const pool = new InspectorPool(1);
    try {
      assert.ok(await pool.whenReady());
      for (const [index, c] of CASES.entries()) {
        assertRefused(c, inspectFile(paths[index]).violations);
        const onWorker = await pool.inspect(paths[index]);
        assertRefused(c, onWorker.violations);
        inspected.set(paths[index], onWorker.violations);
      }
    } finally {
      pool.close();
    }
    for (const workers of [0, 2]) {
      const { outcomes } = await ingestFiles(paths, { workers });
      assert.equal(outcomes.length, CASES.length);
      for (const outcome of outcomes) {
        assert.equal(outcome.kind, "rejected");
        if (outcome.kind !== "rejected") continue;
        const c = CASES[paths.indexOf(outcome.result.source)];
        assertRefused(c, outcome.result.violations);
        assert.deepEqual(outcome.result.violations, inspected.get(outcome.result.source));
      }
    }
  });
});

Deno.test("jrm gate validate, federate and hub replay refuse ambiguous JSON", async () => {
  await withTempDir("jrm-ijson-cli-", async (dir) => {
    const picked = CASES.filter((c) =>
      ["two canon keys", "two environmentId in the manifest", "two eventId in a JSON line"]
        .includes(c.what) || c.code !== "JSON_DUPLICATE_KEY"
    );
    await Deno.mkdir(`${dir}/packets`);
    for (const [index, c] of picked.entries()) {
      await Deno.writeFile(
        `${dir}/packets/h${String(index).padStart(2, "0")}.zip`,
        await hostile(c),
      );
    }
    const one = `${dir}/packets/h00.zip`;
    const [gate, federate, replay] = await Promise.all([
      runJrm(["gate", "validate", "--packet", one, "--json"]),
      runJrm(["federate", "--packets", `${dir}/packets`, "--out", `${dir}/r.json`, "--json"]),
      runJrm(["hub", "replay", "--packets", `${dir}/packets`, "--out", `${dir}/s.json`]),
    ]);
    assert.equal(gate.code, 1, gate.stderr);
    assertRefused(picked[0], JSON.parse(gate.stdout).results[0].violations);
    assert.equal(federate.code, 1, federate.stderr);
    const report = JSON.parse(federate.stdout);
    assert.equal(report.packetsIngested, 0);
    for (const rejected of report.packetsRejected) {
      const index = Number(/h(\d+)\.zip$/.exec(rejected.source)![1]);
      assertRefused(picked[index], rejected.violations);
    }
    assert.equal(report.packetsRejected.length, picked.length);
    assert.equal(replay.code, 1, replay.stderr);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
    assert.deepEqual(state.environments, {});
    assert.equal(state.packetsRejected.length, picked.length);
  });
});
