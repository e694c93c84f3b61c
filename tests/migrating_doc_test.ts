/**
 * docs/migrating.md's worked example, run as written: every command of its
 * `sh` blocks, in order, in one fresh directory. A command's expected exit
 * code is its trailing `# exit N` (0 without one); a `text` block right after
 * a one-command `sh` block is that command's exact output.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runJrm, withTempDir } from "./_cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Step {
  /** The command line as the document writes it. */
  line: string;
  /** Its words, without the trailing comment. */
  words: string[];
  /** The exit code the document says it has. */
  exit: number;
  /** The output the document shows, when it shows one. */
  output?: string;
}

/** The document's commands, in order. */
function steps(markdown: string): Step[] {
  const blocks = [...markdown.matchAll(/^```(\w+)\n([\s\S]*?)^```\n(?:\n*)/gm)];
  const found: Step[] = [];
  for (const [i, block] of blocks.entries()) {
    if (block[1] !== "sh") continue;
    const lines = block[2].replace(/\\\n\s*/g, "").split("\n").filter((l) => l.trim() !== "");
    const commands = lines.map((line) => {
      const [command, comment = ""] = line.split(/\s+#\s*/);
      const exit = /^exit (\d+)$/.exec(comment.trim());
      return { line, words: command.trim().split(/\s+/), exit: exit ? Number(exit[1]) : 0 };
    });
    const next = blocks[i + 1];
    // A text block counts as output only when nothing but blank lines separates the two.
    const adjacent = next?.[1] === "text" && next.index === block.index! + block[0].length;
    if (adjacent && commands.length === 1) {
      found.push({ ...commands[0], output: next[2] });
    } else {
      found.push(...commands);
    }
  }
  return found;
}

Deno.test("docs/migrating.md: the worked example runs as written", async (t) => {
  const doc = await Deno.readTextFile(new URL("../docs/migrating.md", import.meta.url));
  const all = steps(doc);
  assert.ok(all.length >= 8, `only ${all.length} commands found`);
  assert.ok(all.some((step) => step.output !== undefined));
  await withTempDir("jrm-migrating-doc-", async (dir) => {
    for (const step of all) {
      await t.step(step.line, async () => {
        const [program, ...args] = step.words;
        let code: number;
        let stdout: string;
        let stderr: string;
        if (program === "jrm") {
          ({ code, stdout, stderr } = await runJrm(args, { cwd: dir }));
        } else {
          assert.deepEqual([program, args[0]], ["deno", "run"], step.line);
          const output = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "--quiet",
              `--config=${ROOT}deno.json`,
              ...args.slice(1).map((arg) => arg.endsWith(".ts") ? ROOT + arg : arg),
            ],
            cwd: dir,
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
          }).output();
          code = output.code;
          stdout = new TextDecoder().decode(output.stdout);
          stderr = new TextDecoder().decode(output.stderr);
        }
        assert.equal(code, step.exit, `stdout: ${stdout}\nstderr: ${stderr}`);
        if (step.output !== undefined) assert.equal(stdout, step.output);
      });
    }
    // What the example says it made.
    const advisories = JSON.parse(
      await Deno.readTextFile(`${dir}/migration-demo/reference-advisories.json`),
    );
    assert.equal(advisories.length, 3);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/migration-demo/report.json`));
    assert.deepEqual(
      report.crossEnvDrifts.map((d: { driftType: string; signatureId: string }) =>
        `${d.driftType} ${d.signatureId}`
      ).sort(),
      [
        "POSTURE_DIVERGENCE SID-2024897",
        "REFINEMENT_CONFLICT SID-2019401",
        "VERSION_SKEW SID-2019401",
      ],
    );
  });
});
