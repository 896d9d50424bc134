/**
 * Admin API of bridges (docs/bridges.md): definitions in the config store (`bridge.<name>`), secrets
 * sealed and never returned, and status gathered from every process that runs bridges (the
 * `bridges.status` signal). Admin (`manage`) only.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SbError } from '../../../broker/errors.js';
import type { Broker } from '../../../broker/types.js';
import { processKeyring, secretAad, type Keyring, type SealedSecret } from '../../../broker/secrets.js';
import { SealedSecrets, TransportBody, resealForExport } from '../secret-export.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import { BRIDGE_PREFIX, BridgeStatus } from '../../../schemas/bridge.js';
import type { GatewayDeps } from '../../types.js';
import type { BridgeKind } from '../../bridges/types.js';
import { bridgeKinds } from '../../bridges/kinds.js';
import { bridgeKey, kindOf, sealDefinition, validateBody, viewDefinition, type StoredBridge } from '../../bridges/definitions.js';
import { bridgesRestartSignal, bridgesStatusSignal, type RunnerReport } from '../../bridges/runner.js';
import { authorize } from '../auth.js';
import { ErrorBody, NoContent, mustMatchPath } from '../errors.js';

const tags = ['bridges'];
const NameParams = Type.Object({ name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }) });
/** Status of one bridge on one process. */
const ProcessStatus = Type.Object({ process: Type.String(), ...BridgeStatus.properties });
/** A definition without secrets, plus `secretsSet` and the status on every process that runs it. */
const BridgeView = Type.Object({
  name: Type.String(), kind: Type.String(), enabled: Type.Boolean(), secretsSet: Type.Array(Type.String()), status: Type.Array(ProcessStatus),
}, { additionalProperties: true });
// The kind's own schema is applied in the handler (it depends on `kind`), for a precise 400.
const AnyBody = Type.Object({ kind: Type.String() }, { additionalProperties: true });
// Config export (docs/config-as-code.md): secrets leave only sealed under a one-time key the caller sends.

/** Options of {@link bridgeRoutes}. */
export interface BridgeRouteOptions {
  kinds?: ReadonlyMap<string, BridgeKind>;
  keyring?: () => Keyring;
}

/** Registers /v1/bridges. */
export function bridgeRoutes(deps: GatewayDeps, opts: BridgeRouteOptions = {}): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  const store = broker.config;
  const kinds = opts.kinds ?? bridgeKinds;
  const keyring = opts.keyring ?? processKeyring;
  const bucket = deps.config.nats.configBucket;

  return async (app) => {
    app.get('/v1/bridges', {
      schema: { tags, summary: 'Bridge definitions (no secrets) with their status on every process', response: { 200: Type.Object({ bridges: Type.Array(BridgeView) }) } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      const reports = await gather(broker, bucket);
      return { bridges: store.list<StoredBridge>(BRIDGE_PREFIX).map((e) => view(e.value, reports)) };
    });

    app.get('/v1/bridges/:name', {
      schema: { tags, summary: 'One bridge definition (no secrets) with its status on every process', params: NameParams, response: { 200: BridgeView, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      const stored = await mustGet(broker, req.params.name);
      return view(stored, await gather(broker, bucket));
    });

    app.put('/v1/bridges/:name', {
      schema: {
        tags, summary: 'Create or replace a bridge definition; running processes pick it up at once (a left-out secret is kept)',
        params: NameParams, body: AnyBody, response: { 200: BridgeView, 201: BridgeView, '4xx': ErrorBody },
      },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      const { name } = req.params;
      const { name: bodyName, ...body } = req.body as Record<string, unknown>;
      mustMatchPath('name', bodyName, name);
      const kind = kindOf(kinds, body);
      const filled = validateBody(kind, body);
      await store.sync();
      const old = store.get<StoredBridge>(bridgeKey(name));
      const stored = sealDefinition(kind, name, filled, old, keyring);
      await store.put(bridgeKey(name), stored);
      return reply.code(old ? 200 : 201).send({ ...viewDefinition(kind, stored), status: [] });
    });

    app.post('/v1/bridges/:name/secrets', {
      schema: {
        tags, summary: 'The secret fields of a bridge sealed under a one-time transport key (config export, docs/config-as-code.md)',
        params: NameParams, body: TransportBody, response: { 200: SealedSecrets, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const stored = await mustGet(broker, req.params.name);
      const fields = (kinds.get(stored.kind)?.secretFields ?? []).filter((f) => stored[f] !== undefined);
      return resealForExport(deps.config, keyring(), req.body.transportKey,
        fields.map((f) => ({ field: f, sealed: stored[f] as SealedSecret, aad: secretAad(bridgeKey(stored.name), f) })));
    });

    app.delete('/v1/bridges/:name', {
      schema: { tags, summary: 'Delete a bridge definition; every process stops it', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await mustGet(broker, req.params.name);
      await store.delete(bridgeKey(req.params.name));
      return reply.code(204).send(null);
    });

    app.post('/v1/bridges/:name/restart', {
      schema: {
        tags, summary: 'Stop and start a bridge on every process that runs it (e.g. after a broker-side change)',
        params: NameParams, response: { 202: Type.Object({ processes: Type.Array(Type.String()) }), '4xx': ErrorBody },
      },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await mustGet(broker, req.params.name);
      const answers = await broker.signals.gather(bridgesRestartSignal(bucket), Buffer.from(JSON.stringify({ name: req.params.name })));
      const processes = answers.flatMap((a) => {
        try {
          return [String((JSON.parse(Buffer.from(a).toString('utf8')) as { process?: unknown }).process)];
        } catch {
          return [];
        }
      });
      return reply.code(202).send({ processes });
    });
  };

  function view(stored: StoredBridge, reports: RunnerReport[]) {
    const status = reports.flatMap((r) => r.bridges.filter((b) => b.name === stored.name).map((b) => ({ process: r.process, ...b })));
    return { ...viewDefinition(kinds.get(String(stored.kind)), stored), status };
  }
}

async function mustGet(broker: Broker, name: string): Promise<StoredBridge> {
  await broker.config.sync();
  const b = broker.config.get<StoredBridge>(bridgeKey(name));
  if (!b) throw new SbError('SB_ERR_CONNECTION_NOT_FOUND', `no bridge named ${name}`, { data: { bridge: name } });
  return b;
}

/** Every runner's report; unparsable answers are skipped. */
async function gather(broker: Broker, bucket: string): Promise<RunnerReport[]> {
  const answers = await broker.signals.gather(bridgesStatusSignal(bucket), new Uint8Array(0));
  const out: RunnerReport[] = [];
  for (const a of answers) {
    try {
      const r = JSON.parse(Buffer.from(a).toString('utf8')) as RunnerReport;
      if (typeof r.process === 'string' && Array.isArray(r.bridges)) out.push(r);
    } catch {
      // a foreign or broken answer: ignore it
    }
  }
  return out;
}
