/**
 * The drain limit across memfails that share no journal file: a gate every
 * evacuation passes before it begins (or resumes) and leaves when it ends.
 * The journal's own limit (Journal.begin) counts the hosts draining in one
 * SQLite file; a gate counts them wherever it keeps them (PostgreSQL:
 * fleet/drain-pg.ts), so agents on thousands of hosts hold one limit.
 */
export interface DrainGate {
  /** Where the count is kept, for messages (no secrets). */
  readonly where: string;
  /** How often a draining host must say it still drains (ms); an entry not renewed expires. */
  readonly renewMs: number;
  /**
   * Admits `host` unless `limit` other hosts drain; a host admitted before is
   * admitted again (a resumed evacuation). Null when admitted, else the
   * hosts draining.
   */
  enter(
    host: string,
    limit: number,
    reason: string,
  ): Promise<{ readonly draining: readonly string[] } | null>;
  /** `host` still drains. */
  renew(host: string): Promise<void>;
  /** `host` has finished draining (done or incomplete). */
  leave(host: string): Promise<void>;
  close(): Promise<void>;
}
