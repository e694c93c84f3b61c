/**
 * The service's metrics in the Prometheus text format (version 0.0.4):
 * counters and gauges with labels, and one histogram.
 *
 * @module
 */

/** Upper bounds (seconds) of the ingest-duration histogram's buckets. */
export const INGEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The metrics the service exposes on `/metrics`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "./metrics.ts";
 * const metrics = new Metrics();
 * metrics.countPacket("SOC_EAST", "accepted");
 * metrics.observeIngest(0.02);
 * const text = metrics.render({ drifts: { VERSION_SKEW: 2 }, queueDepth: 0 });
 * assert.match(text, /^jrm_packets_total\{environment="SOC_EAST",status="accepted"\} 1$/m);
 * assert.match(text, /^jrm_ingest_duration_seconds_bucket\{le="0\.025"\} 1$/m);
 * assert.match(text, /^jrm_drifts\{type="VERSION_SKEW"\} 2$/m);
 * ```
 */
export class Metrics {
  #packets = new Map<string, number>();
  #buckets = INGEST_BUCKETS.map(() => 0);
  #count = 0;
  #sum = 0;

  /**
   * Count one pushed packet.
   * @param environment a keyring environment, or `unknown`
   * @param status accepted, duplicate or rejected
   */
  countPacket(environment: string, status: string): void {
    const key = `environment="${escapeLabel(environment)}",status="${escapeLabel(status)}"`;
    this.#packets.set(key, (this.#packets.get(key) ?? 0) + 1);
  }

  /**
   * Record how long one ingest took.
   * @param seconds the duration
   */
  observeIngest(seconds: number): void {
    this.#count++;
    this.#sum += seconds;
    INGEST_BUCKETS.forEach((bound, index) => {
      if (seconds <= bound) this.#buckets[index]++;
    });
  }

  /**
   * The exposition text.
   * @param state the values read at scrape time: drifts per type and the queue's depth
   * @returns the text, ending with a newline
   */
  render(state: { drifts: Record<string, number>; queueDepth: number }): string {
    const lines = [
      "# HELP jrm_packets_total Packets pushed or watched, by environment and outcome.",
      "# TYPE jrm_packets_total counter",
      ...[...this.#packets].sort().map(([labels, value]) =>
        `jrm_packets_total{${labels}} ${value}`
      ),
      "# HELP jrm_drifts Drifts in the current state, by type.",
      "# TYPE jrm_drifts gauge",
      ...Object.entries(state.drifts).sort().map(([type, value]) =>
        `jrm_drifts{type="${escapeLabel(type)}"} ${value}`
      ),
      "# HELP jrm_ingest_duration_seconds Time to ingest one packet.",
      "# TYPE jrm_ingest_duration_seconds histogram",
      ...INGEST_BUCKETS.map((bound, index) =>
        `jrm_ingest_duration_seconds_bucket{le="${bound}"} ${this.#buckets[index]}`
      ),
      `jrm_ingest_duration_seconds_bucket{le="+Inf"} ${this.#count}`,
      `jrm_ingest_duration_seconds_sum ${this.#sum}`,
      `jrm_ingest_duration_seconds_count ${this.#count}`,
      "# HELP jrm_queue_depth Pushes waiting to be ingested.",
      "# TYPE jrm_queue_depth gauge",
      `jrm_queue_depth ${state.queueDepth}`,
    ];
    return lines.join("\n") + "\n";
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
