/**
 * Runs the jobs of one type in one worker process: pulls a batch equal to the free slots, runs up to
 * `concurrency` handlers at once, and keeps one sweep timer for all of them (heartbeats every
 * ackWait/3, the lazy `running` record, deadlines). How a run ends is reported to the broker's job
 * port, which decides ack / nak(delay) / dead letter (STYLE §2).
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Broker, JobDelivery, JobFeedHandle, JobOutcome, JobPort, Logger } from '../broker/index.js';
import type { JobStreamSender } from '../broker/job-stream.js';
import { isSbError } from '../broker/errors.js';
import { broadcast, broadcastBytes } from '../broker/ws-broadcast.js';
import type { WorkerTypeConfig } from '../schemas/job.js';
import { JobFailure, type JobContext, type JobHandler, type JobStreamSink } from './types.js';

type AbortReason = 'cancelled' | 'deadline' | 'shutdown';

/** One job this process holds (admitted or running). */
interface InFlight {
  d: JobDelivery;
  /** Made when the handler first reads `ctx.signal` (most no-op and short handlers never do). */
  ac: AbortController | undefined;
  reason: AbortReason | undefined;
  startedAt: number;
  deadline: number;
  lastBeat: number;
  runningWritten: boolean;
  /** Only a job in `run` gets a `running` record: one being settled must not have its final record overwritten. */
  phase: 'admit' | 'run' | 'settle';
  /** Resolves when aborted, so settling does not wait for a handler that ignores its signal. */
  aborted: Promise<void> | undefined;
  wake: (() => void) | undefined;
  /** The sending end when the caller streams the result (`ctx.stream`). */
  sender: JobStreamSender | undefined;
}

/** A job not yet running is marked `running` in its record once it has run this long. */
const RUNNING_RECORD_AFTER_MS = 250;
/** Sweep period: deadline precision and the lazy `running` record are bound to it. */
const SWEEP_MS = 100;
/** Lifetime of each pull request; also bounds how long a drain waits for requests still open. */
const PULL_EXPIRES_MS = 1000;

/** Per-type counters shown in the registry. */
export interface TypeCounts {
  succeeded: number;
  failed: number;
}

/** What a runner needs from its worker. */
export interface RunnerDeps {
  port: JobPort;
  broker: Broker;
  workerId: string;
  log: Logger;
  /** True if a cancel request for `id` arrived recently (before the job was registered here). */
  wasCancelled: (id: string) => boolean;
}

/** The loop of one job type. */
export class TypeRunner {
  readonly inFlight = new Map<string, InFlight>();
  readonly counts: TypeCounts = { succeeded: 0, failed: 0 };
  private readonly checkIn: TypeCheck<TSchema>;
  private readonly checkOut: TypeCheck<TSchema>;
  private stopping = false;
  private feed: JobFeedHandle | undefined;
  private feedClosed: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly runs = new Set<Promise<void>>();
  private readonly minBatch: number;

  constructor(
    readonly cfg: WorkerTypeConfig,
    private readonly handler: JobHandler,
    private readonly deps: RunnerDeps,
  ) {
    // Compiled once: per-job validation is then a plain function call.
    this.checkIn = TypeCompiler.Compile(handler.inputSchema);
    this.checkOut = TypeCompiler.Compile(handler.outputSchema);
    this.minBatch = Math.max(1, Math.ceil(cfg.concurrency / 4));
  }

  /** Starts pulling. */
  start(): void {
    this.feed = this.deps.port.feed(this.cfg.type, { job: (d) => this.launch(d), ended: () => this.refill() });
    this.sweeper = setInterval(() => this.sweep(), Math.min(SWEEP_MS, Math.floor(this.cfg.ackWaitMs / 3)));
    this.refill();
  }

  /** Aborts the job `id` if it runs here. */
  abort(id: string, reason: AbortReason): boolean {
    const j = this.inFlight.get(id);
    if (!j) return false;
    this.abortJob(j, reason);
    return true;
  }

  /** Stops asking for jobs and resolves once every open pull request has ended (their jobs join the in-flight set). */
  async stopPulling(): Promise<void> {
    this.stopping = true;
    const feed = this.feed;
    if (!feed) return;
    if (feed.requests > 0) await new Promise<void>((r) => { this.feedClosed = r; });
    feed.close();
  }

  /** Resolves when no job is in flight. */
  async idle(): Promise<void> {
    while (this.runs.size > 0) await Promise.allSettled([...this.runs]);
  }

  /** Hands every job still in flight back (abort with `shutdown`), then waits for them to settle. */
  async handBackAll(): Promise<void> {
    for (const j of this.inFlight.values()) this.abortJob(j, 'shutdown');
    await this.idle();
  }

  /** Clears the sweep timer (after the drain). */
  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  // Keeps pull requests open for the free slots: once a quarter of the slots is free (a busy worker
  // does not ask per finished job), or whenever nothing at all is asked for.
  private refill(): void {
    const feed = this.feed;
    if (!feed) return;
    if (this.stopping) {
      if (feed.requests === 0) this.feedClosed?.();
      return;
    }
    const free = this.cfg.concurrency - this.inFlight.size - feed.outstanding;
    if (free > 0 && (free >= this.minBatch || feed.requests === 0)) feed.request(free, PULL_EXPIRES_MS);
  }

  private launch(d: JobDelivery): void {
    const now = Date.now();
    const deadline = Date.parse(d.envelope.deadline);
    const j: InFlight = {
      d, ac: undefined, reason: undefined, startedAt: now, deadline: Number.isNaN(deadline) ? now : deadline,
      lastBeat: now, runningWritten: false, phase: 'admit', aborted: undefined, wake: undefined, sender: undefined,
    };
    // A second delivery of a job already held here (an ack wait ran out, or the server repeated a delivery):
    // the run in progress settles the message; the extra delivery is left alone.
    if (this.inFlight.has(d.envelope.id)) {
      this.deps.log.warn({ id: d.envelope.id, deliveryCount: d.deliveryCount }, 'job delivered again while still held here; ignored');
      return;
    }
    this.inFlight.set(d.envelope.id, j);
    const run = this.run(j).catch((err: unknown) => this.deps.log.error({ err, id: d.envelope.id }, 'job settle failed; the job will be redelivered'));
    this.runs.add(run);
    void run.finally(() => {
      this.runs.delete(run);
      if (this.inFlight.get(d.envelope.id) === j) this.inFlight.delete(d.envelope.id);
      this.refill();
    });
  }

  private async run(j: InFlight): Promise<void> {
    const { port, workerId } = this.deps;
    const { d } = j;
    if (this.deps.wasCancelled(d.envelope.id)) this.abortJob(j, 'cancelled');
    if ((await port.admit(d, this.cfg, workerId)) === 'skip') return;
    j.phase = 'run';
    const outcome = j.reason ? this.abortOutcome(j.reason) : await this.execute(j);
    j.phase = 'settle';
    const result = await port.settle(d, outcome, this.cfg, { workerId, startedAt: j.startedAt });
    if (result === 'done' || result === 'dead') {
      if (outcome.kind === 'succeeded') this.counts.succeeded++;
      else this.counts.failed++;
    }
  }

  private async execute(j: InFlight): Promise<JobOutcome> {
    const { d } = j;
    const input = d.envelope.input;
    if (!this.checkIn.Check(input)) {
      const first = this.checkIn.Errors(input).First();
      const where = first ? `${first.path || '/'}: ${first.message}` : 'does not match';
      return { kind: 'failed', code: 'SB_ERR_JOB_INVALID_INPUT', message: `input ${where}`.slice(0, 500), retryable: false, poison: true };
    }
    j.aborted = new Promise<void>((r) => { j.wake = r; });
    j.sender = this.deps.port.openStream(d);
    if (j.reason) {
      j.wake?.();
      j.sender?.abort(`the job was aborted (${j.reason})`);
    }
    let output: unknown;
    try {
      const handled = this.handler.handle(this.context(j), input);
      const raced = await Promise.race([handled.then((o) => ({ o })), j.aborted.then(() => undefined)]);
      // Aborted: settle now; a handler that ignores its signal finishes unobserved (docs/workers.md).
      if (!raced) {
        handled.catch(() => undefined);
        return this.abortOutcome(j.reason ?? 'shutdown');
      }
      output = raced.o;
    } catch (e) {
      if (j.reason) return this.abortOutcome(j.reason);
      return failureOf(e);
    }
    if (j.reason) return this.abortOutcome(j.reason);
    if (!this.checkOut.Check(output)) {
      const first = this.checkOut.Errors(output).First();
      return { kind: 'failed', code: 'SB_ERR_JOB_FAILED', message: `output does not match the handler's schema at ${first?.path || '/'}`, retryable: false, poison: false };
    }
    return { kind: 'succeeded', output };
  }

  private context(j: InFlight): JobContext {
    const { d } = j;
    const parent = this.deps.log;
    let log: Logger | undefined;
    return {
      job: d.envelope,
      get signal(): AbortSignal {
        if (!j.ac) {
          j.ac = new AbortController();
          if (j.reason) j.ac.abort(j.reason);
        }
        return j.ac.signal;
      },
      abortReason: () => j.reason,
      working: () => {
        j.lastBeat = Date.now();
        this.deps.port.working(d);
      },
      // Made on first use: a pino child per job showed in the profile of a no-op drain.
      get log(): Logger {
        log ??= parent.child({ jobId: d.envelope.id, type: d.envelope.type });
        return log;
      },
      broker: this.deps.broker,
      workerId: this.deps.workerId,
      broadcast: (channel, data, opts) => {
        const b = broadcastBytes(data, opts?.contentType);
        return broadcast(this.deps.broker.signals, channel, b.data, { contentType: b.contentType, publisher: d.envelope.principal });
      },
      ...(j.sender ? { stream: streamSink(j.sender) } : {}),
    };
  }

  private abortOutcome(reason: AbortReason): JobOutcome {
    if (reason === 'cancelled') return { kind: 'cancelled' };
    if (reason === 'deadline') return { kind: 'timed_out' };
    return { kind: 'shutdown' };
  }

  private abortJob(j: InFlight, reason: AbortReason): void {
    if (j.reason) return;
    j.reason = reason;
    j.ac?.abort(reason);
    // A handler waiting for credit wakes up with SB_ERR_STREAM_BROKEN instead of waiting for its deadline.
    j.sender?.abort(`the job was aborted (${reason})`);
    j.wake?.();
  }

  // One timer for every job of this type: heartbeats, the lazy running record, deadlines.
  private sweep(): void {
    this.feed?.sweep();
    this.refill();
    const now = Date.now();
    const beatEvery = Math.floor(this.cfg.ackWaitMs / 3);
    for (const j of this.inFlight.values()) {
      if (j.reason || j.phase === 'settle') continue;
      if (now >= j.deadline) {
        this.abortJob(j, 'deadline');
        continue;
      }
      if (now - j.lastBeat >= beatEvery) {
        j.lastBeat = now;
        this.deps.port.working(j.d);
      }
      if (j.phase === 'run' && !j.runningWritten && now - j.startedAt >= RUNNING_RECORD_AFTER_MS) {
        j.runningWritten = true;
        this.deps.port.markRunning(j.d, this.deps.workerId, j.startedAt).catch((err: unknown) => this.deps.log.debug({ err }, 'running record not written'));
      }
    }
  }
}

/** A JobFailure keeps its code; anything else thrown is retryable SB_ERR_JOB_FAILED. */
function failureOf(e: unknown): JobOutcome {
  if (e instanceof JobFailure) return { kind: 'failed', code: e.code, message: e.message.slice(0, 2000), retryable: e.retryable, poison: e.poison };
  const message = e instanceof Error ? e.message : String(e);
  return { kind: 'failed', code: 'SB_ERR_JOB_FAILED', message: message.slice(0, 2000), retryable: true, poison: false };
}

/** `ctx.stream`: the broker's sender, its SB_ERR_STREAM_BROKEN turned into a JobFailure for handlers. */
function streamSink(sender: JobStreamSender): JobStreamSink {
  return {
    write: (items) => sender.write(items).catch((e: unknown) => {
      if (isSbError(e, 'SB_ERR_STREAM_BROKEN')) throw new JobFailure(e.code, e.message, { cause: e });
      throw e;
    }),
  };
}
