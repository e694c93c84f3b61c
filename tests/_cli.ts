/**
 * Run `jrm` as a user would, in its own process, and check what it printed.
 *
 * Every run gets `--quiet` and the repository's `deno.json`, so Deno's own
 * diagnostics never mix with jrm's output and the import map resolves from
 * any working directory; `NO_COLOR=1`, so the output is plain text; and no
 * stdin, so a command never waits for input.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** The repository root, as a path ending in "/". */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The permissions `deno task jrm` gives. */
const JRM_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env"];

/** What a run printed, and its exit code. */
export interface CliRun {
  /** The exit code. */
  code: number;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
}

/** What to run, and where. */
export interface CliRunOptions {
  /**
   * Variables over the inherited environment and `NO_COLOR=1`; jrm counts an
   * empty value as unset, so `""` keeps the caller's own value out.
   */
  env?: Record<string, string>;
  /** The working directory; the repository root by default. */
  cwd?: string;
  /** The module to run: `cli.ts` by default, else a generated entry or a script. */
  entry?: string | URL;
  /** Deno's permission flags; those of `deno task jrm` by default. */
  permissions?: string[];
}

/**
 * The arguments to `deno` that run jrm (or `options.entry`) with `args`.
 * @param args the command line after `jrm`
 * @param options the module to run and its permissions
 * @returns the arguments, starting with `run`
 */
export function denoRunArgs(
  args: string[],
  options: Pick<CliRunOptions, "entry" | "permissions"> = {},
): string[] {
  const entry = options.entry ?? new URL("../cli.ts", import.meta.url);
  return [
    "run",
    "--quiet",
    `--config=${ROOT}deno.json`,
    ...(options.permissions ?? JRM_PERMISSIONS),
    entry instanceof URL ? fileURLToPath(entry) : entry,
    ...args,
  ];
}

/**
 * Run `jrm` in its own process and wait for it to exit.
 * @param args the command line after `jrm`
 * @param options environment, working directory, module and permissions
 * @returns the exit code and the decoded output
 */
export async function runJrm(args: string[], options: CliRunOptions = {}): Promise<CliRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(args, options),
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Assert a run exited with `code` and exactly one line on stderr, without a
 * stack trace.
 * @param run the run
 * @param code the exit code expected
 * @returns the line, for the caller to check
 */
export function oneErrorLine(run: CliRun, code: number): string {
  assert.equal(run.code, code, `exit ${run.code}: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `more than one line on stderr:\n${run.stderr}`);
  assert.doesNotMatch(lines[0], /^\s+at /);
  return lines[0];
}

/**
 * Give `use` a fresh temporary directory, and remove it afterwards whatever
 * happens.
 * @param prefix the start of the directory's name, to tell whose it is
 * @param use the test's work
 * @returns when the work is done and the directory removed
 */
export async function withTempDir(
  prefix: string,
  use: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await use(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
