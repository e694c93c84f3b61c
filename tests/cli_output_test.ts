/**
 * Snapshot tests of what the CLI shows people: every command's --help, a few
 * error outputs, and the completion scripts. `deno task snapshots` rewrites
 * the snapshots after an intended change; review the diff before committing.
 */
import assert from "node:assert/strict";
import { buildProgram } from "../cli.ts";
import { completionScript } from "../cli/completions.ts";
import { table } from "../cli/table.ts";
import { runJrm } from "./_cli.ts";

const SNAPSHOTS = new URL("./snapshots/", import.meta.url);
const UPDATE = Deno.env.get("UPDATE_SNAPSHOTS") === "1";

async function matchSnapshot(name: string, actual: string): Promise<void> {
  const file = new URL(name, SNAPSHOTS);
  if (UPDATE) {
    await Deno.mkdir(new URL(".", file), { recursive: true });
    await Deno.writeTextFile(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(file);
  } catch {
    throw new Error(`No snapshot "${name}": run \`deno task snapshots\` and review it`);
  }
  assert.equal(actual, expected, `snapshot "${name}" differs (deno task snapshots updates it)`);
}

// deno-lint-ignore no-explicit-any -- walks commands of any option shape
function commands(command: any, path: string[] = []): { path: string[]; command: any }[] {
  return [
    { path, command },
    // deno-lint-ignore no-explicit-any
    ...command.commands.flatMap((sub: any) => commands(sub, [...path, sub.name()])),
  ];
}

Deno.test("every command's --help matches its snapshot", async (t) => {
  const all = commands(buildProgram());
  assert.ok(all.length >= 20, "the command tree is walked");
  for (const { path, command } of all) {
    const name = path.length === 0 ? "jrm" : `jrm ${path.join(" ")}`;
    await t.step(name, async () => {
      const help = command.helpInformation();
      assert.match(help, /^Usage: jrm/);
      await matchSnapshot(`help/${name.replaceAll(" ", "_")}.txt`, help);
    });
  }
});

Deno.test("error output is one line, exit 2, and matches its snapshot", async (t) => {
  const cases: [string, string[]][] = [
    ["unknown-command", ["frobnicate"]],
    ["missing-required-option", ["federate", "--packets", "x.zip"]],
    ["missing-packet-file", ["gate", "validate", "--packet", "/nonexistent/p.zip"]],
    ["key-on-command-line", ["sign", "--packet", "p.zip", "--key", "secret"]],
  ];
  for (const [name, args] of cases) {
    await t.step(name, async () => {
      const result = await runJrm(args);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, "");
      assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
      await matchSnapshot(`errors/${name}.txt`, result.stderr);
    });
  }
});

Deno.test("completion scripts cover every command and flag", async (t) => {
  const program = buildProgram();
  for (const shell of ["bash", "zsh", "fish"]) {
    await t.step(shell, async () => {
      const script = completionScript(program, shell);
      for (const word of ["federate", "validate", "replay", "--graph-out", "--require-signature"]) {
        const spelled = shell === "fish" ? word.replace(/^--/, "-l ") : word;
        assert.ok(script.includes(spelled), `${shell} script lacks ${spelled}`);
      }
      await matchSnapshot(`completions/jrm.${shell}`, script);
    });
  }
  await t.step("the bash script completes subcommands and flags", async () => {
    const script = completionScript(program, "bash");
    const probe = `${script}
COMP_WORDS=(jrm gate va); COMP_CWORD=2; _jrm_complete; echo "\${COMPREPLY[*]}"
COMP_WORDS=(jrm hub replay --gr); COMP_CWORD=3; _jrm_complete; echo "\${COMPREPLY[*]}"
COMP_WORDS=(jrm federate --graph); COMP_CWORD=2; _jrm_complete; echo "\${COMPREPLY[*]}"`;
    const output = await new Deno.Command("bash", { args: ["-c", probe], stdout: "piped" })
      .output();
    assert.deepEqual(new TextDecoder().decode(output.stdout).split("\n").slice(0, 3), [
      "validate",
      "",
      "--graph-out",
    ]);
  });
});

Deno.test("table() lines up columns, also around colour codes", () => {
  const rendered = table(["A", "LONGER"], [["\x1b[31mred\x1b[0m", "x"], ["wide cell", "y"]]);
  // deno-lint-ignore no-control-regex -- stripping the colour codes is the point
  const lines = rendered.split("\n").map((line) => line.replace(/\x1b\[[0-9;]*m/g, ""));
  assert.deepEqual(lines, ["A          LONGER", "red        x", "wide cell  y"]);
});
