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
import type { JobEnvelope, WorkerTypeConfig } from '../schemas/job.js';
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
  /** Holds one of the `concurrency` handler slots (admit and run); settling gives it back. */
  slot: boolean;
  /** Set while the handler runs: ends the wait for it when the job is aborted (a handler may ignore its signal). */
  wake: (() => void) | undefined;
  /** The sending end when the caller streams the result (`ctx.stream`). */
  sender: JobStreamSender | undefined;
}

/** A job not yet running is marked `running` in its record once it has run this long. */
const RUNNING_RECORD_AFTER_MS = 250;
/** Sweep period: deadline precision and the lazy `running` record are bound to it. */
const SWEEP_MS = 100;
/**
 * Jobs whose handler has ended and whose record and ack are on their way, per handler slot. Settling
 * overlaps the next jobs' handlers: a no-op drain ran 15.8k → 18.8k jobs/s going from 1 to 2 (bench
 * notes in docs/benchmarks.md).
 */
const SETTLE_BACKLOG = 2;
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
  /** Runs not yet settled, and who waits for that count to reach zero. */
  private runs = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly minBatch: number;
  /** Jobs in admit or run: what `concurrency` bounds. The rest of `inFlight` is being settled. */
  private slots = 0;

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
    while (this.runs > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
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
    // Jobs being settled wait on the backbone, not on a handler: they do not hold a slot, but the runtime
    // stops asking for more while SETTLE_BACKLOG × concurrency of them wait (a slow backbone).
    if (this.inFlight.size - this.slots >= this.cfg.concurrency * SETTLE_BACKLOG) return;
    const free = this.cfg.concurrency - this.slots - feed.outstanding;
    if (free > 0 && (free >= this.minBatch || feed.requests === 0)) feed.request(free, PULL_EXPIRES_MS);
  }

  private release(j: InFlight): void {
    if (!j.slot) return;
    j.slot = false;
    this.slots--;
  }

  private launch(d: JobDelivery): void {
    const now = Date.now();
    const deadline = Date.parse(d.envelope.deadline);
    const j: InFlight = {
      d, ac: undefined, reason: undefined, startedAt: now, deadline: Number.isNaN(deadline) ? now : deadline,
      lastBeat: now, runningWritten: false, phase: 'admit', slot: true, wake: undefined, sender: undefined,
    };
    // A second delivery of a job already held here (an ack wait ran out, or the server repeated a delivery):
    // the run in progress settles the message; the extra delivery is left alone.
    if (this.inFlight.has(d.envelope.id)) {
      this.deps.log.warn({ id: d.envelope.id, deliveryCount: d.deliveryCount }, 'job delivered again while still held here; ignored');
      return;
    }
    this.inFlight.set(d.envelope.id, j);
    this.slots++;
    this.runs++;
    void this.run(j);
  }

  // One async function per job, cleanup included (a no-op drain's profile showed the promise chain
  // that used to wrap it).
  private async run(j: InFlight): Promise<void> {
    try {
      await this.runAndSettle(j);
    } catch (err) {
      this.deps.log.error({ err, id: j.d.envelope.id }, 'job settle failed; the job will be redelivered');
    } finally {
      if (this.inFlight.get(j.d.envelope.id) === j) this.inFlight.delete(j.d.envelope.id);
      this.release(j);
      if (--this.runs === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      this.refill();
    }
  }

  private async runAndSettle(j: InFlight): Promise<void> {
    const { port, workerId } = this.deps;
    const { d } = j;
    if (this.deps.wasCancelled(d.envelope.id)) this.abortJob(j, 'cancelled');
    if ((await port.admit(d, this.cfg, workerId)) === 'skip') return;
    j.phase = 'run';
    const outcome = j.reason ? this.abortOutcome(j.reason) : await this.execute(j);
    j.phase = 'settle';
    // The handler is done: its slot takes the next job while the record is stored and the ack sent.
    this.release(j);
    this.refill();
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
    j.sender = this.deps.port.openStream(d);
    if (j.reason) j.sender?.abort(`the job was aborted (${j.reason})`);
    let output: unknown;
    try {
      const handled = this.handler.handle(new RunContext(j, this.deps), input);
      // Whichever comes first: the handler's end, or an abort (wake).
      const ended = await new Promise<unknown>((resolve, reject) => {
        if (j.reason) resolve(ABORTED);
        j.wake = () => resolve(ABORTED);
        handled.then(resolve, reject);
      });
      // Aborted: settle now; a handler that ignores its signal finishes unobserved (docs/workers.md).
      if (ended === ABORTED) return this.abortOutcome(j.reason ?? 'shutdown');
      output = ended;
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

/** Marks an abort in the race between a handler and its job's abort. */
const ABORTED: unique symbol = Symbol('aborted');

/**
 * What a handler gets as `ctx`. A class, so a job's context is one small object (the methods and the
 * lazy getters live on the prototype); the AbortController and the child logger are made on first use.
 */
class RunContext implements JobContext {
  declare readonly stream?: JobStreamSink;
  private logger: Logger | undefined;

  constructor(
    private readonly j: InFlight,
    private readonly deps: RunnerDeps,
  ) {
    if (j.sender) (this as { stream?: JobStreamSink }).stream = streamSink(j.sender);
  }

  get job(): JobEnvelope {
    return this.j.d.envelope;
  }

  get signal(): AbortSignal {
    const j = this.j;
    if (!j.ac) {
      j.ac = new AbortController();
      if (j.reason) j.ac.abort(j.reason);
    }
    return j.ac.signal;
  }

  get log(): Logger {
    this.logger ??= this.deps.log.child({ jobId: this.j.d.envelope.id, type: this.j.d.envelope.type });
    return this.logger;
  }

  get broker(): Broker {
    return this.deps.broker;
  }

  get workerId(): string {
    return this.deps.workerId;
  }

  abortReason(): AbortReason | undefined {
    return this.j.reason;
  }

  working(): void {
    this.j.lastBeat = Date.now();
    this.deps.port.working(this.j.d);
  }

  broadcast(channel: string, data: unknown, opts?: { contentType?: string }): { id: string } {
    const b = broadcastBytes(data, opts?.contentType);
    return broadcast(this.deps.broker.signals, channel, b.data, { contentType: b.contentType, publisher: this.j.d.envelope.principal });
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
