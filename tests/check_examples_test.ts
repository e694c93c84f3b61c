import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkExamples, findConsoleAsserts } from "../scripts/check_examples.ts";
import { runJrm, withTempDir } from "./_cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../scripts/check_examples.ts", import.meta.url));

/** Spelled apart so that this file passes the check it tests. */
const BAD = ["console", "assert"].join(".");
const FENCE = "`".repeat(3);

Deno.test("findConsoleAsserts() finds the call in a JSDoc example, ignore blocks included", () => {
  const source = [
    "/**",
    " * Adds.",
    " * @example",
    ` * ${FENCE}ts`,
    ` * ${BAD}(add(1, 1) === 2);`,
    ` * ${FENCE}`,
    ` * ${FENCE}ts ignore`,
    ` *   ${BAD} (add(1, 2) === 3);`,
    ` * ${FENCE}`,
    " */",
    "export function add(a: number, b: number): number {",
    "  return a + b;",
    "}",
  ].join("\n");
  assert.deepEqual(findConsoleAsserts(source, "core/add.ts"), [
    { file: "core/add.ts", line: 5 },
    { file: "core/add.ts", line: 8 },
  ]);
});

Deno.test("findConsoleAsserts() leaves code, prose and non-code blocks alone", () => {
  const source = [
    `${BAD}(true); // code, not an example`,
    "/**",
    ` * Prose may name ${BAD}(x) as what not to do.`,
    ` * ${FENCE}sh`,
    ` * echo "${BAD}(1)"`,
    ` * ${FENCE}`,
    " */",
    "/** an unclosed fence does not run on past its comment:",
    ` * ${FENCE}ts`,
    " */",
    `${BAD}(1);`,
  ].join("\n");
  assert.deepEqual(findConsoleAsserts(source, "a.ts"), []);
});

Deno.test("findConsoleAsserts() reads Markdown fences, longer fences and tildes", () => {
  const markdown = [
    "Text mentioning " + BAD + "(x).",
    `${FENCE}typescript`,
    `${BAD}(1);`,
    `${FENCE}`,
    "````md",
    `${FENCE}ts`,
    "````",
    `${BAD}(2); outside any block`,
    "~~~js",
    `  ${BAD}(3);`,
    "~~~",
    `${FENCE}json`,
    `{"${BAD}(4)": 1}`,
    `${FENCE}`,
  ].join("\n");
  assert.deepEqual(findConsoleAsserts(markdown, "README.md"), [
    { file: "README.md", line: 3 },
    { file: "README.md", line: 10 },
  ]);
});

Deno.test("the repository's examples use node:assert/strict", async () => {
  assert.deepEqual(await checkExamples(ROOT), []);
});

Deno.test("scripts/check_examples.ts exits 1 naming each file and line, 0 when clean", async () => {
  await withTempDir("check_examples_", async (dir) => {
    await Deno.mkdir(`${dir}/core`);
    await Deno.writeTextFile(
      `${dir}/core/a.ts`,
      `/**\n * ${FENCE}ts\n * ${BAD}(1 === 2);\n * ${FENCE}\n */\nexport const a = 1;\n`,
    );
    await Deno.mkdir(`${dir}/dist`);
    await Deno.writeTextFile(`${dir}/dist/b.md`, `${FENCE}ts\n${BAD}(false);\n${FENCE}\n`);
    const found = await runJrm([dir], { entry: SCRIPT, permissions: ["--allow-read"] });
    assert.equal(found.code, 1);
    assert.equal(
      found.stderr,
      `core/a.ts:3: ${BAD} in an example never fails; ` +
        `use node:assert/strict (import assert from "node:assert/strict")\n`,
    );
    await Deno.remove(`${dir}/core/a.ts`);
    const clean = await runJrm([dir], { entry: SCRIPT, permissions: ["--allow-read"] });
    assert.equal(clean.code, 0);
    assert.equal(clean.stderr, "");
  });
});
