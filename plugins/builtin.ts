/**
 * Registers the built-in plugins, the same way a user's plugins are
 * registered: nothing a built-in does is out of a user's reach.
 *
 * @module
 */

import { type Plugin, PluginRegistry } from "../core/plugin.ts";
import postureDivergence from "./detectors/posture_divergence.ts";
import refinementConflict from "./detectors/refinement_conflict.ts";
import versionSkew from "./detectors/version_skew.ts";
import htmlReporter from "./reporters/html.ts";
import jsonReporter from "./reporters/json.ts";
import ed25519 from "./signers/ed25519.ts";
import hmacSha256 from "./signers/hmac_sha256.ts";

/** The built-in plugins, in registration order. */
export const BUILTIN_PLUGINS: readonly Plugin[] = [
  versionSkew,
  postureDivergence,
  refinementConflict,
  hmacSha256,
  ed25519,
  jsonReporter,
  htmlReporter,
];

/**
 * A registry holding every built-in plugin.
 * @returns a new registry
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { builtinRegistry } from "./builtin.ts";
 * assert.notEqual(builtinRegistry().signer("hmac-sha256"), undefined);
 * ```
 */
export function builtinRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const plugin of BUILTIN_PLUGINS) registry.register(plugin);
  return registry;
}
