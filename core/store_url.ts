/**
 * Where a store lives: a SQLite file, or a PostgreSQL database named by a
 * `postgres://` (or `postgresql://`) URL, and how to log in to the latter as
 * libpq users expect.
 *
 * A password is never taken from the URL (it would sit in shell history,
 * `ps` output and `$JRM_STORE`): a URL that holds one is refused, without
 * repeating it. The password comes from `PGPASSWORD`, else from the password
 * file (`PGPASSFILE`, else `~/.pgpass`), read here with libpq's rules: lines
 * `host:port:database:user:password`, `*` for any value, `\:` and `\\` as
 * escapes, `#` comments, the first matching line wins, and a file that group
 * or others may read or write is ignored with a warning.
 *
 * URL parameters: `sslmode` (`disable`, `prefer` (the default, as libpq's),
 * `require` (encrypted, not verified) or `verify-full` (the certificate
 * chain against `sslrootcert`, else the system's roots, and the host name)),
 * `sslrootcert` (a CA file, or `system`), `connect_timeout` (seconds) and
 * `application_name`. Anything else is refused, so a typo does not silently
 * weaken TLS.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** How a PostgreSQL connection uses TLS. */
export const SSL_MODES = ["disable", "prefer", "require", "verify-full"] as const;

/** A TLS mode, see {@link SSL_MODES}. */
export type SslMode = typeof SSL_MODES[number];

/** A PostgreSQL store's address, without any secret. */
export interface PostgresLocation {
  /** The backend. */
  kind: "postgres";
  /** The URL as shown in messages: `postgres://user@host:port/db`, no query, no password. */
  display: string;
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** Port; 5432 by default. */
  port: number;
  /** Database; the user's name by default, as libpq. */
  database: string;
  /** Role to log in as. */
  user: string;
  /** TLS mode; `prefer` by default. */
  sslmode: SslMode;
  /** CA certificate file for `verify-full`, or `system`; the system's roots when absent. */
  sslrootcert: string | undefined;
  /** Seconds to wait for the connection; undefined for the client's default. */
  connectTimeout: number | undefined;
  /** Shown in `pg_stat_activity`; `jrm` by default. */
  applicationName: string;
}

/** A SQLite store: a file. */
export interface SqliteLocation {
  /** The backend. */
  kind: "sqlite";
  /** The file. */
  path: string;
  /** The file, as shown in messages. */
  display: string;
}

/** Where a store lives. */
export type StoreLocation = SqliteLocation | PostgresLocation;

/** The URL parameters a store URL may carry. */
const KNOWN_PARAMETERS = ["sslmode", "sslrootcert", "connect_timeout", "application_name"];

/**
 * Whether a `--store` value names a PostgreSQL database rather than a file.
 * @param value the `--store` or `$JRM_STORE` value
 * @returns true for `postgres://` and `postgresql://` (any case)
 * @example
 * ```ts
 * import { isPostgresUrl } from "./store_url.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isPostgresUrl("postgresql://jrm@db/jrm"));
 * assert.ok(!isPostgresUrl("./postgres://not-a-url.sqlite"));
 * ```
 */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(value);
}

/**
 * Read a `--store` value: a PostgreSQL URL, else a SQLite file path.
 * @param value the `--store` or `$JRM_STORE` value (already resolved to the default)
 * @returns the location
 * @throws {UsageError} exit 2 for a PostgreSQL URL that holds a password, has no
 *   user or host, names several hosts, or has an unknown or malformed parameter;
 *   the message never repeats a password
 * @example
 * ```ts
 * import { parseStoreLocation } from "./store_url.ts";
 * import assert from "node:assert/strict";
 * const pg = parseStoreLocation("postgres://jrm@db.example:6432/ledger?sslmode=verify-full");
 * assert.equal(pg.kind, "postgres");
 * assert.equal(pg.display, "postgres://jrm@db.example:6432/ledger");
 * assert.throws(
 *   () => parseStoreLocation("postgres://jrm:hunter2@db/ledger"),
 *   (error) => error instanceof Error && !error.message.includes("hunter2"),
 * );
 * assert.deepEqual(parseStoreLocation("a.sqlite"), { kind: "sqlite", path: "a.sqlite", display: "a.sqlite" });
 * ```
 */
export function parseStoreLocation(value: string): StoreLocation {
  if (!isPostgresUrl(value)) return { kind: "sqlite", path: value, display: value };
  const scheme = value.slice(0, value.indexOf(":")).toLowerCase();
  const rest = value.slice(scheme.length + 3);
  const authority = rest.split(/[/?#]/, 1)[0];
  const at = authority.lastIndexOf("@");
  const userInfo = at < 0 ? "" : authority.slice(0, at);
  const hostPart = at < 0 ? authority : authority.slice(at + 1);
  const shown = `${scheme}://${at < 0 ? "" : `${userInfo.split(":")[0]}@`}${hostPart}${
    rest.slice(authority.length).split(/[?#]/, 1)[0]
  }`;
  const refuse = (problem: string) => new UsageError(`Store URL "${shown}" ${problem}`);
  if (userInfo.includes(":")) {
    throw refuse(
      "holds a password; a password is never taken from the command line or $JRM_STORE: " +
        "give it through PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass)",
    );
  }
  if (hostPart.includes(",")) throw refuse("names several hosts; give one");
  if (hostPart === "" || hostPart.startsWith(":")) {
    throw refuse("names no host: postgres://USER@HOST[:PORT]/DATABASE");
  }
  let url: URL;
  try {
    url = new URL(`postgres://${authority}${rest.slice(authority.length)}`);
  } catch {
    throw refuse("is not a valid URL");
  }
  const user = decode(url.username, refuse);
  if (user === "") throw refuse("names no user: postgres://USER@HOST[:PORT]/DATABASE");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw refuse("names no host: postgres://USER@HOST[:PORT]/DATABASE");
  const port = url.port === "" ? 5432 : Number(url.port);
  if (url.hash !== "") throw refuse("has a fragment (#…)");
  const path = decode(url.pathname.replace(/^\//, ""), refuse);
  if (path.includes("/")) throw refuse("has more than a database name in its path");
  const database = path === "" ? user : path;

  const parameters = new Map<string, string>();
  for (const [key, raw] of url.searchParams) {
    if (key === "password") {
      throw refuse(
        'holds a password (parameter "password"); give it through PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass)',
      );
    }
    if (!KNOWN_PARAMETERS.includes(key)) {
      throw refuse(`has unknown parameter "${key}" (known: ${KNOWN_PARAMETERS.join(", ")})`);
    }
    if (parameters.has(key)) throw refuse(`gives parameter "${key}" twice`);
    parameters.set(key, raw);
  }
  const sslmode = parameters.get("sslmode") ?? "prefer";
  if (!(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw refuse(`has sslmode "${sslmode}"; jrm knows ${SSL_MODES.join(", ")}`);
  }
  const sslrootcert = parameters.get("sslrootcert");
  if (sslrootcert === "") throw refuse("has an empty sslrootcert");
  const timeout = parameters.get("connect_timeout");
  if (timeout !== undefined && !/^[0-9]{1,6}$/.test(timeout)) {
    throw refuse(`has connect_timeout "${timeout}"; give whole seconds`);
  }
  return {
    kind: "postgres",
    display: `postgres://${encodeURIComponent(user)}@${url.host}/${encodeURIComponent(database)}`,
    host,
    port,
    database,
    user,
    sslmode: sslmode as SslMode,
    sslrootcert,
    connectTimeout: timeout === undefined || Number(timeout) === 0 ? undefined : Number(timeout),
    applicationName: parameters.get("application_name") ?? "jrm",
  };
}

function decode(text: string, refuse: (problem: string) => Error): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw refuse("has a malformed %-escape");
  }
}

/** Where a password may come from, as the caller read them from its environment. */
export interface PasswordSources {
  /** `PGPASSWORD`. */
  pgpassword?: string;
  /** `PGPASSFILE`. */
  pgpassfile?: string;
  /** `HOME`, for `~/.pgpass`. */
  home?: string;
}

/** A password found for a location, and what to warn about. */
export interface FoundPassword {
  /** The password, or undefined when none applies (the server may need none). */
  password: string | undefined;
  /** Where it came from: `PGPASSWORD`, the password file's path, or undefined. */
  source: string | undefined;
  /** One-line warnings (a password file ignored, and why). */
  warnings: string[];
}

/**
 * The password to log in to `location` with, as libpq finds it: a non-empty
 * `PGPASSWORD`, else the first matching line of the password file
 * (`PGPASSFILE`, else `HOME/.pgpass`). A missing file is no error; a file
 * that is not a regular file, or that group or others may access (libpq's
 * rule: 0600 or less), is ignored with a warning.
 * @param location the store
 * @param sources the environment's values
 * @returns the password (if any), where it came from, and warnings
 * @example
 * ```ts
 * import { findPassword, parseStoreLocation } from "./store_url.ts";
 * import assert from "node:assert/strict";
 * const location = parseStoreLocation("postgres://jrm@db/ledger");
 * assert.equal(location.kind, "postgres");
 * if (location.kind === "postgres") {
 *   assert.equal(findPassword(location, { pgpassword: "s3cret" }).password, "s3cret");
 *   assert.equal(findPassword(location, { pgpassfile: "/nonexistent" }).password, undefined);
 * }
 * ```
 */
export function findPassword(location: PostgresLocation, sources: PasswordSources): FoundPassword {
  if (sources.pgpassword !== undefined && sources.pgpassword !== "") {
    return { password: sources.pgpassword, source: "PGPASSWORD", warnings: [] };
  }
  const file = sources.pgpassfile !== undefined && sources.pgpassfile !== ""
    ? sources.pgpassfile
    : sources.home !== undefined && sources.home !== ""
    ? `${sources.home.replace(/\/$/, "")}/.pgpass`
    : undefined;
  if (file === undefined) return { password: undefined, source: undefined, warnings: [] };
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(file);
  } catch {
    return { password: undefined, source: undefined, warnings: [] };
  }
  if (!info.isFile) {
    return {
      password: undefined,
      source: undefined,
      warnings: [`Password file "${file}" is not a plain file; ignored`],
    };
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    return {
      password: undefined,
      source: undefined,
      warnings: [
        `Password file "${file}" has group or world access; permissions should be u=rw (0600) or less; ignored`,
      ],
    };
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    return {
      password: undefined,
      source: undefined,
      warnings: [`Cannot read password file "${file}": ${(error as Error).name}; ignored`],
    };
  }
  const password = passfileLookup(text, {
    host: location.host,
    port: String(location.port),
    database: location.database,
    user: location.user,
  });
  return { password, source: password === undefined ? undefined : file, warnings: [] };
}

/**
 * The password of the first line of a password file that matches, with
 * libpq's rules: fields `host:port:database:user:password`; a field that is
 * exactly `*` matches anything; `\` escapes the next character (so `\:` and
 * `\\`); lines starting with `#` and blank lines are skipped; a line with
 * fewer fields never matches.
 * @param text the file's text
 * @param wanted the connection's host, port (as text), database and user
 * @returns the password, or undefined when no line matches
 * @example
 * ```ts
 * import { passfileLookup } from "./store_url.ts";
 * import assert from "node:assert/strict";
 * const file = "# team db\ndb:*:ledger:jrm:pa\\:ss\\\\word\n*:*:*:*:fallback\n";
 * const wanted = { host: "db", port: "5432", database: "ledger", user: "jrm" };
 * assert.equal(passfileLookup(file, wanted), "pa:ss\\word");
 * assert.equal(passfileLookup(file, { ...wanted, user: "other" }), "fallback");
 * ```
 */
export function passfileLookup(
  text: string,
  wanted: { host: string; port: string; database: string; user: string },
): string | undefined {
  const tokens = [wanted.host, wanted.port, wanted.database, wanted.user];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    let rest: string | undefined = line;
    for (const token of tokens) {
      rest = matchField(rest, token);
      if (rest === undefined) break;
    }
    if (rest === undefined) continue;
    // The password runs to the first unescaped ':' or the end.
    let password = "";
    for (let i = 0; i < rest.length && rest[i] !== ":"; i++) {
      if (rest[i] === "\\" && i + 1 < rest.length) i++;
      password += rest[i];
    }
    return password;
  }
  return undefined;
}

/** libpq's pwdfMatchesString: the rest of the line after a field equal to `token`, else undefined. */
function matchField(line: string, token: string): string | undefined {
  if (line.startsWith("*:")) return line.slice(2);
  let t = 0;
  let escaped = false;
  for (let i = 0; i < line.length; i++) {
    let c = line[i];
    if (c === "\\" && !escaped) {
      i++;
      if (i >= line.length) return undefined;
      c = line[i];
      escaped = true;
    }
    if (c === ":" && !escaped && t === token.length) return line.slice(i + 1);
    escaped = false;
    if (t === token.length || c !== token[t]) return undefined;
    t++;
  }
  return undefined;
}
