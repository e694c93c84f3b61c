/**
 * The contract of the stateful hub's store: what `jrm hub ingest`, `hub
 * report` and `hub status` (core/stateful_hub.ts) need from a database, and
 * nothing about how it keeps it. The SQLite backend
 * (core/hub_store_sqlite.ts) implements it; a PostgreSQL backend implements
 * the same interface, and one conformance suite (tests/hub_store_test.ts,
 * tests/stateful_hub_test.ts) runs against each.
 *
 * The model, which makes ingestion order-free and a withdrawal a deletion:
 *
 * - every archive that passed the gate is kept once, by its digest, with its
 *   identity (`samePacketKey` of core/order.ts: its manifest without
 *   `signature`, in canonical form) and its place in window order
 *   (`orderSortKey`); the archives at one place of an environment are judged
 *   together by `judgeEquivocation` (core/order.ts), the rules `federate`
 *   uses: one is `accepted`, other archives of the same packet are
 *   `duplicate`s of it, and when two packets differ all of them are refused
 *   for `equivocation` from then on;
 * - an accepted packet's canon entries and graph records are rows; the state
 *   of an environment is, per signature, the row of the latest packet in
 *   window order, and the merged graph keeps, per node or edge identity, the
 *   earliest; rows of a refused packet are deleted, and what they had set is
 *   recomputed from the rows that remain;
 * - packets the gate refused for any other reason are kept as rejections, by
 *   digest (judged again when they come again); byte-identical copies are
 *   counted as duplicates; and each drift keeps its life (first seen, last
 *   seen, gone).
 *
 * Every method is async, so a backend that talks to a server fits; one
 * ingest is one transaction ({@link HubStore.ingest}), serialized with every
 * other ingest on the same store.
 *
 * @module
 */

import type { Advisory, PublishOptions, PublishResult } from "./advisory.ts";
import type { Drift } from "./drift.ts";
import type { PluginFailure, Violation } from "./errors.ts";
import type { FederationReport } from "./report.ts";

/**
 * What became of a stored archive: accepted (it sets state), a `duplicate`
 * of the accepted archive of the same packet, or refused for equivocation.
 */
export type StoredPacketStatus = "accepted" | "duplicate" | "equivocation";

/** An archive the store keeps (it passed every check of the gate when it came). */
export interface StoredPacket {
  /** The store's id for it. */
  id: number;
  /** `samePacketKey` (core/order.ts) of its manifest: equal for archives of one packet. */
  identity: string;
  /** Its environment. */
  environmentId: string;
  /** Its `packetName`. */
  packetName: string;
  /** The file it was first read from. */
  source: string;
  /** `sha256:` of that file's bytes. */
  digest: string;
  /** Window start, as the manifest spells it. */
  windowStart: string;
  /** Window end, as the manifest spells it. */
  windowEnd: string;
  /** Part number. */
  part: number;
  /** `createdAt`, as the manifest spells it. */
  createdAt: string;
  /** `orderSortKey` (core/order.ts) of its place in window order. */
  orderKey: string;
  /** Accepted, a duplicate, or refused for equivocation. */
  status: StoredPacketStatus;
  /** Why it is refused (for `equivocation`); empty otherwise. */
  violations: Violation[];
  /** For a `duplicate`: the file the accepted archive was read from. */
  duplicateOf: string | null;
}

/** One canon entry of a packet, as the store keeps it. */
export interface CanonRow {
  /** The signature it governs (`signatureId`, else its key). */
  signatureId: string;
  /** Its key in `canon_entry.json` → `entries`. */
  key: string;
  /** The entry as compact JSON text. */
  text: string;
}

/** One node or edge of a packet's memory graph. */
export type GraphItem = Record<string, unknown>;

/** An accepted packet to add, with its rows. */
export interface NewPacket
  extends Omit<StoredPacket, "id" | "status" | "violations" | "duplicateOf"> {
  /** Its canon entries; a later row of the same signature replaces an earlier one. */
  entries: readonly CanonRow[];
  /** Its memory graph's `nodesAdded`. */
  nodes: readonly GraphItem[];
  /** Its memory graph's `edgesAdded`. */
  edges: readonly GraphItem[];
}

/** What adding a packet, or withdrawing one, changed. */
export interface StateChange {
  /** Signatures whose state row (of the packet's environment) changed. */
  touched: string[];
  /** Whether the environment had no accepted packet before (adding) or has none left (withdrawing). */
  environmentChanged: boolean;
}

/** A packet the gate refused for a reason other than equivocation. */
export interface StoredRejection {
  /** What identifies it: its digest, else (unreadable) its path. */
  key: string;
  /** The file. */
  source: string;
  /** `sha256:` of the file's bytes, when read. */
  digest: string | null;
  /** Its `packetName`, when its manifest could be read. */
  packetName: string | null;
  /** Its environment, when its manifest could be read. */
  environmentId: string | null;
  /** The first violation's code. */
  reasonCode: string;
  /** Every violation. */
  violations: Violation[];
}

/** An archive that came again: the same bytes as a stored archive or rejection, or another archive of an accepted packet. */
export interface StoredDuplicate {
  /** The file it came in. */
  source: string;
  /** `sha256:` of that file. */
  digest: string;
  /** The file the packet was first (or, for a packet, accepted) read from. */
  duplicateOf: string;
}

/** A detector as it was used for the drifts the store holds. */
export interface StoredDetector {
  /** Its name. */
  name: string;
  /** Its version. */
  version: string;
  /** Where it came from. */
  origin: string;
  /** The drift types it reports. */
  driftTypes: string[];
  /** `signature` when it compares one signature at a time, else `federation`. */
  scope: "signature" | "federation";
  /** Its options, as canonical JSON text. */
  options: string;
  /** Its last failure, while its drifts are not up to date. */
  error: { hook: string; reason: PluginFailure; message: string } | null;
}

/** A moment of a drift's life: the ingest's clock and the newest window the store then held. */
export interface LifePoint {
  /** The ingest's time (`--now` when given), ISO 8601. */
  at: string;
  /** The newest `windowEnd` among accepted packets at that ingest, or null when none. */
  window: string | null;
}

/** A drift with its life. */
export interface StoredDrift {
  /** The drift as its detector found it last. */
  drift: Drift;
  /** When it was first seen. */
  firstSeen: LifePoint;
  /** The last ingest that held it. */
  lastSeen: LifePoint;
  /** When it went away; null while it holds. */
  gone: LifePoint | null;
}

/** One environment's figures. */
export interface StoredEnvironment {
  /** The environment. */
  environmentId: string;
  /** Accepted packets. */
  packets: number;
  /** Earliest window start of its accepted packets. */
  windowStart: string;
  /** Latest window end of its accepted packets. */
  windowEnd: string;
  /** Signatures it holds an entry for. */
  signatures: number;
  /** Nodes of its merged memory graph. */
  graphNodes: number;
  /** Edges of its merged memory graph. */
  graphEdges: number;
  /** The last ingest that added one of its packets. */
  lastIngest: string | null;
}

/** An environment's current entry for a signature, with where it came from. */
export interface StateRow {
  /** The signature. */
  signatureId: string;
  /** The environment. */
  environmentId: string;
  /** The entry's key. */
  key: string;
  /** The entry as JSON text. */
  text: string;
  /** The packet it came from. */
  packetName: string;
  /** That packet's file. */
  source: string;
  /** That packet's digest. */
  digest: string;
  /** That packet's window start. */
  windowStart: string;
  /** That packet's window end. */
  windowEnd: string;
  /** That packet's part. */
  part: number;
}

/** A record of the merged memory graph. */
export interface GraphRow {
  /** Node or edge. */
  type: "node" | "edge";
  /** Its environment. */
  environmentId: string;
  /** The node or edge, as the earliest packet that holds it gave it. */
  item: GraphItem;
}

/** One ingest, as the store remembers it. */
export interface StoredIngest {
  /** Its id. */
  id: number;
  /** Its clock, ISO 8601. */
  at: string;
  /** The newest window the store held after it. */
  newestWindow: string | null;
  /** Packet files given. */
  given: number;
  /** Packets it accepted. */
  accepted: number;
  /** Packets it refused (equivocation included). */
  rejected: number;
  /** Duplicates it counted. */
  duplicates: number;
  /** Earlier packets it withdrew (equivocation with a packet it brought). */
  withdrawn: number;
  /** How drift was detected: `full`, `incremental` or `none`. */
  detection: string;
}

/** Figures of the whole store, for `hub status`. */
export interface StoreFigures {
  /** The schema version. */
  schemaVersion: number;
  /** Bytes the store takes on disk (database and journal). */
  sizeBytes: number;
  /** Accepted packets. */
  accepted: number;
  /** Packets refused for equivocation. */
  equivocation: number;
  /** Packets refused for other reasons, as last judged. */
  rejected: number;
  /** Duplicates counted. */
  duplicates: number;
  /** Ingests made. */
  ingests: number;
}

/** What every store can answer, in a transaction or outside one. */
export interface HubStoreReader {
  /** Environments with at least one accepted packet, sorted by id. */
  environments(): Promise<StoredEnvironment[]>;
  /**
   * The state: each environment's current entry per signature.
   * @param signatureIds only these signatures; all when absent
   */
  state(signatureIds?: readonly string[]): Promise<StateRow[]>;
  /** The merged memory graph, a record at a time, without holding it in memory. */
  graph(): AsyncIterable<GraphRow>;
  /** Every drift the store knows, current and gone. */
  drifts(): Promise<StoredDrift[]>;
  /** The detectors the drifts were found with, in the order they ran; empty before the first ingest. */
  detectors(): Promise<StoredDetector[]>;
  /** Packets refused for equivocation. */
  equivocations(): Promise<StoredPacket[]>;
  /** Packets refused for other reasons, as last judged. */
  rejections(): Promise<StoredRejection[]>;
  /** Every duplicate counted: byte-identical copies, and stored archives of status `duplicate`. */
  duplicates(): AsyncIterable<StoredDuplicate>;
  /** How many packets are accepted. */
  acceptedCount(): Promise<number>;
  /** The newest window end among accepted packets. */
  newestWindow(): Promise<string | null>;
  /** The last ingest, if any. */
  lastIngest(): Promise<StoredIngest | undefined>;
  /** Figures of the whole store. */
  figures(): Promise<StoreFigures>;
  /** The advisory ledger's advisories (core/advisory.ts), most severe first. */
  advisories(): Promise<Advisory[]>;
}

/** What an ingest may do, inside its transaction. */
export interface HubStoreTransaction extends HubStoreReader {
  /** The ingest's id in the store. */
  readonly ingestId: number;
  /**
   * The stored archive with these bytes.
   * @param digest `sha256:` of the archive
   */
  packetByDigest(digest: string): Promise<StoredPacket | undefined>;
  /**
   * Stored archives (any status) of an environment at one place in window order.
   * @param environmentId the environment
   * @param orderKey `orderSortKey` (core/order.ts) of the place
   */
  packetsAt(environmentId: string, orderKey: string): Promise<StoredPacket[]>;
  /**
   * Add an accepted packet, its entries and graph records.
   * @param packet the packet and its rows
   * @returns its id and what changed in the state
   */
  addPacket(packet: NewPacket): Promise<{ id: number } & StateChange>;
  /**
   * Keep an archive that sets no state (it has no rows): a duplicate of the
   * accepted archive of its packet, or one refused for equivocation.
   * @param packet the archive
   * @param status `duplicate` or `equivocation`
   * @param detail for a duplicate, the accepted archive's file; for equivocation, the violations
   * @returns its id
   */
  addInert(
    packet: Omit<NewPacket, "entries" | "nodes" | "edges">,
    status: "duplicate" | "equivocation",
    detail: { duplicateOf?: string; violations?: Violation[] },
  ): Promise<number>;
  /**
   * Refuse a stored archive for equivocation from now on (or say why anew):
   * an accepted one is withdrawn (its rows deleted, what they set recomputed).
   * @param id the archive
   * @param violations why
   * @returns what changed in the state
   */
  refuse(id: number, violations: Violation[]): Promise<StateChange>;
  /**
   * The rejection kept under a key.
   * @param key see {@link StoredRejection.key}
   */
  rejection(key: string): Promise<StoredRejection | undefined>;
  /**
   * Keep a rejection (replacing the one under the same key).
   * @param rejection the rejection
   */
  putRejection(rejection: StoredRejection): Promise<void>;
  /**
   * Forget a rejection (the packet was accepted since).
   * @param key see {@link StoredRejection.key}
   */
  dropRejection(key: string): Promise<void>;
  /**
   * Count a duplicate.
   * @param duplicate the duplicate
   */
  addDuplicate(duplicate: StoredDuplicate): Promise<void>;
  /**
   * Keep the detector set the drifts are now found with.
   * @param detectors in the order they run
   */
  setDetectors(detectors: readonly StoredDetector[]): Promise<void>;
  /**
   * Replace one detector's drifts within a scope by what it found now: a
   * drift found again is seen at `at`, a new one first seen, one not found
   * any more is gone, one found again after it was gone comes back.
   * @param detector the detector's name
   * @param scope the signatures it looked at, or `all`
   * @param drifts what it found
   * @param at the moment
   * @returns ids that appeared and that went away
   */
  replaceDrifts(
    detector: string,
    scope: readonly string[] | "all",
    drifts: readonly Drift[],
    at: LifePoint,
  ): Promise<{ appeared: string[]; gone: string[] }>;
  /**
   * Mark every current drift of detectors not in `names` gone.
   * @param names the detectors in use
   * @param at the moment
   * @returns the ids that went away
   */
  retireDetectors(names: readonly string[], at: LifePoint): Promise<string[]>;
  /**
   * Every current drift was seen at this ingest.
   * @param at the moment
   */
  touchDrifts(at: LifePoint): Promise<void>;
  /**
   * Record what the ingest did.
   * @param summary its figures
   */
  finishIngest(summary: Omit<StoredIngest, "id" | "at">): Promise<void>;
  /**
   * Publish a report's drift as advisories, in this transaction.
   * @param report the federation report
   * @param options as `publish` (core/advisory.ts) takes them, but `beforeCommit`
   * @returns what changed in the ledger
   */
  publishAdvisories(
    report: FederationReport,
    options: Omit<PublishOptions, "beforeCommit">,
  ): Promise<PublishResult>;
}

/** How an ingest waits for another one holding the store. */
export interface LockOptions {
  /** The longest wait, in milliseconds. */
  timeoutMs: number;
  /** Called once when the store is held by another ingest and this one starts waiting. */
  onWait?: (timeoutMs: number) => void;
}

/** A store of the stateful hub. */
export interface HubStore extends Disposable {
  /** The store's location (a path or a URL), for messages. */
  readonly location: string;
  /**
   * Run an ingest as one transaction under the store's ingest lock: all of
   * it is kept, or (when `work` throws, or the process dies) none of it.
   * Another ingest holding the lock is waited for, up to `lock.timeoutMs`.
   * @param at the ingest's clock, ISO 8601
   * @param lock how to wait
   * @param work the ingest
   * @returns what `work` returns
   */
  ingest<T>(
    at: string,
    lock: LockOptions,
    work: (tx: HubStoreTransaction) => Promise<T>,
  ): Promise<T>;
  /**
   * Read a consistent snapshot of the store.
   * @param work what to read
   * @returns what `work` returns
   */
  read<T>(work: (reader: HubStoreReader) => Promise<T>): Promise<T>;
  /** Close the store. */
  close(): void;
}
