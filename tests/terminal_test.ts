/**
 * What a person at a terminal sees: progress and colour on a terminal only,
 * `NO_COLOR` respected, nothing but JSON with `--json`. A pseudo-terminal
 * comes from util-linux's `script`.
 */
import assert from "node:assert/strict";
import { denoRunArgs, runJrm } from "./_cli.ts";

const REPO = new URL("..", import.meta.url).pathname;
const HAS_SCRIPT = (() => {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
})();

const federate = (out: string, extra: string[] = []) => [
  "federate",
  "--packets",
  `${REPO}fixtures/packets`,
  "--keyring",
  `${REPO}fixtures/keyring.json`,
  "--out",
  out,
  ...extra,
];

/** Run `jrm` on a pseudo-terminal; returns everything it wrote there. */
async function onTerminal(args: string[], env: Record<string, string> = {}): Promise<string> {
  const command = [Deno.execPath(), ...denoRunArgs(args)];
  const quoted = command.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
  // A clean environment: a NO_COLOR set around the test run (CI sets one) must not leak in.
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  });
  const output = await new Deno.Command("script", {
    args: ["-q", "-e", "-c", quoted, "/dev/null"],
    clearEnv: true,
    env: { ...Object.fromEntries(keep), TERM: "xterm", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

// deno-lint-ignore no-control-regex -- looking for colour codes is the point
const COLOUR = /\x1b\[(?:1|2|3[1-3])m/;

Deno.test({
  name: "federate shows progress and colour on a terminal, and neither when piped",
  ignore: !HAS_SCRIPT,
  async fn(t) {
    const dir = await Deno.makeTempDir();
    try {
      await t.step("on a terminal: progress line and colour", async () => {
        const screen = await onTerminal(federate(`${dir}/a.json`));
        assert.match(screen, /packets 9\/9 {2}[\d.]+\/s/);
        assert.match(screen, COLOUR);
      });
      await t.step("on a terminal with NO_COLOR: progress, no colour", async () => {
        const screen = await onTerminal(federate(`${dir}/b.json`), { NO_COLOR: "1" });
        assert.match(screen, /packets 9\/9/);
        assert.doesNotMatch(screen, COLOUR);
      });
      await t.step("on a terminal with --json: only JSON", async () => {
        const screen = await onTerminal(federate(`${dir}/c.json`, ["--json"]));
        assert.doesNotMatch(screen, /packets \d+\/\d+/);
        assert.equal(JSON.parse(screen).packetsIngested, 9);
      });
      await t.step("piped: no progress, no colour", async () => {
        // An empty NO_COLOR lets colour through, so only the pipe can be what stops it.
        const run = await runJrm(federate(`${dir}/d.json`), { env: { NO_COLOR: "" } });
        const text = run.stdout + run.stderr;
        assert.equal(run.code, 0);
        assert.doesNotMatch(text, /packets \d+\/\d+/);
        assert.ok(!text.includes("\x1b"), "no escape codes when piped");
        assert.match(text, /9 accepted, 0 rejected, 0 duplicate/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
