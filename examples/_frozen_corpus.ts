/**
 * A packet corpus in which one environment stopped publishing early (its
 * state is "frozen"), for trying and testing the `stale-environment`
 * example: every environment publishes 10-minute windows from
 * 2026-02-28T10:00:00Z, and the frozen one only the first of them.
 *
 * @module
 */

import { generateCorpus } from "../fixtures/corpus.ts";

/** What {@link _writeFrozenCorpus} wrote. */
export interface _FrozenCorpus {
  /** The environment that stopped early. */
  frozen: string;
  /** The packet files written. */
  files: string[];
  /** Minutes between the frozen environment's newest window end and the others'. */
  lagMinutes: number;
}

/**
 * Write a corpus to a directory: `SOC_EAST` and `SOC_NORTH` publish
 * `windows` windows, `SOC_WEST` only the first.
 * @param dir an existing directory
 * @param windows windows per environment, 2 or more (the lag is `(windows - 1) * 10` minutes)
 * @returns the frozen environment, the files and the lag
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { _writeFrozenCorpus } from "./_frozen_corpus.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const corpus = await _writeFrozenCorpus(dir, 3);
 *   assert.equal(corpus.lagMinutes, 20);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function _writeFrozenCorpus(dir: string, windows: number): Promise<_FrozenCorpus> {
  const frozen = "SOC_WEST";
  const { packets } = await generateCorpus({
    environments: ["SOC_EAST", "SOC_NORTH", frozen],
    packetsPerEnvironment: windows,
    signatures: 14,
    eventsPerPacket: 1,
  });
  // The first window ends at 10:10; the frozen environment keeps only that one.
  const kept = packets.filter(({ environmentId, fileName }) =>
    environmentId !== frozen || fileName.includes("_20260228T100000_20260228T101000_")
  );
  const files: string[] = [];
  for (const { fileName, bytes } of kept) {
    const path = `${dir}/${fileName}`;
    await Deno.writeFile(path, bytes);
    files.push(path);
  }
  return { frozen, files: files.sort(), lagMinutes: (windows - 1) * 10 };
}
