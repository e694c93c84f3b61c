/**
 * The plugin registry a command runs with: the built-ins, the plugins compiled
 * into the binary, the config's plugins and `--plugin` files. Its own module so
 * that the commands (federate, report, hub, …) share it without importing
 * each other.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { loadPluginModule, type PluginRegistry } from "../core/plugin.ts";
import { builtinRegistry } from "../plugins/builtin.ts";

/**
 * Plugins compiled into the binary (see `deno task compile`); set by the generated entry module.
 * `url` is where a worker imports the module from, so its detectors can be stopped.
 */
export const compiledPlugins: {
  specifier: string;
  module: Record<string, unknown>;
  url?: string;
}[] = [];

/**
 * A registry with the built-ins, compiled-in plugins, the config's plugins and `--plugin` files.
 * @param config the loaded config (its plugin paths)
 * @param pluginFlags the `--plugin` files
 * @returns the registry
 */
export async function registryFor(config: Config, pluginFlags: string[]): Promise<PluginRegistry> {
  const registry = builtinRegistry();
  for (const { specifier, module, url } of compiledPlugins) {
    await loadPluginModule(registry, specifier, module, url);
  }
  for (const path of [...config.pluginPaths, ...pluginFlags]) {
    await loadPluginModule(registry, path);
  }
  return registry;
}
