/**
 * The store on PostgreSQL: the advisory ledger (core/advisory.ts) in one
 * database that several jrm processes on several machines share.
 *
 * - The schema is versioned as the SQLite store's is (a `schema_version`
 *   table; {@link POSTGRES_MIGRATIONS} step `i` is the same logical step as
 *   SQLite's `MIGRATIONS[i]`, so both report the same version; SQLite's
 *   later step with the stateful hub's tables is not here yet). Writers
 *   migrate on open, in one transaction, under a transaction-level advisory
 *   lock, reading the version again once they hold it, so processes that
 *   open a new database at once migrate it once. Readers never migrate: a
 *   missing, older or newer schema is refused. A database that holds tables
 *   but no schema version is some other program's, and refused.
 * - Every write is one transaction that first takes the ledger's advisory
 *   lock (`pg_advisory_xact_lock`), so writes are serialized across
 *   processes as SQLite's `BEGIN IMMEDIATE` serializes them: a check made
 *   inside the transaction (is this advisory still `published`?) still holds
 *   at `COMMIT`, and concurrent decisions on one advisory land exactly once.
 *   A lock wait longer than the lock timeout fails as "busy" (exit 1).
 * - Reads run in a `REPEATABLE READ READ ONLY` transaction: one snapshot.
 * - Text columns are `COLLATE "C"`: compared and sorted by code point, as
 *   SQLite does, whatever the database's locale.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import type { AdvisoryLedger, LedgerSql, SqlRow, SqlValue } from "./ledger.ts";
import { connectPostgres, type PostgresClient, postgresError } from "./postgres.ts";
import type { PostgresLocation } from "./store_url.ts";

/**
 * The forward migrations on PostgreSQL; step `i` moves the schema from
 * version `i` to `i + 1`, as `MIGRATIONS[i]` does on SQLite. Steps are only
 * ever appended; a released step never changes.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE advisories (
     advisory_id TEXT COLLATE "C" PRIMARY KEY,
     drift_type TEXT COLLATE "C" NOT NULL,
     severity TEXT COLLATE "C" NOT NULL,
     signature_id TEXT COLLATE "C" NOT NULL,
     environments TEXT COLLATE "C" NOT NULL,
     source_env TEXT COLLATE "C",
     target_envs TEXT COLLATE "C" NOT NULL,
     action TEXT COLLATE "C" NOT NULL,
     recommendation TEXT COLLATE "C" NOT NULL,
     status TEXT COLLATE "C" NOT NULL
       CHECK (status IN ('published', 'accepted', 'declined', 'resolved')),
     drift_id TEXT COLLATE "C" NOT NULL,
     description TEXT COLLATE "C" NOT NULL,
     detector TEXT COLLATE "C" NOT NULL,
     evidence TEXT COLLATE "C" NOT NULL,
     evidence_fingerprint TEXT COLLATE "C" NOT NULL,
     created_at TEXT COLLATE "C" NOT NULL,
     updated_at TEXT COLLATE "C" NOT NULL
   );
   CREATE INDEX advisories_by_status ON advisories (status);
   CREATE TABLE advisory_history (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     advisory_id TEXT COLLATE "C" NOT NULL REFERENCES advisories (advisory_id),
     at TEXT COLLATE "C" NOT NULL,
     actor TEXT COLLATE "C" NOT NULL,
     from_status TEXT COLLATE "C",
     to_status TEXT COLLATE "C" NOT NULL,
     reason TEXT COLLATE "C",
     drift_id TEXT COLLATE "C" NOT NULL
   );
   CREATE INDEX advisory_history_by_advisory ON advisory_history (advisory_id, seq);
   CREATE TABLE publications (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     at TEXT COLLATE "C" NOT NULL,
     actor TEXT COLLATE "C" NOT NULL,
     report_generated_at TEXT COLLATE "C" NOT NULL,
     drifts INTEGER NOT NULL
   );`,
  `ALTER TABLE advisories ADD COLUMN origin TEXT COLLATE "C" NOT NULL DEFAULT 'jrm'
     CHECK (origin IN ('jrm', 'reference'));`,
];

/** The first key of every advisory lock jrm takes ("jrm" in ASCII), so other programs' locks differ. */
const LOCK_CLASS = 0x6a726d;
/** The second key: migrating the schema. */
const MIGRATION_LOCK = 0;
/** The second key: writing the ledger. */
const LEDGER_LOCK = 1;

/** How long (milliseconds) a write waits for another process's lock by default. */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

/** How a PostgreSQL store is opened. */
export interface OpenPostgresOptions {
  /**
   * `write` migrates the schema to the newest version; `read` refuses a
   * schema that is missing or not the newest; `inspect` (for status) only
   * refuses a missing or foreign one.
   */
  mode: "write" | "read" | "inspect";
  /** The password (see `findPassword`); none when absent. */
  password?: string;
  /** Milliseconds a write waits for another process's lock; {@link DEFAULT_LOCK_TIMEOUT_MS} by default. */
  lockTimeoutMs?: number;
  /** The schema steps this jrm knows; {@link POSTGRES_MIGRATIONS} by default (tests give fewer). */
  migrations?: readonly string[];
}

/**
 * An open PostgreSQL store. Close it when done.
 *
 * @example
 * ```ts ignore
 * import { openPostgresLedger } from "./store_postgres.ts";
 * import { listAdvisories } from "./advisory.ts";
 * import { parseStoreLocation } from "./store_url.ts";
 * const location = parseStoreLocation("postgres://jrm@db.example/jrm?sslmode=verify-full");
 * if (location.kind === "postgres") {
 *   const ledger = await openPostgresLedger(location, { mode: "read", password: "…" });
 *   try {
 *     console.log((await listAdvisories(ledger)).length);
 *   } finally {
 *     await ledger.close();
 *   }
 * }
 * ```
 */
export class PostgresLedger implements AdvisoryLedger, AsyncDisposable {
  /** The URL, without a password. */
  readonly location: string;
  /** Always `postgres`. */
  readonly backend = "postgres" as const;
  /** The database's address. */
  readonly address: PostgresLocation;
  /** The connection pool. */
  readonly client: PostgresClient;
  readonly #lockTimeoutMs: number;

  /**
   * Wrap an open pool; use {@link openPostgresLedger} to get one.
   * @param address the database
   * @param client the pool
   * @param lockTimeoutMs how long a write waits for another's lock
   */
  constructor(address: PostgresLocation, client: PostgresClient, lockTimeoutMs: number) {
    this.location = address.display;
    this.address = address;
    this.client = client;
    this.#lockTimeoutMs = lockTimeoutMs;
  }

  /**
   * One write transaction under the ledger's lock (see the module doc).
   * @param work the change
   * @returns what `work` resolves to
   * @throws {UsageError} exit 1 when another process keeps the lock past the lock timeout
   */
  write<T>(work: (sql: LedgerSql) => Promise<T>): Promise<T> {
    return this.transaction("BEGIN", async (sql) => {
      await sql.run("SELECT pg_advisory_xact_lock(?, ?)", [LOCK_CLASS, LEDGER_LOCK]);
      return await work(sql);
    });
  }

  /**
   * Reads on one snapshot.
   * @param work the reads
   * @returns what `work` resolves to
   */
  read<T>(work: (sql: LedgerSql) => Promise<T>): Promise<T> {
    return this.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", work);
  }

  /**
   * Run `work` in a transaction with the lock timeout set; errors of the
   * server come out as one-line {@link UsageError}s.
   * @param begin the statement that starts it
   * @param work what to do
   * @returns what `work` resolves to
   */
  async transaction<T>(begin: string, work: (sql: LedgerSql) => Promise<T>): Promise<T> {
    const reserved = await this.client.reserve().catch((error) => {
      throw postgresError(this.address, error);
    });
    try {
      const sql = postgresStatements(reserved);
      await sql.run(begin);
      try {
        await sql.run(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(this.#lockTimeoutMs))}`);
        const result = await work(sql);
        await sql.run("COMMIT");
        return result;
      } catch (error) {
        await reserved.unsafe("ROLLBACK").catch(() => {});
        throw this.#error(error);
      }
    } finally {
      reserved.release();
    }
  }

  /**
   * The schema version the database is at.
   * @returns the highest applied step, 0 for none
   */
  async schemaVersion(): Promise<number> {
    return await this.read((sql) => schemaVersionOf(sql));
  }

  /**
   * Bytes the store's tables (with their indexes and TOAST) take.
   * @returns the size
   */
  async sizeBytes(): Promise<number> {
    return await this.read(async (sql) => {
      const row = await sql.get(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r'`,
      );
      return Number(row?.bytes ?? 0);
    });
  }

  /** Close the pool (idempotent). */
  async close(): Promise<void> {
    await this.client.end({ timeout: 5 });
  }

  /** Close the pool at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #error(error: unknown): unknown {
    if (error instanceof UsageError) return error;
    const code = (error as { code?: string } | null)?.code;
    if (code === "55P03" || code === "40P01") {
      return new UsageError(
        `Store "${this.location}" is busy: another jrm kept it locked past ${
          this.#lockTimeoutMs / 1000
        } s; try again`,
        1,
      );
    }
    if (error instanceof Error && code === undefined) return error;
    return postgresError(this.address, error);
  }
}

/**
 * {@link LedgerSql} over one reserved postgres.js connection: `?`
 * placeholders become `$1`, `$2`, … (the engine's SQL has no `?` elsewhere).
 * @param connection a reserved connection (or a transaction's)
 * @returns the statements
 */
export function postgresStatements(connection: PostgresClient): LedgerSql {
  const text = (sql: string) => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  };
  const all = async (sql: string, params: readonly SqlValue[] = []) =>
    [...await connection.unsafe(text(sql), params as SqlValue[])] as SqlRow[];
  return {
    dialect: "postgres",
    all,
    get: async (sql, params) => (await all(sql, params))[0],
    run: async (sql, params) => {
      await all(sql, params);
    },
  };
}

/**
 * Open the store at `location`: connect, then migrate it (`write`) or check
 * that it is at this jrm's version (`read`).
 * @param location the database
 * @param options mode, password, lock timeout
 * @returns the open store
 * @throws {UsageError} exit 2 when the server cannot be reached or refuses
 *   the login, the database is some other program's, was written by a newer
 *   jrm, or (for readers) holds no store or an older schema; exit 1 when
 *   another process keeps the migration lock past the lock timeout
 */
export async function openPostgresLedger(
  location: PostgresLocation,
  options: OpenPostgresOptions,
): Promise<PostgresLedger> {
  const client = await connectPostgres(location, { password: options.password });
  const ledger = new PostgresLedger(
    location,
    client,
    options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
  );
  try {
    await prepare(ledger, options.mode, options.migrations ?? POSTGRES_MIGRATIONS);
  } catch (error) {
    await ledger.close().catch(() => {});
    throw error;
  }
  return ledger;
}

/** What {@link migratePostgres} did. */
export interface MigrationResult {
  /** The version before. */
  from: number;
  /** The version after. */
  to: number;
}

async function prepare(
  ledger: PostgresLedger,
  mode: OpenPostgresOptions["mode"],
  migrations: readonly string[],
): Promise<MigrationResult> {
  const { location } = ledger;
  const known = migrations.length;
  // Under the migration lock, shared: a writer migrating right now is waited for, so the
  // version and the tables are read after its commit, not half before it (catalog lookups
  // do not follow a transaction's snapshot).
  const seen = await ledger.transaction("BEGIN", async (sql) => {
    await sql.run("SELECT pg_advisory_xact_lock_shared(?, ?)", [LOCK_CLASS, MIGRATION_LOCK]);
    return { version: await schemaVersionOf(sql), foreign: await foreignTable(sql) };
  });
  if (seen.version === 0 && seen.foreign !== undefined) throw notAStore(location, seen.foreign);
  if (seen.version > known) throw newerStore(location, seen.version, known);
  if (mode === "inspect" || seen.version === known) return { from: seen.version, to: seen.version };
  if (mode === "read") {
    if (seen.version === 0) {
      throw new UsageError(
        `No store at "${location}": publish a report first, or name an existing store`,
        {
          option: "ledger",
        },
      );
    }
    throw new UsageError(
      `Store "${location}" has schema version ${seen.version}; this jrm reads version ${known}: a command that writes migrates it (jrm store migrate)`,
    );
  }
  return await ledger.transaction("BEGIN", async (sql) => {
    await sql.run("SELECT pg_advisory_xact_lock(?, ?)", [LOCK_CLASS, MIGRATION_LOCK]);
    // Read again under the lock: another process may have migrated meanwhile.
    let version = await schemaVersionOf(sql);
    const from = version;
    if (version === 0) {
      const foreign = await foreignTable(sql);
      if (foreign !== undefined) throw notAStore(location, foreign);
      await sql.run(
        `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
      );
    }
    if (version > known) throw newerStore(location, version, known);
    for (; version < known; version++) {
      await sql.run(migrations[version]);
      await sql.run("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", [
        version + 1,
        new Date().toISOString(),
      ]);
    }
    return { from, to: version };
  });
}

/**
 * Bring the store's schema to this jrm's version, as a writer does on open,
 * and say what was done.
 * @param ledger an open store (opened in `inspect` mode, so an old one opens)
 * @param migrations the steps; {@link POSTGRES_MIGRATIONS} by default
 * @returns the version before and after
 * @throws {UsageError} as {@link openPostgresLedger} in `write` mode
 */
export async function migratePostgres(
  ledger: PostgresLedger,
  migrations: readonly string[] = POSTGRES_MIGRATIONS,
): Promise<MigrationResult> {
  return await prepare(ledger, "write", migrations);
}

async function schemaVersionOf(sql: LedgerSql): Promise<number> {
  // Through pg_tables (read on a fresh snapshot), not to_regclass(): a name lookup takes no
  // lock, so it can miss a table another process has just committed.
  const table = await sql.get(
    `SELECT EXISTS (SELECT 1 FROM pg_tables
       WHERE schemaname = current_schema() AND tablename = 'schema_version') AS present`,
  );
  if (table?.present !== true) return 0;
  const row = await sql.get("SELECT max(version) AS version FROM schema_version");
  return Number(row?.version ?? 0);
}

async function foreignTable(sql: LedgerSql): Promise<string | undefined> {
  const row = await sql.get(
    `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
     AND tablename <> 'schema_version' ORDER BY tablename LIMIT 1`,
  );
  return row === undefined ? undefined : String(row.tablename);
}

function notAStore(location: string, table: string): UsageError {
  return new UsageError(
    `"${location}" is not a jrm store: it holds table "${table}" and no schema version`,
  );
}

function newerStore(location: string, version: number, known: number): UsageError {
  return new UsageError(
    `Store "${location}" has schema version ${version}; this jrm knows up to ${known}`,
  );
}
