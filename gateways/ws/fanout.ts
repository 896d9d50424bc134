/**
 * The receiving side of WebSocket broadcast and presence on one gateway replica. Broadcast: one
 * `ws.bcast.*` signal subscription; each signal becomes one frame (built once) sent to every local
 * client of its channel. Presence: one `ws.presence.*` subscription answering gathers with this
 * replica's clients, and join/leave events published in the background to the topic `ws.presence`.
 */
import { HEADERS } from '../../schemas/message.js';
import {
  WS_BROADCAST_SIGNAL, WS_CHANNEL_PREFIX, WS_PRESENCE_MAX_AGE_MS, WS_PRESENCE_SIGNAL, WS_PRESENCE_TOPIC, WS_PUBLISHED_AT_HEADER,
  type WsChannel, type WsPresenceClient, type WsPresenceEvent,
} from '../../schemas/ws.js';
import { isSbError } from '../../broker/errors.js';
import type { Logger } from '../../broker/log.js';
import type { SignalBus, SignalHandle } from '../../broker/types.js';
import type { GatewayDeps } from '../types.js';
import { broadcastFrame, wireTextFrame } from './frames.js';
import type { Session, SessionEnv } from './session.js';

/** Per channel on this replica: the live sessions, and connections per principal. */
export interface ChannelState {
  name: string;
  sessions: Set<Session>;
  perPrincipal: Map<string, number>;
  /** What every session of this channel shares, rebuilt when the channel's definition changes. */
  env?: SessionEnv;
}

const BCAST_PREFIX = `${WS_BROADCAST_SIGNAL}.`;
const PRESENCE_PREFIX = `${WS_PRESENCE_SIGNAL}.`;
/** How long close() waits for join/leave events still being published (ms). */
const EVENTS_DRAIN_MS = 2000;

/** Fans every broadcast signal out to this process's clients of its channel. */
export function startBroadcastReceiver(signals: SignalBus, channels: Map<string, ChannelState>, logger: Logger): SignalHandle {
  return signals.on(`${BCAST_PREFIX}*`, (sig) => {
    const st = channels.get(sig.name.slice(BCAST_PREFIX.length));
    if (!st || st.sessions.size === 0) return;
    try {
      const h = sig.headers;
      const ct = h[HEADERS.contentType] ?? 'application/octet-stream';
      const json = broadcastFrame(st.name, h[HEADERS.msgId] ?? '', h[WS_PUBLISHED_AT_HEADER] ?? new Date().toISOString(), ct, sig.data);
      // Framed once, written as is to every socket (what a bare ws loop frames once per client).
      const wire = wireTextFrame(json);
      for (const s of st.sessions) s.sendFrame(wire);
    } catch (e) {
      logger.error({ err: e, channel: st.name }, 'websocket broadcast failed');
    }
  });
}

/** Presence of one replica: gather answers and join/leave events. */
export interface PresenceSide {
  joined(s: Session, ch: WsChannel): void;
  left(s: Session, ch: WsChannel, code: number): void;
  /** Stops answering; waits (bounded) for events still being published. */
  close(): Promise<void>;
}

/** Starts answering presence gathers and prepares the event topic (created when missing). */
export function startPresence(deps: GatewayDeps, channels: Map<string, ChannelState>, gateway: string, logger: Logger): PresenceSide {
  const { broker } = deps;
  const clientOf = (s: Session): WsPresenceClient => ({
    id: s.id, principal: s.principal?.name ?? null, since: s.since.toISOString(), remoteAddress: s.remoteAddress, gateway,
  });
  const handle = broker.signals.on(`${PRESENCE_PREFIX}*`, (sig) => {
    const name = sig.name.slice(PRESENCE_PREFIX.length);
    // Only replicas of the deployment that knows the channel answer (several may share one NATS).
    if (!sig.reply || !broker.config.get(`${WS_CHANNEL_PREFIX}${name}`)) return;
    const clients = [...(channels.get(name)?.sessions ?? [])].map(clientOf);
    sig.reply(Buffer.from(JSON.stringify({ gateway, clients })));
  });

  // In the background: a gateway must start (and serve) while the backbone is still coming up.
  const ensureTopic = (): Promise<void> => broker.topics.create({ name: WS_PRESENCE_TOPIC, retention: { maxAgeMs: WS_PRESENCE_MAX_AGE_MS } })
    .then(() => undefined, (e: unknown) => {
      if (isSbError(e) && e.code === 'SB_ERR_TOPIC_EXISTS') return;
      logger.warn({ err: e, topic: WS_PRESENCE_TOPIC }, 'could not create the presence topic; will try again at the next event');
    });
  let topicReady = ensureTopic();
  const pending = new Set<Promise<void>>();

  const publish = (ch: WsChannel, s: Session, event: 'join' | 'leave', code?: number): void => {
    if (ch.presenceEvents === false || s.principal === undefined) return;
    const ev: WsPresenceEvent = {
      event, channel: ch.name, clientId: s.id, principal: s.principal.name, since: s.since.toISOString(),
      remoteAddress: s.remoteAddress, gateway, at: new Date().toISOString(), ...(code === undefined ? {} : { code }),
    };
    const p = topicReady
      .then(() => broker.publish({ topic: WS_PRESENCE_TOPIC, data: Buffer.from(JSON.stringify(ev)), contentType: 'application/json', publisher: gateway }))
      .then(() => undefined, (e: unknown) => {
        // Deleted, or not creatable at start (backbone down): create it before the next event.
        if (isSbError(e) && e.code === 'SB_ERR_TOPIC_NOT_FOUND') topicReady = ensureTopic();
        // Never the event itself: it names a principal and an address, but the error is what matters.
        logger.warn({ err: isSbError(e) ? { code: e.code, message: e.message } : e, channel: ch.name, event }, 'could not publish a presence event');
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };

  return {
    joined: (s, ch) => publish(ch, s, 'join'),
    left: (s, ch, code) => publish(ch, s, 'leave', code),
    async close() {
      handle.unsubscribe();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => { timer = setTimeout(r, EVENTS_DRAIN_MS); });
      await Promise.race([Promise.all([...pending]), late]);
      clearTimeout(timer);
    },
  };
}
