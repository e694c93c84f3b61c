/**
 * Opening the store a command names, whichever the backend, and the `store`
 * commands: `store migrate` (bring the schema to this jrm's version, as
 * writers do on open) and `store status` (backend, schema version, size).
 *
 * The store is `--store`, else `$JRM_STORE`, else `./.jrm/ledger.sqlite`: a
 * SQLite file, or a `postgres://` URL. A PostgreSQL store needs Deno's
 * network permission for its host (`--allow-net=HOST:PORT`), and its
 * password comes from `PGPASSWORD`, `PGPASSFILE` or `~/.pgpass`, never from
 * the URL (core/store_url.ts).
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import type { AdvisoryLedger } from "../core/ledger.ts";
import {
  DEFAULT_STORE_PATH,
  inspectLedger,
  Ledger,
  MIGRATIONS,
  openLedger,
  resolveStorePath,
} from "../core/store.ts";
import {
  migratePostgres,
  openPostgresLedger,
  POSTGRES_MIGRATIONS,
  PostgresLedger,
} from "../core/store_postgres.ts";
import { findPassword, parseStoreLocation, type StoreLocation } from "../core/store_url.ts";
import { err, out, outJson } from "./common.ts";

/**
 * The store a command uses: `--store`, else `$JRM_STORE`, else the default path.
 * @param option the `--store` value
 * @returns where it lives
 * @throws {UsageError} for a PostgreSQL URL that holds a password or is malformed
 */
export function storeLocation(option: string | undefined): StoreLocation {
  const value = option !== undefined
    ? resolveStorePath(option)
    : resolveStorePath(undefined, readEnv("JRM_STORE", true));
  return parseStoreLocation(value);
}

/**
 * The SQLite store a command of the stateful hub uses (`hub ingest`,
 * `report`, `status`): its state is not kept on PostgreSQL yet.
 * @param option the `--store` value
 * @returns the file
 * @throws {UsageError} for a PostgreSQL URL
 */
export function sqliteStorePath(option: string | undefined): string {
  const location = storeLocation(option);
  if (location.kind !== "sqlite") {
    throw new UsageError(
      `Store "${location.display}" is a PostgreSQL database; the stateful hub keeps its state in a SQLite store only, so far`,
    );
  }
  return location.path;
}

/**
 * The `--store` option of every command that takes one.
 * @param what what the store is for, in the help
 * @returns the option
 */
export function storeOption(what = "the store") {
  return new Option(
    "--store <file|url>",
    `${what}: a SQLite file or a postgres:// URL (default: $JRM_STORE, else ./${DEFAULT_STORE_PATH})`,
  );
}

/**
 * How a command uses the store: `create` makes a missing SQLite file,
 * `write` needs it to exist, `read` only reads (a PostgreSQL store is then
 * never migrated).
 */
export type StoreMode = "create" | "write" | "read";

/**
 * Open the advisory ledger at `location`.
 * @param location the store
 * @param mode how the command uses it
 * @returns the open ledger; give it to {@link closeLedger}
 */
export async function openAdvisoryLedger(
  location: StoreLocation,
  mode: StoreMode,
): Promise<AdvisoryLedger> {
  if (location.kind === "sqlite") {
    return openLedger(location.path, { create: mode === "create", readOnly: mode === "read" });
  }
  return await openPostgresLedger(location, {
    mode: mode === "read" ? "read" : "write",
    password: postgresPassword(location),
  });
}

/**
 * Close a ledger {@link openAdvisoryLedger} opened.
 * @param ledger the ledger
 */
export async function closeLedger(ledger: AdvisoryLedger): Promise<void> {
  if (ledger instanceof Ledger) ledger.close();
  else if (ledger instanceof PostgresLedger) await ledger.close();
}

/**
 * Run `work` on the ledger at `location`, closing it after.
 * @param location the store
 * @param mode how the command uses it
 * @param work what to do
 * @returns what `work` returns
 */
export async function withLedger<T>(
  location: StoreLocation,
  mode: StoreMode,
  work: (ledger: AdvisoryLedger) => T | Promise<T>,
): Promise<T> {
  const ledger = await openAdvisoryLedger(location, mode);
  try {
    return await work(ledger);
  } finally {
    await closeLedger(ledger);
  }
}

/** The password for a PostgreSQL store, as libpq finds it; warnings go to stderr. */
function postgresPassword(location: StoreLocation & { kind: "postgres" }): string | undefined {
  const found = findPassword(location, {
    pgpassword: readEnv("PGPASSWORD", false),
    pgpassfile: readEnv("PGPASSFILE", false),
    home: readEnv("HOME", false),
  });
  for (const warning of found.warnings) err(`warning: ${warning}`);
  return found.password;
}

/** What `store status` shows. */
interface StoreStatus {
  store: string;
  backend: "sqlite" | "postgres";
  schemaVersion: number;
  knownVersion: number;
  sizeBytes: number;
}

/**
 * The `store` command group.
 * @returns the commander command, with its subcommands
 * @example
 * ```ts
 * import { storeCommand } from "./store.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(storeCommand().commands.map((c) => c.name()), ["migrate", "status"]);
 * ```
 */
export function storeCommand() {
  const store = new Command("store").description(
    "see and migrate the store (a SQLite file, or a PostgreSQL database)",
  );

  store.command("migrate")
    .description("bring the store's schema to this jrm's version (commands that write do it too)")
    .addOption(storeOption())
    .option("--json", "print only JSON on stdout")
    .action(async (options) => {
      const location = storeLocation(options.store);
      let from: number;
      let to: number;
      if (location.kind === "sqlite") {
        from = existsAsFile(location.path) ? inspectLedger(location.path).schemaVersion : 0;
        using ledger = openLedger(location.path);
        to = ledger.schemaVersion;
      } else {
        const ledger = await openPostgresLedger(location, {
          mode: "inspect",
          password: postgresPassword(location),
        });
        try {
          ({ from, to } = await migratePostgres(ledger));
        } finally {
          await ledger.close();
        }
      }
      if (options.json) {
        outJson({ store: location.display, backend: location.kind, from, to });
      } else if (from === to) {
        out(`Store "${location.display}" (${location.kind}) is at schema version ${to}`);
      } else {
        out(`Store "${location.display}" (${location.kind}): schema version ${from} → ${to}`);
      }
    });

  store.command("status")
    .description("show the store's backend, schema version and size (never changes it)")
    .addOption(storeOption())
    .option("--json", "print only JSON on stdout")
    .action(async (options) => {
      const location = storeLocation(options.store);
      const status = location.kind === "sqlite"
        ? sqliteStatus(location.path)
        : await postgresStatus(location);
      if (options.json) {
        outJson(status);
        return;
      }
      const note = status.schemaVersion < status.knownVersion
        ? ` (this jrm writes ${status.knownVersion}: jrm store migrate)`
        : status.schemaVersion > status.knownVersion
        ? ` (newer than this jrm's ${status.knownVersion})`
        : "";
      out(`Store          ${status.store}`);
      out(`Backend        ${status.backend}`);
      out(`Schema version ${status.schemaVersion}${note}`);
      out(`Size           ${status.sizeBytes} bytes`);
    });

  return store;
}

async function postgresStatus(
  location: StoreLocation & { kind: "postgres" },
): Promise<StoreStatus> {
  const ledger = await openPostgresLedger(location, {
    mode: "inspect",
    password: postgresPassword(location),
  });
  try {
    const schemaVersion = await ledger.schemaVersion();
    if (schemaVersion === 0) {
      throw new UsageError(
        `No store at "${location.display}": publish a report first, or name an existing store`,
        {
          option: "ledger",
        },
      );
    }
    return {
      store: location.display,
      backend: "postgres",
      schemaVersion,
      knownVersion: POSTGRES_MIGRATIONS.length,
      sizeBytes: await ledger.sizeBytes(),
    };
  } finally {
    await ledger.close();
  }
}

/** A SQLite store's status, read without writing (so nothing is created or migrated). */
function sqliteStatus(path: string): StoreStatus {
  const { schemaVersion, sizeBytes } = inspectLedger(path);
  return {
    store: path,
    backend: "sqlite",
    schemaVersion,
    knownVersion: MIGRATIONS.length,
    sizeBytes,
  };
}

function existsAsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function readEnv(name: string, required: boolean): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    if (!required) return undefined;
    throw new UsageError(`Cannot read ${name}: give --store, or run with --allow-env=${name}`);
  }
}
