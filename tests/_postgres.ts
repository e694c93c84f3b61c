/**
 * The PostgreSQL server the store tests run against: `.ci/run` starts a
 * private cluster (`scripts/pg_cluster.sh start`) and passes it as
 * `JRM_TEST_POSTGRES_URL` (no password in it), `JRM_TEST_POSTGRES_PASSWORD`
 * and `JRM_TEST_POSTGRES_CA` (the CA that signed the server's certificate,
 * which names `localhost` only). Run by hand:
 *
 * ```sh ignore
 * eval "$(scripts/pg_cluster.sh start | sed 's/^/export /')"
 * deno task test
 * scripts/pg_cluster.sh stop "$JRM_TEST_POSTGRES_DIR"
 * ```
 *
 * Without `JRM_TEST_POSTGRES_URL` the PostgreSQL tests are skipped, with a
 * warning that says why, except under `CI=true`, where they fail: CI must
 * not skip a backend silently.
 *
 * @module
 */

import postgres from "postgres";

/** The test server, as `.ci/run` passes it. */
export interface TestPostgres {
  /** `postgres://jrm_test@127.0.0.1:PORT/jrm_test`: no password. */
  url: string;
  /** The role's password. */
  password: string;
  /** Path of the CA certificate that signed the server's; undefined when not given. */
  ca: string | undefined;
}

/**
 * What a PostgreSQL test does with or without a server.
 * @param url `JRM_TEST_POSTGRES_URL`
 * @param ci the `CI` environment variable
 * @returns `run`, `skip` (no server, not CI) or `fail` (no server on CI)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { postgresTestMode } from "./_postgres.ts";
 * assert.equal(postgresTestMode(undefined, "true"), "fail");
 * assert.equal(postgresTestMode("", undefined), "skip");
 * assert.equal(postgresTestMode("postgres://u@h/d", undefined), "run");
 * ```
 */
export function postgresTestMode(
  url: string | undefined,
  ci: string | undefined,
): "run" | "skip" | "fail" {
  if (url !== undefined && url !== "") return "run";
  return ci === "true" ? "fail" : "skip";
}

/**
 * The test server from the environment, if there is one.
 * @returns the server, or undefined when `JRM_TEST_POSTGRES_URL` is unset
 */
export function testPostgres(): TestPostgres | undefined {
  const url = Deno.env.get("JRM_TEST_POSTGRES_URL");
  if (url === undefined || url === "") return undefined;
  return {
    url,
    password: Deno.env.get("JRM_TEST_POSTGRES_PASSWORD") ?? "",
    ca: Deno.env.get("JRM_TEST_POSTGRES_CA") || undefined,
  };
}

let warned = false;

/**
 * Register a test that needs the PostgreSQL server: ignored with a warning
 * when `JRM_TEST_POSTGRES_URL` is unset, failing instead under `CI=true`.
 * @param name the test's name
 * @param fn the test, given the server
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { postgresTest } from "./_postgres.ts";
 * postgresTest("the server answers", async (server) => {
 *   assert.match(server.url, /^postgres:/);
 * });
 * ```
 */
export function postgresTest(
  name: string,
  fn: (server: TestPostgres, t: Deno.TestContext) => Promise<void>,
): void {
  const server = testPostgres();
  const mode = postgresTestMode(server?.url, Deno.env.get("CI"));
  if (mode === "skip" && !warned) {
    warned = true;
    console.warn(
      "Skipping the PostgreSQL tests: JRM_TEST_POSTGRES_URL is not set " +
        "(.ci/run sets it; by hand, start a cluster with scripts/pg_cluster.sh start)",
    );
  }
  Deno.test({
    name: `[postgres] ${name}`,
    ignore: mode === "skip",
    fn: async (t) => {
      if (server === undefined) {
        throw new Error(
          "JRM_TEST_POSTGRES_URL is not set and CI=true forbids skipping the PostgreSQL tests",
        );
      }
      await fn(server, t);
    },
    // postgres.js keeps timers for idle connections until they are ended; each test ends its own.
    sanitizeOps: false,
    sanitizeResources: false,
  });
}

/**
 * A connection to the test server as its role, over TLS checked against the test CA when given.
 * @param server the test server
 * @param database the database; the URL's by default
 * @returns a postgres.js client; end it when done
 */
export function adminClient(server: TestPostgres, database?: string): postgres.Sql {
  const url = new URL(server.url);
  return postgres({
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    database: database ?? decodeURIComponent(url.pathname.slice(1)),
    pass: server.password,
    ssl: false,
    max: 1,
    onnotice: () => {},
  });
}

/**
 * Make an empty database for one test, and drop it when `fn` settles.
 * @param server the test server
 * @param fn the test, given the new database's URL (no password) and name
 * @returns what `fn` returns
 */
export async function withDatabase<T>(
  server: TestPostgres,
  fn: (url: string, name: string) => Promise<T>,
): Promise<T> {
  const name = `jrm_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = adminClient(server);
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    try {
      return await fn(url.href, name);
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
