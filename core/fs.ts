/**
 * File helpers shared by every command.
 *
 * Reading: every file a user names (packets, keys, keyrings, configs,
 * reports, data files) is read through {@link readRegularFile}, the one
 * bounded path: it refuses anything but a regular file (a FIFO, a device, a
 * socket or a directory) and anything over a size limit before reading a
 * byte, so `/dev/zero` or a FIFO nobody writes to can neither hang a run nor
 * fill memory.
 *
 * Writing: atomic writes (a temporary file beside the target, then a rename),
 * so a failed run never leaves a half-written output behind. Temporary files
 * are named `.<target>.<pid>.<random>.jrm.tmp` and locked while written; they
 * are removed on failure and (by the CLI's signal handlers, through
 * {@link removeTempFilesSync}) on SIGINT and SIGTERM, and a later write into
 * the same directory removes those a killed run left (no lock held). An output that replaces a file
 * keeps that file's permissions; a new one gets 0666 less the umask.
 *
 * Collisions: {@link protectOutputs} records what a command will write; from
 * then on, reading any of those files (or naming one output twice) is a usage
 * error, so an output can never overwrite an input.
 *
 * @module
 */

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { PacketError, UsageError, type ViolationCode } from "./errors.ts";

/**
 * A short, one-line description of a file-system error, without a stack.
 * @param error what Deno (or `node:fs`) threw
 * @returns e.g. `not found`, `permission denied`
 * @example
 * ```ts
 * import { describeFsError } from "./fs.ts";
 * import assert from "node:assert/strict";
 * assert.equal(describeFsError(new Deno.errors.NotFound("x")), "not found");
 * ```
 */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  if (error instanceof Deno.errors.AlreadyExists) return "already exists";
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code in NODE_CODES) return NODE_CODES[code];
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}

/** `node:fs` error codes, worded as {@link describeFsError} words Deno's errors. */
const NODE_CODES: Record<string, string> = {
  ENOENT: "not found",
  ENOTDIR: "not found",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a directory",
  EEXIST: "already exists",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "name too long",
};

// ---------------------------------------------------------------- reading

/** The most bytes a key, keyring or config file may hold: far more than any real one. */
export const SMALL_FILE_LIMIT = 1024 * 1024;

/**
 * The most bytes a federation report read back may hold: a JSON text must
 * fit in one JavaScript string (V8 allows about 512 MiB).
 */
export const REPORT_FILE_LIMIT = 512 * 1024 * 1024;

/** How {@link readRegularFile} reads. */
export interface ReadRegularOptions {
  /** What the file is, for messages: `packet`, `key file` … */
  what: string;
  /** The most bytes the file may hold; a larger one is refused before a byte is read. */
  maxBytes: number;
  /** Read only the first `head` bytes (fewer when the file is shorter); the checks are the same. */
  head?: number;
}

/**
 * What kind of file `info` describes, when it is not a regular file.
 * @param info what `stat` said
 * @returns e.g. `a FIFO`, or undefined for a regular file
 */
function nonRegularKind(
  info: Pick<
    Deno.FileInfo,
    "isFile" | "isDirectory" | "isFifo" | "isCharDevice" | "isBlockDevice" | "isSocket"
  >,
): string | undefined {
  if (info.isFile) return undefined;
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/** The same questions of a `node:fs` stat. */
function nodeKind(stats: ReturnType<typeof fstatSync>): string | undefined {
  return nonRegularKind({
    isFile: stats.isFile(),
    isDirectory: stats.isDirectory(),
    isFifo: stats.isFIFO(),
    isCharDevice: stats.isCharacterDevice(),
    isBlockDevice: stats.isBlockDevice(),
    isSocket: stats.isSocket(),
  });
}

function refuse(code: ViolationCode, what: string, path: string, why: string): never {
  throw new PacketError({ code, message: `Cannot read ${what} "${path}": ${why}` });
}

/**
 * Read a regular file, never more than a limit: the one bounded path every
 * user-named file is read through. The path is `stat`ed first (following a
 * symbolic link), and anything but a regular file is refused before it is
 * opened (opening a FIFO would wait for a writer); it is then opened without
 * blocking and `fstat`ed, and must be the same file (device and inode) and
 * still regular; a file over `maxBytes` is refused before a byte is read, and
 * one that grows past it while being read is refused too.
 * @param path the file
 * @param options what it is (for messages), the size limit, and `head` to read only the start
 * @returns the bytes read
 * @throws {PacketError} `FILE_NOT_REGULAR` (a FIFO, device, socket or
 *   directory), `LIMIT_TOTAL_SIZE` (over `maxBytes`), `FILE_CHANGED` (replaced
 *   between the `stat` and the `open`) or `FILE_UNREADABLE`; the message is
 *   one line naming the file
 * @example
 * ```ts
 * import { readRegularFile } from "./fs.ts";
 * import { PacketError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hello");
 * assert.equal(readRegularFile(`${dir}/a.txt`, { what: "file", maxBytes: 5 }).length, 5);
 * assert.throws(
 *   () => readRegularFile(`${dir}/a.txt`, { what: "file", maxBytes: 4 }),
 *   (e) => e instanceof PacketError && e.violation.code === "LIMIT_TOTAL_SIZE",
 * );
 * assert.throws(
 *   () => readRegularFile(dir, { what: "file", maxBytes: 4 }),
 *   (e) => e instanceof PacketError && e.violation.code === "FILE_NOT_REGULAR",
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function readRegularFile(path: string, options: ReadRegularOptions): Uint8Array {
  const { what, maxBytes } = options;
  guard?.checkInput(path, what);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    return refuse("FILE_UNREADABLE", what, path, describeFsError(error));
  }
  const kind = nonRegularKind(info);
  if (kind) refuse("FILE_NOT_REGULAR", what, path, `it is ${kind}, not a regular file`);
  const tooLarge = (size: number | string) =>
    refuse(
      "LIMIT_TOTAL_SIZE",
      what,
      path,
      `it holds ${size} bytes, past the ${maxBytes}-byte limit`,
    );
  if (info.size > maxBytes) tooLarge(info.size);
  let fd: number;
  try {
    // Non-blocking: should the path have become a FIFO since the stat, opening it does not wait.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return refuse("FILE_UNREADABLE", what, path, describeFsError(error));
  }
  try {
    const opened = fstatSync(fd);
    if (opened.dev !== info.dev || opened.ino !== info.ino) {
      refuse("FILE_CHANGED", what, path, "it was replaced by another file while being opened");
    }
    const openedKind = nodeKind(opened);
    if (openedKind) {
      refuse("FILE_NOT_REGULAR", what, path, `it is ${openedKind}, not a regular file`);
    }
    if (opened.size > maxBytes) tooLarge(opened.size);
    if (options.head !== undefined) return readUpTo(fd, Math.min(options.head, maxBytes));
    const bytes = readUpTo(fd, opened.size);
    if (bytes.length < opened.size) return bytes; // shrank while being read: what is there
    // A file still growing (or a size the kernel does not know, as in /proc) is read on, up
    // to the limit.
    const rest: Uint8Array[] = [];
    let total = bytes.length;
    for (;;) {
      // Into a reused buffer: almost always this read finds the end at once.
      const n = readSync(fd, scratch, 0, Math.min(scratch.length, maxBytes - total + 1), null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) tooLarge(`more than ${maxBytes}`);
      rest.push(scratch.slice(0, n));
    }
    if (rest.length === 0) return bytes;
    const whole = new Uint8Array(total);
    whole.set(bytes);
    let at = bytes.length;
    for (const chunk of rest) {
      whole.set(chunk, at);
      at += chunk.length;
    }
    return whole;
  } catch (error) {
    if (error instanceof PacketError) throw error;
    return refuse("FILE_UNREADABLE", what, path, describeFsError(error));
  } finally {
    closeSync(fd);
  }
}

/** Where {@link readRegularFile} looks past a file's stated end. */
const scratch = new Uint8Array(64 * 1024);

/** Read from the file's position until `length` bytes or the end, whichever comes first. */
function readUpTo(fd: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = readSync(fd, buffer, filled, length - filled, null);
    if (n === 0) break;
    filled += n;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/**
 * Read a whole input file through {@link readRegularFile}, turning every
 * refusal into a one-line {@link UsageError} (exit 2) that names the file.
 * @param path the file to read
 * @param what what the file is, for the message (`packet`, `report` …)
 * @param maxBytes the most bytes it may hold ({@link SMALL_FILE_LIMIT} for keys and configs)
 * @returns its bytes
 * @example
 * ```ts
 * import { readInputFile, SMALL_FILE_LIMIT } from "./fs.ts";
 * import assert from "node:assert/strict";
 * await assert.rejects(
 *   () => readInputFile("/nonexistent/x.zip", "packet", SMALL_FILE_LIMIT),
 *   { message: 'Cannot read packet "/nonexistent/x.zip": not found' },
 * );
 * ```
 */
export function readInputFile(path: string, what: string, maxBytes: number): Promise<Uint8Array> {
  try {
    return Promise.resolve(readRegularFile(path, { what, maxBytes }));
  } catch (error) {
    if (error instanceof PacketError) return Promise.reject(new UsageError(error.message));
    return Promise.reject(error);
  }
}

/**
 * Refuse what is not a regular file of at most `maxBytes`, without reading
 * it: for files something else reads (a plugin module, which `import()`
 * loads; a ledger, which SQLite opens).
 * @param path the file (it may not exist: that is for the reader to say)
 * @param what what the file is, for the message
 * @param maxBytes the most bytes it may hold
 * @throws {UsageError} naming the file and what it is
 * @example
 * ```ts
 * import { checkRegularFile } from "./fs.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => checkRegularFile("/dev/null", "plugin file", 1024), {
 *   message: 'Cannot read plugin file "/dev/null": it is a character device, not a regular file',
 * });
 * checkRegularFile("/nonexistent/plugin.ts", "plugin file", 1024);
 * ```
 */
export function checkRegularFile(path: string, what: string, maxBytes: number): void {
  guard?.checkInput(path, what);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return;
  }
  const kind = nonRegularKind(info);
  if (kind) {
    throw new UsageError(`Cannot read ${what} "${path}": it is ${kind}, not a regular file`);
  }
  if (info.size > maxBytes) {
    throw new UsageError(
      `Cannot read ${what} "${path}": it holds ${info.size} bytes, past the ${maxBytes}-byte limit`,
    );
  }
}

// ---------------------------------------------------------------- outputs and inputs

/** Where a path leads: its device and inode when it exists, and its resolved path. */
interface Identity {
  /** The path as given. */
  path: string;
  /** The real path (of the file, or of its parent plus its name when it does not exist). */
  real: string;
  dev?: number;
  ino?: number;
}

function identify(path: string): Identity {
  try {
    const info = Deno.statSync(path);
    let real: string;
    try {
      real = Deno.realPathSync(path);
    } catch {
      real = absolute(path);
    }
    return { path, real, dev: info.dev, ino: info.ino ?? undefined };
  } catch {
    const slash = path.replace(/\/+$/, "").lastIndexOf("/");
    const parent = slash === -1 ? "." : path.slice(0, slash) || "/";
    const name = path.slice(slash + 1).replace(/\/+$/, "");
    let realParent: string;
    try {
      realParent = Deno.realPathSync(parent);
    } catch {
      realParent = absolute(parent);
    }
    return { path, real: `${realParent.replace(/\/+$/, "")}/${name}` };
  }
}

/** What `path` is when it exists and is not a regular file (a link is followed); else undefined. */
function existingNonRegular(path: string): string | undefined {
  try {
    return nonRegularKind(Deno.statSync(path));
  } catch {
    return undefined; // not there (or not ours to see): writing it says what is wrong
  }
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd().replace(/\/+$/, "")}/${path}`;
}

function sameFile(a: Identity, b: Identity): boolean {
  if (a.ino !== undefined && b.ino !== undefined) return a.dev === b.dev && a.ino === b.ino;
  return a.real === b.real;
}

/** One output a command writes: the flag that names it, and the path. */
export interface NamedOutput {
  /** How the user named it, e.g. `--out`. */
  flag: string;
  /** The path given. */
  path: string;
}

/** The outputs of a command; no input may be one of them (see {@link protectOutputs}). */
export class ProtectedOutputs {
  readonly #outputs: (NamedOutput & { id: Identity })[];

  /**
   * Resolve the outputs and refuse two that lead to one file, or one that is not a regular file.
   * @param outputs the outputs, by flag
   * @throws {UsageError} when two outputs are the same file, or one is a device, FIFO, socket or directory
   */
  constructor(outputs: readonly NamedOutput[]) {
    this.#outputs = [];
    for (const output of outputs) {
      const kind = existingNonRegular(output.path);
      if (kind) {
        throw new UsageError(
          `${output.flag} "${output.path}" is ${kind}; an output is a regular file, written whole`,
        );
      }
      const id = identify(output.path);
      const clash = this.#outputs.find((other) => sameFile(other.id, id));
      if (clash) {
        throw new UsageError(
          `${output.flag} "${output.path}" is the same file as ${clash.flag} "${clash.path}"; give each output its own file`,
        );
      }
      this.#outputs.push({ ...output, id });
    }
  }

  /**
   * Refuse an input that is one of the outputs.
   * @param path the input
   * @param what what it is, for the message (`packet`, `keyring` …)
   * @throws {UsageError} when writing the output would overwrite the input
   */
  checkInput(path: string, what: string): void {
    if (this.#outputs.length === 0) return;
    const id = identify(path);
    const clash = this.#outputs.find((output) => sameFile(output.id, id));
    if (clash) {
      throw new UsageError(
        `${clash.flag} "${clash.path}" is the ${what} "${path}"; an output never overwrites an input`,
      );
    }
  }
}

let guard: ProtectedOutputs | undefined;

/**
 * Declare the files a command will write, before it reads anything: two
 * outputs that are one file are refused at once, and from then on every read
 * through this module ({@link readRegularFile}, {@link checkRegularFile})
 * refuses a file that is one of them, so an output can never overwrite an
 * input (the same file by device and inode, or, for an output that does not
 * exist yet, by the real path of its directory and its name). An output
 * that exists and is not a regular file (a device, FIFO, socket or directory)
 * is refused too: writing it would replace it. Replaces what an earlier call
 * declared.
 * @param outputs the outputs, by flag; undefined paths are skipped
 * @returns the protected outputs, to check inputs read by other means
 * @throws {UsageError} when two outputs are the same file, or one is not a regular file
 * @example
 * ```ts
 * import { protectOutputs } from "./fs.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/keyring.json`, "{}");
 * const outputs = protectOutputs([{ flag: "--out", path: `${dir}/keyring.json` }]);
 * assert.throws(() => outputs.checkInput(`${dir}/./keyring.json`, "keyring"), {
 *   message: `--out "${dir}/keyring.json" is the keyring "${dir}/./keyring.json"; an output never overwrites an input`,
 * });
 * protectOutputs([]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function protectOutputs(
  outputs: readonly { flag: string; path: string | undefined }[],
): ProtectedOutputs {
  guard = new ProtectedOutputs(
    outputs.filter((o): o is NamedOutput => o.path !== undefined && o.path !== ""),
  );
  return guard;
}

// ---------------------------------------------------------------- writing

/** Temporary files being written now, removed by {@link removeTempFilesSync} on a signal. */
const liveTemps = new Set<string>();
/** Directories already swept of stale temporary files by this process. */
const swept = new Set<string>();
/** A temporary file of ours: `.<target>.<pid>.<random>.jrm.tmp`. */
const TEMP_NAME = /^\..*\.\d+\.[0-9a-z]+\.jrm\.tmp$/;

/**
 * Remove the temporary files of writes still in progress, at once: what the
 * CLI does on SIGINT or SIGTERM before it exits.
 * @returns how many were removed
 * @example
 * ```ts
 * import { removeTempFilesSync } from "./fs.ts";
 * import assert from "node:assert/strict";
 * assert.equal(removeTempFilesSync(), 0);
 * ```
 */
export function removeTempFilesSync(): number {
  let removed = 0;
  for (const temp of liveTemps) {
    try {
      Deno.removeSync(temp);
      removed++;
    } catch { /* already gone */ }
  }
  liveTemps.clear();
  return removed;
}

/**
 * Remove temporary files of ours in `dir` that no process is writing. A
 * writer holds an exclusive lock on its temporary file until it has renamed
 * it; the kernel drops the lock when the process ends however it ends, so a
 * file whose lock can be taken was left by a run that was killed. (Asking
 * whether the pid in the name still runs would need permissions jrm does not
 * have, and a pid can be reused.)
 */
function sweepStaleTemps(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return; // an unreadable directory: the write itself will say what is wrong
  }
  for (const entry of entries) {
    if (!entry.isFile || !TEMP_NAME.test(entry.name)) continue;
    const path = `${dir}/${entry.name}`;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch {
      continue; // gone already, or not ours to open
    }
    try {
      if (file.tryLockSync(true)) Deno.removeSync(path);
    } catch {
      /* no locks on this file system, or removed meanwhile: leave it */
    } finally {
      file.close();
    }
  }
}

/** A temporary file being written, locked, and registered for removal on a signal. */
interface TempFile {
  temp: string;
  file: Deno.FsFile;
}

/** A fresh temporary file beside `path`. */
function makeTempBeside(path: string): TempFile {
  const slash = path.lastIndexOf("/");
  const dir = slash === -1 ? "." : path.slice(0, slash) || "/";
  const base = slash === -1 ? path : path.slice(slash + 1);
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  }
  // Renaming over /dev/null or a FIFO would replace it (as root, in /dev): refuse instead.
  const kind = existingNonRegular(path);
  if (kind) {
    throw new UsageError(`Cannot write "${path}": it is ${kind}, not a regular file`, 1);
  }
  sweepStaleTemps(dir);
  for (let attempt = 0;; attempt++) {
    const random = crypto.getRandomValues(new Uint32Array(2));
    const temp = `${dir}/.${base}.${Deno.pid}.${random[0].toString(36)}${
      random[1].toString(36)
    }.jrm.tmp`;
    let file: Deno.FsFile;
    try {
      // 0666 less the umask, as any new file: no output holds a secret.
      file = Deno.openSync(temp, { write: true, createNew: true, mode: 0o666 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists && attempt < 8) continue;
      throw new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
    }
    liveTemps.add(temp);
    try {
      // Held until the file is renamed: a sweep of another run sees it is in use.
      file.lockSync(true);
    } catch { /* no locks on this file system: sweeps then leave every file alone */ }
    return { temp, file };
  }
}

/**
 * Finish a temporary file: give it the permissions of the file it replaces,
 * rename it over the target, and only then close it (which drops its lock).
 */
async function publish({ temp, file }: TempFile, path: string): Promise<void> {
  let mode: number | null = null;
  try {
    mode = (await Deno.stat(path)).mode;
  } catch { /* a new file keeps the mode it was created with */ }
  if (mode !== null) await Deno.chmod(temp, mode & 0o777);
  await Deno.rename(temp, path);
  liveTemps.delete(temp);
  file.close();
}

/** Close and remove a temporary file; the target is untouched. */
async function discard({ temp, file }: TempFile): Promise<void> {
  try {
    file.close();
  } catch { /* already closed */ }
  liveTemps.delete(temp);
  await Deno.remove(temp).catch(() => {});
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
}

/**
 * Write a file atomically: the bytes go to a temporary file in the same
 * directory, which is then renamed over the target. On failure the
 * temporary file is removed and the target is untouched. An existing
 * target's permissions are kept.
 * @param path the target file
 * @param data the bytes or text to write
 * @example
 * ```ts
 * import { writeFileAtomic } from "./fs.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/out.json`, "[]\n");
 * await Deno.chmod(`${dir}/out.json`, 0o640);
 * await writeFileAtomic(`${dir}/out.json`, "{}\n");
 * assert.equal(await Deno.readTextFile(`${dir}/out.json`), "{}\n");
 * assert.equal((await Deno.stat(`${dir}/out.json`)).mode! & 0o777, 0o640);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeChunksAtomic(path, [data]);
}

/**
 * Write a file atomically from a sequence of chunks, for outputs too large to
 * hold whole (the merged memory graph). Same guarantees as
 * {@link writeFileAtomic}.
 * @param path the target file
 * @param chunks text or byte chunks, written in order
 * @example
 * ```ts
 * import { writeChunksAtomic } from "./fs.ts";
 * import assert from "node:assert/strict";
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
  const temp = makeTempBeside(path);
  const encoder = new TextEncoder();
  try {
    for await (const chunk of chunks) {
      await writeAll(temp.file, typeof chunk === "string" ? encoder.encode(chunk) : chunk);
    }
    await publish(temp, path);
  } catch (error) {
    await discard(temp);
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  }
}

/**
 * Create a file with `bytes` unless something is already there, atomically:
 * the bytes go to a temporary file beside the target, which is then linked to
 * it (a link, unlike a rename, never replaces an existing file). Nothing
 * half-written is ever visible at the target; the temporary file is removed
 * in every case.
 * @param path the target file
 * @param bytes what to write
 * @returns `written`; or, when something was there, `identical` (a regular
 *   file holding these bytes) or `different`
 * @example
 * ```ts
 * import { writeNewFileAtomic } from "./fs.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const bytes = new TextEncoder().encode("{}");
 * assert.equal(await writeNewFileAtomic(`${dir}/a.json`, bytes), "written");
 * assert.equal(await writeNewFileAtomic(`${dir}/a.json`, bytes), "identical");
 * assert.equal(await writeNewFileAtomic(`${dir}/a.json`, new Uint8Array(1)), "different");
 * assert.equal(await writeNewFileAtomic(dir, bytes), "different");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeNewFileAtomic(
  path: string,
  bytes: Uint8Array,
): Promise<"written" | "identical" | "different"> {
  if (existingNonRegular(path)) return "different"; // a FIFO or a directory is no copy of a file
  const temp = makeTempBeside(path);
  try {
    await writeAll(temp.file, bytes);
    try {
      await Deno.link(temp.temp, path);
      return "written";
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  } catch (error) {
    throw new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  } finally {
    await discard(temp);
  }
  let existing: Uint8Array;
  try {
    existing = readRegularFile(path, { what: "file", maxBytes: bytes.length });
  } catch (error) {
    if (error instanceof PacketError) return "different"; // not a file, or larger
    throw error;
  }
  return existing.length === bytes.length && existing.every((b, i) => b === bytes[i])
    ? "identical"
    : "different";
}

/** A file being written atomically: nothing appears at the target until {@link AtomicWriter.commit}. */
export interface AtomicWriter {
  /**
   * Append text or bytes. Buffered up to a megabyte, but a large chunk of
   * bytes is written at once rather than copied; either way the writer holds
   * no reference to given bytes once the returned promise settles.
   */
  write(text: string | Uint8Array): Promise<void>;
  /** Flush, close and rename over the target. */
  commit(): Promise<void>;
  /** Close and remove the temporary file; the target is untouched. */
  abort(): Promise<void>;
}

/** Byte chunks from this size on are written at once by an {@link AtomicWriter}, not copied. */
const DIRECT_WRITE = 64 * 1024;

/**
 * Open a target for streaming, atomic writing: writes go to a temporary file
 * beside it, renamed over the target on commit and removed on abort.
 * @param path the target file
 * @returns the writer
 * @example
 * ```ts
 * import { openAtomic } from "./fs.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const writer = await openAtomic(`${dir}/graph.jsonl`);
 * await writer.write("{}\n");
 * await writer.commit();
 * assert.equal(await Deno.readTextFile(`${dir}/graph.jsonl`), "{}\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openAtomic(path: string): Promise<AtomicWriter> {
  let temp: TempFile;
  try {
    temp = makeTempBeside(path);
  } catch (error) {
    return Promise.reject(error);
  }
  const encoder = new TextEncoder();
  let pending: Uint8Array[] = [];
  let text = "";
  let size = 0;
  let done = false;
  const flush = async () => {
    if (text !== "") pending.push(encoder.encode(text));
    text = "";
    const chunks = pending;
    pending = [];
    size = 0;
    for (const bytes of chunks) await writeAll(temp.file, bytes);
  };
  const fail = (error: unknown) =>
    new UsageError(`Cannot write "${path}": ${describeFsError(error)}`, 1);
  const writer: AtomicWriter = {
    async write(chunk: string | Uint8Array) {
      if (typeof chunk === "string") {
        text += chunk;
        size += chunk.length;
      } else {
        // Text written before these bytes goes out before them.
        if (text !== "") pending.push(encoder.encode(text));
        text = "";
        // Copied when small; a large chunk is written (after what is pending) before this returns.
        const large = chunk.length >= DIRECT_WRITE;
        pending.push(large ? chunk : chunk.slice());
        size += large ? 1 << 20 : chunk.length;
      }
      if (size >= 1 << 20) {
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
        await publish(temp, path);
        done = true;
      } catch (error) {
        await writer.abort();
        throw fail(error);
      }
    },
    async abort() {
      if (done) return;
      done = true;
      await discard(temp);
    },
  };
  return Promise.resolve(writer);
}
