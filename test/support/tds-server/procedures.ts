/**
 * The scripted procedure table of the test responder. Nothing here is an SQL engine: each entry is a
 * declared parameter list (served to catalog look-ups of sys.parameters) and a script that writes result
 * sets, output parameters and a return status through a {@link ProcSink}. `dbo.rows` produces its rows one
 * at a time and waits while the client does not read, as a real server blocked on its send buffer does.
 */
import type { Column, SqlType, SqlValue } from './tokens.js';

/** One declared parameter, as sys.parameters would list it. */
export interface ProcParamDef {
  name: string;
  type: SqlType;
  output?: boolean;
  /** Used when the caller does not send the parameter (a declared default); absent = required. */
  default?: SqlValue;
}

/** How a script talks back to the client. */
export interface ProcSink {
  /** Starts a result set (COLMETADATA). */
  resultSet(cols: Column[]): void;
  /** Writes one row; resolves false when the client cancelled (stop producing). */
  row(values: SqlValue[]): Promise<boolean>;
  /** Ends the current result set (DONEINPROC with its row count). */
  endResultSet(): void;
  /** Raises an error like RAISERROR/THROW; the script should return afterwards. */
  error(e: { number: number; message: string; severity?: number; state?: number }): void;
  /** Waits like WAITFOR DELAY, sending nothing; resolves false when the client cancelled. */
  idle(ms: number): Promise<boolean>;
  /** Sets an OUTPUT parameter. */
  output(name: string, value: SqlValue): void;
}

export interface ProcDef {
  params: ProcParamDef[];
  /** Returns the RETURN status (default 0). */
  run(args: Record<string, SqlValue>, sink: ProcSink): Promise<number | void>;
}

/** The procedures every test can call (schema-qualified, lower case). */
export function defaultProcedures(): Record<string, ProcDef> {
  return {
    'dbo.echo': {
      params: [
        { name: 'a', type: 'nvarchar' },
        { name: 'b', type: 'int' },
      ],
      async run(args, sink) {
        sink.resultSet([
          { name: 'a', type: 'nvarchar' },
          { name: 'b', type: 'int' },
        ]);
        await sink.row([args.a ?? null, args.b ?? null]);
        sink.endResultSet();
      },
    },
    'dbo.add': {
      params: [
        { name: 'x', type: 'int' },
        { name: 'y', type: 'int' },
        { name: 'sum', type: 'int', output: true },
      ],
      async run(args, sink) {
        sink.output('sum', Number(args.x) + Number(args.y));
        return 7;
      },
    },
    'dbo.two_sets': {
      params: [],
      async run(_args, sink) {
        sink.resultSet([{ name: 'n', type: 'int' }]);
        await sink.row([1]);
        await sink.row([2]);
        sink.endResultSet();
        sink.resultSet([{ name: 'name', type: 'nvarchar' }]);
        await sink.row(['x']);
        sink.endResultSet();
      },
    },
    'dbo.fail': {
      params: [],
      async run(_args, sink) {
        sink.error({ number: 50000, message: 'dbo.fail failed on purpose', severity: 16, state: 1 });
        return -6;
      },
    },
    'dbo.sleep': {
      params: [{ name: 'ms', type: 'int' }],
      async run(args, sink) {
        if (!(await sink.idle(Number(args.ms)))) return;
        sink.resultSet([{ name: 'slept', type: 'int' }]);
        await sink.row([1]);
        sink.endResultSet();
      },
    },
    'dbo.rows': {
      params: [
        { name: 'n', type: 'int' },
        { name: 'width', type: 'int', default: 0 },
      ],
      async run(args, sink) {
        const n = Number(args.n);
        const width = Number(args.width ?? 0);
        sink.resultSet([
          { name: 'i', type: 'int' },
          { name: 's', type: 'nvarchar' },
        ]);
        for (let i = 1; i <= n; i++) {
          if (!(await sink.row([i, `row-${i}`.padEnd(width, '.')]))) return;
        }
        sink.endResultSet();
      },
    },
  };
}
