/**
 * Resolving the packets a command is given: files, directories (walked for
 * `.zip` files) and glob patterns. A name that matches nothing is an error,
 * never silently skipped; a symbolic link met while walking a directory is
 * followed when its name ends in `.zip`, with a warning naming the link and
 * its target (the caller prints it).
 *
 * @module
 */

import { promises as fsPromises } from "node:fs";
import { UsageError } from "./errors.ts";
import { describeFsError } from "./fs.ts";

const GLOB_CHARS = /[*?[\]{}]/;

/** Something worth telling about how inputs were resolved: a link followed or not followed. */
export interface InputWarning {
  /** `LINK_FOLLOWED`: a `.zip` link read as a packet; `LINK_NOT_FOLLOWED`: a link to a directory left alone. */
  code: "LINK_FOLLOWED" | "LINK_NOT_FOLLOWED";
  /** The link's path. */
  path: string;
  /** Where it leads: its real path, or what it holds when that does not resolve. */
  target: string;
  /** One line saying so (not escaped: the printer escapes it). */
  message: string;
}

/** What {@link expandPackets} gives. */
export interface ExpandedInputs {
  /** Packet file paths, sorted within each input, without duplicates. */
  files: string[];
  /** Links met while walking directories. */
  warnings: InputWarning[];
}

/**
 * Expand inputs into packet file paths: a file stands for itself, a
 * directory for every `.zip` below it (a FIFO or device so named included:
 * reading it refuses it, so it is never skipped unseen), a glob for what it
 * matches. A symbolic link inside a directory is followed when its name ends
 * in `.zip` (with a `LINK_FOLLOWED` warning); a link to a directory is not
 * walked (`LINK_NOT_FOLLOWED`), so a loop of links cannot trap the walk. The
 * order packets are named in never decides anything (ingestion orders by
 * window).
 * @param inputs paths, directories or globs
 * @returns the packet files and the warnings
 * @throws {UsageError} when an input is missing, or a directory or glob holds no packet
 * @example
 * ```ts
 * import { expandPackets } from "./inputs.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/a.zip`, new Uint8Array());
 * await Deno.symlink(`${dir}/a.zip`, `${dir}/b.zip`);
 * const { files, warnings } = await expandPackets([dir]);
 * assert.deepEqual(files, [`${dir}/a.zip`, `${dir}/b.zip`]);
 * assert.equal(warnings[0].code, "LINK_FOLLOWED");
 * assert.equal(warnings[0].path, `${dir}/b.zip`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function expandPackets(inputs: readonly string[]): Promise<ExpandedInputs> {
  const seen = new Set<string>();
  const files: string[] = [];
  const warnings: InputWarning[] = [];
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
      const found = await walkZips(input, warnings);
      if (found.length === 0) throw new UsageError(`Directory "${input}" holds no .zip packets`);
      found.forEach(add);
    } else if (stat) {
      add(input);
    } else {
      const matched: string[] = [];
      for await (const path of fsPromises.glob(input)) matched.push(path);
      const zips = [];
      for (const path of matched.sort()) {
        // Whatever is not a directory is a candidate: the read refuses what is not a packet.
        const info = await Deno.stat(path).catch(() => undefined);
        if (!info?.isDirectory) zips.push(path);
      }
      if (zips.length === 0) throw new UsageError(`No packet file matches "${input}"`);
      zips.forEach(add);
    }
  }
  return { files, warnings };
}

/**
 * {@link expandPackets} without the warnings.
 * @param inputs paths, directories or globs
 * @returns packet file paths
 * @example
 * ```ts
 * import { expandInputs } from "./inputs.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/b.zip`, new Uint8Array());
 * await Deno.writeFile(`${dir}/a.zip`, new Uint8Array());
 * await Deno.writeFile(`${dir}/notes.txt`, new Uint8Array());
 * const files = await expandInputs([dir, `${dir}/*.zip`]);
 * assert.deepEqual(files, [`${dir}/a.zip`, `${dir}/b.zip`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  return (await expandPackets(inputs)).files;
}

async function walkZips(dir: string, warnings: InputWarning[]): Promise<string[]> {
  const found: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    try {
      for await (const entry of Deno.readDir(current)) {
        const path = `${current.replace(/\/+$/, "")}/${entry.name}`;
        const zip = entry.name.toLowerCase().endsWith(".zip");
        if (entry.isDirectory) pending.push(path);
        else if (entry.isSymlink) {
          const target = await linkTarget(path);
          if (zip) {
            found.push(path);
            warnings.push({
              code: "LINK_FOLLOWED",
              path,
              target,
              message: `Following link "${path}" to "${target}"`,
            });
          } else if ((await Deno.stat(path).catch(() => undefined))?.isDirectory) {
            warnings.push({
              code: "LINK_NOT_FOLLOWED",
              path,
              target,
              message: `Not walking link "${path}" to directory "${target}"`,
            });
          }
        } else if (zip) found.push(path);
      }
    } catch (error) {
      throw new UsageError(`Cannot read directory "${current}": ${describeFsError(error)}`);
    }
  }
  warnings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return found.sort();
}

/** Where a link leads: its real path, else (a dangling link) what it holds. */
async function linkTarget(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return await Deno.readLink(path).catch(() => "?");
  }
}
