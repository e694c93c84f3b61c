import assert from "node:assert/strict";
import postgres from "postgres";
import { adminClient, postgresTest, withDatabase } from "./_postgres.ts";

postgresTest(
  "the test cluster takes its role's password and speaks TLS with its own CA",
  async (server) => {
    assert.ok(server.ca, "JRM_TEST_POSTGRES_CA names the cluster's CA certificate");
    const url = new URL(server.url);
    const sql = postgres({
      host: "localhost",
      port: Number(url.port),
      user: decodeURIComponent(url.username),
      database: decodeURIComponent(url.pathname.slice(1)),
      pass: server.password,
      ssl: { ca: await Deno.readTextFile(server.ca), rejectUnauthorized: true },
      max: 1,
    });
    try {
      const [row] = await sql`SELECT current_user AS role,
      (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl`;
      assert.deepEqual({ ...row }, { role: url.username, ssl: true });
    } finally {
      await sql.end();
    }
  },
);

postgresTest(
  "withDatabase() gives a test an empty database of its own and drops it after",
  async (server) => {
    const made = await withDatabase(server, async (_url, name) => {
      const sql = adminClient(server, name);
      try {
        const [row] =
          await sql`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`;
        assert.equal(row.n, 0);
      } finally {
        await sql.end();
      }
      return name;
    });
    const admin = adminClient(server);
    try {
      const left = await admin`SELECT 1 FROM pg_database WHERE datname = ${made}`;
      assert.equal(left.length, 0);
    } finally {
      await admin.end();
    }
  },
);
