/**
 * How much a 1 GiB zip bomb costs `readArchive()` at the default limits.
 *
 * Builds one entry of 1 GiB of zeros (about 1 MB deflated) twice: once with
 * its true size in the headers (refused from the declaration, nothing
 * inflated) and once declaring 1000 bytes (inflated until the 256 MiB entry
 * limit stops it, the worst case). Prints the time each refusal takes and
 * the resident set size sampled right after each refusal (before the garbage
 * is collected, so close to the peak; Deno needs `--allow-all` to read
 * `/proc/self/status`, so for the true peak run it under `/usr/bin/time -v`
 * and read "Maximum resident set size"). Writes both bombs to `bench/.cache/`
 * for inspection (`unzip -t`).
 *
 * ```sh
 * deno run --allow-read --allow-write bench/zip_bomb.ts [declared|lying]
 * /usr/bin/time -v deno run --allow-read --allow-write bench/zip_bomb.ts lying
 * ```
 *
 * @module
 */

import { DEFAULT_LIMITS, readArchive } from "../core/archive.ts";
import { PacketError } from "../core/errors.ts";
import { craftZip, deflatedZeros } from "../tests/_craft.ts";

const GIB = 1024 * 1024 * 1024;
const variants = { declared: GIB, lying: 1000 } as const;
type Variant = keyof typeof variants;

const chosen = (Deno.args.length > 0 ? Deno.args : Object.keys(variants)) as Variant[];
for (const variant of chosen) {
  if (!(variant in variants)) throw new Error(`Unknown variant "${variant}"`);
}

const bomb = deflatedZeros(1024);
await Deno.mkdir(new URL("./.cache/", import.meta.url), { recursive: true });
console.log(
  `bomb: 1 GiB of zeros in ${bomb.payload.length} compressed bytes; ` +
    `entry limit ${DEFAULT_LIMITS.maxEntryBytes} bytes`,
);

for (const variant of chosen) {
  const fields = { crc32: bomb.crc32, uncompressedSize: variants[variant] };
  const zip = craftZip([
    { name: "bomb.bin", payload: bomb.payload, local: fields, central: fields },
  ]);
  await Deno.writeFile(new URL(`./.cache/bomb_1gib_${variant}.zip`, import.meta.url), zip);
  const start = performance.now();
  let outcome: string;
  try {
    readArchive(zip);
    outcome = "ACCEPTED (should not happen)";
  } catch (error) {
    if (!(error instanceof PacketError)) throw error;
    outcome = `${error.violation.code}: ${error.message}`;
  }
  const elapsed = performance.now() - start;
  const rss = Deno.memoryUsage().rss / (1024 * 1024);
  console.log(
    `${variant}: refused in ${elapsed.toFixed(1)} ms, RSS after ${rss.toFixed(0)} MB -> ${outcome}`,
  );
}
