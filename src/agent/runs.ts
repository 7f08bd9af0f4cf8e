/**
 * Watch processes on a database, so that the record can say when nobody was
 * watching: each `memfail watch` writes a row when it starts, marks itself
 * alive every few seconds and ended when it stops. A row never marked ended
 * belongs to a process that was killed (SIGKILL, a crash, the host going
 * down); the next start turns it into gaps (table gap, reason agent-killed)
 * from its last sign of life to now, one per VM it watched.
 */
import type Database from 'better-sqlite3';
import { type GapObservation, microsToIso } from './records.js';
import { GAP_COLUMNS, gapRow, insertSql } from './store-rows.js';

export interface StartedRun {
  readonly runId: number;
  /** The gaps recorded for earlier runs that did not end cleanly. */
  readonly gaps: readonly GapObservation[];
}

/**
 * Records this process's run and, in the same write transaction, the gaps of
 * every earlier run that did not end: one still going (its process exists,
 * its heartbeat younger than `staleAfterUs`) is left alone.
 */
export function startRun(
  db: Database.Database,
  vms: readonly string[],
  nowUs: number,
  staleAfterUs: number,
): StartedRun {
  const insertGap = db.prepare(insertSql('INSERT', 'gap', GAP_COLUMNS));
  return db
    .transaction(() => {
      const open = db
        .prepare('SELECT id, pid, alive_us, vms FROM agent_run WHERE ended_us IS NULL')
        .all() as { id: number; pid: number; alive_us: number; vms: string }[];
      const gaps: GapObservation[] = [];
      for (const run of open) {
        if (nowUs - run.alive_us < staleAfterUs && processExists(run.pid)) continue;
        db.prepare('UPDATE agent_run SET ended_us = alive_us WHERE id = ?').run(run.id);
        const names = parseNames(run.vms);
        for (const vm of names.length === 0 ? [null] : names) {
          const gap: GapObservation = {
            kind: 'gap',
            vm,
            fromUs: run.alive_us,
            toUs: nowUs,
            reason: 'agent-killed',
            detail: `watch process ${run.pid} ended without stopping (last sign of life ${microsToIso(run.alive_us)})`,
          };
          insertGap.run(gapRow(gap));
          gaps.push(gap);
        }
      }
      const runId = Number(
        db
          .prepare('INSERT INTO agent_run (pid, started_us, alive_us, vms) VALUES (?, ?, ?, ?)')
          .run(process.pid, nowUs, nowUs, JSON.stringify(vms)).lastInsertRowid,
      );
      return { runId, gaps };
    })
    .immediate();
}

export function heartbeat(db: Database.Database, runId: number, nowUs: number): void {
  db.prepare('UPDATE agent_run SET alive_us = ? WHERE id = ?').run(nowUs, runId);
}

export function endRun(db: Database.Database, runId: number, nowUs: number): void {
  db.prepare('UPDATE agent_run SET alive_us = ?, ended_us = ? WHERE id = ?').run(
    nowUs,
    nowUs,
    runId,
  );
}

/** Whether a process with this id exists (another than this one: ours is a new run). */
function processExists(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

function parseNames(json: string): string[] {
  try {
    const names = JSON.parse(json) as unknown;
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}
