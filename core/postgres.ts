/**
 * Connecting to a PostgreSQL store: the only kernel code, with the store
 * backends built on it, that opens a network connection.
 *
 * The client is postgres.js (npm `postgres`, pinned in deno.json): pure
 * JavaScript over `node:net`/`node:tls`, so it runs under Deno with the lock
 * file and needs no native library. Every option is given explicitly, so the
 * client's own reading of `PG*` variables never decides anything; the
 * password is found by core/store_url.ts ({@link findPassword}) as libpq
 * would.
 *
 * TLS, by `sslmode`: `disable` plain; `prefer` TLS when the server offers it,
 * unverified; `require` TLS, unverified; `verify-full` TLS with the chain
 * checked against `sslrootcert` (else the system's roots) and the
 * certificate's names against the URL's host, IP addresses included (the
 * client would skip the name check for an IP, so it is made here).
 *
 * @module
 */

import { checkServerIdentity, type PeerCertificate } from "node:tls";
import postgres from "npm:postgres@3.4.7";
import { UsageError } from "./errors.ts";
import type { PostgresLocation } from "./store_url.ts";

/** A connection pool to one PostgreSQL database (postgres.js). */
export type PostgresClient = postgres.Sql;

/** Options of {@link connectPostgres}. */
export interface ConnectOptions {
  /** The password (see `findPassword` in core/store_url.ts); none when absent. */
  password?: string;
  /** Connections in the pool; 1 by default (one command, one transaction at a time). */
  max?: number;
}

/**
 * Open a pool to the store's database and check that it answers, so that a
 * wrong address, password or certificate fails here, in one line.
 * @param location the store (see `parseStoreLocation`)
 * @param options password and pool size
 * @returns the pool; end it with `await client.end()`
 * @throws {UsageError} exit 2 when Deno was not given network access to the
 *   server, the `sslrootcert` file cannot be read, or the server cannot be
 *   reached, refuses the login or fails the TLS checks
 * @example
 * ```ts ignore
 * import { connectPostgres } from "./postgres.ts";
 * import { parseStoreLocation } from "./store_url.ts";
 * const location = parseStoreLocation("postgres://jrm@localhost/jrm?sslmode=verify-full");
 * if (location.kind === "postgres") {
 *   const client = await connectPostgres(location, { password: "from PGPASSWORD" });
 *   await client.end();
 * }
 * ```
 */
export async function connectPostgres(
  location: PostgresLocation,
  options: ConnectOptions = {},
): Promise<PostgresClient> {
  checkNetPermission(location);
  const client = postgres({
    host: location.host,
    port: location.port,
    user: location.user,
    database: location.database,
    pass: options.password ?? "",
    ssl: await tlsOptions(location),
    max: options.max ?? 1,
    connect_timeout: location.connectTimeout ?? 30,
    connection: { application_name: location.applicationName },
    // Notices (e.g. "relation already exists, skipping") are not for the user's terminal.
    onnotice: () => {},
    // Numbers come back as numbers; counts and sizes (bigint) stay exact as text otherwise.
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number | bigint) => String(value),
        parse: (text: string) => Number(text),
      },
    },
  });
  try {
    await client`SELECT 1`;
  } catch (error) {
    await client.end({ timeout: 0 }).catch(() => {});
    throw postgresError(location, error);
  }
  return client;
}

/**
 * A one-line error for a failure to reach or use the store's server; the
 * password is never part of it (it is never in the location).
 * @param location the store
 * @param error what the client threw
 * @returns a {@link UsageError} (exit 2), or `error` itself when it already is one
 * @example
 * ```ts
 * import { postgresError } from "./postgres.ts";
 * import { parseStoreLocation } from "./store_url.ts";
 * import assert from "node:assert/strict";
 * const location = parseStoreLocation("postgres://jrm@db:5432/ledger");
 * if (location.kind === "postgres") {
 *   const error = postgresError(location, Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
 *   assert.equal(error.message, 'Cannot reach store "postgres://jrm@db:5432/ledger": connection refused');
 * }
 * ```
 */
export function postgresError(location: PostgresLocation, error: unknown): Error {
  if (error instanceof UsageError) return error;
  const code = (error as { code?: string } | null)?.code;
  const message = String((error as { message?: string } | null)?.message ?? error).split("\n")[0];
  const where = `store "${location.display}"`;
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return netPermissionError(location);
  }
  switch (code) {
    case "ECONNREFUSED":
      return new UsageError(`Cannot reach ${where}: connection refused`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new UsageError(`Cannot reach ${where}: host "${location.host}" not found`);
    case "CONNECT_TIMEOUT":
      return new UsageError(`Cannot reach ${where}: no answer within the connect timeout`);
    case "28P01":
    case "28000":
      return new UsageError(`Cannot log in to ${where}: ${message}`);
    case "3D000":
      return new UsageError(`Cannot open ${where}: ${message}`);
    case "SASL_SIGNATURE_MISMATCH":
      return new UsageError(
        `Cannot log in to ${where}: the server's proof of the password is wrong`,
      );
  }
  if (
    /certificate|altnames|self.signed|TLS|SSL/i.test(message) || /^ERR_TLS|^CERT_/.test(code ?? "")
  ) {
    return new UsageError(`Cannot connect to ${where} over TLS: ${message}`);
  }
  if (/password/i.test(message) && /required|authentication|SCRAM/i.test(message)) {
    return new UsageError(
      `Cannot log in to ${where}: the server wants a password (PGPASSWORD, PGPASSFILE, ~/.pgpass)`,
    );
  }
  return new UsageError(
    `Store "${location.display}" failed: ${message}${code ? ` (${code})` : ""}`,
  );
}

/** Refuse early, in one line, when Deno may not connect to the server. */
function checkNetPermission(location: PostgresLocation): void {
  const host = location.host.includes(":") ? `[${location.host}]` : location.host;
  const state = Deno.permissions.querySync({ name: "net", host: `${host}:${location.port}` }).state;
  if (state !== "granted") throw netPermissionError(location);
}

function netPermissionError(location: PostgresLocation): UsageError {
  const host = location.host.includes(":") ? `[${location.host}]` : location.host;
  return new UsageError(
    `Store "${location.display}" is a PostgreSQL server, and Deno was not given network access to it (run with --allow-net=${host}:${location.port})`,
  );
}

async function tlsOptions(location: PostgresLocation): Promise<postgres.Options<never>["ssl"]> {
  switch (location.sslmode) {
    case "disable":
      return false;
    case "prefer":
    case "require":
      return location.sslmode;
    case "verify-full": {
      const root = location.sslrootcert;
      let ca: string | undefined;
      if (root !== undefined && root !== "system") {
        try {
          ca = await Deno.readTextFile(root);
        } catch (error) {
          throw new UsageError(
            `Cannot read sslrootcert "${root}" of store "${location.display}": ${
              error instanceof Deno.errors.NotFound ? "not found" : (error as Error).message
            }`,
          );
        }
      }
      const host = location.host;
      return {
        ...(ca === undefined ? {} : { ca }),
        rejectUnauthorized: true,
        checkServerIdentity: (_name: string, certificate: PeerCertificate) =>
          checkServerIdentity(host, certificate),
      };
    }
  }
}
