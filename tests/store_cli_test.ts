import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS } from "../core/store.ts";
import { runJrm } from "./_cli.ts";

/** A ledger as a jrm that knew only the first schema step wrote it. */
function olderLedger(path: string): void {
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  db.exec(MIGRATIONS[0]);
  db.exec("INSERT INTO schema_version VALUES (1, 'then')");
  db.close();
}

Deno.test("[sqlite] store status shows backend, schema version and size, and never creates or changes the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jrm-store-cli-" });
  try {
    const path = `${dir}/ledger.sqlite`;
    const missing = await runJrm(["store", "status", "--store", path]);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr,
      `error: No store at "${path}": publish a report or ingest packets first, or name an existing store (--store)\n`,
    );
    await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);

    // A ledger an older jrm wrote: schema version 1.
    olderLedger(path);
    const before = await Deno.readFile(path);
    const status = await runJrm(["store", "status", "--store", path, "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const shown = JSON.parse(status.stdout);
    assert.deepEqual(
      [shown.store, shown.backend, shown.schemaVersion, shown.knownVersion],
      [path, "sqlite", 1, MIGRATIONS.length],
    );
    assert.ok(shown.sizeBytes >= before.length);
    assert.deepEqual(await Deno.readFile(path), before);
    const text = await runJrm(["store", "status"], { env: { JRM_STORE: path } });
    assert.match(
      text.stdout,
      new RegExp(
        `^Store +${path}\\nBackend +sqlite\\nSchema version 1 \\(this jrm writes ${MIGRATIONS.length}: jrm store migrate\\)\\nSize +\\d+ bytes\\n$`,
      ),
    );

    const foreign = `${dir}/places.sqlite`;
    const other = new DatabaseSync(foreign);
    other.exec("CREATE TABLE bookmarks (url TEXT)");
    other.close();
    const refused = await runJrm(["store", "status", "--store", foreign]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /is not a jrm store: it holds table "bookmarks"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[sqlite] store migrate brings a store to this jrm's version, or makes a new one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jrm-store-cli-" });
  try {
    const path = `${dir}/new/ledger.sqlite`;
    const made = await runJrm(["store", "migrate", "--store", path, "--json"]);
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual(JSON.parse(made.stdout), {
      store: path,
      backend: "sqlite",
      from: 0,
      to: MIGRATIONS.length,
    });
    const older = `${dir}/older.sqlite`;
    olderLedger(older);
    const moved = await runJrm(["store", "migrate", "--store", older]);
    assert.equal(
      moved.stdout,
      `Store "${older}" (sqlite): schema version 1 → ${MIGRATIONS.length}\n`,
    );
    const again = await runJrm(["store", "migrate", "--store", path]);
    assert.equal(
      again.stdout,
      `Store "${path}" (sqlite) is at schema version ${MIGRATIONS.length}\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the stateful hub's commands refuse a PostgreSQL store in one line (its state is SQLite only so far)", async () => {
  for (const command of [["hub", "status"], ["hub", "report", "--out", "/nonexistent/r.json"]]) {
    const run = await runJrm([...command, "--store", "postgres://jrm@db.example/jrm"]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(
      run.stderr,
      'error: Store "postgres://jrm@db.example/jrm" is a PostgreSQL database; the stateful hub keeps its state in a SQLite store only, so far\n',
    );
  }
});
