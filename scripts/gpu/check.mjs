// Runs on the lent GPU machine (no Node install, no network): starts `catapult up --no-demo` from
// the bundle, then checks GPU discovery, that GPU requests the machine cannot meet stay pending
// with an explanation, that a real GPU replica serves through the gateway, and a streamed
// benchmark through the gateway. Writes what it saw to $OUT.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, openSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2];
const out = process.env.OUT ?? '/tmp/out';
const data = '/tmp/catapult-gpu-data';
const api = 'http://127.0.0.1:8080';
const gw = 'http://127.0.0.1:8000';
const result = { steps: [] };
const save = () => writeFileSync(join(out, 'result.json'), JSON.stringify(result, null, 2));
const step = (name, value) => { result.steps.push({ name, at: new Date().toISOString(), value }); save(); console.log(name, String(JSON.stringify(value)).slice(0, 600)); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const log = openSync(join(out, 'catapult.log'), 'w');
const up = spawn(process.execPath, [join(root, 'bin/catapult.js'), 'up', '--no-demo', '--data-dir', data], { cwd: root, stdio: ['ignore', log, log] });
for (let i = 0; i < 120; i++) { try { if ((await fetch(`${api}/ready`)).ok) break; } catch { /* starting */ } await sleep(500); }
const key = readFileSync(join(data, 'admin.key'), 'utf8').trim();
const h = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
const get = async (p) => (await fetch(`${api}${p}`, { headers: h })).json();
const post = async (p, body) => { const r = await fetch(`${api}${p}`, { method: 'POST', headers: h, body: JSON.stringify(body) }); return { status: r.status, body: await r.json() }; };

let workers;
for (let i = 0; i < 60; i++) { workers = await get('/api/v1/workers'); if ((workers.items ?? workers).length) break; await sleep(500); }
step('workers', workers);

const server = (name, gpus) => ({
  name, runtime: 'custom', replicas: 1,
  options: { command: ['python3', join(root, '..', 'gpu_server.py'), '--host', '{host}', '--port', '{port}', '--name', '{modelName}'], protocol: 'openai', healthPath: '/health', readinessTimeoutMs: 300000 },
  resources: { gpus },
});
step('create gpu-two', await post('/api/v1/deployments', server('gpu-two', { count: 2 })));
step('create gpu-big', await post('/api/v1/deployments', server('gpu-big', { count: 1, memory: '200GiB' })));
step('create gpu-one', await post('/api/v1/deployments', server('gpu-one', { count: 1 })));

let one;
for (let i = 0; i < 240; i++) { one = await get('/api/v1/deployments/gpu-one'); if (one.status === 'active' || one.state === 'active') break; await sleep(1000); }
step('gpu-one', one);
step('gpu-two', await get('/api/v1/deployments/gpu-two'));
step('gpu-big', await get('/api/v1/deployments/gpu-big'));

const chat = await fetch(`${gw}/v1/chat/completions`, { method: 'POST', headers: h, body: JSON.stringify({ model: 'gpu-one', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 }) });
step('chat through gateway', { status: chat.status, body: await chat.text() });
step('workers after', await get('/api/v1/workers'));

const recipe = `name: gpu streamed
target: { deployment: gpu-one }
workload:
  api: openai-chat
  stream: true
  dataset: { type: synthetic, inputTokens: { dist: fixed, value: 64 }, outputTokens: { dist: fixed, value: 64 }, count: 64 }
load: { type: closed, concurrency: 16 }
stop: { requests: 128 }
`;
const b = await fetch(`${api}/api/v1/benchmarks`, { method: 'POST', headers: h, body: JSON.stringify({ yaml: recipe }) });
const bench = await b.json();
step('bench created', { status: b.status, bench });
let br;
for (let i = 0; i < 120 && bench.id; i++) { br = await get(`/api/v1/benchmarks/${bench.id}`); if (['completed', 'failed', 'cancelled'].includes(br.status)) break; await sleep(1000); }
step('bench', br);
if (bench.id) step('bench results', await get(`/api/v1/benchmarks/${bench.id}/results`));
up.kill('SIGTERM');
await sleep(3000);
process.exit(0);
