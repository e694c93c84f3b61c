/**
 * Plugin contracts, identity helpers, the registry and the loader.
 *
 * Every plugin is a plain object with `kind`, a unique `name`, a `version`
 * and the hooks of its kind. The loader checks each one when it is loaded, so
 * a broken plugin is named with its file and its problem before any work is
 * done, and every call into a plugin is wrapped so a failure names the plugin
 * and the hook.
 *
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { causeMessage, PluginError, UsageError } from "./errors.ts";
import { checkRegularFile } from "./fs.ts";
import type { DriftFinding, FederationView } from "./drift.ts";
import type { KeyMaterial, Signer, SignerCreation } from "./signer.ts";

/** Fields every plugin has. */
export interface PluginBase {
  /** Unique name, e.g. `version-skew`. */
  name: string;
  /** The plugin's version, e.g. `1.0.0`. */
  version: string;
  /** One line saying what it does. */
  description?: string;
  /** Replace a registered plugin of the same kind and name instead of failing. */
  override?: boolean;
}

/** Something with zod's `safeParse` shape, so a plugin can bring its own schema library. */
export interface OptionsSchema<T> {
  /** Check options; `success` false with a readable `error` when they are wrong. */
  safeParse(
    value: unknown,
  ): { success: true; data: T } | { success: false; error: { message: string } };
}

/** A drift detector: reads the federation view, returns findings. */
export interface DetectorPlugin<Options = Record<string, unknown>> extends PluginBase {
  /** Always `detector`. */
  kind: "detector";
  /** The drift types this detector can report. */
  driftTypes: string[];
  /**
   * What one finding depends on. `signature`: the detector compares one
   * signature at a time, each finding is about a signature of the view and
   * reads only `view.entries()` of it, so the stateful hub re-runs it only
   * on the signatures new packets changed. `federation` (the default): it
   * may read anything in the view (environments, windows), so it runs on
   * everything after every change.
   */
  scope?: DetectorScope;
  /** Options used when the config file and flags give none. */
  defaultOptions?: Options;
  /** Checks options at load time (config file and flags merged over the defaults). */
  optionsSchema?: OptionsSchema<Options>;
  /** Find drift. Must not read files; may be async. */
  detect(view: FederationView, options: Options): DriftFinding[] | Promise<DriftFinding[]>;
}

/** What a detector's findings depend on: see {@link DetectorPlugin.scope}. */
export type DetectorScope = "signature" | "federation";

/** The scopes a detector may declare. */
export const DETECTOR_SCOPES: readonly DetectorScope[] = ["signature", "federation"];

/** A signer plugin: makes signers for one algorithm from key material. */
export interface SignerPlugin extends PluginBase {
  /** Always `signer`. */
  kind: "signer";
  /** The `signature.algorithm` value it implements, e.g. `hmac-sha256`. */
  algorithm: string;
  /** Make a signer from key material; throws a readable error if the key is unusable. */
  createSigner(key: KeyMaterial): Promise<SignerCreation>;
}

/** A reporter: renders a federation report in some format. */
export interface ReporterPlugin<Report = unknown> extends PluginBase {
  /** Always `reporter`. */
  kind: "reporter";
  /** The file format, e.g. `html`. */
  format: string;
  /** Render the report (and any extra context) to bytes or text. */
  render(
    report: Report,
    context: Record<string, unknown>,
  ): Uint8Array | string | Promise<Uint8Array | string>;
}

/** Any plugin. */
// deno-lint-ignore no-explicit-any -- a registry holds detectors and reporters of every option and report type
export type Plugin = DetectorPlugin<any> | SignerPlugin | ReporterPlugin<any>;

/**
 * Identity helper for detectors, for type inference.
 * @param plugin the detector
 * @returns the same object
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineDetector } from "./plugin.ts";
 * const noop = defineDetector({
 *   kind: "detector", name: "noop", version: "1.0.0", driftTypes: [], detect: () => [],
 * });
 * assert.equal(noop.name, "noop");
 * ```
 */
export function defineDetector<Options = Record<string, unknown>>(
  plugin: DetectorPlugin<Options>,
): DetectorPlugin<Options> {
  return plugin;
}

/**
 * Identity helper for signer plugins, for type inference.
 * @param plugin the signer plugin
 * @returns the same object
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineSigner } from "./plugin.ts";
 * const plugin = defineSigner({
 *   kind: "signer", name: "null", version: "1.0.0", algorithm: "null",
 *   createSigner: () => Promise.reject(new Error("not a real signer")),
 * });
 * assert.equal(plugin.algorithm, "null");
 * ```
 */
export function defineSigner(plugin: SignerPlugin): SignerPlugin {
  return plugin;
}

/**
 * Identity helper for reporters, for type inference.
 * @param plugin the reporter
 * @returns the same object
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineReporter } from "./plugin.ts";
 * const text = defineReporter({
 *   kind: "reporter", name: "text", version: "1.0.0", format: "txt",
 *   render: (report) => String(report),
 * });
 * assert.equal(text.format, "txt");
 * ```
 */
export function defineReporter<Report = unknown>(
  plugin: ReporterPlugin<Report>,
): ReporterPlugin<Report> {
  return plugin;
}

const HOOKS: Record<string, string[]> = {
  detector: ["detect"],
  signer: ["createSigner"],
  reporter: ["render"],
};

/**
 * Check that a value is a well-formed plugin; throws an error naming what is wrong.
 * @param value the candidate
 * @param label how to name it in messages, e.g. `plugin at position 2 in "x.ts"`
 * @returns the value, typed
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validatePlugin } from "./plugin.ts";
 * assert.throws(
 *   () => validatePlugin({ kind: "detector", name: "x", version: "1", driftTypes: [] }, 'plugin "x"'),
 *   { message: 'Cannot load plugin "x": hook "detect" is not a function' },
 * );
 * ```
 */
export function validatePlugin(value: unknown, label: string): Plugin {
  const fail = (problem: string): never => {
    throw new UsageError(`Cannot load ${label}: ${problem}`);
  };
  if (value === null || typeof value !== "object") fail("it is not an object");
  const plugin = value as Record<string, unknown>;
  if (typeof plugin.name !== "string" || plugin.name.trim() === "") {
    fail('"name" is missing or not a non-empty string');
  }
  const named = `${label.replace(/^plugin at position \d+/, `plugin "${plugin.name}"`)}`;
  const failNamed = (problem: string): never => {
    throw new UsageError(`Cannot load ${named}: ${problem}`);
  };
  if (typeof plugin.version !== "string" || plugin.version === "") {
    failNamed('"version" is missing or not a string');
  }
  // Own keys only: a kind of "constructor" or "toString" must not find Object's members.
  if (typeof plugin.kind !== "string" || !Object.hasOwn(HOOKS, plugin.kind)) {
    failNamed(
      `"kind" must be one of "detector", "signer", "reporter", not ${JSON.stringify(plugin.kind)}`,
    );
  }
  const hooks = HOOKS[plugin.kind as string];
  for (const hook of hooks) {
    if (typeof plugin[hook] !== "function") failNamed(`hook "${hook}" is not a function`);
  }
  if (plugin.kind === "detector") {
    if (!Array.isArray(plugin.driftTypes) || plugin.driftTypes.some((t) => typeof t !== "string")) {
      failNamed('"driftTypes" must be a list of strings');
    }
    const defaults = plugin.defaultOptions;
    if (
      defaults !== undefined && (defaults === null || typeof defaults !== "object" ||
        Array.isArray(defaults))
    ) {
      failNamed('"defaultOptions" must be an object');
    }
    if (
      plugin.optionsSchema !== undefined &&
      typeof (plugin.optionsSchema as { safeParse?: unknown })?.safeParse !== "function"
    ) {
      failNamed('"optionsSchema" must have a safeParse function');
    }
    if (plugin.scope !== undefined && !DETECTOR_SCOPES.includes(plugin.scope as DetectorScope)) {
      failNamed(
        `"scope" must be "signature" or "federation", not ${JSON.stringify(plugin.scope)}`,
      );
    }
  }
  if (
    plugin.kind === "signer" && (typeof plugin.algorithm !== "string" || plugin.algorithm === "")
  ) {
    failNamed('"algorithm" is missing or not a string');
  }
  if (plugin.kind === "reporter" && (typeof plugin.format !== "string" || plugin.format === "")) {
    failNamed('"format" is missing or not a string');
  }
  return plugin as unknown as Plugin;
}

/** Where a plugin came from: the module and its position in the module's default export. */
export interface PluginModule {
  /** The URL the module is imported from. */
  url: string;
  /** The plugin's position in the default export (0 for a single plugin). */
  index: number;
}

/** A plugin as the registry holds it. */
export interface RegisteredPlugin {
  /** The plugin. */
  plugin: Plugin;
  /** `built-in`, or the file it came from, for listings and messages. */
  origin: string;
  /** The module it came from, when it came from one. */
  module?: PluginModule;
}

/**
 * The plugins in use, by kind. Built-ins are registered the same way a
 * user's plugin is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PluginRegistry, defineDetector } from "./plugin.ts";
 * const registry = new PluginRegistry();
 * registry.register(defineDetector({
 *   kind: "detector", name: "noop", version: "1.0.0", driftTypes: [], detect: () => [],
 * }));
 * assert.equal(registry.detectors().length, 1);
 * ```
 */
export class PluginRegistry {
  readonly #plugins = new Map<string, RegisteredPlugin>();

  /**
   * Add a plugin, after checking it.
   * @param plugin the plugin
   * @param origin where it came from (`built-in` or a file path), for listings and messages
   * @param module the module it is the default export of, when it came from one: a
   *   detector from a module runs in a worker that can be stopped
   */
  register(plugin: Plugin, origin = "built-in", module?: PluginModule): void {
    validatePlugin(plugin, `plugin "${(plugin as PluginBase)?.name}" from ${origin}`);
    const key = `${plugin.kind}:${plugin.name}`;
    const existing = this.#plugins.get(key);
    if (existing && !plugin.override) {
      throw new UsageError(
        `Cannot load plugin "${plugin.name}" from ${origin}: a ${plugin.kind} of that name is already registered from ${existing.origin} (set "override: true" to replace it)`,
      );
    }
    this.#plugins.set(key, module ? { plugin, origin, module } : { plugin, origin });
  }

  /**
   * The detectors.
   * @returns every detector, in registration order
   */
  detectors(): DetectorPlugin<Record<string, unknown>>[] {
    return this.#ofKind("detector") as DetectorPlugin<Record<string, unknown>>[];
  }

  /**
   * The signer plugins.
   * @returns every signer plugin, in registration order
   */
  signers(): SignerPlugin[] {
    return this.#ofKind("signer") as SignerPlugin[];
  }

  /**
   * The reporters.
   * @returns every reporter, in registration order
   */
  reporters(): ReporterPlugin<unknown>[] {
    return this.#ofKind("reporter") as ReporterPlugin<unknown>[];
  }

  /**
   * The signer plugin for an algorithm.
   * @param algorithm e.g. `hmac-sha256`
   * @returns the plugin, or undefined when none implements it
   */
  signer(algorithm: string): SignerPlugin | undefined {
    return this.signers().find((plugin) => plugin.algorithm === algorithm);
  }

  /**
   * The reporter for a format.
   * @param format e.g. `html`
   * @returns the plugin, or undefined when none renders it
   */
  reporter(format: string): ReporterPlugin<unknown> | undefined {
    return this.reporters().find((plugin) => plugin.format === format);
  }

  /**
   * Every plugin, with where it came from.
   * @returns every plugin with its origin (and module, when it came from one), for `jrm plugins list`
   */
  list(): RegisteredPlugin[] {
    return [...this.#plugins.values()];
  }

  #ofKind(kind: Plugin["kind"]): Plugin[] {
    return [...this.#plugins.values()].filter(({ plugin }) => plugin.kind === kind).map((
      { plugin },
    ) => plugin);
  }
}

/** The file a `file:` URL names; undefined for other URLs (and bad ones: import() says why). */
function localPath(url: string): string | undefined {
  if (!url.toLowerCase().startsWith("file:")) return undefined;
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

/** The largest plugin module file loaded: far more than any hand-written one. */
const MAX_PLUGIN_BYTES = 64 * 1024 * 1024;

/**
 * Import a plugin module and register its default export (one plugin or a
 * list). Every problem is a {@link UsageError} naming the file.
 * @param registry where to register
 * @param specifier a file path or URL
 * @param preloaded the module, when it is already imported (a compiled binary's plugins; their
 *   origin then reads `"<specifier>" (compiled in)`)
 * @param preloadedUrl the URL a worker can import the preloaded module from, if there is one
 *   (detectors of a preloaded module without it run in place)
 * @returns the plugins loaded
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPluginModule, PluginRegistry } from "./plugin.ts";
 * await assert.rejects(loadPluginModule(new PluginRegistry(), "/nonexistent/plugin.ts"), {
 *   message: /^Cannot load plugin file "\/nonexistent\/plugin\.ts"/,
 * });
 * ```
 */
export async function loadPluginModule(
  registry: PluginRegistry,
  specifier: string,
  preloaded?: Record<string, unknown>,
  preloadedUrl?: string,
): Promise<Plugin[]> {
  let module: Record<string, unknown>;
  let url: string | undefined = preloadedUrl;
  if (preloaded) {
    module = preloaded;
  } else {
    // A URL (file:, https:, jsr:, npm:) as given; a path from the working directory.
    // pathToFileURL escapes "#", "?" and "%", which a URL built by hand would misread.
    const isUrl = /^[a-z][a-z0-9+.-]+:/i.test(specifier);
    url = isUrl ? specifier : pathToFileURL(resolve(specifier)).href;
    // import() would wait on a FIFO and read a device without end: refuse them first.
    const path = isUrl ? localPath(url) : specifier;
    if (path !== undefined) checkRegularFile(path, "plugin file", MAX_PLUGIN_BYTES);
    try {
      module = await import(url);
    } catch (error) {
      throw new UsageError(`Cannot load plugin file "${specifier}": ${importFailure(error)}`);
    }
  }
  if (!("default" in module)) {
    throw new UsageError(`Cannot load plugin file "${specifier}": it has no default export`);
  }
  const exported = module.default;
  const list = Array.isArray(exported) ? exported : [exported];
  if (list.length === 0) {
    throw new UsageError(
      `Cannot load plugin file "${specifier}": its default export is an empty list`,
    );
  }
  const plugins = list.map((value, index) => {
    const label = `plugin at position ${index} in "${specifier}"`;
    try {
      return validatePlugin(value, label);
    } catch (error) {
      // A getter or a proxy in the plugin object may throw anything while it is checked.
      if (error instanceof UsageError) throw error;
      throw new UsageError(`Cannot load ${label}: ${causeMessage(error)}`);
    }
  });
  // A compiled binary's listing says where each plugin came from and that it is built in.
  const origin = preloaded ? `"${specifier}" (compiled in)` : `"${specifier}"`;
  plugins.forEach((plugin, index) =>
    registry.register(plugin, origin, url === undefined ? undefined : { url, index })
  );
  return plugins;
}

/** One line for a failed import: the message's first line, and where a parse error is. */
function importFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const [first, ...rest] = error.message.split("\n");
  // A syntax error's message shows the source, then "at file:///…:line:column".
  const at = rest.map((line) => line.trim()).findLast((line) => /^at \S+:\d+:\d+$/.test(line));
  return at === undefined ? first : `${first} (${at})`;
}

/**
 * A check of what a hook returned: a phrase saying what is wrong with it
 * (`it returned a number, not bytes or text`), or undefined when it is fine.
 */
export type HookResultCheck = (value: unknown) => string | undefined;

/**
 * Call a plugin hook, turning any failure into a {@link PluginError} that
 * names the plugin and the hook: a throw or a rejection (`reason` "threw"),
 * or a result that `check` refuses ("invalid-result"). Every call into a
 * plugin goes through here or {@link callHookSync}.
 * @param plugin the plugin
 * @param hook the hook's name
 * @param call the call to make
 * @param check what the result must be, when the caller relies on its type
 * @returns what the hook returned
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { callHook, expectBytesOrText } from "./plugin.ts";
 * await assert.rejects(
 *   callHook({ name: "x" }, "detect", () => { throw new Error("boom"); }),
 *   { message: 'Plugin "x" failed in hook "detect": boom', reason: "threw" },
 * );
 * await assert.rejects(
 *   callHook({ name: "x" }, "render", () => 42, expectBytesOrText),
 *   { message: 'Plugin "x" failed in hook "render": it returned a number, not bytes or text' },
 * );
 * ```
 */
export async function callHook<T>(
  plugin: { name: string },
  hook: string,
  call: () => T | Promise<T>,
  check?: HookResultCheck,
): Promise<T> {
  let value: T;
  try {
    value = await call();
  } catch (error) {
    throw new PluginError(plugin.name, hook, error);
  }
  return checked(plugin, hook, value, check);
}

/**
 * {@link callHook} for a hook that must answer at once (a schema's
 * `safeParse`): a promise is a wrong result.
 * @param plugin the plugin
 * @param hook the hook's name
 * @param call the call to make
 * @param check what the result must be
 * @returns what the hook returned
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { callHookSync } from "./plugin.ts";
 * assert.throws(() => callHookSync({ name: "x" }, "optionsSchema.safeParse", () => Promise.resolve(1)), {
 *   message: 'Plugin "x" failed in hook "optionsSchema.safeParse": it returned a promise; this hook must answer at once',
 * });
 * ```
 */
export function callHookSync<T>(
  plugin: { name: string },
  hook: string,
  call: () => T,
  check?: HookResultCheck,
): T {
  let value: T;
  try {
    value = call();
  } catch (error) {
    throw new PluginError(plugin.name, hook, error);
  }
  if (isThenable(value)) {
    // Nothing will wait for it: a later rejection must not end the process.
    Promise.resolve(value).catch(() => {});
    throw new PluginError(
      plugin.name,
      hook,
      new TypeError("it returned a promise; this hook must answer at once"),
      "invalid-result",
    );
  }
  return checked(plugin, hook, value, check);
}

function checked<T>(
  plugin: { name: string },
  hook: string,
  value: T,
  check: HookResultCheck | undefined,
): T {
  let problem: string | undefined;
  try {
    problem = check?.(value);
  } catch (error) {
    // A getter or a proxy in the result threw while it was looked at.
    problem = `it returned a value that cannot be read: ${causeMessage(error)}`;
  }
  if (problem !== undefined) {
    throw new PluginError(plugin.name, hook, new TypeError(problem), "invalid-result");
  }
  return value;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * How a value is named in a message: `a number`, `a list`, `null`, `bytes`, ….
 * @param value any value
 * @returns a short phrase
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeValue } from "./plugin.ts";
 * assert.equal(describeValue(42), "a number");
 * assert.equal(describeValue([]), "a list");
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Uint8Array) return "bytes";
  if (isThenable(value)) return "a promise";
  const type = typeof value;
  return type === "object" ? "an object" : `a ${type}`;
}

/**
 * A reporter's `render` result must be bytes or text.
 * @param value what it returned
 * @returns the problem, or undefined
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectBytesOrText } from "./plugin.ts";
 * assert.equal(expectBytesOrText("<html>"), undefined);
 * assert.equal(expectBytesOrText(42), "it returned a number, not bytes or text");
 * ```
 */
export function expectBytesOrText(value: unknown): string | undefined {
  return typeof value === "string" || value instanceof Uint8Array
    ? undefined
    : `it returned ${describeValue(value)}, not bytes or text`;
}

/**
 * A signer's `verify` result must be a boolean.
 * @param value what it returned
 * @returns the problem, or undefined
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectBoolean } from "./plugin.ts";
 * assert.equal(expectBoolean(false), undefined);
 * assert.equal(expectBoolean("yes"), "it returned a string, not true or false");
 * ```
 */
export function expectBoolean(value: unknown): string | undefined {
  return typeof value === "boolean"
    ? undefined
    : `it returned ${describeValue(value)}, not true or false`;
}

/**
 * A signer's `sign` result must be the signature value: a non-empty string.
 * @param value what it returned
 * @returns the problem, or undefined
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectSignatureValue } from "./plugin.ts";
 * assert.equal(expectSignatureValue("ab12"), undefined);
 * assert.equal(expectSignatureValue(""), "it returned an empty string, not a signature value");
 * ```
 */
export function expectSignatureValue(value: unknown): string | undefined {
  if (value === "") return "it returned an empty string, not a signature value";
  return typeof value === "string"
    ? undefined
    : `it returned ${describeValue(value)}, not a signature value (a string)`;
}

/**
 * What a signer plugin's `createSigner` must return: `{ signer, warnings }`
 * with a signer of the plugin's own algorithm.
 * @param plugin the signer plugin
 * @returns the check
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectSignerCreation } from "./plugin.ts";
 * const check = expectSignerCreation({ algorithm: "x" });
 * assert.equal(check(7), "it returned a number, not { signer, warnings }");
 * ```
 */
export function expectSignerCreation(plugin: { algorithm: string }): HookResultCheck {
  return (value) => {
    if (value === null || typeof value !== "object") {
      return `it returned ${describeValue(value)}, not { signer, warnings }`;
    }
    const { signer, warnings } = value as { signer?: unknown; warnings?: unknown };
    if (!Array.isArray(warnings) || warnings.some((warning) => typeof warning !== "string")) {
      return `its "warnings" is ${describeValue(warnings)}, not a list of strings`;
    }
    if (signer === null || typeof signer !== "object") {
      return `its "signer" is ${describeValue(signer)}, not an object`;
    }
    const { algorithm, canSign, keyId, sign, verify } = signer as Record<string, unknown>;
    if (algorithm !== plugin.algorithm) {
      const given = typeof algorithm === "string"
        ? JSON.stringify(algorithm)
        : describeValue(algorithm);
      return `its signer's "algorithm" is ${given}, not the plugin's "${plugin.algorithm}"`;
    }
    if (typeof canSign !== "boolean") {
      return `its signer's "canSign" is ${describeValue(canSign)}, not true or false`;
    }
    if (keyId !== undefined && typeof keyId !== "string") {
      return `its signer's "keyId" is ${describeValue(keyId)}, not a string`;
    }
    if (typeof sign !== "function") return `its signer's "sign" is not a function`;
    if (typeof verify !== "function") return `its signer's "verify" is not a function`;
    return undefined;
  };
}

/**
 * A signer whose every call goes through {@link callHook}: a throw, a
 * rejection or a result of the wrong type from `sign` or `verify` is a
 * {@link PluginError} naming the plugin and the hook.
 * @param plugin the plugin that made the signer
 * @param signer the signer it made (already checked by {@link expectSignerCreation})
 * @returns a frozen signer that calls `signer`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { guardSigner } from "./plugin.ts";
 * const signer = guardSigner({ name: "odd" }, {
 *   algorithm: "odd", canSign: true,
 *   sign: () => Promise.resolve("ab"),
 *   verify: () => Promise.resolve("yes" as unknown as boolean),
 * });
 * assert.equal(await signer.sign(new Uint8Array()), "ab");
 * await assert.rejects(signer.verify(new Uint8Array(), "ab"), {
 *   message: 'Plugin "odd" failed in hook "verify": it returned a string, not true or false',
 * });
 * ```
 */
export function guardSigner(plugin: { name: string }, signer: Signer): Signer {
  return Object.freeze({
    algorithm: signer.algorithm,
    ...(signer.keyId === undefined ? {} : { keyId: signer.keyId }),
    canSign: signer.canSign,
    sign: (bytes: Uint8Array) =>
      callHook(plugin, "sign", () => signer.sign(bytes), expectSignatureValue),
    verify: (bytes: Uint8Array, value: string) =>
      callHook(plugin, "verify", () => signer.verify(bytes, value), expectBoolean),
  });
}
