/**
 * Text from packets, file names, ledgers and plugins never reaches a
 * terminal raw: controls, format characters (bidi overrides, zero-width
 * characters), line separators and lone surrogates are shown as `\u{…}`, in
 * every command's human output and on stderr; `--json` output carries the
 * same values, escaped as JSON.
 */
import assert from "node:assert/strict";
import { escapeForTerminal, escapeJsonForTerminal } from "../core/text.ts";
import { buildTestPacket, hmacSigner, json, TEST_KEY, TEST_WINDOW } from "./_packets.ts";
import { type CliRun, denoRunArgs, runJrm, withTempDir } from "./_cli.ts";
import { random } from "./_random.ts";

/** What must never reach a terminal raw (a line feed is checked apart: output lines may end). */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/**
 * Clear the screen, retitle the window, turn text red, forge a line, reverse
 * the text, hide characters: one of each, in one string.
 */
const HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b[31m\r\nFORGED-LINE \u202e\u200b\u2066\ufeff\x9b31m" +
  "\u2028\u2029\x7f\t\x00\udb40\udc01";
/** The same without what a file name or an argument cannot hold (NUL). */
const HOSTILE_NAME = HOSTILE.replace("\x00", "");

/** Every character class that must be escaped, one code point at a time. */
const MUST_ESCAPE = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0xa0 - 0x7f }, (_, i) => 0x7f + i),
  0x2028,
  0x2029,
  // format controls (Cf): soft hyphen, Arabic letter mark, zero-width and direction marks,
  // bidi embeddings, overrides and isolates, word joiner, BOM, interlinear annotation, tags
  0xad,
  0x61c,
  0x180e,
  ...Array.from({ length: 5 }, (_, i) => 0x200b + i),
  ...Array.from({ length: 5 }, (_, i) => 0x202a + i),
  ...Array.from({ length: 5 }, (_, i) => 0x2060 + i),
  ...Array.from({ length: 4 }, (_, i) => 0x2066 + i),
  0xfeff,
  0xfff9,
  0xfffa,
  0xfffb,
  0xe0001,
  0xe007f,
];

Deno.test("escapeForTerminal() escapes C0, DEL, C1, separators and format controls as \\u{hex}", () => {
  for (const code of MUST_ESCAPE) {
    const char = String.fromCodePoint(code);
    assert.equal(escapeForTerminal(`a${char}b`), `a\\u{${code.toString(16)}}b`, code.toString(16));
  }
  assert.equal(escapeForTerminal("\x1b"), "\\u{1b}");
});

Deno.test("escapeForTerminal() escapes lone surrogates and keeps surrogate pairs", () => {
  assert.equal(escapeForTerminal("x\ud800y"), "x\\u{d800}y");
  assert.equal(escapeForTerminal("x\udfffy"), "x\\u{dfff}y");
  assert.equal(escapeForTerminal("\udc00\ud800"), "\\u{dc00}\\u{d800}");
  assert.equal(escapeForTerminal("😀"), "😀");
});

Deno.test("escapeForTerminal() keeps printable text, the backslash included, and escaping twice changes nothing", () => {
  for (const text of ["SOC_EAST", "café", "中文 → ✓", "C:\\path\\u{1b}", "a b", "😀👍🏽", ""]) {
    assert.equal(escapeForTerminal(text), text);
  }
  const next = random(13);
  for (let i = 0; i < 2000; i++) {
    const text = randomText(next);
    const once = escapeForTerminal(text);
    assert.doesNotMatch(once, UNSAFE, JSON.stringify(text));
    assert.equal(escapeForTerminal(once), once);
  }
});

Deno.test("escapeJsonForTerminal() leaves no raw control in JSON.stringify output and keeps its value", () => {
  const next = random(29);
  for (let i = 0; i < 2000; i++) {
    const value = { [randomText(next)]: [randomText(next), { s: randomText(next) }] };
    for (const indent of [undefined, 2]) {
      const text = JSON.stringify(value, null, indent);
      const safe = escapeJsonForTerminal(text);
      assert.doesNotMatch(safe.replaceAll("\n", ""), UNSAFE, JSON.stringify(text));
      assert.deepEqual(JSON.parse(safe), value);
    }
  }
});

/** Text drawn from ASCII, the escaped classes and ordinary non-ASCII. */
function randomText(next: () => number): string {
  const pool = [
    ..."abcXYZ09 _-\\\"'{}[]:,/",
    ...MUST_ESCAPE.map((code) => String.fromCodePoint(code)),
    "\ud800",
    "\udfff",
    "é",
    "中",
    "😀",
  ];
  let text = "";
  const length = Math.floor(next() * 12);
  for (let i = 0; i < length; i++) text += pool[Math.floor(next() * pool.length)];
  return text;
}

// --- the CLI -----------------------------------------------------------------

/** Nothing raw on either stream; no line forged by a newline in the data. */
function assertTerminalSafe(run: CliRun, what: string): void {
  for (const [name, text] of [["stdout", run.stdout], ["stderr", run.stderr]]) {
    const match = text.replaceAll("\n", "").match(UNSAFE);
    assert.equal(
      match,
      null,
      `${what}: raw U+${match?.[0].codePointAt(0)?.toString(16)} on ${name}:\n${text}`,
    );
    assert.doesNotMatch(text, /^FORGED-LINE/m, `${what}: a forged line on ${name}`);
  }
}

/** The escaped form of the hostile text shows on the stream. */
function assertShowsEscaped(text: string, what: string): void {
  assert.ok(
    text.includes("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{1b}[31m\\u{d}\\u{a}FORGED-LINE \\u{202e}"),
    `${what}: the escaped form is missing:\n${text}`,
  );
}

/**
 * A corpus where every printed string is hostile: an accepted packet whose
 * environment id and canon signature id carry it (its file name too), a
 * packet of another environment with the same signature at another rev (so
 * there is drift to tabulate), and a rejected packet whose environment, key
 * id and file name carry it.
 */
async function hostileCorpus(dir: string) {
  await Deno.mkdir(`${dir}/packets`);
  const signature = `SIG${HOSTILE}`;
  const canon = (env: string, rev: number) =>
    json({ environmentId: env, entries: { [signature]: { signatureId: signature, rev } } });
  const fallback = await hmacSigner(TEST_KEY, "fallback");
  const east = `SOC${HOSTILE}EAST`;
  const accepted = await buildTestPacket({
    environmentId: east,
    signer: fallback,
    editFiles: (files) => files.set("canon_entry.json", canon(east, 3)),
  });
  await Deno.writeFile(`${dir}/packets/east${HOSTILE_NAME}.zip`, accepted.bytes);
  const west = await buildTestPacket({
    environmentId: "SOC_WEST",
    signer: fallback,
    editFiles: (files) => files.set("canon_entry.json", canon("SOC_WEST", 4)),
  });
  await Deno.writeFile(`${dir}/packets/west.zip`, west.bytes);
  const keyId = `kid${HOSTILE}`;
  const rejected = await buildTestPacket({
    environmentId: `SOC${HOSTILE}NORTH`,
    signer: await hmacSigner("a-key-nobody-has-of-thirty-two-bytes", keyId),
    sign: { keyId },
  });
  await Deno.writeFile(`${dir}/packets/north${HOSTILE_NAME}.zip`, rejected.bytes);
  await Deno.writeTextFile(`${dir}/fallback.key`, TEST_KEY);
  const keyring = `${dir}/keyring.json`;
  await Deno.writeTextFile(
    keyring,
    JSON.stringify({ keys: [{ environment: "*", keyId: "fallback", file: "fallback.key" }] }),
  );
  return { packets: `${dir}/packets`, keyring, east, signature };
}

Deno.test("jrm gate validate, verify, federate and hub replay print packet data escaped", async (t) => {
  await withTempDir("jrm_terminal_escape_", async (dir) => {
    const { packets, keyring, east, signature } = await hostileCorpus(dir);
    const report = `${dir}/report.json`;

    for (const command of [["gate", "validate", "--packet"], ["verify", "--packet"]]) {
      await t.step(`${command.join(" ")}: human output`, async () => {
        const run = await runJrm([...command, packets, "--keyring", keyring]);
        assert.equal(run.code, 1, run.stderr);
        assertTerminalSafe(run, command.join(" "));
        assertShowsEscaped(run.stdout, command.join(" "));
        // The file name, the key id and the environment of the refused packet, escaped.
        assert.match(run.stdout, /^ACCEPTED {2}.*\/east\\u\{1b\}\[2J/m);
        assert.match(run.stdout, /^REJECTED {2}.*\/north\\u\{1b\}\[2J/m);
        assert.match(run.stdout, /key id "kid\\u\{1b\}\[2J.*environment "SOC\\u\{1b\}\[2J/);
      });
      await t.step(`${command.join(" ")} --json: the values unchanged, the text safe`, async () => {
        const run = await runJrm([...command, packets, "--keyring", keyring, "--json"]);
        assert.equal(run.code, 1, run.stderr);
        assertTerminalSafe(run, `${command.join(" ")} --json`);
        const results = JSON.parse(run.stdout).results as { environmentId: string }[];
        assert.ok(results.some((r) => r.environmentId === east));
      });
    }

    await t.step("federate: summary, tables and the rejected list", async () => {
      const run = await runJrm([
        "federate",
        "--packets",
        packets,
        "--keyring",
        keyring,
        "--out",
        report,
        "--now",
        TEST_WINDOW.windowEnd,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertTerminalSafe(run, "federate");
      assertShowsEscaped(run.stdout, "federate");
      // A row of the environments table, a row of the drift table, the rejected file.
      assert.match(run.stdout, /^SOC\\u\{1b\}\[2J.*EAST {2,}1 /m);
      assert.match(run.stdout, /^VERSION_SKEW {2}.*SIG\\u\{1b\}\[2J.*SOC\\u\{1b\}\[2J/m);
      assert.match(run.stdout, /^ {2}\S*\/north\\u\{1b\}\[2J/m);
      const written = JSON.parse(await Deno.readTextFile(report));
      assert.equal(written.crossEnvDrifts[0].signatureId, signature);
    });

    await t.step("federate --json: the values unchanged, the text safe", async () => {
      const run = await runJrm([
        "federate",
        "--packets",
        packets,
        "--keyring",
        keyring,
        "--out",
        `${dir}/report2.json`,
        "--now",
        TEST_WINDOW.windowEnd,
        "--json",
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertTerminalSafe(run, "federate --json");
      assert.deepEqual(JSON.parse(run.stdout), JSON.parse(await Deno.readTextFile(report)));
    });

    await t.step("hub replay", async () => {
      const run = await runJrm([
        "hub",
        "replay",
        "--packets",
        packets,
        "--keyring",
        keyring,
        "--out",
        `${dir}/state.json`,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertTerminalSafe(run, "hub replay");
      assertShowsEscaped(run.stdout, "hub replay");
      assert.match(run.stdout, /^SOC\\u\{1b\}\[2J.*EAST {2,}1 /m);
    });

    // The ledger refuses C0 and C1 controls in names, and all but line breaks and tabs in reasons.
    const BY = "eve\u202e\u200b\u2066x";
    const BY_SHOWN = "eve\\u{202e}\\u{200b}\\u{2066}x";
    const REASON = "because\n\tFORGED-LINE \u202e\u2029end";
    const REASON_SHOWN = "because\\u{a}\\u{9}FORGED-LINE \\u{202e}\\u{2029}end";
    await t.step("advisory publish, list, decline and show", async () => {
      const store = `${dir}/ledger.sqlite`;
      const publish = await runJrm(["advisory", "publish", "--from", report, "--store", store]);
      assert.equal(publish.code, 0, publish.stderr);
      assertTerminalSafe(publish, "advisory publish");
      const list = await runJrm(["advisory", "list", "--store", store]);
      assert.equal(list.code, 0, list.stderr);
      assertTerminalSafe(list, "advisory list");
      assertShowsEscaped(list.stdout, "advisory list");
      const id = list.stdout.split("  ")[0];
      const decline = await runJrm([
        "advisory",
        "decline",
        id,
        "--by",
        BY,
        "--reason",
        REASON,
        "--store",
        store,
      ]);
      assert.equal(decline.code, 0, decline.stderr);
      assertTerminalSafe(decline, "advisory decline");
      assert.ok(decline.stdout.includes(BY_SHOWN), decline.stdout);
      const show = await runJrm(["advisory", "show", id, "--store", store]);
      assert.equal(show.code, 0, show.stderr);
      assertTerminalSafe(show, "advisory show");
      assert.ok(
        show.stdout.includes(`${BY_SHOWN}  published → declined: ${REASON_SHOWN}`),
        show.stdout,
      );
      const showJson = await runJrm(["advisory", "show", id, "--store", store, "--json"]);
      assertTerminalSafe(showJson, "advisory show --json");
      assert.equal(JSON.parse(showJson.stdout).history.at(-1).reason, REASON);
      // An export on stdout is JSON: safe, and the same value as the one written to a file.
      const exported = await runJrm(["advisory", "export", "--store", store]);
      assert.equal(exported.code, 0, exported.stderr);
      assertTerminalSafe(exported, "advisory export");
      await runJrm(["advisory", "export", "--store", store, "--out", `${dir}/export.json`]);
      assert.deepEqual(
        JSON.parse(exported.stdout),
        JSON.parse(await Deno.readTextFile(`${dir}/export.json`)),
      );
    });

    await t.step("migrate names a refused packet and its reasons escaped", async () => {
      const run = await runJrm([
        "migrate",
        "--packets",
        packets,
        "--keyring",
        keyring,
        "--out-dir",
        `${dir}/migrated`,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertTerminalSafe(run, "migrate");
      assertShowsEscaped(run.stdout, "migrate");
      assert.match(run.stdout, /^REFUSED {3}.*\/north\\u\{1b\}\[2J/m);
    });

    await t.step("report names its output file escaped", async () => {
      // In a hostile directory: the temporary file's name (Deno refuses controls there) is plain.
      await Deno.mkdir(`${dir}/d${HOSTILE_NAME}`);
      const html = `${dir}/d${HOSTILE_NAME}/page.html`;
      const run = await runJrm(["report", "--from", report, "--html", html]);
      assert.equal(run.code, 0, run.stderr);
      assertTerminalSafe(run, "report");
      assertShowsEscaped(run.stdout, "report");
    });
  });
});

Deno.test("jrm error lines, warnings and plugin listings print their data escaped", async (t) => {
  await withTempDir("jrm_terminal_escape_errors_", async (dir) => {
    await t.step("a packet that cannot be read", async () => {
      const run = await runJrm([
        "gate",
        "validate",
        "--packet",
        `${dir}/missing${HOSTILE_NAME}.zip`,
      ]);
      assert.equal(run.code, 2, run.stderr);
      assertTerminalSafe(run, "missing packet");
      assertShowsEscaped(run.stderr, "missing packet");
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    });
    await t.step("the same with --debug", async () => {
      const run = await runJrm([
        "gate",
        "validate",
        "--packet",
        `${dir}/missing${HOSTILE_NAME}.zip`,
        "--debug",
      ]);
      assertTerminalSafe(run, "missing packet, --debug");
      assertShowsEscaped(run.stderr, "missing packet, --debug");
    });
    await t.step("an unknown option", async () => {
      const run = await runJrm(["gate", "validate", `--bogus${HOSTILE_NAME}`]);
      assert.equal(run.code, 2, run.stderr);
      assertTerminalSafe(run, "unknown option");
      // Commander's message is folded onto one line first, so the CR LF became a space.
      assert.ok(run.stderr.includes("--bogus\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"), run.stderr);
      assert.ok(run.stderr.includes("\\u{202e}\\u{200b}\\u{2066}\\u{feff}\\u{9b}31m"), run.stderr);
    });
    await t.step("a warning about a short key in a file with a hostile name", async () => {
      const key = `short${HOSTILE_NAME}.key`;
      await Deno.writeTextFile(`${dir}/${key}`, "short");
      await Deno.writeTextFile(
        `${dir}/keyring.json`,
        JSON.stringify({ keys: [{ environment: "*", file: key }] }),
      );
      // Any packet file will do: the keyring is read, and warned about, before it.
      await Deno.writeTextFile(`${dir}/not-a-packet.zip`, "junk");
      const run = await runJrm([
        "gate",
        "validate",
        "--packet",
        `${dir}/not-a-packet.zip`,
        "--keyring",
        `${dir}/keyring.json`,
      ]);
      assertTerminalSafe(run, "short key");
      assertShowsEscaped(run.stderr, "short key");
    });
    await t.step("plugins list and a failing detector", async () => {
      const plugin = `${dir}/plugin.ts`;
      await Deno.writeTextFile(
        plugin,
        `export default {
          kind: "detector", name: ${JSON.stringify(`hostile${HOSTILE}`)}, version: "1.0.0",
          description: ${JSON.stringify(`describes${HOSTILE}`)},
          driftTypes: ["HOSTILE"],
          detect() { throw new Error(${JSON.stringify(`fails${HOSTILE}`)}); },
        };\n`,
      );
      const list = await runJrm(["plugins", "list", "--plugin", plugin]);
      assertTerminalSafe(list, "plugins list");
      assertShowsEscaped(list.stdout + list.stderr, "plugins list");
      const packet = await buildTestPacket();
      await Deno.writeFile(`${dir}/p.zip`, packet.bytes);
      const run = await runJrm([
        "federate",
        "--packets",
        `${dir}/p.zip`,
        "--out",
        `${dir}/r.json`,
        "--plugin",
        plugin,
      ]);
      assertTerminalSafe(run, "failing detector");
      assertShowsEscaped(run.stdout + run.stderr, "failing detector");
    });
  });
});

const HAS_SCRIPT = (() => {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
})();

/** Run `jrm` on a pseudo-terminal (util-linux `script`), with colour on; returns the screen's bytes. */
async function onTerminal(args: string[]): Promise<string> {
  const command = [Deno.execPath(), ...denoRunArgs(args)];
  const quoted = command.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  });
  const output = await new Deno.Command("script", {
    args: ["-q", "-e", "-c", quoted, "/dev/null"],
    clearEnv: true,
    env: { ...Object.fromEntries(keep), TERM: "xterm" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

Deno.test({
  name: "on a terminal, with colour on, only jrm's own colour and progress codes reach the screen",
  ignore: !HAS_SCRIPT,
  async fn() {
    await withTempDir("jrm_terminal_escape_tty_", async (dir) => {
      const { packets, keyring } = await hostileCorpus(dir);
      const screen = await onTerminal([
        "federate",
        "--packets",
        packets,
        "--keyring",
        keyring,
        "--out",
        `${dir}/report.json`,
      ]);
      // deno-lint-ignore no-control-regex -- removing our own codes is the point
      const own = /\x1b\[(?:0|1|2|31|32|33)m|\r\x1b\[2K|\r/g;
      assert.ok(screen.includes("\x1b[31m"), "colour is on");
      const rest = screen.replace(own, "");
      assertTerminalSafe({ code: 0, stdout: rest, stderr: "" }, "federate on a terminal");
      assertShowsEscaped(rest, "federate on a terminal");
    });
  },
});
