/**
 * Packet files below a directory, and the packet files a list of plain paths
 * names, synchronously and with nothing heavy imported: `expandInputs`
 * (core/inputs.ts) walks directories with {@link zipsUnder}, and the CLI's
 * prewarm lists the packets it can start reading with
 * {@link listPacketFiles} before the rest of the program has loaded. Both
 * spell and order the paths the same way, which lets the hub take what the
 * prewarm read.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import { describeFsError } from "./fs.ts";

/** Whether a name has a glob's special characters (see `expandInputs`). */
export const GLOB_CHARS = /[*?[\]{}]/;

/**
 * The `.zip` files below a directory (any depth, names matched without
 * regard to case), each spelled `<dir>/<relative path>`, sorted.
 * @param dir the directory
 * @returns the paths
 * @throws {UsageError} when a directory cannot be read
 * @example
 * ```ts
 * import { zipsUnder } from "./packet_files.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeFileSync(`${dir}/a.ZIP`, new Uint8Array());
 * Deno.writeFileSync(`${dir}/notes.txt`, new Uint8Array());
 * console.assert(zipsUnder(dir).length === 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function zipsUnder(dir: string): string[] {
  const found: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    try {
      for (const entry of Deno.readDirSync(current)) {
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

/**
 * The packet files `inputs` name, exactly as `expandInputs` gives them, when
 * every input is an existing file or directory; undefined when one is a glob,
 * is missing, or cannot be read (then only `expandInputs` decides, and words
 * the error).
 * @param inputs paths and directories
 * @returns the paths, or undefined
 * @example
 * ```ts
 * import { listPacketFiles } from "./packet_files.ts";
 * console.assert(listPacketFiles(["no/such/dir"]) === undefined);
 * ```
 */
export function listPacketFiles(inputs: readonly string[]): string[] | undefined {
  const files = new Set<string>();
  try {
    for (const input of inputs) {
      const stat = Deno.statSync(input);
      if (stat.isDirectory) {
        const found = zipsUnder(input);
        if (found.length === 0) return undefined;
        for (const path of found) files.add(path);
      } else {
        files.add(input);
      }
    }
  } catch {
    return undefined;
  }
  return [...files];
}
