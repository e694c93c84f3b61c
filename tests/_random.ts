/**
 * A small seeded generator (mulberry32) for the tests' differential fuzzing,
 * so that a failure names a seed that reproduces it.
 * @param seed any integer
 * @returns a function giving numbers in [0, 1)
 */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
