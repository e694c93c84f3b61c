import assert from "node:assert/strict";
import { connectPostgres } from "../core/postgres.ts";
import {
  findPassword,
  parseStoreLocation,
  passfileLookup,
  type PostgresLocation,
} from "../core/store_url.ts";
import { UsageError } from "../core/errors.ts";
import { postgresTest, type TestPostgres } from "./_postgres.ts";

function pg(value: string): PostgresLocation {
  const location = parseStoreLocation(value);
  assert.equal(location.kind, "postgres");
  return location as PostgresLocation;
}

function refused(value: string, pattern: RegExp): string {
  let message = "";
  assert.throws(() => parseStoreLocation(value), (error) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.exitCode, 2);
    message = error.message;
    return true;
  });
  assert.match(message, pattern);
  assert.ok(!message.includes("\n"), message);
  return message;
}

Deno.test("parseStoreLocation() reads postgres:// and postgresql:// URLs with libpq's defaults", () => {
  assert.deepEqual(pg("postgres://jrm@db.example:6432/ledger"), {
    kind: "postgres",
    display: "postgres://jrm@db.example:6432/ledger",
    host: "db.example",
    port: 6432,
    database: "ledger",
    user: "jrm",
    sslmode: "prefer",
    sslrootcert: undefined,
    connectTimeout: undefined,
    applicationName: "jrm",
  });
  const defaults = pg("PostgreSQL://ops%40soc@[::1]");
  assert.equal(defaults.host, "::1");
  assert.equal(defaults.port, 5432);
  assert.equal(defaults.user, "ops@soc");
  assert.equal(defaults.database, "ops@soc", "the database defaults to the user's name");
  const tls = pg(
    "postgres://jrm@db/ledger?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5&application_name=hub-1",
  );
  assert.deepEqual(
    [tls.sslmode, tls.sslrootcert, tls.connectTimeout, tls.applicationName],
    ["verify-full", "/etc/ca.pem", 5, "hub-1"],
  );
  assert.deepEqual(parseStoreLocation(".jrm/ledger.sqlite"), {
    kind: "sqlite",
    path: ".jrm/ledger.sqlite",
    display: ".jrm/ledger.sqlite",
  });
});

Deno.test("parseStoreLocation() refuses a URL holding a password without repeating it", () => {
  for (
    const url of [
      "postgres://jrm:hunter2@db/ledger",
      "postgresql://jrm:hunter2@db:5432/ledger?sslmode=require",
      "postgres://jrm:@db/ledger",
    ]
  ) {
    const message = refused(url, /holds a password; .*PGPASSWORD or a password file/);
    assert.ok(!message.includes("hunter2"), message);
  }
  const viaParameter = refused("postgres://jrm@db/ledger?password=hunter2", /holds a password/);
  assert.ok(!viaParameter.includes("hunter2"), viaParameter);
});

Deno.test("parseStoreLocation() refuses what it cannot honour, in one line", () => {
  refused("postgres://db/ledger", /names no user/);
  refused("postgres://jrm@/ledger", /names no host/);
  refused("postgres://jrm@a,b/ledger", /names several hosts/);
  refused("postgres://jrm@db/ledger?sslmode=verify-ca", /sslmode "verify-ca"; jrm knows disable/);
  refused("postgres://jrm@db/ledger?ssl=true", /unknown parameter "ssl"/);
  refused(
    "postgres://jrm@db/ledger?sslmode=require&sslmode=disable",
    /gives parameter "sslmode" twice/,
  );
  refused("postgres://jrm@db/ledger?connect_timeout=soon", /connect_timeout "soon"/);
  refused("postgres://jrm@db/a/b", /more than a database name/);
  refused("postgres://jrm@db:99999/ledger", /is not a valid URL/);
});

Deno.test("passfileLookup() follows libpq: first match, *, escapes, comments", () => {
  const wanted = { host: "db", port: "5432", database: "ledger", user: "jrm" };
  const cases: [string, string | undefined][] = [
    ["db:5432:ledger:jrm:plain\n", "plain"],
    ["db:5432:ledger:jrm:pa\\:ss\\\\wd:ignored\n", "pa:ss\\wd"],
    ["other:5432:ledger:jrm:no\n*:*:ledger:*:star\n", "star"],
    ["db:5432:ledger:jrm:first\ndb:5432:ledger:jrm:second\n", "first"],
    ["# db:5432:ledger:jrm:comment\n\ndb:5432:ledger:jrm:after\r\n", "after"],
    ["db:5432:ledger:jrm\n", undefined],
    ["db:543*:ledger:jrm:x\n", undefined],
    ["d\\b:5432:ledger:jrm:escaped-host\n", "escaped-host"],
    ["db:5432:ledger:jr:short-user\n", undefined],
    ["db:5432:ledger:jrm:\n", ""],
  ];
  for (const [file, expected] of cases) {
    assert.equal(passfileLookup(file, wanted), expected, JSON.stringify(file));
  }
  assert.equal(
    passfileLookup("a\\:b:5432:ledger:jrm:colon-host\n", { ...wanted, host: "a:b" }),
    "colon-host",
  );
});

Deno.test("findPassword(): PGPASSWORD, else PGPASSFILE, else ~/.pgpass; a file others can read is ignored", async () => {
  const home = await Deno.makeTempDir();
  try {
    const location = pg("postgres://jrm@db/ledger");
    await Deno.writeTextFile(`${home}/.pgpass`, "db:5432:ledger:jrm:from-home\n", { mode: 0o600 });
    await Deno.chmod(`${home}/.pgpass`, 0o600);
    const other = `${home}/other`;
    await Deno.writeTextFile(other, "*:*:*:*:from-pgpassfile\n");
    await Deno.chmod(other, 0o600);

    assert.deepEqual(findPassword(location, { pgpassword: "env", home }), {
      password: "env",
      source: "PGPASSWORD",
      warnings: [],
    });
    assert.equal(findPassword(location, { pgpassword: "", home }).password, "from-home");
    assert.equal(findPassword(location, { pgpassfile: other, home }).password, "from-pgpassfile");
    assert.deepEqual(findPassword(location, { pgpassfile: `${home}/missing`, home }), {
      password: undefined,
      source: undefined,
      warnings: [],
    });

    await Deno.chmod(`${home}/.pgpass`, 0o640);
    const open = findPassword(location, { home });
    assert.equal(open.password, undefined);
    assert.deepEqual(open.warnings, [
      `Password file "${home}/.pgpass" has group or world access; permissions should be u=rw (0600) or less; ignored`,
    ]);
    await Deno.chmod(`${home}/.pgpass`, 0o400);
    assert.equal(findPassword(location, { home }).password, "from-home", "0400 is fine");

    const dir = findPassword(location, { pgpassfile: home });
    assert.equal(dir.password, undefined);
    assert.match(dir.warnings[0], /is not a plain file; ignored$/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

/** The test server's URL with another host and query. */
function serverUrl(server: TestPostgres, host: string, query: string): PostgresLocation {
  const url = new URL(server.url);
  return pg(`postgres://${url.username}@${host}:${url.port}${url.pathname}${query}`);
}

async function sslOf(location: PostgresLocation, password: string): Promise<boolean> {
  const client = await connectPostgres(location, { password });
  try {
    const [row] = await client`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
    return row.ssl;
  } finally {
    await client.end();
  }
}

async function connectRefused(location: PostgresLocation, password: string): Promise<string> {
  let message = "";
  await assert.rejects(() => connectPostgres(location, { password }), (error) => {
    assert.ok(error instanceof UsageError, String(error));
    message = error.message;
    return true;
  });
  assert.ok(!message.includes("\n"), message);
  return message;
}

postgresTest(
  "sslmode disable, prefer, require and verify-full against the test cluster",
  async (server) => {
    const { password, ca } = server;
    assert.ok(ca !== undefined, "JRM_TEST_POSTGRES_CA");
    assert.equal(await sslOf(serverUrl(server, "127.0.0.1", "?sslmode=disable"), password), false);
    assert.equal(await sslOf(serverUrl(server, "127.0.0.1", ""), password), true, "prefer");
    assert.equal(await sslOf(serverUrl(server, "127.0.0.1", "?sslmode=require"), password), true);
    const verified = `?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`;
    assert.equal(await sslOf(serverUrl(server, "localhost", verified), password), true);

    // The certificate names localhost only: verify-full checks the name, IP addresses included.
    assert.match(
      await connectRefused(serverUrl(server, "127.0.0.1", verified), password),
      /^Cannot connect to store "postgres:\/\/.*" over TLS: .*127\.0\.0\.1/,
    );
    // Not signed by a root the system knows.
    assert.match(
      await connectRefused(serverUrl(server, "localhost", "?sslmode=verify-full"), password),
      /over TLS: .*certificate/,
    );
    assert.match(
      await connectRefused(
        serverUrl(server, "localhost", "?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
        password,
      ),
      /^Cannot read sslrootcert "\/nonexistent\/ca.pem" of store ".*": not found$/,
    );
  },
);

postgresTest(
  "a wrong or missing password is refused in one line; a 0600 password file logs in",
  async (server) => {
    const location = serverUrl(server, "127.0.0.1", "?sslmode=disable");
    const wrong = await connectRefused(location, "not-the-password");
    assert.match(wrong, /^Cannot log in to store ".*": password authentication failed/);
    assert.ok(!wrong.includes("not-the-password"));
    assert.match(await connectRefused(location, ""), /^Cannot log in to store/);

    const home = await Deno.makeTempDir();
    try {
      const file = `${home}/.pgpass`;
      const escaped = server.password.replaceAll("\\", "\\\\").replaceAll(":", "\\:");
      await Deno.writeTextFile(
        file,
        `# test\n127.0.0.1:${location.port}:*:${location.user}:${escaped}\n`,
      );
      await Deno.chmod(file, 0o600);
      const found = findPassword(location, { home });
      assert.equal(found.source, file);
      assert.equal(await sslOf(location, found.password!), false);
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
);

postgresTest("a closed port is refused in one line", async (server) => {
  const closed = serverUrl(server, "127.0.0.1", "?sslmode=disable&connect_timeout=5");
  closed.port = 1;
  assert.match(
    await connectRefused(closed, server.password),
    /^Cannot reach store ".*": connection refused$/,
  );
});
