/**
 * File helpers shared by every command: one-line error descriptions and
 * atomic writes (a temporary file beside the target, then a rename), so a
 * failed run never leaves a half-written output behind.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/**
 * A short, one-line description of a file-system error, without a stack.
 * @param error what Deno threw
 * @returns e.g. `not found`, `permission denied`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFsError } from "./fs.ts";
 * assert.equal(describeFsError(new Deno.errors.NotFound("x")), "not found");
 * ```
 */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  if (error instanceof Deno.errors.AlreadyExists) return "already exists";
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}

/**
 * Write a file atomically: the bytes go to a temporary file in the same
 * directory, which is then renamed over the target. On failure the
 * temporary file is removed and the target is untouched.
 * @param path the target file
 * @param data the bytes or text to write
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileAtomic } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/out.json`, "{}\n");
 * assert.equal(await Deno.readTextFile(`${dir}/out.json`), "{}\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const temp = await makeTempBeside(path);
  try {
    await Deno.writeFile(temp, bytes);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  }
}

/**
 * Write a file atomically from a sequence of chunks, for outputs too large to
 * hold whole (the merged memory graph). Same guarantees as
 * {@link writeFileAtomic}.
 * @param path the target file
 * @param chunks text or byte chunks, written in order
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeChunksAtomic } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await writeChunksAtomic(`${dir}/g.json`, ["[", "1", "]"]);
 * assert.equal(await Deno.readTextFile(`${dir}/g.json`), "[1]");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeChunksAtomic(
  path: string,
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
): Promise<void> {
  const temp = await makeTempBeside(path);
  const encoder = new TextEncoder();
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(temp, { write: true, truncate: true });
    const writer = file.writable.getWriter();
    for await (const chunk of chunks) {
      await writer.write(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
    }
    await writer.close();
    file = undefined;
    await Deno.rename(temp, path);
  } catch (error) {
    try {
      file?.close();
    } catch { /* already closed */ }
    await Deno.remove(temp).catch(() => {});
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  }
}

async function makeTempBeside(path: string): Promise<string> {
  const slash = path.lastIndexOf("/");
  const dir = slash === -1 ? "." : path.slice(0, slash) || "/";
  const base = slash === -1 ? path : path.slice(slash + 1);
  try {
    await Deno.mkdir(dir, { recursive: true });
    return await Deno.makeTempFile({ dir, prefix: `.${base}.`, suffix: ".tmp" });
  } catch (error) {
    throw new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  }
}

/**
 * Read a whole input file, turning file-system errors into a one-line
 * {@link UsageError} that names the file.
 * @param path the file to read
 * @param what what the file is, for the message (`packet`, `report` …)
 * @returns its bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readInputFile } from "./fs.ts";
 * await assert.rejects(readInputFile("/nonexistent/x.zip", "packet"), {
 *   message: 'Cannot read packet "/nonexistent/x.zip": not found',
 * });
 * ```
 */
export async function readInputFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new UsageError(`Cannot read ${what} "${path}": ${describeFsError(error)}`);
  }
}

/** A file being written atomically: nothing appears at the target until {@link AtomicWriter.commit}. */
export interface AtomicWriter {
  /** Append text (buffered). */
  write(text: string): Promise<void>;
  /** Flush, close and rename over the target. */
  commit(): Promise<void>;
  /** Close and remove the temporary file; the target is untouched. */
  abort(): Promise<void>;
}

/**
 * Open a target for streaming, atomic writing: writes go to a temporary file
 * beside it, renamed over the target on commit and removed on abort.
 * @param path the target file
 * @returns the writer
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openAtomic } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * const writer = await openAtomic(`${dir}/graph.jsonl`);
 * await writer.write("{}\n");
 * await writer.commit();
 * assert.equal(await Deno.readTextFile(`${dir}/graph.jsonl`), "{}\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openAtomic(path: string): Promise<AtomicWriter> {
  const temp = await makeTempBeside(path);
  const file = await Deno.open(temp, { write: true, truncate: true });
  const encoder = new TextEncoder();
  let buffer = "";
  let closed = false;
  const flush = async () => {
    let bytes = encoder.encode(buffer);
    buffer = "";
    while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
  };
  const fail = (error: unknown) =>
    new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  const writer: AtomicWriter = {
    async write(text: string) {
      buffer += text;
      if (buffer.length >= 1 << 20) {
        try {
          await flush();
        } catch (error) {
          throw fail(error);
        }
      }
    },
    async commit() {
      try {
        await flush();
        file.close();
        closed = true;
        await Deno.rename(temp, path);
      } catch (error) {
        await writer.abort();
        throw fail(error);
      }
    },
    async abort() {
      if (!closed) {
        closed = true;
        try {
          file.close();
        } catch { /* already closed */ }
      }
      await Deno.remove(temp).catch(() => {});
    },
  };
  return writer;
}
