/**
 * jrm-federation: the federation layer over JRM-X packets.
 *
 * - the **gate** decides whether a packet can be trusted ({@link validate},
 *   {@link enforceScope}, {@link redact});
 * - the **hub** ingests packets from every environment in window order and
 *   runs drift detectors ({@link ingestFiles}, {@link runDetectors},
 *   {@link buildReport});
 * - **plugins** add detectors, signers and reporters ({@link defineDetector},
 *   {@link PluginRegistry});
 * - the **advisory engine** turns drift into advisories that operators accept
 *   or decline, kept in a ledger ({@link publish}, {@link openLedger});
 *   experimental: the store it takes changes with the stateful hub and the
 *   PostgreSQL backend;
 * - **migration** rewrites packets built by the reference pipeline in the
 *   spec's form ({@link migratePacket}) and reads the reference hub's reports
 *   ({@link parseReferenceReport}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { builtinRegistry, validate } from "./mod.ts";
 * const result = await validate(new Uint8Array([0x50, 0x4b]), { source: "tiny.zip" });
 * assert(!result.accepted);
 * assert.equal(builtinRegistry().detectors().length, 3);
 * ```
 *
 * @module
 */

export {
  CALLER_OPTIONS,
  PacketError,
  PLUGIN_FAILURES,
  PluginError,
  UsageError,
  VIOLATION_CODES,
} from "./core/errors.ts";
export type {
  CallerOption,
  PluginFailure,
  UsageErrorOptions,
  Violation,
  ViolationCode,
} from "./core/errors.ts";

export { DEFAULT_LIMITS, readArchive, readArchiveEntry, writeArchive } from "./core/archive.ts";
export type { ArchiveEntry, ArchiveLimits } from "./core/archive.ts";

export { canonicalize, canonicalString, JsonNumber, parseLossless } from "./core/canonical_json.ts";
export type { CanonicalForm } from "./core/canonical_json.ts";
export { parseJson, parseJsonLines } from "./core/json.ts";
export type { JsonParseOptions } from "./core/json.ts";

export { DATA_FILES, MANIFEST_FILE, readPacket, sha256Ref } from "./core/packet.ts";
// The schemas check what readPacket reads: loading them installs them in the reader.
import "./core/packet_schemas.ts";
export type {
  AuthoritySlice,
  CanonChange,
  CanonEntry,
  CanonFile,
  DataFile,
  DriftSignalRecord,
  GraphEdge,
  GraphNode,
  JsonLinesFile,
  LineageRecord,
  Manifest,
  MemoryGraph,
  Packet,
  ReadOptions,
  ReadResult,
  TruthSnapshot,
} from "./core/packet.ts";
export type { CanonTexts } from "./core/canon_texts.ts";

export { FALLBACK_ENVIRONMENT, Keyring, readKeyEnv, readKeyFile } from "./core/signer.ts";
export type {
  KeyMaterial,
  KeyringEntry,
  PacketSignature,
  Signer,
  SignerCreation,
} from "./core/signer.ts";
export { createSigner, loadKeyring, singleKeyKeyring } from "./core/keyring.ts";

export { escapeForTerminal, escapeJsonForTerminal, hasTerminalControls } from "./core/text.ts";

export { buildPacket, packetNameFor, signedBytes, signManifest } from "./core/writer.ts";
export type { BuildOptions, SignOptions } from "./core/writer.ts";

export { enforceScope, redact, REDACTED, validate, validateFile } from "./core/gate.ts";
export type {
  GateOptions,
  GateResult,
  Redaction,
  RedactOptions,
  SignatureStatus,
} from "./core/gate.ts";

export {
  driftIdOf,
  RESOLUTION_ACTIONS,
  resolutionOf,
  resolutionProblem,
  runDetectors,
  SEVERITIES,
} from "./core/drift.ts";
export {
  DEFAULT_DETECTOR_TIMEOUT_SECONDS,
  DEFAULT_MAX_FINDINGS,
  MAX_DETECTOR_TIMEOUT_SECONDS,
  MIN_LOAD_TIMEOUT_SECONDS,
} from "./core/detector_host.ts";
export type { DetectionLimits } from "./core/detector_host.ts";
export type {
  DetectionResult,
  DetectorRun,
  Drift,
  DriftFinding,
  EnvironmentEntry,
  EnvironmentSummary,
  FederationView,
  Provenance,
  Resolution,
  ResolutionAction,
  Severity,
} from "./core/drift.ts";

export {
  callHook,
  callHookSync,
  defineDetector,
  defineReporter,
  defineSigner,
  loadPluginModule,
  PluginRegistry,
  validatePlugin,
} from "./core/plugin.ts";
export type {
  DetectorPlugin,
  DetectorScope,
  HookResultCheck,
  OptionsSchema,
  Plugin,
  PluginBase,
  PluginModule,
  RegisteredPlugin,
  ReporterPlugin,
  SignerPlugin,
} from "./core/plugin.ts";

export { FederationState, ingestFiles } from "./core/hub.ts";
export type {
  Foldable,
  GraphLinesSink,
  GraphRecord,
  Ingestion,
  IngestOptions,
  IngestOutcome,
  PacketRecord,
} from "./core/hub.ts";
export type { GraphFacts, GraphFactsOptions } from "./core/graph_facts.ts";
export { expandInputs, expandPackets } from "./core/inputs.ts";
export type { ExpandedInputs, InputWarning } from "./core/inputs.ts";
export { protectOutputs, readRegularFile } from "./core/fs.ts";
export type { NamedOutput, ProtectedOutputs, ReadRegularOptions } from "./core/fs.ts";
export {
  compareWindowOrder,
  DEFAULT_MAX_CLOCK_SKEW,
  futureTimeViolations,
  judgeEquivocation,
  orderKeyId,
  packetOrderKey,
  resolveClock,
  samePacketKey,
} from "./core/order.ts";
export type { CandidateVerdict, Clock, PacketCandidate, PacketOrderKey } from "./core/order.ts";
export { compareInstants, formatInstant, parseInstant } from "./core/instant.ts";
export type { Instant } from "./core/instant.ts";

export {
  buildReport,
  parseReport,
  READABLE_REPORT_VERSIONS,
  readReportFile,
  REPORT_VERSION,
} from "./core/report.ts";
export type {
  DuplicatePacket,
  EnvironmentStats,
  FederationReport,
  GraphCounts,
  MergedGraphCounts,
  RejectedPacket,
  ReportDetector,
  ReportDetectorError,
  ReportDrift,
  ReportResolution,
  ReportViolation,
} from "./core/report.ts";

export {
  isUtcOffset,
  LEGACY_MANIFEST_KEYS,
  migratePacket,
  MIGRATION_SIGNER_ID,
  normalizeLegacyTime,
} from "./core/migrate.ts";
export type { LegacyTime, MigratedFrom, MigrateOptions, MigrationResult } from "./core/migrate.ts";
export {
  parseReferenceReport,
  REFERENCE_DETECTOR,
  REFERENCE_DRIFT_TYPES,
  referenceAdvisories,
} from "./core/reference_report.ts";
export type { ReferenceAdvisory } from "./core/reference_report.ts";

export {
  accept,
  ADVISORY_ACTIONS,
  ADVISORY_STATUSES,
  advisoryActionOf,
  advisoryIdOf,
  decline,
  DEFAULT_PUBLISHER,
  evidenceFingerprint,
  getAdvisory,
  listAdvisories,
  publish,
  REPORT_ORIGINS,
} from "./core/advisory.ts";
export type {
  Advisory,
  AdvisoryAction,
  AdvisoryDetail,
  AdvisoryFilter,
  AdvisoryStatus,
  AdvisoryTransition,
  DecisionOptions,
  PublishOptions,
  PublishResult,
  ReportOrigin,
} from "./core/advisory.ts";
export { DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_STORE_PATH, Ledger, openLedger } from "./core/store.ts";
export type { AdvisoryStore, OpenLedgerOptions } from "./core/store.ts";
export type { AdvisoryLedger, LedgerSql, SqlRow, SqlValue, StoreBackend } from "./core/ledger.ts";

export { defaultConfig, loadConfig, parseOptionFlags, resolveDetectorRuns } from "./core/config.ts";
export type { Config, ConfigFile } from "./core/config.ts";

export { BUILTIN_PLUGINS, builtinRegistry } from "./plugins/builtin.ts";
