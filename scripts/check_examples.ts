/**
 * `deno task check` step: every code example asserts with something that
 * can fail.
 *
 * `console.assert` only prints in Deno, so an example that checks its result
 * with it stays green under `deno test --doc` when the result is wrong. This
 * script finds `console.assert` in the TypeScript and JavaScript code blocks
 * of JSDoc comments and Markdown files and names each one; examples use
 * `import assert from "node:assert/strict";` instead.
 *
 * ```sh
 * deno run --allow-read scripts/check_examples.ts [ROOT]
 * ```
 *
 * Exit codes: 0 none found, 1 found (one line each on stderr).
 *
 * @module
 */

import { join, relative } from "node:path";

/** One `console.assert` found in an example. */
export interface ExampleProblem {
  /** The file, as given to {@link findConsoleAsserts}. */
  file: string;
  /** The line, 1-based. */
  line: number;
}

/** Directories never searched (generated output, caches, dependencies). */
export const SKIPPED_DIRS: readonly string[] = [
  ".git",
  "node_modules",
  "bench/.cache",
  "demo-out",
  "migration-demo",
  "dist",
  "fixtures/packets",
  "fixtures/corpus",
];

const CODE_LANGUAGES = new Set(["ts", "typescript", "js", "javascript", "tsx", "jsx", "mts"]);

/**
 * Find `console.assert` in the code examples of one file's text.
 *
 * In `.md` files the examples are the fenced blocks; in source files, the
 * fenced blocks inside comments (each line starting with `*`). Blocks marked
 * `ignore` count too: an example someone copies should not teach it.
 *
 * @param text the file's text
 * @param file the file's name; `.md` selects Markdown
 * @returns each occurrence, in order
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findConsoleAsserts } from "./check_examples.ts";
 * const bad = ["console", "assert"].join("."); // spelled apart so this example passes the check
 * const source = `/**\n * \`\`\`ts\n * ${bad}(1 === 2);\n * \`\`\`\n *\/\n${bad}(true);\n`;
 * assert.deepEqual(findConsoleAsserts(source, "a.ts"), [{ file: "a.ts", line: 3 }]);
 * ```
 */
export function findConsoleAsserts(text: string, file: string): ExampleProblem[] {
  const markdown = file.endsWith(".md");
  const problems: ExampleProblem[] = [];
  // The fence that opened the current code block ("```" or "~~~", maybe longer), or undefined.
  let fence: string | undefined;
  let code = false;
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    let line = lines[index];
    if (!markdown) {
      const comment = /^\s*\*(?!\/)\s?(.*)$/.exec(line);
      if (!comment) {
        fence = undefined;
        continue;
      }
      line = comment[1];
    }
    const open = /^\s*(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (fence === undefined) {
      if (open) {
        fence = open[1];
        code = CODE_LANGUAGES.has(open[2].toLowerCase());
      }
      continue;
    }
    if (open && open[1].startsWith(fence) && line.trim() === open[1]) {
      fence = undefined;
      continue;
    }
    if (code && /\bconsole\.assert\s*\(/.test(line)) problems.push({ file, line: index + 1 });
  }
  return problems;
}

/**
 * Search every `.ts`, `.js` and `.md` file under a directory.
 *
 * @param root the directory
 * @returns each occurrence, with paths relative to `root`, sorted by path
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkExamples } from "./check_examples.ts";
 * const dir = await Deno.makeTempDir();
 * const bad = ["console", "assert"].join(".");
 * await Deno.writeTextFile(`${dir}/a.md`, `~~~ts\n${bad}(false);\n~~~\n`);
 * assert.deepEqual(await checkExamples(dir), [{ file: "a.md", line: 2 }]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkExamples(root: string): Promise<ExampleProblem[]> {
  const problems: ExampleProblem[] = [];
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.isDirectory) {
        if (!SKIPPED_DIRS.includes(rel)) await walk(path);
      } else if (entry.isFile && /\.(m?[jt]sx?|md)$/.test(entry.name)) {
        files.push(rel);
      }
    }
  };
  await walk(root);
  files.sort();
  for (const file of files) {
    problems.push(...findConsoleAsserts(await Deno.readTextFile(join(root, file)), file));
  }
  return problems;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? ".";
  const problems = await checkExamples(root);
  for (const { file, line } of problems) {
    console.error(
      `${file}:${line}: console.assert in an example never fails; ` +
        `use node:assert/strict (import assert from "node:assert/strict")`,
    );
  }
  if (problems.length > 0) Deno.exit(1);
}
