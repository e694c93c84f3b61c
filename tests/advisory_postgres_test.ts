import assert from "node:assert/strict";
import { getAdvisory, publish } from "../core/advisory.ts";
import { UsageError } from "../core/errors.ts";
import { MIGRATIONS } from "../core/store.ts";
import {
  openPostgresLedger,
  POSTGRES_MIGRATIONS,
  type PostgresLedger,
} from "../core/store_postgres.ts";
import { parseStoreLocation, type PostgresLocation } from "../core/store_url.ts";
import { runJrm } from "./_cli.ts";
import { ledgerConformance, ledgerSnapshot } from "./_ledger_conformance.ts";
import {
  adminClient,
  postgresTest,
  type TestPostgres,
  testPostgres,
  withDatabase,
} from "./_postgres.ts";
import { report, skew } from "./_report_fixture.ts";

function location(url: string): PostgresLocation {
  const parsed = parseStoreLocation(url);
  assert.equal(parsed.kind, "postgres");
  return parsed as PostgresLocation;
}

/** What `jrm` needs to reach the test server: its host and port only, and the password. */
function jrmRun(server: TestPostgres) {
  const url = new URL(server.url);
  return {
    permissions: [
      "--allow-read",
      "--allow-write",
      "--allow-env",
      `--allow-net=${url.hostname}:${url.port}`,
    ],
    env: { PGPASSWORD: server.password },
  };
}

// The ledger's lifecycle and concurrency tests, on PostgreSQL (tests/_ledger_conformance.ts).
ledgerConformance({
  define: (name, fn) => postgresTest(name, (_server, t) => fn(t)),
  async withLedger(work) {
    const server = testPostgres()!;
    await withDatabase(server, async (url) => {
      const open = () =>
        openPostgresLedger(location(url), { mode: "write", password: server.password });
      const ledger = await open();
      try {
        await work(ledger, {
          store: url,
          run: jrmRun(server),
          snapshot: () => ledgerSnapshot(ledger),
          async reopen(again) {
            const other = await open();
            try {
              await again(other);
            } finally {
              await other.close();
            }
          },
        });
      } finally {
        await ledger.close();
      }
    });
  },
});

Deno.test("PostgreSQL's schema steps are SQLite's first ones (the hub's tables are not on it yet)", () => {
  assert.ok(POSTGRES_MIGRATIONS.length >= 2 && POSTGRES_MIGRATIONS.length <= MIGRATIONS.length);
});

postgresTest("writers opening a new database at once migrate it once", async (server) => {
  await withDatabase(server, async (url) => {
    const runs = await Promise.all(
      [0, 1, 2, 3].map(() =>
        runJrm(["store", "migrate", "--store", url, "--json"], jrmRun(server))
      ),
    );
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const moved = runs.map((run) => JSON.parse(run.stdout)).filter((r) => r.from !== r.to);
    assert.deepEqual(moved.map((r) => [r.from, r.to]), [[0, POSTGRES_MIGRATIONS.length]]);
    const admin = adminClient(server, new URL(url).pathname.slice(1));
    try {
      const rows = await admin`SELECT version FROM schema_version ORDER BY version`;
      assert.deepEqual(
        rows.map((row) => row.version),
        POSTGRES_MIGRATIONS.map((_, i) => i + 1),
      );
    } finally {
      await admin.end();
    }
  });
});

postgresTest(
  "readers never migrate; a writer does; store status and migrate show it",
  async (server) => {
    await withDatabase(server, async (url) => {
      const run = jrmRun(server);
      const empty = await runJrm(["advisory", "list", "--store", url], run);
      assert.equal(empty.code, 2);
      assert.equal(
        empty.stderr,
        `error: No store at "${
          location(url).display
        }": publish a report first, or name an existing store (--store)\n`,
      );
      const none = await runJrm(["store", "status", "--store", url], run);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /^error: No store at /);

      // A store an older jrm wrote: only the first step.
      const old = await openPostgresLedger(location(url), {
        mode: "write",
        password: server.password,
        migrations: POSTGRES_MIGRATIONS.slice(0, 1),
      });
      await old.close();
      const read = await runJrm(["advisory", "list", "--store", url], run);
      assert.equal(read.code, 2);
      assert.match(
        read.stderr,
        /^error: Store ".*" has schema version 1; this jrm reads version \d+: a command that writes migrates it \(jrm store migrate\)\n$/,
      );
      const status = await runJrm(["store", "status", "--store", url, "--json"], run);
      assert.equal(status.code, 0, status.stderr);
      const shown = JSON.parse(status.stdout);
      assert.deepEqual(
        [shown.backend, shown.schemaVersion, shown.knownVersion],
        ["postgres", 1, POSTGRES_MIGRATIONS.length],
      );
      assert.ok(shown.sizeBytes > 0);
      assert.ok(!status.stdout.includes(server.password));

      const migrated = await runJrm(["store", "migrate", "--store", url], run);
      assert.equal(migrated.code, 0, migrated.stderr);
      assert.equal(
        migrated.stdout,
        `Store "${
          location(url).display
        }" (postgres): schema version 1 → ${POSTGRES_MIGRATIONS.length}\n`,
      );
      const again = await runJrm(["store", "migrate", "--store", url], run);
      assert.match(again.stdout, /is at schema version \d+\n$/);
      const listed = await runJrm(["advisory", "list", "--store", url], run);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout, "No advisories\n");
    });
  },
);

postgresTest(
  "a database that is not a store, or is a newer jrm's, is refused and left alone",
  async (server) => {
    await withDatabase(server, async (url, name) => {
      const admin = adminClient(server, name);
      try {
        await admin`CREATE TABLE bookmarks (url TEXT)`;
        const refused = await runJrm(["store", "migrate", "--store", url], jrmRun(server));
        assert.equal(refused.code, 2);
        assert.equal(
          refused.stderr,
          `error: "${
            location(url).display
          }" is not a jrm store: it holds table "bookmarks" and no schema version\n`,
        );
        const tables = await admin`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
        assert.deepEqual(tables.map((row) => row.tablename), ["bookmarks"]);

        await admin`DROP TABLE bookmarks`;
        await (await openPostgresLedger(location(url), {
          mode: "write",
          password: server.password,
        }))
          .close();
        const newer = POSTGRES_MIGRATIONS.length + 1;
        await admin`INSERT INTO schema_version VALUES (${newer}, 'later')`;
        for (const args of [["store", "migrate"], ["advisory", "list"]]) {
          const run = await runJrm([...args, "--store", url], jrmRun(server));
          assert.equal(run.code, 2);
          assert.match(
            run.stderr,
            new RegExp(
              `^error: Store ".*" has schema version ${newer}; this jrm knows up to ${POSTGRES_MIGRATIONS.length}\\n$`,
            ),
          );
        }
      } finally {
        await admin.end();
      }
    });
  },
);

postgresTest(
  "a write waits for another process's lock, then fails as busy (exit 1)",
  async (server) => {
    await withDatabase(server, async (url, name) => {
      const ledger: PostgresLedger = await openPostgresLedger(location(url), {
        mode: "write",
        password: server.password,
        lockTimeoutMs: 200,
      });
      const holder = adminClient(server, name);
      try {
        const before = await ledgerSnapshot(ledger);
        await holder.begin(async (tx) => {
          // The lock every ledger write takes first (see core/store_postgres.ts).
          await tx`SELECT pg_advisory_xact_lock(${0x6a726d}, 1)`;
          await assert.rejects(
            () => ledger.write((sql) => sql.run("DELETE FROM publications")),
            (error) => {
              assert.ok(error instanceof UsageError);
              assert.equal(error.exitCode, 1);
              assert.match(
                error.message,
                /^Store ".*" is busy: another jrm kept it locked past 0.2 s; try again$/,
              );
              return true;
            },
          );
        });
        assert.equal(await ledgerSnapshot(ledger), before);
      } finally {
        await holder.end();
        await ledger.close();
      }
    });
  },
);

postgresTest(
  "the CLI refuses a password in --store or $JRM_STORE, and a store it may not reach",
  async (server) => {
    const url = new URL(server.url);
    const withPassword = `postgres://${url.username}:hunter2@${url.host}${url.pathname}`;
    for (
      const [args, env] of [
        [["advisory", "list", "--store", withPassword], {}],
        [["store", "status"], { JRM_STORE: withPassword }],
      ] as [string[], Record<string, string>][]
    ) {
      const run = await runJrm(args, { ...jrmRun(server), env });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^error: Store URL "postgres:\/\/.*" holds a password; /);
      assert.ok(!run.stderr.includes("hunter2"), run.stderr);
      assert.equal(run.stderr.split("\n").length, 2, "one line");
    }
    const noNet = await runJrm(["store", "status", "--store", server.url], {
      env: { PGPASSWORD: server.password },
    });
    assert.equal(noNet.code, 2);
    assert.equal(
      noNet.stderr,
      `error: Store "${
        location(server.url).display
      }" is a PostgreSQL server, and Deno was not given network access to it (run with --allow-net=${url.hostname}:${url.port})\n`,
    );
  },
);

postgresTest(
  "advisory publish, accept and list through the CLI, with the password from a passfile",
  async (server) => {
    await withDatabase(server, async (url) => {
      const home = await Deno.makeTempDir({ prefix: "jrm-pg-home-" });
      try {
        const where = location(url);
        await Deno.writeTextFile(
          `${home}/.pgpass`,
          `${where.host}:${where.port}:${where.database}:${where.user}:${server.password}\n`,
        );
        await Deno.chmod(`${home}/.pgpass`, 0o600);
        const run = { ...jrmRun(server), env: { HOME: home, PGPASSWORD: "" } };
        const from = `${home}/report.json`;
        await Deno.writeTextFile(from, JSON.stringify(report([skew("x", { A: 2, B: 1 })])));
        const published = await runJrm(
          ["advisory", "publish", "--from", from, "--store", url, "--json"],
          run,
        );
        assert.equal(published.code, 0, published.stderr);
        const [id] = JSON.parse(published.stdout).created;
        const accepted = await runJrm(["advisory", "accept", id, "--by", "alice", "--store", url], {
          ...run,
          env: { ...run.env, JRM_STORE: url },
        });
        assert.equal(accepted.code, 0, accepted.stderr);
        const listed = await runJrm(["advisory", "list", "--json"], {
          ...run,
          env: { ...run.env, JRM_STORE: url },
        });
        assert.equal(listed.code, 0, listed.stderr);
        assert.deepEqual(
          JSON.parse(listed.stdout).advisories.map((a: { status: string }) => a.status),
          ["accepted"],
        );

        await Deno.chmod(`${home}/.pgpass`, 0o644);
        const open = await runJrm(["advisory", "list", "--store", url], run);
        assert.equal(open.code, 2);
        assert.match(
          open.stderr,
          /^warning: Password file ".*\.pgpass" has group or world access; permissions should be u=rw \(0600\) or less; ignored\nerror: Cannot log in to store/,
        );
      } finally {
        await Deno.remove(home, { recursive: true });
      }
    });
  },
);

postgresTest(
  "decisions that all read the advisory before any writes still land exactly once",
  async (server) => {
    // A held row lock on the advisory makes every decider reach its write before any commits:
    // without the ledger's lock they would all have read "published" by then, and all succeed.
    await withDatabase(server, async (url, name) => {
      const x = skew("x", { A: 2, B: 1 });
      const ledger = await openPostgresLedger(location(url), {
        mode: "write",
        password: server.password,
      });
      const holder = adminClient(server, name);
      const watcher = adminClient(server, name);
      try {
        const { created: [id] } = await publish(ledger, report([x]));
        const deciders = ["alice", "bob", "carol", "dave"];
        let runs: Promise<{ code: number; stderr: string }>[] = [];
        await holder.begin(async (tx) => {
          await tx`SELECT 1 FROM advisories WHERE advisory_id = ${id} FOR UPDATE`;
          runs = deciders.map((by) =>
            runJrm(["advisory", "accept", id, "--by", by, "--store", url], jrmRun(server))
          );
          // Wait (generously) until every decider is blocked on a lock.
          for (let tries = 0; tries < 1200; tries++) {
            const [{ n }] = await watcher`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = ${name} AND wait_event_type = 'Lock'`;
            if (n >= deciders.length) break;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        });
        const done = await Promise.all(runs);
        assert.equal(
          done.filter((run) => run.code === 0).length,
          1,
          done.map((r) => r.stderr).join(""),
        );
        assert.deepEqual(done.map((run) => run.code).sort(), [0, 1, 1, 1]);
        assert.equal((await getAdvisory(ledger, id)).history.length, 2);
      } finally {
        await watcher.end();
        await holder.end();
        await ledger.close();
      }
    });
  },
);

postgresTest(
  "jrm report --html --store postgres://… shows the ledger's advisories",
  async (server) => {
    await withDatabase(server, async (url) => {
      const dir = await Deno.makeTempDir({ prefix: "jrm-pg-report-" });
      try {
        const from = `${dir}/report.json`;
        await Deno.writeTextFile(from, JSON.stringify(report([skew("x", { A: 2, B: 1 })])));
        const run = jrmRun(server);
        const published = await runJrm(
          ["advisory", "publish", "--from", from, "--store", url],
          run,
        );
        assert.equal(published.code, 0, published.stderr);
        const page = `${dir}/page.html`;
        const rendered = await runJrm(
          ["report", "--from", from, "--html", page, "--store", url],
          run,
        );
        assert.equal(rendered.code, 0, rendered.stderr);
        assert.match(await Deno.readTextFile(page), /adv-[0-9a-f]{8}/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);
