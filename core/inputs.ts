/**
 * Resolving the packets a command is given: files, directories (walked for
 * `.zip` files) and glob patterns. A name that matches nothing is an error,
 * never silently skipped.
 *
 * @module
 */

import { promises as fsPromises } from "node:fs";
import { UsageError } from "./errors.ts";
import { describeFsError } from "./fs.ts";

const GLOB_CHARS = /[*?[\]{}]/;

/**
 * Expand inputs into packet file paths: a file stands for itself, a
 * directory for every `.zip` below it, a glob for what it matches. The
 * result is sorted within each input and has no duplicates; the order packets
 * are named in never decides anything (ingestion orders by window).
 * @param inputs paths, directories or globs
 * @returns packet file paths
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expandInputs } from "./inputs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/b.zip`, new Uint8Array());
 * await Deno.writeFile(`${dir}/a.zip`, new Uint8Array());
 * await Deno.writeFile(`${dir}/notes.txt`, new Uint8Array());
 * const files = await expandInputs([dir, `${dir}/*.zip`]);
 * assert.equal(files.length, 2);
 * assert(files[0].endsWith("a.zip"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  const seen = new Set<string>();
  const files: string[] = [];
  const add = (path: string) => {
    if (!seen.has(path)) {
      seen.add(path);
      files.push(path);
    }
  };
  for (const input of inputs) {
    let stat: Deno.FileInfo | undefined;
    try {
      stat = await Deno.stat(input);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || !GLOB_CHARS.test(input)) {
        throw new UsageError(`Cannot read packet "${input}": ${describeFsError(error)}`);
      }
    }
    if (stat?.isDirectory) {
      const found = await walkZips(input);
      if (found.length === 0) throw new UsageError(`Directory "${input}" holds no .zip packets`);
      found.forEach(add);
    } else if (stat) {
      add(input);
    } else {
      const matched: string[] = [];
      for await (const path of fsPromises.glob(input)) matched.push(path);
      const zips = [];
      for (const path of matched.sort()) {
        const info = await Deno.stat(path);
        if (info.isFile) zips.push(path);
      }
      if (zips.length === 0) throw new UsageError(`No packet file matches "${input}"`);
      zips.forEach(add);
    }
  }
  return files;
}

async function walkZips(dir: string): Promise<string[]> {
  const found: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    try {
      for await (const entry of Deno.readDir(current)) {
        const path = `${current.replace(/\/+$/, "")}/${entry.name}`;
        if (entry.isDirectory) pending.push(path);
        else if (entry.isFile && entry.name.toLowerCase().endsWith(".zip")) found.push(path);
      }
    } catch (error) {
      throw new UsageError(`Cannot read directory "${current}": ${describeFsError(error)}`);
    }
  }
  return found.sort();
}
