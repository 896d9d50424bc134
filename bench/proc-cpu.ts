/**
 * CPU time of processes from `/proc/<pid>/stat` (user + system), for benches that report CPU per
 * message by process next to their rates.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of the stat times (USER_HZ: 100 on Linux). */
const CLK_TCK = 100;

/** CPU time used so far by `pid`, ms. */
export function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) * (1000 / CLK_TCK);
}

/** CPU time used so far, ms, summed over every process whose command name (`comm`) is in `names`, by name. */
export function cpuMsByName(names: string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      if (comm in out) out[comm] = (out[comm] ?? 0) + cpuMsOf(Number(p));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}
