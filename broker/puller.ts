/**
 * Raw pull requests (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`) over several consumers at once.
 * nats.js's fetch() waits for a full batch or the whole expiry; a long-poll must return as soon as
 * one message is there, so we speak the protocol ourselves: a `no_wait` pass first, then `batch: 1`
 * requests that each end with their first message (nothing left half-served on the server).
 */
import { createInbox, nanos, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { parseAckSubject, type AckSubject } from './ack-token.js';

/** One durable consumer the pull reads from. */
export interface PullSource {
  topic: string;
  stream: string;
  consumer: string;
}

/** A delivered raw message and the source it came from. */
export interface Pulled {
  source: PullSource;
  msg: Msg;
  /** The message's ack subject, parsed once here for everything downstream. */
  ack: AckSubject;
}

/** What one pull learned besides messages: consumers that do not answer (deleted, must be re-created). */
export interface PullOutcome {
  messages: Pulled[];
  missing: PullSource[];
}

interface Request {
  source: PullSource;
  left: number;
}

// A safety margin after `expires` for requests whose 408 never comes (e.g. the socket dropped).
const GRACE_MS = 2000;

/**
 * Sends one pull request (`MSG.NEXT`) to `source` for up to `batch` messages: held on the server for
 * `expiresMs`, or answered at once with what is there (`no_wait`). Messages and the ending status go to `reply`.
 */
export function requestNext(nc: NatsConnection, source: PullSource, reply: string, batch: number, expiresMs: number | 'no_wait'): void {
  const body = expiresMs === 'no_wait' ? { batch, no_wait: true } : { batch, expires: nanos(expiresMs) };
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${source.stream}.${source.consumer}`, JSON.stringify(body), { reply });
}

/** Whether a pull request's status says its consumer is gone (503 nobody there, 409 "…deleted"): it must be re-created. */
export function consumerGone(msg: Msg): boolean {
  const code = msg.headers?.code ?? 0;
  return code === 503 || (code === 409 && /deleted/i.test(msg.headers?.description ?? ''));
}

/**
 * Sends one pull request per source (`batch[i]` messages each) on one inbox and collects replies.
 * Resolves at the first message when `early`, else when every request has ended. Messages that arrive
 * after it resolved go to `late`.
 */
export function pullOnce(
  nc: NatsConnection,
  reqs: Array<{ source: PullSource; batch: number }>,
  opts: { expiresMs: number; early: boolean; late: (p: Pulled) => void },
): Promise<PullOutcome> {
  const inbox = createInbox();
  const open = new Map<string, Request>();
  const out: PullOutcome = { messages: [], missing: [] };
  return new Promise<PullOutcome>((resolve) => {
    let resolved = false;
    const finish = () => {
      if (!resolved) resolve(out);
      resolved = true;
    };
    const end = () => {
      clearTimeout(safety);
      if (!sub.isClosed()) sub.unsubscribe();
      finish();
    };
    const sub = nc.subscribe(`${inbox}.*`, {
      callback: (_err, msg) => {
        const idx = msg.subject.startsWith(inbox) ? msg.subject.slice(inbox.length + 1) : undefined;
        const code = msg.headers?.code ?? 0;
        if (idx !== undefined && code >= 100) {
          // A status ends its request: 404/408 no (more) messages, 409 consumer gone, 503 nobody there.
          const r = open.get(idx);
          if (r && consumerGone(msg)) out.missing.push(r.source);
          open.delete(idx);
        } else {
          const ack = msg.reply ? parseAckSubject(msg.reply) : undefined;
          const r = ack && requestOf(open, ack);
          if (!ack || !r) return;
          const p = { source: r[1].source, msg, ack };
          if (resolved) opts.late(p);
          else out.messages.push(p);
          if (--r[1].left <= 0) open.delete(r[0]);
          if (opts.early) finish();
        }
        if (open.size === 0) end();
      },
    });
    const safety = setTimeout(end, opts.expiresMs + GRACE_MS);
    // The connection closing (broker.close) ends the subscription: stop waiting for replies then.
    void sub.closed.then(end, end);
    try {
      reqs.forEach((r, i) => {
        open.set(String(i), { source: r.source, left: r.batch });
        requestNext(nc, r.source, `${inbox}.${i}`, r.batch, opts.expiresMs > 0 ? opts.expiresMs : 'no_wait');
      });
    } catch {
      // Closed under us: whatever arrived so far is the answer.
      open.clear();
    }
    if (open.size === 0) end();
  });
}

// A data message arrives on its own subject, not our inbox; its ack subject names stream and consumer.
function requestOf(open: Map<string, Request>, ack: AckSubject): [string, Request] | undefined {
  for (const e of open) if (e[1].source.stream === ack.stream && e[1].source.consumer === ack.consumer) return e;
  return undefined;
}

/**
 * Pulls up to `max` messages fairly from `sources`: a no-wait pass that splits `max` across them
 * (starting at `start` so no source is always first), then a long-poll of up to `waitMs` if empty.
 */
export async function pullFair(
  nc: NatsConnection,
  sources: PullSource[],
  opts: { max: number; waitMs: number; start: number; late: (p: Pulled) => void },
): Promise<PullOutcome> {
  const n = sources.length;
  if (n === 0) return { messages: [], missing: [] };
  const rotated = sources.map((_, i) => sources[(i + opts.start) % n] as PullSource);
  const picked = rotated.slice(0, Math.min(n, opts.max));
  const share = Math.floor(opts.max / picked.length);
  const extra = opts.max % picked.length;
  const batches = picked.map((source, i) => ({ source, batch: share + (i < extra ? 1 : 0) }));
  const first = await pullOnce(nc, batches, { expiresMs: 0, early: false, late: opts.late });
  if (first.messages.length > 0) return topUp(nc, batches, first, opts);
  if (opts.waitMs <= 0) return first;
  const waited = await pullOnce(nc, rotated.map((source) => ({ source, batch: 1 })), { expiresMs: opts.waitMs, early: true, late: opts.late });
  const missing = [...first.missing, ...waited.missing];
  if (waited.messages.length === 0 || opts.max <= 1) return { messages: waited.messages, missing };
  // Something arrived: top up from the same source(s) without waiting, so a burst is not served one by one.
  const got = waited.messages[0] as Pulled;
  const more = await pullOnce(nc, [{ source: got.source, batch: opts.max - waited.messages.length }], { expiresMs: 0, early: false, late: opts.late });
  return { messages: [...waited.messages, ...more.messages], missing };
}

/** Sources that filled their share may hold more: give them what the others left of `max`. */
async function topUp(
  nc: NatsConnection,
  batches: Array<{ source: PullSource; batch: number }>,
  got: PullOutcome,
  opts: { max: number; late: (p: Pulled) => void },
): Promise<PullOutcome> {
  const left = opts.max - got.messages.length;
  const full = batches.filter((b) => got.messages.filter((m) => m.source === b.source).length >= b.batch);
  if (left <= 0 || full.length === 0 || full.length === batches.length) return got;
  const share = Math.ceil(left / full.length);
  const reqs = full.map((b, i) => ({ source: b.source, batch: Math.min(share, left - i * share) })).filter((r) => r.batch > 0);
  const more = await pullOnce(nc, reqs, { expiresMs: 0, early: false, late: opts.late });
  return { messages: [...got.messages, ...more.messages], missing: [...got.missing, ...more.missing] };
}
