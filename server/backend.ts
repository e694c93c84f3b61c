/**
 * What the HTTP service needs from the hub: the contract between server/ and
 * the kernel. cli/serve.ts adapts the store to it; tests may give their own.
 *
 * @module
 */

/** The outcome of one pushed packet. */
export interface PushResult {
  /** What the hub did with it. */
  status: "accepted" | "duplicate" | "rejected";
  /** The manifest's packet name, when it could be read. */
  packetName: string | null;
  /** `sha256:` of the archive's bytes. */
  digest: string;
  /** The environment the manifest claims, when it could be read. */
  environmentId: string | null;
  /** Why it was refused; empty unless rejected. */
  violations: { code: string; message: string }[];
}

/** A decision on an advisory. */
export type Decision = "accept" | "decline";

/** The hub as the service sees it. Every method may be called concurrently but `push`. */
export interface HubBackend {
  /**
   * Gate one packet and ingest it in one transaction. The service never calls
   * it twice at once.
   */
  push(bytes: Uint8Array, source: string): Promise<PushResult>;
  /** The federation report of the current state, as `hub report` writes it. */
  report(): Promise<Record<string, unknown>>;
  /** The HTML page of the current state, with the advisories' decisions. */
  page(refreshSeconds: number): Promise<string>;
  /** Advisories, optionally of one status, as `advisory list --json` prints them. */
  advisories(status?: string): Promise<Record<string, unknown>[]>;
  /** One advisory, or undefined. */
  advisory(id: string): Promise<Record<string, unknown> | undefined>;
  /**
   * Record a decision. Throws {@link AdvisoryConflict}-like errors through the
   * kernel's typed errors: unknown id, not published.
   */
  decide(
    id: string,
    decision: Decision,
    by: string,
    reason: string | undefined,
  ): Promise<Record<string, unknown>>;
  /** Whether the store answers. */
  healthy(): Promise<boolean>;
  /** Is this environment in the keyring? (metrics label only for known ones) */
  knownEnvironment(environmentId: string | null): boolean;
  /** Release the store. */
  close(): Promise<void>;
}
