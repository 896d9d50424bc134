import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { parse, parseAllDocuments } from 'yaml';
import { CLIENT_ENV, SERVER_ENV, WORKER_ENV } from '../../cli/index.js';

const root = new URL('../../', import.meta.url);
const read = (p: string): Promise<string> => readFile(new URL(p, root), 'utf8');
// Variables the entrypoint reads itself (not part of ProcessConfig).
const ENTRYPOINT_ENV = ['SB_SHUTDOWN_TIMEOUT_MS'];
const KNOWN = new Set([...Object.keys(SERVER_ENV), ...Object.keys(WORKER_ENV), ...ENTRYPOINT_ENV]);

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  profiles?: string[];
}

describe('deployment files', () => {
  it('compose.yaml parses, has the whole stack, and only uses env vars the CLI reads', async () => {
    const compose = parse(await read('compose.yaml'), { merge: true }) as { services: Record<string, ComposeService> };
    const services = compose.services;
    for (const name of ['nats', 'redis', 'rabbitmq', 'kafka', 'gateway', 'worker']) assert.ok(services[name], `service ${name}`);
    assert.ok(services['nats']?.command?.includes('-js'), 'NATS runs with JetStream');
    assert.match(services['kafka']?.image ?? '', /^apache\/kafka:/);
    assert.match(String(services['kafka']?.environment?.['KAFKA_PROCESS_ROLES']), /controller/, 'Kafka in KRaft mode');
    assert.deepEqual(services['gateway']?.command, ['node', 'dist/cli/main.js', 'dev']);
    assert.ok(services['gateway']?.build, 'the gateway is built from the Dockerfile (merge key resolved)');
    for (const [name, svc] of Object.entries(services)) {
      for (const dep of Object.keys(svc.depends_on ?? {})) assert.ok(services[dep], `${name} depends on undefined ${dep}`);
      for (const key of Object.keys(svc.environment ?? {}).filter((k) => k.startsWith('SB_'))) {
        assert.ok(KNOWN.has(key), `${name} sets ${key}, which the CLI does not read`);
      }
    }
  });

  it('the Dockerfile is multi-stage, builds with npm run build and runs dist/cli/main.js dev as non-root', async () => {
    const df = await read('Dockerfile');
    assert.ok((df.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
    assert.match(df, /RUN npm run build/);
    assert.match(df, /^USER node$/m);
    assert.match(df, /^CMD \["node", "dist\/cli\/main.js", "dev"\]$/m);
    const pkg = JSON.parse(await read('package.json')) as { bin: Record<string, string>; scripts: Record<string, string> };
    assert.equal(pkg.bin['switchboard'], 'dist/cli/main.js');
  });

  it('k8s manifests parse; every Deployment has probes, non-root, resources, a PDB, and known env vars', async () => {
    const dir = new URL('deploy/k8s/', root);
    const docs = [];
    for (const f of (await readdir(dir)).filter((n) => n.endsWith('.yaml'))) {
      for (const d of parseAllDocuments(await readFile(new URL(f, dir), 'utf8'))) {
        assert.deepEqual(d.errors, [], `${f} parses`);
        docs.push(d.toJS() as { kind: string; spec: Record<string, unknown> });
      }
    }
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    assert.ok(deployments.length >= 1);
    assert.ok(docs.some((d) => d.kind === 'PodDisruptionBudget'), 'a PodDisruptionBudget');
    for (const d of deployments) {
      const pod = (d.spec['template'] as { spec: { securityContext?: { runAsNonRoot?: boolean }; containers: Array<Record<string, unknown>> } }).spec;
      assert.equal(pod.securityContext?.runAsNonRoot, true);
      for (const c of pod.containers) {
        assert.ok(c['readinessProbe'] && c['livenessProbe'] && c['resources'], `${String(c['name'])}: probes and resources`);
        for (const e of (c['env'] as Array<{ name: string }> | undefined) ?? []) assert.ok(KNOWN.has(e.name), `${e.name} is read by the CLI`);
      }
    }
  });

  it('docs/configuration.md documents every variable the CLI reads', async () => {
    const doc = await read('docs/configuration.md');
    for (const v of [...KNOWN, ...Object.keys(CLIENT_ENV)]) assert.match(doc, new RegExp(`\`${v}\``), `${v} documented`);
  });
});
