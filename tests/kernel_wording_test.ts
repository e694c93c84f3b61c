/**
 * The kernel (core/, plugins/) speaks as a library: its messages name no
 * command-line flag. An error about a setting carries it as data (`option`),
 * and the CLI words it (cli/common.ts `withFlagHint`).
 */

import assert from "node:assert/strict";
import { UsageError } from "../core/errors.ts";
import { judge } from "../core/gate.ts";
import { normalizeLegacyTime } from "../core/migrate.ts";
import { openLedger } from "../core/store.ts";
import { withFlagHint } from "../cli/common.ts";
import { runJrm } from "./_cli.ts";

const ROOT = new URL("../", import.meta.url);

/** A flag in text: `--` and a letter, not a CSS custom property (`--ink:`, `var(--ink)`). */
const FLAG = /(?<![\w-])(?<!var\()--(?!allow-)[a-z][a-z0-9-]*(?![a-z0-9-]*\s*:)/;

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (/\.(ts|js)$/.test(entry.name)) yield url;
  }
}

/**
 * Lines of code (comments dropped) that name a flag. Deno's own permission
 * flags (`--allow-net=…`) are allowed: a library user runs deno too.
 */
function flagLines(text: string): string[] {
  const found: string[] = [];
  let inBlockComment = false;
  for (const [index, raw] of text.split("\n").entries()) {
    let line = raw;
    if (inBlockComment) {
      const end = line.indexOf("*/");
      if (end < 0) continue;
      line = line.slice(end + 2);
      inBlockComment = false;
    }
    const trimmed = line.trimStart();
    if (trimmed.startsWith("//")) continue;
    if (trimmed.startsWith("/*")) {
      if (!trimmed.includes("*/")) inBlockComment = true;
      continue;
    }
    line = line.replace(/\s\/\/\s.*$/, "");
    if (FLAG.test(line)) found.push(`${index + 1}: ${raw.trim()}`);
  }
  return found;
}

Deno.test("flagLines() finds a flag in a message, not in comments or CSS", () => {
  assert.deepEqual(
    flagLines(
      [
        "// give --store",
        "/**",
        " * use --key-file",
        " */",
        'throw new Error("Declining needs a reason (--reason)");',
        "const css = `:root { --ink: #000; } p { color: var(--ink); }`;",
        'const hint = "run with --allow-net=host:5432";',
        "`use it with --algorithm ed25519`",
      ].join("\n"),
    ),
    [
      '5: throw new Error("Declining needs a reason (--reason)");',
      "8: `use it with --algorithm ed25519`",
    ],
  );
});

Deno.test("no message in core/ or plugins/ names a command-line flag", async () => {
  const offenders: string[] = [];
  for (const dir of ["core/", "plugins/"]) {
    for await (const file of sources(new URL(dir, ROOT))) {
      const path = file.pathname.slice(ROOT.pathname.length);
      for (const line of flagLines(await Deno.readTextFile(file))) {
        offenders.push(`${path}:${line}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

Deno.test("kernel errors carry the setting they are about as data", async (t) => {
  await t.step("a signature required without a keyring", async () => {
    await assert.rejects(
      () => judge({ source: "x.zip", violations: [] } as never, { requireSignature: true }),
      (error) =>
        error instanceof UsageError && error.option === "keyring" &&
        error.message === "Requiring a signature needs a key",
    );
  });
  await t.step("a ledger that does not exist", () => {
    assert.throws(
      () => openLedger("/nonexistent/ledger.sqlite", { create: false }),
      (error) => error instanceof UsageError && error.option === "ledger",
    );
  });
  await t.step("a legacy time without an offset", () => {
    const normalized = normalizeLegacyTime("2026-02-28T10:00:00");
    assert.ok("problem" in normalized);
    assert.equal(normalized.option, "assumeOffset");
  });
});

Deno.test("the CLI words a kernel error's setting as its flags", async () => {
  assert.equal(withFlagHint("Give the name of who acts", "by"), "Give the name of who acts (--by)");
  const packet =
    "fixtures/packets/JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01.zip";
  const result = await runJrm(["gate", "validate", "--packet", packet, "--require-signature"]);
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr,
    "error: Requiring a signature needs a key (--key-file, --key-env or --keyring)\n",
  );
});
