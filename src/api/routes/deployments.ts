import { basename, dirname } from 'node:path';
import { z } from 'zod';
import { type DeploymentService, type ReplicaLogs, deploymentSchema, deploymentSpecSchema, deploymentUpdateSchema, modelDeploymentSchema, seedModelPath, seedToSpec, toSeedResponse } from '../../deployments/index.js';
import { CatapultError } from '../../errors/index.js';
import { type EventLog, eventSchema } from '../../events/index.js';
import { type ModelService, descriptorJsonSchema, modelDescriptorSchema, modelSchema, modelScanSchema } from '../../models/index.js';
import { listRuntimes } from '../../runtimes/index.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses, idParams } from '../schemas.js';

export const modelRoutes = ({ models }: { models: ModelService }): RoutePlugin => (app) => {
  app.get(
    '/api/v1/models',
    { config: { scope: 'read' }, schema: { tags: ['models'], summary: 'List registered models', response: { 200: z.object({ items: z.array(modelSchema) }), ...errorResponses } } },
    async () => ({ items: await models.list() }),
  );
  app.post(
    '/api/v1/models',
    {
      config: { scope: 'deploy' },
      schema: {
        tags: ['models'],
        summary: 'Register a model from a local path, file:// URI or s3://bucket/prefix (downloaded into the artifact store)',
        body: z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, dots, dashes, underscores; up to 128'),
          version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).optional(),
          source: z.string().min(1).max(4096),
          description: z.string().max(2000).optional(),
          labels: z.record(z.string().max(100), z.string().max(500)).optional(),
          credentials: z
            .strictObject({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1), endpoint: z.string().url().optional(), region: z.string().optional() })
            .optional()
            .describe('for s3:// sources: kept on the server, never returned'),
        }),
        querystring: z.strictObject({ wait: z.enum(['true', 'false']).optional().describe('wait for analysis and scan (default true)') }),
        response: { 201: modelSchema, ...errorResponses },
      },
    },
    async (req, reply) => reply.code(201).send(await models.register(req.body, undefined, { wait: req.query.wait !== 'false' })),
  );
  app.get(
    '/api/v1/models/descriptor-schema',
    { config: { scope: 'read' }, schema: { tags: ['models'], summary: 'The JSON Schema of ModelDescriptor (versioned by schemaVersion)', response: { 200: z.unknown(), ...errorResponses } } },
    () => descriptorJsonSchema(),
  );
  app.get(
    '/api/v1/models/:id/descriptor',
    {
      config: { scope: 'read' },
      schema: { tags: ['models'], summary: "The analyzer's descriptor of a model", params: idParams, response: { 200: modelDescriptorSchema, ...errorResponses } },
    },
    async (req) => models.descriptor(req.params.id),
  );
  app.get(
    '/api/v1/models/:id/scan',
    { config: { scope: 'read' }, schema: { tags: ['models'], summary: "A model's latest security scan: verdict and findings", params: idParams, response: { 200: modelScanSchema, ...errorResponses } } },
    async (req) => models.scanReport(req.params.id),
  );
  app.post(
    '/api/v1/models/:id/scan',
    {
      config: { scope: 'deploy' },
      schema: {
        tags: ['models'],
        summary: 'Analyse and scan a model again',
        params: idParams,
        querystring: z.strictObject({ wait: z.enum(['true', 'false']).optional() }),
        response: { 200: modelSchema, ...errorResponses },
      },
    },
    async (req) => models.rescan(req.params.id, { wait: req.query.wait !== 'false' }),
  );
  app.post(
    '/api/v1/models/:id/override',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['models'],
        summary: 'Allow a model the scanner refused to deploy (admin; audited, with who and why)',
        params: idParams,
        body: z.strictObject({ reason: z.string().min(3).max(2000) }),
        response: { 200: modelSchema, ...errorResponses },
      },
    },
    async (req) => {
      const p = req.principal;
      const by = p?.kind === 'key' ? `key:${p.key.name} (${p.key.id})` : p?.kind === 'agent' ? `agent:${p.name}` : 'unknown';
      return models.setOverride(req.params.id, { by, reason: req.body.reason });
    },
  );
  app.delete(
    '/api/v1/models/:id/override',
    {
      config: { scope: 'admin' },
      schema: { tags: ['models'], summary: 'Withdraw an override', params: idParams, response: { 200: modelSchema, ...errorResponses } },
    },
    async (req) => models.setOverride(req.params.id, null),
  );
  app.get(
    '/api/v1/models/:id',
    { config: { scope: 'read' }, schema: { tags: ['models'], summary: 'Get a model by id, name or name:version', params: idParams, response: { 200: modelSchema, ...errorResponses } } },
    async (req) => models.get(req.params.id),
  );
  app.delete(
    '/api/v1/models/:id',
    {
      config: { scope: 'deploy' },
      schema: { tags: ['models'], summary: 'Delete a model registration (refused while deployed; files are kept)', params: idParams, response: { 200: modelSchema, ...errorResponses } },
    },
    async (req) => models.delete(req.params.id),
  );
};

const runtimeSchema = z
  .object({
    name: z.string(),
    kind: z.enum(['builtin', 'template', 'custom']),
    description: z.string(),
    protocol: z.enum(['openai', 'kserve-v2', 'http']),
    requiresModel: z.boolean(),
    formats: z.union([z.array(z.string()), z.literal('any')]).describe('Model formats it serves; `any` when it does not read the model'),
    gpu: z.enum(['none', 'optional', 'required']),
    cpu: z.number().describe('CPU cores a replica asks for by default'),
    memoryBytes: z.number().describe('Memory a replica asks for by default, besides the model'),
  })
  .meta({ id: 'Runtime' });

/** What the deployment routes serve: deployments, the models they name, replica logs, and runtimes by model format. */
export interface DeploymentRouteDeps {
  deployments: DeploymentService;
  models: ModelService;
  replicaLogs: ReplicaLogs;
  events: EventLog;
  /** The runtime that serves a model format, for the model-serving shape. */
  runtimeForFormat: (format: string) => string | undefined;
}

export const deploymentRoutes = ({ deployments, models, replicaLogs, events, runtimeForFormat }: DeploymentRouteDeps): RoutePlugin => (app) => {
  app.get(
    '/api/v1/runtimes',
    {
      config: { scope: 'read' },
      schema: { tags: ['deployments'], summary: 'List the runtimes a deployment can name', response: { 200: z.object({ items: z.array(runtimeSchema) }), ...errorResponses } },
    },
    () => ({
      items: listRuntimes().map((r) => ({
        name: r.name,
        kind: r.kind,
        description: r.description,
        protocol: r.protocol,
        requiresModel: r.requiresModel,
        formats: r.formats === 'any' ? ('any' as const) : [...r.formats],
        gpu: r.resources.gpu,
        cpu: r.resources.cpu,
        memoryBytes: r.resources.memoryBytes,
      })),
    }),
  );
  app.get(
    '/api/v1/deployments',
    { config: { scope: 'read' }, schema: { tags: ['deployments'], summary: 'List deployments with their state', response: { 200: z.object({ items: z.array(deploymentSchema) }), ...errorResponses } } },
    async () => ({ items: await deployments.list() }),
  );
  app.post(
    '/api/v1/deployments',
    {
      config: { scope: 'deploy' },
      schema: {
        tags: ['deployments'],
        summary: 'Create a deployment; it is placed and started in the background',
        body: deploymentSpecSchema,
        response: { 201: deploymentSchema, ...errorResponses },
      },
    },
    async (req, reply) => reply.code(201).send(await deployments.create(req.body)),
  );
  app.get(
    '/api/v1/deployments/:id',
    { config: { scope: 'read' }, schema: { tags: ['deployments'], summary: 'Get a deployment by id or name', params: idParams, response: { 200: deploymentSchema, ...errorResponses } } },
    async (req) => deployments.get(req.params.id),
  );
  app.patch(
    '/api/v1/deployments/:id',
    {
      config: { scope: 'deploy' },
      schema: {
        tags: ['deployments'],
        summary: 'Change replicas, resources, placement, env, args or options; a change to what runs rolls replicas one by one',
        params: idParams,
        body: deploymentUpdateSchema,
        response: { 200: deploymentSchema, ...errorResponses },
      },
    },
    async (req) => deployments.update(req.params.id, req.body),
  );
  app.delete(
    '/api/v1/deployments/:id',
    {
      config: { scope: 'deploy' },
      schema: { tags: ['deployments'], summary: 'Delete a deployment: its replicas stop, then it is forgotten', params: idParams, response: { 202: deploymentSchema, ...errorResponses } },
    },
    async (req, reply) => reply.code(202).send(await deployments.delete(req.params.id)),
  );
  app.get(
    '/api/v1/deployments/:id/events',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['deployments'],
        summary: "A deployment's events, its replicas' included (placement failures with the arithmetic, crashes with last log lines)",
        params: idParams,
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(200) }),
        response: { 200: z.object({ items: z.array(eventSchema) }), ...errorResponses },
      },
    },
    async (req) => {
      const d = await deployments.get(req.params.id);
      const replicaIds = new Set(d.replicas.items.map((r) => r.id));
      const items = (await events.listForSubjects(['deployment'], [d.id], req.query.limit * 5))
        .concat(await events.listByData('owner', d.id, req.query.limit * 5))
        .filter((e) => e.subject.id === d.id || replicaIds.has(e.subject.id) || e.data.owner === d.id);
      const unique = [...new Map(items.map((e) => [e.seq, e])).values()].sort((a, b) => a.seq - b.seq).slice(-req.query.limit);
      return { items: unique };
    },
  );

  app.get(
    '/api/v1/deployments/:id/logs',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['deployments'],
        summary: "A deployment's replica output: the last `tail` lines, or the lines after `since` (follow by passing back `next`)",
        params: idParams,
        querystring: z.strictObject({
          replica: z.string().max(200).optional(),
          tail: z.coerce.number().int().min(1).max(5000).default(100),
          since: z.coerce.number().int().min(0).optional(),
        }),
        response: { 200: z.object({ items: z.array(z.object({ seq: z.number(), replica: z.string(), ts: z.number(), line: z.string() })), next: z.number() }), ...errorResponses },
      },
    },
    async (req) => {
      const d = await deployments.get(req.params.id);
      return replicaLogs.read(d.id, {
        ...(req.query.replica ? { replicaId: req.query.replica } : {}),
        ...(req.query.since !== undefined ? { since: req.query.since } : {}),
        tail: req.query.tail,
      });
    },
  );

  app.post(
    '/api/v1/agents/:id/logs',
    {
      config: { agent: true },
      schema: {
        tags: ['agents'],
        summary: 'An agent ships its replicas’ new output lines',
        params: idParams,
        body: z.strictObject({
          batches: z
            .array(z.strictObject({ replicaId: z.string().min(1).max(200), deploymentId: z.string().min(1).max(200), lines: z.array(z.string().max(65_536)).max(5000) }))
            .max(1000),
        }),
        response: { 200: z.object({ accepted: z.number() }), ...errorResponses },
      },
    },
    async (req) => {
      const p = req.principal;
      if (p?.kind === 'agent' && p.agentId !== req.params.id) {
        throw new CatapultError('CATAPULT_FORBIDDEN', `This credential belongs to agent ${p.agentId}, not ${req.params.id}.`, { requiredScope: 'agent' });
      }
      return { accepted: await replicaLogs.append(req.body.batches) };
    },
  );

  // Seed 003's shape.
  const res = z.object({ cpu: z.string(), memory: z.string() });
  const seedResponse = z
    .object({
      id: z.string(),
      status: z.string(),
      url: z.string(),
      type: z.string(),
      replicas: z.number(),
      model: z.object({ version: z.string(), type: z.string(), bucket: z.string(), prefix: z.string() }),
      request_res: res,
      limit_res: res.optional(),
      notes: z.array(z.string()).describe('What each limit does on this backend'),
      created_at: z.string(),
      updated_at: z.string(),
    })
    .meta({ id: 'ModelDeployment' });
  // Seed 003's paths are /v1/modelDeployment on the control plane; /api/v1/... is the same call.
  for (const prefix of ['/api/v1', '/v1']) {
    app.post(
      `${prefix}/modelDeployment`,
      {
        config: { scope: 'deploy' },
        schema: {
          tags: ['deployments'],
          summary: 'Create a model deployment in the model-serving shape (type, model bucket/prefix, replicas, request_res/limit_res)',
          body: modelDeploymentSchema,
          response: { 201: seedResponse, ...errorResponses },
        },
      },
      async (req, reply) => {
        const input = req.body;
        const path = seedModelPath(input);
        const name = `md-${basename(path).toLowerCase().replace(/[^a-z0-9._-]/g, '-').slice(0, 40) || 'model'}`;
        const existing = await models.find(`${name}:${input.model.version}`);
        const model = existing ?? (await models.register({ name, version: input.model.version, source: path }));
        const runtime = runtimeForFormat(model.format);
        if (!runtime) {
          throw new CatapultError('CATAPULT_VALIDATION_FAILED', `No runtime serves ${model.format} models (${model.path}): ${model.formatEvidence}.`, {
            errors: [{ path: 'body/model', message: `format ${model.format} has no runtime` }],
          });
        }
        const depName = `${name}-${Date.now().toString(36)}`.slice(0, 63);
        const d = await deployments.create(seedToSpec(depName, model.id, runtime, input));
        return reply.code(201).send(toSeedResponse(d, input));
      },
    );
    app.get(
      `${prefix}/modelDeployment/:id`,
      {
        config: { scope: 'read' },
        schema: { tags: ['deployments'], summary: 'Get a model deployment in the model-serving shape, with its predict URL', params: idParams, response: { 200: seedResponse, ...errorResponses } },
      },
      async (req) => {
        const d = await deployments.get(req.params.id);
        const model = d.modelId ? await models.find(d.modelId) : undefined;
        const spec = d.spec;
        return toSeedResponse(d, {
          type: spec.resources.gpus ? 'gpu' : 'cpu',
          model: { version: model?.version ?? '1', type: 'single', bucket: model ? dirname(model.path) : '', prefix: model ? basename(model.path) : '' },
          request_res: { cpu: String(spec.resources.cpu ?? ''), memory: String(spec.resources.memory ?? '') },
        });
      },
    );
  }
};
