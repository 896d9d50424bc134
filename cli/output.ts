/**
 * How commands print: a human table by default, `--json` for scripts (one JSON document, or one JSON
 * value per line for streams), and a progress bar on stderr for long work — only when stderr is a
 * terminal, so scripts and logs never see carriage returns.
 */
import type { CommandIo, OptionSpec } from './command-spec.js';

/** The `--json` option every command that prints data accepts. */
export const JSON_OPTION: OptionSpec = { name: 'json', type: 'boolean', description: 'print JSON instead of a table (for scripts)' };

/** One column of a table: its header and how to read a cell from a row. */
export interface Column<T> {
  header: string;
  get(row: T): unknown;
  /** Right-align (numbers). */
  right?: boolean;
}

/** Renders a cell: null/undefined as "-", objects as compact JSON, strings without control characters. */
function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** Formats rows as an aligned plain-text table (no box drawing: easy to grep and to paste). */
export function formatTable<T>(rows: readonly T[], columns: ReadonlyArray<Column<T>>): string {
  const cells = rows.map((r) => columns.map((c) => cell(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]): string => vals
    .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : i === vals.length - 1 ? v : v.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n');
}

/** Prints `value` as JSON (`--json`) or `rows` as a table; an empty table prints its header only. */
export function printRows<T>(io: CommandIo, json: boolean, value: unknown, rows: readonly T[], columns: ReadonlyArray<Column<T>>): void {
  if (json) io.out(JSON.stringify(value, null, 2));
  else io.out(formatTable(rows, columns));
}

/** Prints one object as `key: value` lines, or as JSON. */
export function printRecord(io: CommandIo, json: boolean, value: Record<string, unknown>): void {
  if (json) {
    io.out(JSON.stringify(value, null, 2));
    return;
  }
  const width = Math.max(0, ...Object.keys(value).map((k) => k.length));
  for (const [k, v] of Object.entries(value)) io.out(`${`${k}:`.padEnd(width + 1)} ${cell(v)}`);
}

/** A progress bar on stderr, redrawn at most every 100 ms; silent unless stderr is a terminal. */
export class Progress {
  private done = 0;
  private last = 0;
  private readonly started = Date.now();

  constructor(private readonly io: CommandIo, private readonly label: string, private readonly total?: number) {}

  /** Counts `n` more units of work. */
  tick(n = 1): void {
    this.done += n;
    const now = Date.now();
    if (now - this.last >= 100) {
      this.last = now;
      this.draw();
    }
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    this.draw();
    if (this.io.stderrIsTTY) this.io.writeErr('\n');
  }

  private draw(): void {
    if (!this.io.stderrIsTTY) return;
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    const rate = `${Math.round(this.done / secs)}/s`;
    let text: string;
    if (this.total !== undefined && this.total > 0) {
      const frac = Math.min(1, this.done / this.total);
      const bar = '#'.repeat(Math.round(frac * 30)).padEnd(30, '.');
      text = `${this.label} [${bar}] ${this.done}/${this.total} ${rate}`;
    } else {
      text = `${this.label} ${this.done} ${rate}`;
    }
    this.io.writeErr(`\r${text}`);
  }
}
