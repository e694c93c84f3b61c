/**
 * The configuration file (`jrm.config.json` by default) and how detector
 * options are resolved: each detector's defaults, then the config file, then
 * flags, checked against the detector's schema before anything runs.
 *
 * ```json
 * {
 *   "plugins": ["./examples/stale_environment.ts"],
 *   "detectors": {
 *     "posture-divergence": { "threshold": 0.25 },
 *     "stale-environment": { "maxLagMinutes": 90 }
 *   },
 *   "disabledDetectors": ["version-skew"],
 *   "allowEnvs": ["SOC_EAST", "SOC_WEST"],
 *   "requireSignature": true,
 *   "limits": { "maxEntryBytes": 268435456, "maxClockSkew": 900 },
 *   "detectorTimeout": 60,
 *   "maxFindings": 100000
 * }
 * ```
 *
 * Plugin paths are relative to the config file. `detectorTimeout` is the
 * time budget of each detector in seconds, `maxFindings` the most findings
 * one detector may return (see core/detector_host.ts).
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import type { ArchiveLimits } from "./archive.ts";
import type { DetectorRun } from "./drift.ts";
import { MAX_DETECTOR_TIMEOUT_SECONDS } from "./detector_host.ts";
import { PacketError, UsageError } from "./errors.ts";
import { parseJson } from "./json.ts";
import { readRegularFile, SMALL_FILE_LIMIT } from "./fs.ts";
import {
  callHookSync,
  describeValue,
  type DetectorPlugin,
  type HookResultCheck,
  type PluginRegistry,
} from "./plugin.ts";
import type { SameType } from "./types.ts";

/** The default config file name, looked for in the working directory. */
export const DEFAULT_CONFIG_FILE = "jrm.config.json";

/** The config file's schema: unknown keys are refused, so a typo is caught. */
export const ConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  plugins: z.array(z.string().min(1)).default([]),
  detectors: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  disabledDetectors: z.array(z.string()).default([]),
  allowEnvs: z.array(z.string().min(1)).optional(),
  requireSignature: z.boolean().optional(),
  limits: z.strictObject({
    maxEntries: z.int().positive().optional(),
    maxEntryBytes: z.int().positive().optional(),
    maxTotalBytes: z.int().positive().optional(),
    maxCompressionRatio: z.number().positive().optional(),
    maxJsonDepth: z.int().positive().optional(),
    /** Seconds a packet's windowEnd or createdAt may be ahead of the clock. */
    maxClockSkew: z.int().min(0).optional(),
    maxCanonEntries: z.int().positive().optional(),
  }).default({}),
  detectorTimeout: z.number().positive().max(MAX_DETECTOR_TIMEOUT_SECONDS).optional(),
  maxFindings: z.int().positive().optional(),
});

/** The config file's contents, defaults applied. */
export interface ConfigFile {
  /** The JSON Schema the file names, for editors. */
  $schema?: string;
  /** Plugin modules to load, relative to the file. */
  plugins: string[];
  /** Options per detector name. */
  detectors: Record<string, Record<string, unknown>>;
  /** Detectors not to run. */
  disabledDetectors: string[];
  /** The only environments whose packets are accepted. */
  allowEnvs?: string[];
  /** Refuse unsigned packets. */
  requireSignature?: boolean;
  /** Archive and JSON limits (see `ArchiveLimits`). */
  limits: {
    maxEntries?: number;
    maxEntryBytes?: number;
    maxTotalBytes?: number;
    maxCompressionRatio?: number;
    maxJsonDepth?: number;
    /** Seconds a packet's windowEnd or createdAt may be ahead of the clock. */
    maxClockSkew?: number;
    /** Most canon entries in one packet. */
    maxCanonEntries?: number;
  };
  /** Seconds each detector may take, from the start of `detect`. */
  detectorTimeout?: number;
  /** Most findings one detector may return. */
  maxFindings?: number;
}

// The schema's output is exactly ConfigFile: a field added to one and not the other fails here.
const _sameConfig: SameType<z.infer<typeof ConfigSchema>, ConfigFile> = true;

/** A loaded config. */
export interface Config extends ConfigFile {
  /** The file it came from, or undefined for the built-in defaults. */
  path?: string;
  /** Plugin paths resolved against the config file's directory. */
  pluginPaths: string[];
  /** Limits as the archive reader takes them. */
  archiveLimits: Partial<ArchiveLimits>;
  /** The clock check's settings (`limits.maxClockSkew`). */
  clock: { maxClockSkew?: number };
}

/**
 * Load a config file. Without an explicit path, `jrm.config.json` in the
 * working directory is used when it exists, else the defaults.
 * @param path the file given with `--config`, if any
 * @returns the config
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig } from "./config.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify({ detectors: { "posture-divergence": { threshold: 0.2 } } }));
 * const config = await loadConfig(`${dir}/c.json`);
 * assert.equal(config.detectors["posture-divergence"].threshold, 0.2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function loadConfig(path?: string): Promise<Config> {
  try {
    return Promise.resolve(loadConfigNow(path));
  } catch (error) {
    return Promise.reject(error);
  }
}

function loadConfigNow(path?: string): Config {
  let file = path;
  let text: string | undefined;
  if (file === undefined) {
    if (exists(DEFAULT_CONFIG_FILE)) {
      file = DEFAULT_CONFIG_FILE;
      text = readConfigText(file);
    }
  } else {
    text = readConfigText(file);
  }
  const config = text === undefined
    ? ConfigSchema.parse({})
    : parseJsonFile(text, `Config "${file}"`, ConfigSchema);
  const dir = file && file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "";
  return {
    ...config,
    path: file,
    pluginPaths: config.plugins.map((
      p,
    ) => (p.startsWith("/") || /^[a-z]+:/i.test(p) ? p : dir + p)),
    ...splitLimits(config.limits),
  };
}

/** The config's limits: the archive reader's, and the clock check's. */
function splitLimits(
  limits: z.infer<typeof ConfigSchema>["limits"],
): Pick<Config, "archiveLimits" | "clock"> {
  const { maxClockSkew, ...archiveLimits } = limits;
  return {
    archiveLimits,
    clock: maxClockSkew === undefined ? {} : { maxClockSkew },
  };
}

/** Whether a path names anything at all (a broken link does not). */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    return true; // there, but not for us: reading it says why
  }
}

function readConfigText(file: string): string {
  try {
    return new TextDecoder().decode(
      readRegularFile(file, { what: "config", maxBytes: SMALL_FILE_LIMIT }),
    );
  } catch (error) {
    if (error instanceof PacketError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Parse a user's JSON file (config, keyring) and check it against a schema;
 * every problem is one {@link UsageError} line naming the file. Parsing goes
 * through `parseJson`, which works around V8's escaped-key bug.
 * @param text the file's text
 * @param label how to name the file, e.g. `Config "jrm.config.json"`
 * @param schema the zod schema
 * @returns the checked value
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "npm:zod@4.6.7";
 * import { parseJsonFile } from "./config.ts";
 * const value = parseJsonFile('{"a":1}', 'File "x.json"', z.object({ a: z.number() }));
 * assert.equal(value.a, 1);
 * assert.throws(() => parseJsonFile('{"a":"1"}', 'File "x.json"', z.object({ a: z.number() })), {
 *   message: /^File "x\.json" is invalid at "a"/,
 * });
 * ```
 */
export function parseJsonFile<T>(text: string, label: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = parseJson(text, { maxDepth: 256 });
  } catch (error) {
    if (!(error instanceof PacketError)) throw error;
    throw new UsageError(`${label} is not valid JSON: ${error.message.split("\n")[0]}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue.path.length > 0 ? issue.path.join(".") : "(root)";
    throw new UsageError(`${label} is invalid at "${at}": ${issue.message}`);
  }
  return parsed.data;
}

/** The configuration used when there is no config file. */
export function defaultConfig(): Config {
  return { ...ConfigSchema.parse({}), pluginPaths: [], archiveLimits: {}, clock: {} };
}

/**
 * Parse `--option detector.key=value` flags. The value is read as JSON when
 * it parses (numbers, booleans, lists), else as a string.
 * @param flags the flag values
 * @returns options by detector name
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOptionFlags } from "./config.ts";
 * const options = parseOptionFlags(["posture-divergence.threshold=0.25"]);
 * assert.equal(options["posture-divergence"].threshold, 0.25);
 * ```
 */
export function parseOptionFlags(
  flags: readonly string[],
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const flag of flags) {
    const match = flag.match(/^([^.=]+)\.([^=]+)=(.*)$/s);
    if (!match) {
      throw new UsageError(`Option "${flag}" must look like detector.key=value`);
    }
    const [, detector, key, text] = match;
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    (out[detector] ??= {})[key] = value;
  }
  return out;
}

/**
 * The detectors to run with their options: defaults, then the config, then
 * flags, each checked by the detector's schema. An unknown detector name in
 * the config or the flags is an error (a typo must not silently drop an
 * option).
 * @param registry the plugins
 * @param config the config
 * @param flagOptions options the caller gives (the CLI's `--option`), by detector; they win over the config
 * @param flagOptionsName how messages name where `flagOptions` came from (the CLI passes its flag)
 * @returns the detector runs, in registration order
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultConfig, resolveDetectorRuns } from "./config.ts";
 * import { PluginRegistry } from "./plugin.ts";
 * const runs = resolveDetectorRuns(new PluginRegistry(), defaultConfig());
 * assert.equal(runs.length, 0);
 * ```
 */
export function resolveDetectorRuns(
  registry: PluginRegistry,
  config: Config,
  flagOptions: Record<string, Record<string, unknown>> = {},
  flagOptionsName = "the given detector options",
): DetectorRun[] {
  // Keyed by detector only: a signer or reporter may share a detector's name.
  const sources = new Map(
    registry.list().filter(({ plugin }) => plugin.kind === "detector")
      .map((registered) => [registered.plugin.name, registered]),
  );
  const detectors = registry.detectors();
  const names = new Set(detectors.map((d) => d.name));
  const where = config.path ? `config "${config.path}"` : "the config";
  for (const name of [...Object.keys(config.detectors), ...config.disabledDetectors]) {
    if (!names.has(name)) {
      throw new UsageError(
        `Unknown detector "${name}" in ${where} (known: ${[...names].join(", ")})`,
      );
    }
  }
  for (const name of Object.keys(flagOptions)) {
    if (!names.has(name)) {
      throw new UsageError(
        `Unknown detector "${name}" in ${flagOptionsName} (known: ${[...names].join(", ")})`,
      );
    }
  }
  const runs: DetectorRun[] = [];
  for (const plugin of detectors) {
    if (config.disabledDetectors.includes(plugin.name)) continue;
    const source = sources.get(plugin.name);
    const origin = source?.origin ?? "built-in";
    const fromConfig = config.detectors[plugin.name];
    const fromFlags = flagOptions[plugin.name];
    let options: Record<string, unknown> = {
      ...(plugin.defaultOptions ?? {}),
      ...(fromConfig ?? {}),
      ...(fromFlags ?? {}),
    };
    if (plugin.optionsSchema) {
      const result = safeParse(plugin, options);
      if (!result.success) {
        // Name where the wrong value came from: the config file, the flags, or
        // (when neither gave options) the plugin's own defaults.
        let from = `from ${origin}`;
        if (fromConfig && fromFlags) {
          const configOnly = safeParse(plugin, {
            ...(plugin.defaultOptions ?? {}),
            ...fromConfig,
          });
          from = configOnly.success ? `in ${flagOptionsName}` : `in ${where}`;
        } else if (fromConfig) from = `in ${where}`;
        else if (fromFlags) from = `in ${flagOptionsName}`;
        throw new UsageError(
          `Invalid options for detector "${plugin.name}" ${from}: ${
            describeOptionsError(result.error)
          }`,
        );
      }
      options = result.data as Record<string, unknown>;
    }
    runs.push(
      source?.module
        ? { plugin, options, origin, module: source.module }
        : { plugin, options, origin },
    );
  }
  return runs;
}

type SafeParseResult =
  | { success: true; data: unknown }
  | { success: false; error: { message: string; issues?: unknown } };

/** A detector's `optionsSchema.safeParse`, through the plugin-call wrapper. */
function safeParse(
  plugin: DetectorPlugin<Record<string, unknown>>,
  options: Record<string, unknown>,
): SafeParseResult {
  return callHookSync(
    plugin,
    "optionsSchema.safeParse",
    () => plugin.optionsSchema!.safeParse(options),
    expectSafeParseResult,
  ) as SafeParseResult;
}

const expectSafeParseResult: HookResultCheck = (value) => {
  if (value === null || typeof value !== "object") {
    return `it returned ${describeValue(value)}, not { success, data } or { success, error }`;
  }
  const { success, error } = value as { success?: unknown; error?: unknown };
  if (success === true) return undefined;
  if (success !== false) return `its "success" is ${describeValue(success)}, not true or false`;
  if (error === null || typeof error !== "object") {
    return `it failed with an "error" that is ${describeValue(error)}, not an object`;
  }
  const { message } = error as { message?: unknown };
  return typeof message === "string"
    ? undefined
    : `it failed with an "error.message" that is ${describeValue(message)}, not a string`;
};

function describeOptionsError(error: { message: string; issues?: unknown }): string {
  const issues = error.issues as { path?: PropertyKey[]; message?: string }[] | undefined;
  if (
    Array.isArray(issues) && issues.length > 0 &&
    issues.every((issue) => issue !== null && typeof issue === "object")
  ) {
    return issues.map((issue) => {
      const key = issue.path && issue.path.length > 0 ? issue.path.map(String).join(".") : "";
      // A schema's own message often names the key already ('Option "x" must …').
      const named = key === "" || issue.message?.includes(`"${key}"`);
      return `${named ? "" : `"${key}": `}${issue.message}`;
    }).join("; ");
  }
  return error.message.replace(/\s+/g, " ").trim();
}
