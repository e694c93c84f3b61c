/**
 * The embedded store: one SQLite database, through `node:sqlite` (built into
 * Deno; it needs read and write access to the file and nothing else), that
 * every operator of a team can point at. It holds the advisory ledger
 * (core/advisory.ts) and the stateful hub's packets, state and drifts
 * (core/hub_store_sqlite.ts): one file, one backup.
 *
 * Where it lives: the `--store FILE` option, else the `JRM_STORE` environment
 * variable, else {@link DEFAULT_STORE_PATH} (`./.jrm/ledger.sqlite`, relative
 * to the working directory); {@link resolveStorePath} applies that order and
 * {@link openLedger} creates the missing directory.
 *
 * Safe for a team:
 * - WAL journal and a busy timeout (5 s by default), so readers never block
 *   the writer and a writer waits for another instead of failing at once;
 *   opening waits the same way, so processes that create a new ledger at
 *   the same moment all get it (see {@link openLedger});
 * - every change runs in {@link Ledger.transaction}: `BEGIN IMMEDIATE` takes
 *   the write lock before anything is read, so a check made inside the
 *   transaction (is this advisory still `published`?) still holds at
 *   `COMMIT`; any error rolls the whole change back;
 * - the schema is versioned in a `schema_version` table and moved forward by
 *   {@link MIGRATIONS}, one transaction for all pending steps. A ledger written
 *   by a newer tool, or a SQLite file that is not a ledger, is refused rather
 *   than written to;
 * - commands that only read open it read-only ({@link OpenLedgerOptions.readOnly}):
 *   they never create, switch or migrate it, so they work beside a running
 *   writer and cannot change a file they were only asked to show. Commands
 *   that write refuse a file they may not write to, before touching it.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { UsageError } from "./errors.ts";
import { checkRegularFile, describeFsError } from "./fs.ts";
import { type AdvisoryLedger, type LedgerSql, sqliteStatements } from "./ledger.ts";

/** Where the ledger lives when neither `--store` nor `JRM_STORE` says. */
export const DEFAULT_STORE_PATH = ".jrm/ledger.sqlite";

/** How long (milliseconds) a write waits for another process's write before failing. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * The forward migrations: step `i` moves the schema from version `i` to
 * `i + 1`. Steps are only ever appended; a released step never changes.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE advisories (
     advisory_id TEXT PRIMARY KEY,
     drift_type TEXT NOT NULL,
     severity TEXT NOT NULL,
     signature_id TEXT NOT NULL,
     environments TEXT NOT NULL,
     source_env TEXT,
     target_envs TEXT NOT NULL,
     action TEXT NOT NULL,
     recommendation TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('published', 'accepted', 'declined', 'resolved')),
     drift_id TEXT NOT NULL,
     description TEXT NOT NULL,
     detector TEXT NOT NULL,
     evidence TEXT NOT NULL,
     evidence_fingerprint TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX advisories_by_status ON advisories (status);
   CREATE TABLE advisory_history (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     advisory_id TEXT NOT NULL REFERENCES advisories (advisory_id),
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     from_status TEXT,
     to_status TEXT NOT NULL,
     reason TEXT,
     drift_id TEXT NOT NULL
   );
   CREATE INDEX advisory_history_by_advisory ON advisory_history (advisory_id, seq);
   CREATE TABLE publications (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     report_generated_at TEXT NOT NULL,
     drifts INTEGER NOT NULL
   );`,
  // Which kind of report an advisory came from: jrm's own, or the reference hub's (see
  // core/reference_report.ts); a ledger holds advisories of one kind only.
  `ALTER TABLE advisories ADD COLUMN origin TEXT NOT NULL DEFAULT 'jrm'
     CHECK (origin IN ('jrm', 'reference'));`,
  // The stateful hub (core/hub_store_sqlite.ts). Only live packets (accepted, not withdrawn) have
  // rows in hub_entries and hub_graph, so the state is "the latest row per (signature,
  // environment)" and the graph "the earliest row per identity" with no status to filter on.
  // Order keys (orderSortKey, core/order.ts) sort as text in window order. hub_packets has a row
  // per archive that passed the gate (by digest): accepted, a duplicate of the accepted archive
  // of its packet (same identity), or refused for equivocation.
  `CREATE TABLE hub_ingests (
     ingest_id INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     newest_window TEXT,
     given INTEGER NOT NULL DEFAULT 0,
     accepted INTEGER NOT NULL DEFAULT 0,
     rejected INTEGER NOT NULL DEFAULT 0,
     duplicates INTEGER NOT NULL DEFAULT 0,
     withdrawn INTEGER NOT NULL DEFAULT 0,
     detection TEXT NOT NULL DEFAULT 'none'
   );
   CREATE TABLE hub_packets (
     packet_id INTEGER PRIMARY KEY,
     identity TEXT NOT NULL,
     environment_id TEXT NOT NULL,
     packet_name TEXT NOT NULL,
     source TEXT NOT NULL,
     digest TEXT NOT NULL UNIQUE,
     window_start TEXT NOT NULL,
     window_start_key TEXT NOT NULL,
     window_end TEXT NOT NULL,
     window_end_key TEXT NOT NULL,
     part INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     order_key TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('accepted', 'duplicate', 'equivocation')),
     violations TEXT,
     duplicate_of TEXT,
     ingest_id INTEGER NOT NULL,
     refused_in INTEGER
   );
   CREATE INDEX hub_packets_by_order ON hub_packets (environment_id, order_key);
   CREATE INDEX hub_packets_by_status ON hub_packets (status, window_end_key);
   CREATE TABLE hub_packet_graphs (
     packet_id INTEGER PRIMARY KEY,
     nodes TEXT NOT NULL,
     edges TEXT NOT NULL
   );
   CREATE TABLE hub_entries (
     signature_id TEXT NOT NULL,
     environment_id TEXT NOT NULL,
     order_key TEXT NOT NULL,
     packet_id INTEGER NOT NULL,
     entry_key TEXT NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (signature_id, environment_id, order_key)
   ) WITHOUT ROWID;
   CREATE INDEX hub_entries_by_packet ON hub_entries (packet_id);
   CREATE TABLE hub_state (
     signature_id TEXT NOT NULL,
     environment_id TEXT NOT NULL,
     order_key TEXT NOT NULL,
     packet_id INTEGER NOT NULL,
     PRIMARY KEY (signature_id, environment_id)
   ) WITHOUT ROWID;
   CREATE TABLE hub_graph (
     environment_id TEXT NOT NULL,
     kind INTEGER NOT NULL,
     ident TEXT NOT NULL,
     order_key TEXT NOT NULL,
     PRIMARY KEY (environment_id, kind, ident, order_key)
   ) WITHOUT ROWID;
   CREATE TABLE hub_environments (
     environment_id TEXT PRIMARY KEY,
     graph_nodes INTEGER NOT NULL DEFAULT 0,
     graph_edges INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE hub_rejections (
     rejection_key TEXT PRIMARY KEY,
     source TEXT NOT NULL,
     digest TEXT,
     packet_name TEXT,
     environment_id TEXT,
     reason_code TEXT NOT NULL,
     violations TEXT NOT NULL,
     ingest_id INTEGER NOT NULL
   );
   CREATE TABLE hub_duplicates (
     seq INTEGER PRIMARY KEY,
     source TEXT NOT NULL,
     digest TEXT NOT NULL,
     duplicate_of TEXT NOT NULL,
     ingest_id INTEGER NOT NULL
   );
   CREATE TABLE hub_detectors (
     position INTEGER PRIMARY KEY,
     name TEXT NOT NULL,
     version TEXT NOT NULL,
     origin TEXT NOT NULL,
     drift_types TEXT NOT NULL,
     scope TEXT NOT NULL,
     options TEXT NOT NULL,
     error TEXT
   );
   CREATE TABLE hub_drifts (
     detector TEXT NOT NULL,
     drift_id TEXT NOT NULL,
     signature_id TEXT NOT NULL,
     drift_type TEXT NOT NULL,
     body TEXT NOT NULL,
     first_seen_at TEXT NOT NULL,
     first_seen_window TEXT,
     last_seen_at TEXT NOT NULL,
     last_seen_window TEXT,
     gone_at TEXT,
     gone_window TEXT,
     PRIMARY KEY (detector, drift_id)
   );
   CREATE INDEX hub_drifts_by_signature ON hub_drifts (detector, signature_id);`,
];

/** Options of {@link openLedger}. */
export interface OpenLedgerOptions {
  /** Create the file (and its directory) when missing; true by default (false when `readOnly`). */
  create?: boolean;
  /**
   * Open for reading only: the file must exist and is never created, switched
   * to WAL or migrated; a schema older than this tool's is read as it is
   * (what it lacks reads as empty), a newer one is refused. False by default.
   */
  readOnly?: boolean;
  /** Milliseconds a write waits for another process's lock; {@link DEFAULT_BUSY_TIMEOUT_MS} by default. */
  busyTimeoutMs?: number;
}

/**
 * What the advisory engine (core/advisory.ts) needs of a ledger: the store
 * contract of core/ledger.ts, which {@link Ledger} (SQLite) and the
 * PostgreSQL ledger (core/store_postgres.ts) implement.
 *
 * @experimental The name stays for the library's users; the contract is
 * `AdvisoryLedger`, and the stateful hub may extend it.
 */
export type AdvisoryStore = AdvisoryLedger;

/**
 * An open ledger. Close it when done (or hold it with `using`).
 *
 * @experimental Its SQL connection (`db`) is SQLite's own: code meant for
 * every backend goes through {@link AdvisoryStore} (`write`, `read`).
 *
 * @example
 * ```ts
 * import { MIGRATIONS, openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * using ledger = openLedger(":memory:");
 * assert.equal(ledger.schemaVersion, MIGRATIONS.length);
 * ```
 */
export class Ledger implements Disposable, AdvisoryLedger {
  /** The database file. */
  readonly path: string;
  /** The connection, for the modules that keep their tables here. */
  readonly db: DatabaseSync;
  /** Always `sqlite`. */
  readonly backend = "sqlite" as const;
  /** Calls of {@link Ledger.write} and {@link Ledger.read}, one at a time on this connection. */
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Wrap an open connection; use {@link openLedger} to get one.
   * @param path the database file
   * @param db the open connection
   */
  constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.db = db;
  }

  /**
   * The schema version the ledger is at.
   * @returns the highest applied migration, 0 for none
   */
  get schemaVersion(): number {
    return schemaVersionOf(this.db);
  }

  /**
   * Run `work` as one write transaction: `BEGIN IMMEDIATE` (waiting up to the
   * busy timeout for another writer), then `COMMIT`, or `ROLLBACK` if `work`
   * throws, so the ledger holds all of the change or none of it.
   * @param work what to do with the connection; must not start transactions
   * @returns what `work` returns
   * @throws {UsageError} exit 1 when the ledger stays locked past the timeout;
   *   whatever `work` throws, after the rollback
   * @example
   * ```ts
   * import { openLedger } from "./store.ts";
   * import assert from "node:assert/strict";
   * using ledger = openLedger(":memory:");
   * try {
   *   ledger.transaction((db) => {
   *     db.prepare("INSERT INTO publications (at, actor, report_generated_at, drifts) VALUES ('t', 'me', 't', 0)").run();
   *     throw new Error("changed my mind");
   *   });
   * } catch {
   *   // rolled back: nothing of the change is kept
   * }
   * const count = ledger.db.prepare("SELECT count(*) AS n FROM publications").get();
   * assert.equal(count?.n, 0);
   * ```
   */
  transaction<T>(work: (db: DatabaseSync) => T): T {
    this.#begin();
    try {
      const result = work(this.db);
      this.#commit();
      return result;
    } catch (error) {
      this.#rollback();
      throw error;
    }
  }

  /**
   * {@link Ledger.transaction} for work that awaits (e.g. writing an output
   * file that must exist only if the change is kept). Nothing else may use
   * this connection until it settles.
   * @param work what to do with the connection
   * @returns what `work` resolves to
   * @example
   * ```ts
   * import { openLedger } from "./store.ts";
   * import assert from "node:assert/strict";
   * using ledger = openLedger(":memory:");
   * const n = await ledger.transactionAsync(async (db) => {
   *   await Promise.resolve();
   *   return db.prepare("SELECT count(*) AS n FROM advisories").get()?.n;
   * });
   * assert.equal(n, 0);
   * ```
   */
  async transactionAsync<T>(work: (db: DatabaseSync) => Promise<T>): Promise<T> {
    this.#begin();
    try {
      const result = await work(this.db);
      this.#commit();
      return result;
    } catch (error) {
      this.#rollback();
      throw error;
    }
  }

  /** The database file, for messages. */
  get location(): string {
    return this.path;
  }

  /**
   * {@link Ledger.transactionAsync} through the store contract
   * (core/ledger.ts). Calls on one `Ledger` run one after another, so work
   * that awaits never meets another's transaction on the same connection.
   * @param work the change
   * @returns what `work` resolves to
   * @example
   * ```ts
   * import { openLedger } from "./store.ts";
   * import assert from "node:assert/strict";
   * using ledger = openLedger(":memory:");
   * await ledger.write((sql) => sql.run("INSERT INTO publications (at, actor, report_generated_at, drifts) VALUES ('t', 'me', 't', 0)"));
   * const row = await ledger.read((sql) => sql.get("SELECT count(*) AS n FROM publications"));
   * assert.equal(row?.n, 1);
   * ```
   */
  write<T>(work: (sql: LedgerSql) => Promise<T>): Promise<T> {
    return this.#serially(() => this.transactionAsync((db) => work(sqliteStatements(db))));
  }

  /**
   * Reads in one read transaction (in WAL mode: one snapshot, never waiting for a writer).
   * @param work the reads
   * @returns what `work` resolves to
   */
  read<T>(work: (sql: LedgerSql) => Promise<T>): Promise<T> {
    // Inside a transaction the caller holds (e.g. an ingest that also lists advisories): read in it.
    if (this.db.isTransaction) return work(sqliteStatements(this.db));
    return this.#serially(async () => {
      this.db.exec("BEGIN");
      try {
        return await work(sqliteStatements(this.db));
      } finally {
        if (this.db.isTransaction) this.db.exec("COMMIT");
      }
    });
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Close the connection (idempotent).
   * @example
   * ```ts
   * import { openLedger } from "./store.ts";
   * import assert from "node:assert/strict";
   * const ledger = openLedger(":memory:");
   * ledger.close();
   * ledger.close();
   * assert.ok(!ledger.db.isOpen);
   * ```
   */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /** Close the connection at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }

  // Prepared, not exec(): only a statement's error carries the SQLite code
  // that tells a busy ledger apart (see isBusy).
  #begin(): void {
    try {
      this.db.prepare("BEGIN IMMEDIATE").run();
    } catch (error) {
      throw ledgerError(this.path, error);
    }
  }

  #commit(): void {
    try {
      this.db.prepare("COMMIT").run();
    } catch (error) {
      throw ledgerError(this.path, error);
    }
  }

  #rollback(): void {
    if (this.db.isTransaction) this.db.exec("ROLLBACK");
  }
}

/**
 * The ledger path to use: the option, else the environment variable's value,
 * else {@link DEFAULT_STORE_PATH}. Empty values count as not given.
 * @param option the `--store` value
 * @param envValue the `JRM_STORE` value (read by the caller: the kernel never reads the environment)
 * @returns the path
 * @example
 * ```ts
 * import { resolveStorePath } from "./store.ts";
 * import assert from "node:assert/strict";
 * assert.equal(resolveStorePath("a.sqlite", "b.sqlite"), "a.sqlite");
 * assert.equal(resolveStorePath(undefined, "b.sqlite"), "b.sqlite");
 * assert.equal(resolveStorePath(undefined, ""), ".jrm/ledger.sqlite");
 * ```
 */
export function resolveStorePath(option?: string, envValue?: string): string {
  if (option !== undefined && option !== "") return option;
  if (envValue !== undefined && envValue !== "") return envValue;
  return DEFAULT_STORE_PATH;
}

/**
 * Open (and, unless told not to, create) the store at `path`: WAL journal,
 * busy timeout, foreign keys on, schema migrated to the newest version.
 * Other processes opening or writing the same store at the same moment are
 * waited for, up to the busy timeout. With `readOnly`, the store is only
 * read (see {@link OpenLedgerOptions.readOnly}).
 * @param path the database file
 * @param options `create`, `readOnly` and `busyTimeoutMs`
 * @returns the open store
 * @experimental This opens SQLite files only; a PostgreSQL store is opened
 * by `openPostgresLedger` (core/store_postgres.ts).
 * @throws {UsageError} exit 2 when the file is missing (and `create` is
 *   false), cannot be opened, is read-only (unless `readOnly`), is not a
 *   SQLite database or is a corrupt one, is some other program's database,
 *   or was written by a newer version of the tool; exit 1 when another
 *   process keeps it locked past the busy timeout
 * @example
 * ```ts
 * import { openLedger } from "./store.ts";
 * import { UsageError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => openLedger("/nonexistent/ledger.sqlite", { create: false }),
 *   (error) => error instanceof UsageError && error.message.startsWith("No store at"),
 * );
 * using ledger = openLedger(":memory:");
 * assert.equal(ledger.db.prepare("PRAGMA foreign_keys").get()?.foreign_keys, 1);
 * ```
 */
export function openLedger(path: string, options: OpenLedgerOptions = {}): Ledger {
  const readOnly = options.readOnly ?? false;
  const create = !readOnly && (options.create ?? true);
  // SQLite would block reading a FIFO and take a device for a database: refuse them first.
  checkRegularFile(path, "store", Number.MAX_SAFE_INTEGER);
  const exists = fileExists(path);
  if (!create && !exists) {
    throw new UsageError(
      `No store at "${path}": publish a report or ingest packets first, or name an existing store`,
      { option: "ledger" },
    );
  }
  if (exists && !readOnly) refuseReadOnlyFile(path);
  if (create) makeParentDir(path);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly });
  } catch (error) {
    throw new UsageError(`Cannot open store "${path}": ${sqliteMessage(error)}`);
  }
  const ledger = new Ledger(path, db);
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  try {
    // The timeout first: reading the schema and migrating it wait on it.
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    if (readOnly) {
      checkReadable(ledger);
    } else {
      // Before anything is written (switching to WAL writes the header), so a file that is not
      // a store, or a newer one, is left as it was; migrate() checks again under the write lock.
      if (exists) checkWritable(ledger);
      switchToWal(db, Date.now() + busyTimeoutMs);
      db.exec("PRAGMA foreign_keys = ON");
      migrate(ledger);
    }
  } catch (error) {
    ledger.close();
    throw storeError(path, error, "open");
  }
  return ledger;
}

/**
 * The one-line error for a failure of the store at `path`: a busy store
 * (exit 1), a corrupt one, one that is not a database (exit 2), or, for
 * anything else, the error itself.
 * @param path the store
 * @param error what SQLite (or the code around it) threw
 * @param doing what was being done, for the generic message (`use` by default)
 * @returns the error to throw
 * @example
 * ```ts
 * import { storeError } from "./store.ts";
 * import { UsageError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const corrupt = Object.assign(new Error("database disk image is malformed"), { errcode: 11 });
 * const error = storeError("s.sqlite", corrupt);
 * assert.ok(error instanceof UsageError);
 * assert.equal(error.message, 'Store "s.sqlite" is corrupt: database disk image is malformed');
 * ```
 */
export function storeError(path: string, error: unknown, doing = "use"): Error {
  if (error instanceof UsageError) return error;
  if (isBusy(error)) return ledgerError(path, error);
  const errcode = (error as { errcode?: number } | null)?.errcode;
  const code = errcode === undefined ? -1 : errcode & 0xff;
  if (code === SQLITE_NOTADB) {
    return new UsageError(`"${path}" is not a jrm store: ${sqliteMessage(error)}`);
  }
  if (code === SQLITE_CORRUPT) {
    return new UsageError(`Store "${path}" is corrupt: ${sqliteMessage(error)}`);
  }
  if (code === SQLITE_READONLY) {
    return new UsageError(`Store "${path}" is read-only: ${sqliteMessage(error)}`);
  }
  if (code >= 0 || (error as { code?: string } | null)?.code === "ERR_SQLITE_ERROR") {
    return new UsageError(`Cannot ${doing} store "${path}": ${sqliteMessage(error)}`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

const SQLITE_READONLY = 8;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** Refuse a store file this process may not write to, before SQLite opens it read-only silently. */
function refuseReadOnlyFile(path: string): void {
  if (path === ":memory:") return;
  try {
    Deno.openSync(path, { read: true, write: true }).close();
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new UsageError(`Store "${path}" is read-only: this command writes to it`);
    }
    throw new UsageError(`Cannot open store "${path}": ${describeFsError(error)}`);
  }
}

/** What a read-only open checks: a store, and one this tool knows how to read. */
function checkReadable(ledger: Ledger): void {
  const { db, path } = ledger;
  const version = schemaVersionOf(db);
  if (version === 0) {
    const table = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1",
    ).get();
    throw new UsageError(
      table === undefined
        ? `"${path}" is not a jrm store: it holds no tables`
        : `"${path}" is not a jrm store: it holds table "${table.name}" and no schema version`,
    );
  }
  if (version > MIGRATIONS.length) throw newerStore(path, version);
}

/** What a writer checks before it writes: a store (or an empty file) this tool can migrate. */
function checkWritable(ledger: Ledger): void {
  const { db, path } = ledger;
  const version = schemaVersionOf(db);
  if (version === 0) refuseForeignTables(db, path);
  if (version > MIGRATIONS.length) throw newerStore(path, version);
}

function refuseForeignTables(db: DatabaseSync, path: string): void {
  const foreign = db.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1",
  ).get();
  if (foreign !== undefined) {
    throw new UsageError(
      `"${path}" is not a jrm store: it holds table "${foreign.name}" and no schema version`,
    );
  }
}

function newerStore(path: string, version: number): UsageError {
  return new UsageError(
    `Store "${path}" has schema version ${version}; this jrm knows up to ${MIGRATIONS.length}`,
  );
}

/**
 * A ledger's schema version and size, read without writing: the file is
 * opened read-only, never created, switched or migrated.
 * @param path the database file
 * @returns the schema version (0 for an empty file) and the bytes of the file and its write-ahead log
 * @throws {UsageError} exit 2 when there is no such file, or it is not a
 *   SQLite database or not a jrm ledger
 * @example
 * ```ts
 * import { inspectLedger, MIGRATIONS, openLedger } from "./store.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * openLedger(`${dir}/ledger.sqlite`).close();
 * assert.equal(inspectLedger(`${dir}/ledger.sqlite`).schemaVersion, MIGRATIONS.length);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function inspectLedger(path: string): { schemaVersion: number; sizeBytes: number } {
  checkRegularFile(path, "ledger", Number.MAX_SAFE_INTEGER);
  if (!fileExists(path)) {
    throw new UsageError(
      `No store at "${path}": publish a report or ingest packets first, or name an existing store`,
      {
        option: "ledger",
      },
    );
  }
  let schemaVersion: number;
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      schemaVersion = schemaVersionOf(db);
      const foreign = schemaVersion > 0 ? undefined : db.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1",
      ).get();
      if (foreign !== undefined) {
        throw new UsageError(
          `"${path}" is not a jrm store: it holds table "${foreign.name}" and no schema version`,
        );
      }
    } finally {
      db.close();
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Cannot open store "${path}": ${sqliteMessage(error)}`);
  }
  let sizeBytes = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      sizeBytes += Deno.statSync(path + suffix).size;
    } catch {
      // No write-ahead log: nothing to add.
    }
  }
  return { schemaVersion, sizeBytes };
}

/**
 * `PRAGMA journal_mode = WAL`, tried again while another process holds the
 * lock, until `deadline` (a `Date.now()` value).
 *
 * The busy timeout does not cover this statement on a file that is not yet
 * in WAL mode (a new ledger): SQLite reads the header under a shared lock,
 * then upgrades to a write lock to mark the file as WAL, and a connection
 * that meets another one's lock while upgrading gets SQLITE_BUSY at once,
 * without calling the busy handler (two upgraders waiting for each other
 * would deadlock). So when two processes create a ledger at the same moment,
 * one of them wins and the other fails here with "database is locked". The
 * failed statement has released its locks and changed nothing, so it is
 * safe to run again; once the winner has switched, the file already says WAL
 * and the statement needs no write lock at all.
 */
function switchToWal(db: DatabaseSync, deadline: number): void {
  for (let pauseMs = 1;; pauseMs = Math.min(pauseMs * 2, MAX_RETRY_PAUSE_MS)) {
    try {
      db.prepare("PRAGMA journal_mode = WAL").get();
      return;
    } catch (error) {
      const left = deadline - Date.now();
      if (!isBusy(error) || left <= 0) throw error;
      sleepSync(Math.min(pauseMs, left));
    }
  }
}

/** The longest pause between two tries of {@link switchToWal}. */
const MAX_RETRY_PAUSE_MS = 50;

/** Block the thread for `ms` milliseconds (opening a ledger is synchronous). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function migrate(ledger: Ledger): void {
  const { db, path } = ledger;
  const current = schemaVersionOf(db);
  if (current === MIGRATIONS.length) return;
  // A newer store is refused before any write lock is asked for.
  if (current > MIGRATIONS.length) throw newerStore(path, current);
  ledger.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    let version = schemaVersionOf(db);
    if (version === 0) {
      refuseForeignTables(db, path);
      db.exec(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
      );
    }
    if (version > MIGRATIONS.length) throw newerStore(path, version);
    const record = db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)");
    for (; version < MIGRATIONS.length; version++) {
      db.exec(MIGRATIONS[version]);
      record.run(version + 1, new Date().toISOString());
    }
  });
}

function schemaVersionOf(db: DatabaseSync): number {
  const table = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
  ).get();
  if (table === undefined) return 0;
  const row = db.prepare("SELECT max(version) AS version FROM schema_version").get();
  return Number(row?.version ?? 0);
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new UsageError(`Cannot open store "${path}": ${describeFsError(error)}`);
  }
}

function makeParentDir(path: string): void {
  const slash = path.lastIndexOf("/");
  if (slash <= 0) return;
  try {
    mkdirSync(path.slice(0, slash), { recursive: true });
  } catch (error) {
    throw new UsageError(
      `Cannot create the directory of store "${path}": ${describeFsError(error)}`,
    );
  }
}

/** SQLITE_BUSY and SQLITE_LOCKED: another process held the lock past the timeout. */
const BUSY_CODES = new Set([5, 6]);

/**
 * Whether `error` is SQLITE_BUSY or SQLITE_LOCKED (extended codes included).
 * Only errors of prepared statements say so: those of `DatabaseSync.exec()`
 * carry the message alone, no `errcode`, so statements whose lock errors
 * matter are run through `prepare()`.
 * @param error what a statement threw
 * @returns whether another connection held the lock
 * @example
 * ```ts
 * import { isBusy } from "./store.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isBusy(Object.assign(new Error("database is locked"), { errcode: 5 })));
 * assert.ok(!isBusy(new Error("database is locked")));
 * ```
 */
export function isBusy(error: unknown): boolean {
  const code = (error as { errcode?: number } | null)?.errcode;
  return code !== undefined && BUSY_CODES.has(code & 0xff);
}

function ledgerError(path: string, error: unknown): Error {
  if (isBusy(error)) {
    return new UsageError(`Store "${path}" is busy: another jrm kept it locked; try again`, 1);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function sqliteMessage(error: unknown): string {
  const sqlite = error as { errstr?: string; message?: string };
  if (error instanceof Error && !("errstr" in error)) return describeFsError(error);
  return (sqlite.errstr ?? sqlite.message ?? String(error)).split("\n")[0];
}
