/**
 * The SQLite backend of the hub store contract (core/hub_store.ts): the hub's
 * tables live in the same file as the advisory ledger (core/store.ts opens
 * it, migrates it and keeps its schema versions).
 *
 * How it keeps the contract's model:
 *
 * - `hub_entries` holds every live packet's canon entries, keyed by
 *   (signature, environment, order key); `hub_state` points, per signature
 *   and environment, at the latest one, and is updated by an upsert that only
 *   moves forward in window order, so packets can come in any order;
 * - `hub_graph` holds one row per graph identity per live packet (the
 *   identity and the packet's order key, no body), so counting new
 *   identities and finding the earliest copy are index lookups; the bodies
 *   stay in the packet's own row of `hub_packet_graphs`, read one packet at a
 *   time when the graph is written out;
 * - withdrawing a packet deletes its rows and recomputes the state rows it
 *   held from the rows that remain.
 *
 * Bulk rows go to SQLite as one JSON text per packet and table, split by
 * `json_each` inside SQLite: one statement per packet, not one per row.
 *
 * The ingest lock is SQLite's write lock (`BEGIN IMMEDIATE`), held for the
 * whole ingest; readers (WAL) go on reading the last committed state.
 *
 * @module
 */

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { type Advisory, listAdvisories, publishWithin } from "./advisory.ts";
import type { Drift } from "./drift.ts";
import { UsageError, type Violation } from "./errors.ts";
import type {
  GraphItem,
  GraphRow,
  HubStore,
  HubStoreReader,
  HubStoreTransaction,
  LifePoint,
  LockOptions,
  NewPacket,
  StateChange,
  StateRow,
  StoredDetector,
  StoredDrift,
  StoredDuplicate,
  StoredEnvironment,
  StoredIngest,
  StoredPacket,
  StoredRejection,
  StoreFigures,
} from "./hub_store.ts";
import { instantSortKey, parseInstant } from "./instant.ts";
import type { PublishOptions, PublishResult } from "./advisory.ts";
import { sqliteStatements } from "./ledger.ts";
import type { FederationReport } from "./report.ts";
import { isBusy, Ledger, openLedger, storeError } from "./store.ts";

/** The schema version that brought the hub's tables (older stores read as holding no hub state). */
const HUB_SCHEMA_VERSION = 2;

/** Options of {@link openSqliteHubStore}. */
export interface SqliteHubStoreOptions {
  /** Open for reading only: the file must exist, and is never created or migrated. */
  readOnly?: boolean;
  /** Create the file when missing (writers only); true by default. */
  create?: boolean;
  /** Milliseconds other statements wait for a lock; the ledger's default when absent. */
  busyTimeoutMs?: number;
}

/**
 * Open the SQLite hub store at `path` (see `openLedger` in core/store.ts for
 * what opening checks, creates and migrates).
 * @param path the database file
 * @param options read-only, create, busy timeout
 * @returns the store
 * @throws {UsageError} as `openLedger` does
 * @example
 * ```ts
 * import { openSqliteHubStore } from "./hub_store_sqlite.ts";
 * import assert from "node:assert/strict";
 * using store = openSqliteHubStore(":memory:");
 * const environments = await store.read((reader) => reader.environments());
 * assert.deepEqual(environments, []);
 * ```
 */
export function openSqliteHubStore(
  path: string,
  options: SqliteHubStoreOptions = {},
): SqliteHubStore {
  const ledger = openLedger(path, {
    readOnly: options.readOnly,
    create: options.create,
    busyTimeoutMs: options.busyTimeoutMs,
  });
  return new SqliteHubStore(ledger, options.readOnly ?? false, options.busyTimeoutMs);
}

/** The SQLite hub store; make one with {@link openSqliteHubStore}. */
export class SqliteHubStore implements HubStore {
  /** The database file. */
  readonly location: string;
  readonly #ledger: Ledger;
  readonly #readOnly: boolean;
  readonly #busyTimeoutMs: number;

  /**
   * Wrap an open store.
   * @param ledger the open store
   * @param readOnly whether it was opened read-only
   * @param busyTimeoutMs the busy timeout it was opened with
   */
  constructor(ledger: Ledger, readOnly: boolean, busyTimeoutMs = 5000) {
    this.location = ledger.path;
    this.#ledger = ledger;
    this.#readOnly = readOnly;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  /**
   * Run an ingest in one write transaction (see {@link HubStore.ingest}).
   * @param at the ingest's clock
   * @param lock how long to wait for another ingest, and what to say meanwhile
   * @param work the ingest
   * @returns what `work` returns
   */
  async ingest<T>(
    at: string,
    lock: LockOptions,
    work: (tx: HubStoreTransaction) => Promise<T>,
  ): Promise<T> {
    if (this.#readOnly) throw new UsageError(`Store "${this.location}" was opened read-only`);
    const db = this.#ledger.db;
    this.#begin(lock);
    try {
      const ingestId = Number(
        db.prepare("INSERT INTO hub_ingests (at) VALUES (?)").run(at).lastInsertRowid,
      );
      const result = await work(new Transaction(this.#ledger, true, ingestId));
      db.prepare("COMMIT").run();
      return result;
    } catch (error) {
      if (db.isOpen && db.isTransaction) db.exec("ROLLBACK");
      throw storeError(this.location, error);
    }
  }

  /**
   * Read a consistent snapshot (see {@link HubStore.read}).
   * @param work what to read
   * @returns what `work` returns
   */
  async read<T>(work: (reader: HubStoreReader) => Promise<T>): Promise<T> {
    const db = this.#ledger.db;
    const hasHub = this.#ledger.schemaVersion >= HUB_SCHEMA_VERSION;
    db.exec("BEGIN");
    try {
      const result = await work(new Reader(this.#ledger, hasHub));
      db.exec("COMMIT");
      return result;
    } catch (error) {
      if (db.isOpen && db.isTransaction) db.exec("ROLLBACK");
      throw storeError(this.location, error);
    }
  }

  /** Close the store (idempotent). */
  close(): void {
    this.#ledger.close();
  }

  /** Close the store at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Take the write lock: at once when free, else say so and wait up to the
   * lock timeout (SQLite's busy handler sleeps and retries meanwhile).
   */
  #begin(lock: LockOptions): void {
    const db = this.#ledger.db;
    const begin = () => db.prepare("BEGIN IMMEDIATE").run();
    try {
      db.exec("PRAGMA busy_timeout = 0");
      try {
        begin();
        return;
      } catch (error) {
        if (!isBusy(error)) throw storeError(this.location, error);
      }
      lock.onWait?.(lock.timeoutMs);
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.round(lock.timeoutMs))}`);
      try {
        begin();
      } catch (error) {
        if (!isBusy(error)) throw storeError(this.location, error);
        throw new UsageError(
          `Store "${this.location}" is busy: another ingest kept it locked for ${
            lock.timeoutMs / 1000
          } s; try again`,
          1,
        );
      }
    } finally {
      db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }
}

interface PacketRow {
  packet_id: number;
  identity: string;
  environment_id: string;
  packet_name: string;
  source: string;
  digest: string;
  window_start: string;
  window_end: string;
  part: number;
  created_at: string;
  order_key: string;
  status: "accepted" | "duplicate" | "equivocation";
  violations: string | null;
  duplicate_of: string | null;
}

function packetOf(row: PacketRow): StoredPacket {
  return {
    id: Number(row.packet_id),
    identity: row.identity,
    environmentId: row.environment_id,
    packetName: row.packet_name,
    source: row.source,
    digest: row.digest,
    windowStart: row.window_start,
    windowEnd: row.window_end,
    part: Number(row.part),
    createdAt: row.created_at,
    orderKey: row.order_key,
    status: row.status,
    violations: row.violations === null ? [] : JSON.parse(row.violations),
    duplicateOf: row.duplicate_of,
  };
}

/** The identity of a graph record of kind `kind` (0 node, 1 edge), as SQL over `j.value`. */
const IDENT = [
  "j.value->>'nodeId'",
  "json_array(j.value->>'sourceId', j.value->>'targetId', j.value->>'kind')",
];

/** A graph record's identity in JavaScript: only ever compared with others of one packet. */
function identOf(kind: number, item: GraphItem): string {
  return kind === 0
    ? String(item.nodeId)
    : JSON.stringify([item.sourceId, item.targetId, item.kind]);
}

/** The reading half, over a connection in a transaction. */
class Reader implements HubStoreReader {
  protected readonly ledger: Ledger;
  protected readonly db: DatabaseSync;
  protected readonly hasHub: boolean;
  readonly #statements = new Map<string, StatementSync>();

  constructor(ledger: Ledger, hasHub: boolean) {
    this.ledger = ledger;
    this.db = ledger.db;
    this.hasHub = hasHub;
  }

  /** A statement prepared once per transaction. */
  protected sql(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (!statement) this.#statements.set(text, statement = this.db.prepare(text));
    return statement;
  }

  protected all<T>(text: string, ...values: SQLInputValue[]): T[] {
    return this.sql(text).all(...values) as unknown as T[];
  }

  protected get<T>(text: string, ...values: SQLInputValue[]): T | undefined {
    return this.sql(text).get(...values) as unknown as T | undefined;
  }

  environments(): Promise<StoredEnvironment[]> {
    if (!this.hasHub) return Promise.resolve([]);
    const counts = this.all<{ environment_id: string; packets: number; last_ingest: number }>(
      `SELECT environment_id, count(*) AS packets, max(ingest_id) AS last_ingest
       FROM hub_packets WHERE status = 'accepted' GROUP BY environment_id`,
    );
    const signatures = new Map(
      this.all<{ environment_id: string; n: number }>(
        "SELECT environment_id, count(*) AS n FROM hub_state GROUP BY environment_id",
      ).map((row) => [row.environment_id, Number(row.n)]),
    );
    const environments = counts.map((row): StoredEnvironment => {
      const env = row.environment_id;
      const graph = this.get<{ graph_nodes: number; graph_edges: number }>(
        "SELECT graph_nodes, graph_edges FROM hub_environments WHERE environment_id = ?",
        env,
      );
      // Equal instants spelled differently: the earliest-stored spelling, so the answer is stable.
      const start = this.get<{ window_start: string }>(
        `SELECT window_start FROM hub_packets WHERE environment_id = ? AND status = 'accepted'
         ORDER BY window_start_key, packet_id LIMIT 1`,
        env,
      );
      const end = this.get<{ window_end: string }>(
        `SELECT window_end FROM hub_packets WHERE environment_id = ? AND status = 'accepted'
         ORDER BY window_end_key DESC, packet_id LIMIT 1`,
        env,
      );
      const ingest = this.get<{ at: string }>(
        "SELECT at FROM hub_ingests WHERE ingest_id = ?",
        row.last_ingest,
      );
      return {
        environmentId: env,
        packets: Number(row.packets),
        windowStart: start!.window_start,
        windowEnd: end!.window_end,
        signatures: signatures.get(env) ?? 0,
        graphNodes: Number(graph?.graph_nodes ?? 0),
        graphEdges: Number(graph?.graph_edges ?? 0),
        lastIngest: ingest?.at ?? null,
      };
    });
    return Promise.resolve(environments.sort((a, b) => compare(a.environmentId, b.environmentId)));
  }

  state(signatureIds?: readonly string[]): Promise<StateRow[]> {
    if (!this.hasHub) return Promise.resolve([]);
    const select = `SELECT s.signature_id, s.environment_id, e.entry_key, e.body, p.packet_name,
        p.source, p.digest, p.window_start, p.window_end, p.part
      FROM hub_state s
      JOIN hub_entries e ON e.signature_id = s.signature_id
        AND e.environment_id = s.environment_id AND e.order_key = s.order_key
      JOIN hub_packets p ON p.packet_id = s.packet_id`;
    const rows = signatureIds === undefined
      ? this.sql(select).all()
      : this.sql(`${select} WHERE s.signature_id IN (SELECT value FROM json_each(?))`)
        .all(JSON.stringify(signatureIds));
    return Promise.resolve(rows.map((row) => ({
      signatureId: row.signature_id as string,
      environmentId: row.environment_id as string,
      key: row.entry_key as string,
      text: row.body as string,
      packetName: row.packet_name as string,
      source: row.source as string,
      digest: row.digest as string,
      windowStart: row.window_start as string,
      windowEnd: row.window_end as string,
      part: Number(row.part),
    })));
  }

  async *graph(): AsyncIterable<GraphRow> {
    if (!this.hasHub) return;
    const packets = this.all<{ packet_id: number; environment_id: string; order_key: string }>(
      `SELECT packet_id, environment_id, order_key FROM hub_packets WHERE status = 'accepted'
       ORDER BY environment_id, order_key`,
    );
    for (const packet of packets) {
      const stored = this.get<{ nodes: string; edges: string }>(
        "SELECT nodes, edges FROM hub_packet_graphs WHERE packet_id = ?",
        packet.packet_id,
      );
      if (!stored) continue;
      for (const [kind, text] of [[0, stored.nodes], [1, stored.edges]] as const) {
        // What no earlier packet of the environment holds; within the packet, its first copy.
        const earliest = new Set(
          this.all<{ key: number }>(
            `SELECT j.key FROM json_each(?1) j WHERE NOT EXISTS (
               SELECT 1 FROM hub_graph g WHERE g.environment_id = ?2 AND g.kind = ?3
                 AND g.ident = ${IDENT[kind]} AND g.order_key < ?4)`,
            text,
            packet.environment_id,
            kind,
            packet.order_key,
          ).map((row) => Number(row.key)),
        );
        if (earliest.size === 0) continue;
        const items = JSON.parse(text) as GraphItem[];
        const seen = new Set<string>();
        for (let i = 0; i < items.length; i++) {
          if (!earliest.has(i)) continue;
          const ident = identOf(kind, items[i]);
          if (seen.has(ident)) continue;
          seen.add(ident);
          yield {
            type: kind === 0 ? "node" : "edge",
            environmentId: packet.environment_id,
            item: items[i],
          };
        }
      }
    }
  }

  drifts(): Promise<StoredDrift[]> {
    if (!this.hasHub) return Promise.resolve([]);
    const rows = this.all<Record<string, string | null>>(
      "SELECT * FROM hub_drifts ORDER BY drift_type, signature_id, drift_id, detector",
    );
    return Promise.resolve(rows.map((row) => ({
      drift: JSON.parse(row.body!) as Drift,
      firstSeen: { at: row.first_seen_at!, window: row.first_seen_window },
      lastSeen: { at: row.last_seen_at!, window: row.last_seen_window },
      gone: row.gone_at === null ? null : { at: row.gone_at, window: row.gone_window },
    })));
  }

  detectors(): Promise<StoredDetector[]> {
    if (!this.hasHub) return Promise.resolve([]);
    const rows = this.all<Record<string, string | null>>(
      "SELECT * FROM hub_detectors ORDER BY position",
    );
    return Promise.resolve(rows.map((row) => ({
      name: row.name!,
      version: row.version!,
      origin: row.origin!,
      driftTypes: JSON.parse(row.drift_types!),
      scope: row.scope === "signature" ? "signature" : "federation",
      options: row.options!,
      error: row.error === null ? null : JSON.parse(row.error),
    })));
  }

  equivocations(): Promise<StoredPacket[]> {
    if (!this.hasHub) return Promise.resolve([]);
    return Promise.resolve(
      this.all<PacketRow>("SELECT * FROM hub_packets WHERE status = 'equivocation'").map(packetOf),
    );
  }

  rejections(): Promise<StoredRejection[]> {
    if (!this.hasHub) return Promise.resolve([]);
    return Promise.resolve(
      this.all<Record<string, string | null>>("SELECT * FROM hub_rejections").map(rejectionOf),
    );
  }

  async *duplicates(): AsyncIterable<StoredDuplicate> {
    if (!this.hasHub) return;
    for (
      const row of this.sql(
        `SELECT source, digest, duplicate_of FROM (
           SELECT 0 AS kind, seq, source, digest, duplicate_of FROM hub_duplicates
           UNION ALL
           SELECT 1, packet_id, source, digest, duplicate_of FROM hub_packets
           WHERE status = 'duplicate')
         ORDER BY kind, seq`,
      ).iterate()
    ) {
      yield {
        source: row.source as string,
        digest: row.digest as string,
        duplicateOf: row.duplicate_of as string,
      };
    }
  }

  acceptedCount(): Promise<number> {
    if (!this.hasHub) return Promise.resolve(0);
    const row = this.get<{ n: number }>(
      "SELECT count(*) AS n FROM hub_packets WHERE status = 'accepted'",
    );
    return Promise.resolve(Number(row?.n ?? 0));
  }

  newestWindow(): Promise<string | null> {
    if (!this.hasHub) return Promise.resolve(null);
    const row = this.get<{ window_end: string }>(
      `SELECT window_end FROM hub_packets WHERE status = 'accepted'
       ORDER BY window_end_key DESC, packet_id LIMIT 1`,
    );
    return Promise.resolve(row?.window_end ?? null);
  }

  lastIngest(): Promise<StoredIngest | undefined> {
    if (!this.hasHub) return Promise.resolve(undefined);
    const row = this.get<Record<string, string | number | null>>(
      "SELECT * FROM hub_ingests ORDER BY ingest_id DESC LIMIT 1",
    );
    return Promise.resolve(
      row === undefined ? undefined : {
        id: Number(row.ingest_id),
        at: String(row.at),
        newestWindow: row.newest_window === null ? null : String(row.newest_window),
        given: Number(row.given),
        accepted: Number(row.accepted),
        rejected: Number(row.rejected),
        duplicates: Number(row.duplicates),
        withdrawn: Number(row.withdrawn),
        detection: String(row.detection),
      },
    );
  }

  figures(): Promise<StoreFigures> {
    const count = (text: string) => Number(this.get<{ n: number }>(text)?.n ?? 0);
    let sizeBytes = 0;
    for (const suffix of ["", "-wal"]) {
      try {
        sizeBytes += Deno.statSync(this.ledger.path + suffix).size;
      } catch { /* no such file: nothing to count */ }
    }
    const hub = this.hasHub;
    return Promise.resolve({
      schemaVersion: this.ledger.schemaVersion,
      sizeBytes,
      accepted: hub ? count("SELECT count(*) AS n FROM hub_packets WHERE status = 'accepted'") : 0,
      equivocation: hub
        ? count("SELECT count(*) AS n FROM hub_packets WHERE status = 'equivocation'")
        : 0,
      rejected: hub ? count("SELECT count(*) AS n FROM hub_rejections") : 0,
      duplicates: hub
        ? count(
          `SELECT (SELECT count(*) FROM hub_duplicates)
             + (SELECT count(*) FROM hub_packets WHERE status = 'duplicate') AS n`,
        )
        : 0,
      ingests: hub ? count("SELECT count(*) AS n FROM hub_ingests") : 0,
    });
  }

  advisories(): Promise<Advisory[]> {
    return listAdvisories(this.ledger);
  }
}

function rejectionOf(row: Record<string, string | null>): StoredRejection {
  return {
    key: row.rejection_key!,
    source: row.source!,
    digest: row.digest,
    packetName: row.packet_name,
    environmentId: row.environment_id,
    reasonCode: row.reason_code!,
    violations: JSON.parse(row.violations!) as Violation[],
  };
}

/** The writing half: an ingest's transaction. */
class Transaction extends Reader implements HubStoreTransaction {
  readonly ingestId: number;

  constructor(ledger: Ledger, hasHub: boolean, ingestId: number) {
    super(ledger, hasHub);
    this.ingestId = ingestId;
  }

  packetByDigest(digest: string): Promise<StoredPacket | undefined> {
    const row = this.get<PacketRow>("SELECT * FROM hub_packets WHERE digest = ?", digest);
    return Promise.resolve(row && packetOf(row));
  }

  packetsAt(environmentId: string, orderKey: string): Promise<StoredPacket[]> {
    return Promise.resolve(
      this.all<PacketRow>(
        "SELECT * FROM hub_packets WHERE environment_id = ? AND order_key = ? ORDER BY packet_id",
        environmentId,
        orderKey,
      ).map(packetOf),
    );
  }

  #insertPacket(
    packet: Omit<NewPacket, "entries" | "nodes" | "edges">,
    status: StoredPacket["status"],
    violations: Violation[] | null,
    duplicateOf: string | null = null,
  ): number {
    return Number(
      this.sql(
        `INSERT INTO hub_packets (identity, environment_id, packet_name, source, digest,
           window_start, window_start_key, window_end, window_end_key, part, created_at, order_key,
           status, violations, ingest_id, refused_in, duplicate_of)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        packet.identity,
        packet.environmentId,
        packet.packetName,
        packet.source,
        packet.digest,
        packet.windowStart,
        windowKey(packet.windowStart),
        packet.windowEnd,
        windowKey(packet.windowEnd),
        packet.part,
        packet.createdAt,
        packet.orderKey,
        status,
        violations === null ? null : JSON.stringify(violations),
        this.ingestId,
        status === "equivocation" ? this.ingestId : null,
        duplicateOf,
      ).lastInsertRowid,
    );
  }

  #hasAccepted(environmentId: string): boolean {
    return this.get(
      "SELECT 1 AS x FROM hub_packets WHERE environment_id = ? AND status = 'accepted' LIMIT 1",
      environmentId,
    ) !== undefined;
  }

  addPacket(packet: NewPacket): Promise<{ id: number } & StateChange> {
    const env = packet.environmentId;
    const environmentChanged = !this.#hasAccepted(env);
    const id = this.#insertPacket(packet, "accepted", null);
    this.sql("INSERT OR IGNORE INTO hub_environments (environment_id) VALUES (?)").run(env);
    let touched: string[] = [];
    if (packet.entries.length > 0) {
      // One JSON array of [signatureId, key, entry] rows; the entry texts are JSON already.
      let rows = "[";
      for (let i = 0; i < packet.entries.length; i++) {
        const row = packet.entries[i];
        if (i > 0) rows += ",";
        rows += `[${JSON.stringify(row.signatureId)},${JSON.stringify(row.key)},${row.text}]`;
      }
      rows += "]";
      this.sql(
        `INSERT INTO hub_entries (signature_id, environment_id, order_key, packet_id, entry_key, body)
         SELECT j.value->>0, ?2, ?3, ?4, j.value->>1, j.value->2 FROM json_each(?1) j WHERE true
         ON CONFLICT DO UPDATE SET entry_key = excluded.entry_key, body = excluded.body`,
      ).run(rows, env, packet.orderKey, id);
      touched = this.sql(
        `INSERT INTO hub_state (signature_id, environment_id, order_key, packet_id)
         SELECT DISTINCT j.value->>0, ?2, ?3, ?4 FROM json_each(?1) j WHERE true
         ON CONFLICT DO UPDATE SET order_key = excluded.order_key, packet_id = excluded.packet_id
           WHERE excluded.order_key > hub_state.order_key
         RETURNING signature_id`,
      ).all(rows, env, packet.orderKey, id).map((row) => row.signature_id as string);
    }
    const nodes = JSON.stringify(packet.nodes);
    const edges = JSON.stringify(packet.edges);
    this.sql("INSERT INTO hub_packet_graphs (packet_id, nodes, edges) VALUES (?, ?, ?)")
      .run(id, nodes, edges);
    const added = [nodes, edges].map((text, kind) => {
      if (text === "[]") return 0;
      const fresh = this.#countAbsent(text, env, kind);
      this.sql(
        `INSERT OR IGNORE INTO hub_graph (environment_id, kind, ident, order_key)
         SELECT ?2, ?3, ${IDENT[kind]}, ?4 FROM json_each(?1) j`,
      ).run(text, env, kind, packet.orderKey);
      return fresh;
    });
    this.#addGraphCounts(env, added[0], added[1]);
    return Promise.resolve({ id, touched, environmentChanged });
  }

  /** How many distinct identities among a packet's records the environment's graph lacks. */
  #countAbsent(text: string, env: string, kind: number): number {
    return Number(
      this.get<{ n: number }>(
        `SELECT count(DISTINCT ${IDENT[kind]}) AS n FROM json_each(?1) j WHERE NOT EXISTS (
           SELECT 1 FROM hub_graph g WHERE g.environment_id = ?2 AND g.kind = ?3
             AND g.ident = ${IDENT[kind]})`,
        text,
        env,
        kind,
      )?.n ?? 0,
    );
  }

  #addGraphCounts(env: string, nodes: number, edges: number): void {
    if (nodes === 0 && edges === 0) return;
    this.sql(
      `UPDATE hub_environments SET graph_nodes = graph_nodes + ?, graph_edges = graph_edges + ?
       WHERE environment_id = ?`,
    ).run(nodes, edges, env);
  }

  addInert(
    packet: Omit<NewPacket, "entries" | "nodes" | "edges">,
    status: "duplicate" | "equivocation",
    detail: { duplicateOf?: string; violations?: Violation[] },
  ): Promise<number> {
    return Promise.resolve(
      this.#insertPacket(packet, status, detail.violations ?? null, detail.duplicateOf ?? null),
    );
  }

  refuse(id: number, violations: Violation[]): Promise<StateChange> {
    const row = this.get<PacketRow>("SELECT * FROM hub_packets WHERE packet_id = ?", id);
    if (!row) throw new Error(`No packet ${id} in the store`);
    this.sql(
      `UPDATE hub_packets SET status = 'equivocation', violations = ?, duplicate_of = NULL,
         refused_in = coalesce(refused_in, ?) WHERE packet_id = ?`,
    ).run(JSON.stringify(violations), this.ingestId, id);
    if (row.status !== "accepted") {
      return Promise.resolve({ touched: [], environmentChanged: false });
    }
    const env = row.environment_id;
    const touched = this.all<{ signature_id: string }>(
      "SELECT signature_id FROM hub_state WHERE packet_id = ?",
      id,
    ).map((r) => r.signature_id);
    this.sql("DELETE FROM hub_state WHERE packet_id = ?").run(id);
    this.sql("DELETE FROM hub_entries WHERE packet_id = ?").run(id);
    if (touched.length > 0) {
      // Bare columns of a max() aggregate come from the row holding the max (SQLite's rule).
      this.sql(
        `INSERT INTO hub_state (signature_id, environment_id, order_key, packet_id)
         SELECT signature_id, environment_id, max(order_key), packet_id FROM hub_entries
         WHERE environment_id = ?2 AND signature_id IN (SELECT value FROM json_each(?1))
         GROUP BY signature_id`,
      ).run(JSON.stringify(touched), env);
    }
    const stored = this.get<{ nodes: string; edges: string }>(
      "SELECT nodes, edges FROM hub_packet_graphs WHERE packet_id = ?",
      id,
    );
    if (stored) {
      const removed = [stored.nodes, stored.edges].map((text, kind) => {
        if (text === "[]") return 0;
        this.sql(
          `DELETE FROM hub_graph WHERE environment_id = ?2 AND kind = ?3 AND order_key = ?4
             AND ident IN (SELECT ${IDENT[kind]} FROM json_each(?1) j)`,
        ).run(text, env, kind, row.order_key);
        return this.#countAbsent(text, env, kind);
      });
      this.#addGraphCounts(env, -removed[0], -removed[1]);
      this.sql("DELETE FROM hub_packet_graphs WHERE packet_id = ?").run(id);
    }
    return Promise.resolve({ touched, environmentChanged: !this.#hasAccepted(env) });
  }

  rejection(key: string): Promise<StoredRejection | undefined> {
    const row = this.get<Record<string, string | null>>(
      "SELECT * FROM hub_rejections WHERE rejection_key = ?",
      key,
    );
    return Promise.resolve(row && rejectionOf(row));
  }

  putRejection(rejection: StoredRejection): Promise<void> {
    this.sql(
      `INSERT OR REPLACE INTO hub_rejections (rejection_key, source, digest, packet_name,
         environment_id, reason_code, violations, ingest_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      rejection.key,
      rejection.source,
      rejection.digest,
      rejection.packetName,
      rejection.environmentId,
      rejection.reasonCode,
      JSON.stringify(rejection.violations),
      this.ingestId,
    );
    return Promise.resolve();
  }

  dropRejection(key: string): Promise<void> {
    this.sql("DELETE FROM hub_rejections WHERE rejection_key = ?").run(key);
    return Promise.resolve();
  }

  addDuplicate(duplicate: StoredDuplicate): Promise<void> {
    this.sql(
      "INSERT INTO hub_duplicates (source, digest, duplicate_of, ingest_id) VALUES (?, ?, ?, ?)",
    ).run(duplicate.source, duplicate.digest, duplicate.duplicateOf, this.ingestId);
    return Promise.resolve();
  }

  setDetectors(detectors: readonly StoredDetector[]): Promise<void> {
    this.sql("DELETE FROM hub_detectors").run();
    const insert = this.sql(
      `INSERT INTO hub_detectors (position, name, version, origin, drift_types, scope, options,
         error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    detectors.forEach((d, position) =>
      insert.run(
        position,
        d.name,
        d.version,
        d.origin,
        JSON.stringify(d.driftTypes),
        d.scope,
        d.options,
        d.error === null ? null : JSON.stringify(d.error),
      )
    );
    return Promise.resolve();
  }

  replaceDrifts(
    detector: string,
    scope: readonly string[] | "all",
    drifts: readonly Drift[],
    at: LifePoint,
  ): Promise<{ appeared: string[]; gone: string[] }> {
    const before = scope === "all"
      ? this.all<{ drift_id: string; gone_at: string | null }>(
        "SELECT drift_id, gone_at FROM hub_drifts WHERE detector = ?",
        detector,
      )
      : this.all<{ drift_id: string; gone_at: string | null }>(
        `SELECT drift_id, gone_at FROM hub_drifts WHERE detector = ?1
           AND signature_id IN (SELECT value FROM json_each(?2))`,
        detector,
        JSON.stringify(scope),
      );
    const known = new Map(before.map((row) => [row.drift_id, row.gone_at === null]));
    const appeared: string[] = [];
    const found = new Set<string>();
    const seen = this.sql(
      `UPDATE hub_drifts SET body = ?, signature_id = ?, drift_type = ?, last_seen_at = ?,
         last_seen_window = ?, gone_at = NULL, gone_window = NULL
       WHERE detector = ? AND drift_id = ?`,
    );
    const insert = this.sql(
      `INSERT INTO hub_drifts (detector, drift_id, signature_id, drift_type, body, first_seen_at,
         first_seen_window, last_seen_at, last_seen_window) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET body = excluded.body, signature_id = excluded.signature_id,
         drift_type = excluded.drift_type, last_seen_at = excluded.last_seen_at,
         last_seen_window = excluded.last_seen_window, gone_at = NULL, gone_window = NULL`,
    );
    for (const drift of drifts) {
      found.add(drift.driftId);
      const current = known.get(drift.driftId);
      const body = JSON.stringify(drift);
      if (current === undefined) {
        const changes = insert.run(
          detector,
          drift.driftId,
          drift.signatureId,
          drift.driftType,
          body,
          at.at,
          at.window,
          at.at,
          at.window,
        );
        if (Number(changes.changes) > 0) appeared.push(drift.driftId);
      } else {
        seen.run(
          body,
          drift.signatureId,
          drift.driftType,
          at.at,
          at.window,
          detector,
          drift.driftId,
        );
        if (!current) appeared.push(drift.driftId);
      }
    }
    const gone: string[] = [];
    const retire = this.sql(
      `UPDATE hub_drifts SET gone_at = ?, gone_window = ? WHERE detector = ? AND drift_id = ?`,
    );
    for (const [driftId, current] of known) {
      if (!current || found.has(driftId)) continue;
      retire.run(at.at, at.window, detector, driftId);
      gone.push(driftId);
    }
    return Promise.resolve({ appeared, gone });
  }

  retireDetectors(names: readonly string[], at: LifePoint): Promise<string[]> {
    return Promise.resolve(
      this.all<{ drift_id: string }>(
        `UPDATE hub_drifts SET gone_at = ?1, gone_window = ?2
         WHERE gone_at IS NULL AND detector NOT IN (SELECT value FROM json_each(?3))
         RETURNING drift_id`,
        at.at,
        at.window,
        JSON.stringify(names),
      ).map((row) => row.drift_id),
    );
  }

  touchDrifts(at: LifePoint): Promise<void> {
    this.sql(
      "UPDATE hub_drifts SET last_seen_at = ?, last_seen_window = ? WHERE gone_at IS NULL",
    ).run(at.at, at.window);
    return Promise.resolve();
  }

  finishIngest(summary: Omit<StoredIngest, "id" | "at">): Promise<void> {
    this.sql(
      `UPDATE hub_ingests SET newest_window = ?, given = ?, accepted = ?, rejected = ?,
         duplicates = ?, withdrawn = ?, detection = ? WHERE ingest_id = ?`,
    ).run(
      summary.newestWindow,
      summary.given,
      summary.accepted,
      summary.rejected,
      summary.duplicates,
      summary.withdrawn,
      summary.detection,
      this.ingestId,
    );
    return Promise.resolve();
  }

  publishAdvisories(
    report: FederationReport,
    options: Omit<PublishOptions, "beforeCommit">,
  ): Promise<PublishResult> {
    return publishWithin(sqliteStatements(this.db), this.ledger.path, report, options);
  }
}

/** The sortable key of a window bound (the gate checked it is RFC 3339). */
function windowKey(iso: string): string {
  const instant = parseInstant(iso);
  return instant ? instantSortKey(instant) : iso;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
