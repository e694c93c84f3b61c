/**
 * The advisory ledger's store contract: what the advisory engine
 * (core/advisory.ts) needs from a database, met by the SQLite ledger
 * (core/store.ts) and the PostgreSQL one (core/store_postgres.ts). One
 * conformance suite (tests/_ledger_conformance.ts) runs against both.
 *
 * The engine speaks SQL that both backends read the same way, through
 * {@link LedgerSql}: `?` placeholders, text, integers and null only, and the
 * two places where the dialects differ (a JSON array of text read as rows)
 * written through {@link jsonTextRows}. Text compares and sorts by code
 * point on both (SQLite's `BINARY`; `COLLATE "C"` on PostgreSQL's columns).
 *
 * @module
 */

import type { DatabaseSync, SQLInputValue } from "node:sqlite";

/** The database behind a store. */
export type StoreBackend = "sqlite" | "postgres";

/** A value a statement takes. */
export type SqlValue = string | number | null;

/** A row a statement gives: column name to value. */
export type SqlRow = Record<string, unknown>;

/** Statements on one connection, inside a transaction the ledger holds. */
export interface LedgerSql {
  /** Which SQL it speaks, for {@link jsonTextRows}. */
  readonly dialect: StoreBackend;
  /**
   * Every row of a query.
   * @param sql the statement, with `?` placeholders
   * @param params their values, in order
   */
  all(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
  /**
   * The first row of a query, if any.
   * @param sql the statement, with `?` placeholders
   * @param params their values, in order
   */
  get(sql: string, params?: readonly SqlValue[]): Promise<SqlRow | undefined>;
  /**
   * Run a statement for its effect.
   * @param sql the statement, with `?` placeholders
   * @param params their values, in order
   */
  run(sql: string, params?: readonly SqlValue[]): Promise<void>;
}

/** An open advisory ledger, whichever the backend. */
export interface AdvisoryLedger {
  /** Where it lives, for messages: a path, or a URL without a password. */
  readonly location: string;
  /** The database behind it. */
  readonly backend: StoreBackend;
  /**
   * Run `work` as one write transaction, serialized with every other write
   * to the same ledger (from any process): all of it is kept, or none.
   * @param work the change; it must not start transactions
   * @returns what `work` resolves to
   */
  write<T>(work: (sql: LedgerSql) => Promise<T>): Promise<T>;
  /**
   * Run `work` on a consistent snapshot, without writing.
   * @param work the reads
   * @returns what `work` resolves to
   */
  read<T>(work: (sql: LedgerSql) => Promise<T>): Promise<T>;
}

/**
 * A subquery giving the elements of a JSON array of strings as rows of one
 * column, `value`, in either dialect.
 * @param dialect the ledger's SQL
 * @param json an SQL expression holding the JSON text (a column, or `?`)
 * @returns the subquery, in parentheses
 * @example
 * ```ts
 * import { jsonTextRows } from "./ledger.ts";
 * import assert from "node:assert/strict";
 * assert.equal(jsonTextRows("sqlite", "?"), "(SELECT value FROM json_each(?))");
 * assert.equal(jsonTextRows("postgres", "environments"),
 *   "(SELECT value FROM json_array_elements_text(environments::text::json) AS value)");
 * ```
 */
export function jsonTextRows(dialect: StoreBackend, json: string): string {
  return dialect === "sqlite"
    ? `(SELECT value FROM json_each(${json}))`
    // Through text: a parameter typed json would be sent JSON-encoded again, as a string.
    : `(SELECT value FROM json_array_elements_text(${json}::text::json) AS value)`;
}

/**
 * {@link LedgerSql} over a `node:sqlite` connection. Each call runs at once
 * (the connection is synchronous); the promise only fits the contract.
 * @param db the connection
 * @returns the statements
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { sqliteStatements } from "./ledger.ts";
 * import assert from "node:assert/strict";
 * const sql = sqliteStatements(new DatabaseSync(":memory:"));
 * assert.equal((await sql.get("SELECT ? + 1 AS n", [1]))?.n, 2);
 * ```
 */
export function sqliteStatements(db: DatabaseSync): LedgerSql {
  const values = (params: readonly SqlValue[] | undefined) => (params ?? []) as SQLInputValue[];
  return {
    dialect: "sqlite",
    all: (sql, params) => Promise.resolve(db.prepare(sql).all(...values(params)) as SqlRow[]),
    get: (sql, params) =>
      Promise.resolve(db.prepare(sql).get(...values(params)) as SqlRow | undefined),
    run: (sql, params) => {
      db.prepare(sql).run(...values(params));
      return Promise.resolve();
    },
  };
}
