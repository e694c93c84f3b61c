/**
 * A reader that goes away (`jrm federate … | head -1`) stops the printing
 * only: the output files are finished, and the exit code is the run's own
 * (0, 1 for a rejected packet, 2 for drift with `--detailed-exitcode` or bad
 * usage), with stdout, stderr or both closed.
 */
import assert from "node:assert/strict";
import { denoRunArgs, runJrm, withTempDir } from "./_cli.ts";
import { buildTestPacket, hmacSigner, TEST_WINDOW } from "./_packets.ts";

const REPO = new URL("..", import.meta.url).pathname;
const PACKETS = `${REPO}fixtures/packets`;
const KEYRING = `${REPO}fixtures/keyring.json`;
const NOW = "2026-03-01T00:00:00Z";

/** What a run with closed streams gave. */
interface ClosedRun {
  code: number;
  /** stderr, when it was left open. */
  stderr: string;
}

/**
 * Run jrm with stdout (and, when told, stderr) piped and the read side closed
 * at once, before the process has started, so its first write to a closed
 * stream meets a broken pipe.
 */
async function runClosed(args: string[], close: "stdout" | "both"): Promise<ClosedRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(args),
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdout.cancel();
  let stderr = "";
  if (close === "both") await child.stderr.cancel();
  else stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  const { code } = await child.status;
  return { code, stderr };
}

/** A directory holding the fixtures and one packet signed with a key nobody has. */
async function withRejected(dir: string): Promise<string> {
  const packets = `${dir}/packets`;
  await Deno.mkdir(packets);
  for await (const entry of Deno.readDir(PACKETS)) {
    await Deno.copyFile(`${PACKETS}/${entry.name}`, `${packets}/${entry.name}`);
  }
  const forged = await buildTestPacket({
    environmentId: "SOC_EAST",
    windowStart: "2026-02-28T09:00:00Z",
    windowEnd: "2026-02-28T09:10:00Z",
    signer: await hmacSigner("a-key-nobody-has-of-thirty-two-bytes"),
  });
  await Deno.writeFile(`${packets}/forged.zip`, forged.bytes);
  return packets;
}

/** The report the same command writes with its output read to the end. */
async function reference(args: string[], out: string): Promise<string> {
  const run = await runJrm(args.map((arg) => arg.replace("@OUT", out)));
  assert.ok(run.code === 0 || run.code === 1 || run.code === 2, run.stderr);
  return await Deno.readTextFile(out);
}

Deno.test("a closed stdout or stderr stops the printing only: outputs complete, the run's own exit code", async (t) => {
  await withTempDir("jrm_closed_pipe_", async (dir) => {
    const withForged = await withRejected(dir);
    const federate = (packets: string, ...extra: string[]) => [
      "federate",
      "--packets",
      packets,
      "--keyring",
      KEYRING,
      "--out",
      "@OUT",
      "--graph-out",
      "@OUT.graph",
      "--now",
      NOW,
      ...extra,
    ];
    const cases: { what: string; args: string[]; code: number }[] = [
      { what: "federate", args: federate(PACKETS), code: 0 },
      { what: "federate --json", args: federate(PACKETS, "--json"), code: 0 },
      { what: "federate with a rejected packet", args: federate(withForged), code: 1 },
      {
        what: "federate --detailed-exitcode with drift",
        args: federate(PACKETS, "--detailed-exitcode"),
        code: 2,
      },
      {
        what: "hub replay",
        args: [
          "hub",
          "replay",
          "--packets",
          withForged,
          "--keyring",
          KEYRING,
          "--out",
          "@OUT",
          "--now",
          NOW,
        ],
        code: 1,
      },
    ];
    for (const c of cases) {
      const expected = await reference(c.args, `${dir}/reference.json`);
      const graph = c.args.includes("@OUT.graph")
        ? await Deno.readTextFile(`${dir}/reference.json.graph`)
        : undefined;
      for (const close of ["stdout", "both"] as const) {
        await t.step(
          `${c.what}, ${close === "both" ? "stdout and stderr" : "stdout"} closed`,
          async () => {
            const out = `${dir}/out-${close}.json`;
            const run = await runClosed(c.args.map((arg) => arg.replace("@OUT", out)), close);
            assert.equal(run.code, c.code, run.stderr);
            assert.doesNotMatch(run.stderr, /broken pipe/i);
            assert.equal(await Deno.readTextFile(out), expected, "the report is complete");
            if (graph !== undefined) assert.equal(await Deno.readTextFile(`${out}.graph`), graph);
            const leftovers = [];
            for await (const entry of Deno.readDir(dir)) {
              if (entry.name.endsWith(".tmp")) leftovers.push(entry.name);
            }
            assert.deepEqual(leftovers, []);
          },
        );
      }
    }
  });
});

Deno.test("every printing command keeps its exit code when its reader is gone", async (t) => {
  await withTempDir("jrm_closed_pipe_print_", async (dir) => {
    const withForged = await withRejected(dir);
    const cases: { args: string[]; code: number }[] = [
      { args: ["gate", "validate", "--packet", PACKETS, "--keyring", KEYRING], code: 0 },
      { args: ["gate", "validate", "--packet", withForged, "--keyring", KEYRING], code: 1 },
      { args: ["verify", "--packet", withForged, "--keyring", KEYRING, "--json"], code: 1 },
      { args: ["plugins", "list"], code: 0 },
      { args: ["advisory", "list", "--store", `${dir}/none.sqlite`], code: 2 },
      { args: ["completions", "bash"], code: 0 },
      { args: ["--help"], code: 0 },
      { args: ["--version"], code: 0 },
      { args: ["gate", "validate", "--no-such-flag"], code: 2 },
      { args: ["gate", "validate", "--packet", `${dir}/missing.zip`], code: 2 },
    ];
    for (const c of cases) {
      for (const close of ["stdout", "both"] as const) {
        await t.step(
          `jrm ${c.args.slice(0, 2).join(" ")}… (${close} closed): exit ${c.code}`,
          async () => {
            const run = await runClosed(c.args, close);
            assert.equal(run.code, c.code, run.stderr);
            assert.doesNotMatch(run.stderr, /broken pipe/i);
          },
        );
      }
    }
  });
});

Deno.test("jrm federate … | head -c0 in a shell exits 0 with the report written", async () => {
  await withTempDir("jrm_closed_pipe_shell_", async (dir) => {
    const out = `${dir}/report.json`;
    const jrm = [
      Deno.execPath(),
      ...denoRunArgs([
        "federate",
        "--packets",
        PACKETS,
        "--keyring",
        KEYRING,
        "--out",
        out,
        "--now",
        TEST_WINDOW.windowEnd,
      ]),
    ];
    const output = await new Deno.Command("bash", {
      args: ["-c", '"$@" | head -c0; exit "${PIPESTATUS[0]}"', "bash", ...jrm],
      cwd: REPO,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(stderr, "");
    assert.equal(JSON.parse(await Deno.readTextFile(out)).packetsIngested, 9);
  });
});
