/**
 * `--watch DIR`: packets dropped into a folder are ingested as if pushed.
 * A `.zip` is taken once it is complete: at once when it was renamed into the
 * folder (the way to publish a file atomically), otherwise once its size and
 * modification time have not changed for a while (two seconds by default).
 * Not recursive; files are left in place; dot files (temporary files) are
 * ignored; a file is taken again only if it changes.
 *
 * @module
 */

import { join } from "node:path";

/** Settings of {@link FolderWatcher}. */
export interface WatchOptions {
  /** How long a file's size and time must hold still, in milliseconds. */
  stableMs?: number;
  /** How often the folders are listed, in milliseconds. */
  pollMs?: number;
  /** Called when a folder cannot be listed (one line). */
  onError?: (message: string) => void;
}

interface Seen {
  size: number;
  mtimeMs: number;
  ino: number | null;
  since: number;
}

/**
 * Watch folders for complete `.zip` files.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FolderWatcher } from "./watch.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.zip`, "x");
 * const taken: string[] = [];
 * const watcher = new FolderWatcher([dir], (path) => {
 *   taken.push(path);
 *   return Promise.resolve();
 * }, { stableMs: 0, pollMs: 20 });
 * watcher.start();
 * while (taken.length === 0) await new Promise((r) => setTimeout(r, 10));
 * await watcher.close();
 * assert.deepEqual(taken, [`${dir}/a.zip`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FolderWatcher {
  #dirs: string[];
  #take: (path: string) => Promise<void>;
  #stableMs: number;
  #pollMs: number;
  #onError: (message: string) => void;
  #candidates = new Map<string, Seen>();
  #taken = new Map<string, string>();
  #watchers: Deno.FsWatcher[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  #scanning = false;
  #errors = new Set<string>();

  /**
   * @param dirs the folders
   * @param take called once per complete file, one call at a time
   * @param options timing
   */
  constructor(dirs: string[], take: (path: string) => Promise<void>, options: WatchOptions = {}) {
    this.#dirs = dirs;
    this.#take = take;
    this.#stableMs = options.stableMs ?? 2000;
    this.#pollMs = options.pollMs ?? 500;
    this.#onError = options.onError ?? (() => {});
  }

  /** Start watching: lists the folders now and then every poll interval. */
  start(): void {
    for (const dir of this.#dirs) {
      try {
        const watcher = Deno.watchFs(dir, { recursive: false });
        this.#watchers.push(watcher);
        this.#listen(watcher);
      } catch (error) {
        this.#report(dir, error);
      }
    }
    this.#scan();
    this.#timer = setInterval(() => this.#scan(), this.#pollMs);
  }

  /** Stop watching and wait for the file being taken, if any. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const watcher of this.#watchers) {
      try {
        watcher.close();
      } catch {
        // already closed
      }
    }
    await this.#chain;
  }

  async #listen(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (this.#closed) break;
        if (event.kind !== "rename") continue;
        // A rename's last path is where the file now is: renamed in means complete.
        const path = event.paths[event.paths.length - 1];
        if (!isCandidate(path)) continue;
        const seen = await statFile(path);
        if (seen !== undefined) this.#ready(path, seen);
      }
    } catch {
      // The watcher was closed; polling still covers the folder until close().
    }
  }

  async #scan(): Promise<void> {
    if (this.#scanning || this.#closed) return;
    this.#scanning = true;
    try {
      const now = Date.now();
      for (const dir of this.#dirs) {
        let entries: Deno.DirEntry[];
        try {
          entries = await Array.fromAsync(Deno.readDir(dir));
          this.#errors.delete(dir);
        } catch (error) {
          this.#report(dir, error);
          continue;
        }
        for (const entry of entries) {
          const path = join(dir, entry.name);
          if (!isCandidate(path) || entry.isDirectory) continue;
          const seen = await statFile(path);
          if (seen === undefined) continue;
          if (this.#taken.get(path) === keyOf(seen)) continue;
          const before = this.#candidates.get(path);
          if (before === undefined || keyOf(before) !== keyOf(seen)) {
            this.#candidates.set(path, { ...seen, since: now });
            if (this.#stableMs === 0) this.#ready(path, seen);
            continue;
          }
          if (now - before.since >= this.#stableMs) this.#ready(path, seen);
        }
      }
    } finally {
      this.#scanning = false;
    }
  }

  #ready(path: string, seen: Seen): void {
    const key = keyOf(seen);
    if (this.#taken.get(path) === key || this.#closed) return;
    this.#taken.set(path, key);
    this.#candidates.delete(path);
    this.#chain = this.#chain.then(() => this.#take(path)).catch((error) =>
      this.#onError(`cannot ingest "${path}": ${(error as Error).message}`)
    );
  }

  #report(dir: string, error: unknown): void {
    if (this.#errors.has(dir)) return;
    this.#errors.add(dir);
    this.#onError(`cannot watch "${dir}": ${(error as Error).message}`);
  }
}

function isCandidate(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return name.endsWith(".zip") && !name.startsWith(".");
}

async function statFile(path: string): Promise<Seen | undefined> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return undefined;
    return { size: info.size, mtimeMs: info.mtime?.getTime() ?? 0, ino: info.ino, since: 0 };
  } catch {
    return undefined;
  }
}

function keyOf(seen: Seen): string {
  return `${seen.ino}:${seen.size}:${seen.mtimeMs}`;
}
