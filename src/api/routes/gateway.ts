import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { KeyService } from '../../auth/index.js';
import type { EventLog } from '../../events/index.js';
import { CatapultError } from '../../errors/index.js';
import {
  type EndpointService,
  type RouteRegistry,
  createEndpointSchema,
  endpointSchema,
  keyCredentialSchema,
  routeViewSchema,
  viewRoute,
} from '../../gateway/index.js';
import { actorOf } from '../auth.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses, idParams } from '../schemas.js';

/**
 * Only a key created with the `gateway` scope (a standalone gateway's credential) sees routes'
 * upstream headers in clear; every other key, admin included, sees them redacted. An admin can still
 * make a gateway key, but a person browsing routes never receives an upstream credential.
 */
function seesSecrets(req: FastifyRequest): boolean {
  const p = req.principal;
  return p?.kind === 'key' && p.key.scopes.includes('gateway');
}

/**
 * The control-plane side of the data plane: the routing snapshot and key hashes that gateways load
 * before following the event stream, and the registry of external endpoints (seed 000's production
 * endpoints) served through the gateway like deployments.
 */
export function gatewayRoutes(registry: RouteRegistry, endpoints: EndpointService, { events, keys }: { events: EventLog; keys: KeyService }): RoutePlugin {
  return (app) => {
    app.get(
      '/api/v1/routes',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['gateway'],
          summary: 'Routing snapshot: every served model and its replicas, with the event seq it is consistent with',
          description:
            'A gateway loads this, then follows `GET /api/v1/events?since=<seq>&types=route.updated,route.deleted,key.created,key.revoked`. ' +
            'Upstream headers (endpoint credentials) are in clear only for keys with the `gateway` scope, and redacted (`Bearer sk-…765`, `upstreamHeadersRedacted: true`) for every other key.',
          response: { 200: z.object({ seq: z.number(), items: z.array(routeViewSchema) }), ...errorResponses },
        },
      },
      async (req) => {
        const snap = await registry.snapshot();
        const secrets = seesSecrets(req);
        return { seq: snap.seq, items: snap.items.map((r) => viewRoute(r, secrets)) };
      },
    );

    app.get(
      '/api/v1/routes/:id',
      {
        config: { scope: 'read' },
        schema: { tags: ['gateway'], summary: 'One route by deployment or endpoint id', params: idParams, response: { 200: routeViewSchema, ...errorResponses } },
      },
      async (req) => {
        const route = await registry.get(req.params.id);
        if (!route) throw new CatapultError('CATAPULT_GATEWAY_ROUTE_NOT_FOUND', `No route with id ${req.params.id}.`, { id: req.params.id });
        return viewRoute(route, seesSecrets(req));
      },
    );

    app.get(
      '/api/v1/gateway/keys',
      {
        config: { scope: 'gateway' },
        schema: {
          tags: ['gateway'],
          summary: 'Active API keys as a gateway checks them: SHA-256 hashes, scopes and limits, never secrets',
          response: { 200: z.object({ seq: z.number(), items: z.array(keyCredentialSchema) }), ...errorResponses },
        },
      },
      async () => {
        const seq = await events.latestSeq();
        return { seq, items: await keys.listCredentials() };
      },
    );

    app.get(
      '/api/v1/gateway/keys/:id',
      {
        config: { scope: 'gateway' },
        schema: { tags: ['gateway'], summary: 'One active key as a gateway checks it', params: idParams, response: { 200: keyCredentialSchema, ...errorResponses } },
      },
      async (req) => {
        const key = await keys.getCredential(req.params.id);
        if (!key) throw new CatapultError('CATAPULT_KEY_NOT_FOUND', `No active API key with id ${req.params.id}.`, { id: req.params.id });
        return key;
      },
    );

    app.post(
      '/api/v1/endpoints',
      {
        config: { scope: 'deploy' },
        schema: {
          tags: ['endpoints'],
          summary: 'Register an external inference server; the gateway serves it under its name',
          body: createEndpointSchema,
          response: { 201: endpointSchema, ...errorResponses },
        },
      },
      async (req, reply) => reply.code(201).send(await endpoints.create(req.body, actorOf(req).id)),
    );

    app.get(
      '/api/v1/endpoints',
      {
        config: { scope: 'read' },
        schema: { tags: ['endpoints'], summary: 'List external endpoints', response: { 200: z.object({ items: z.array(endpointSchema) }), ...errorResponses } },
      },
      async () => ({ items: await endpoints.list() }),
    );

    app.get(
      '/api/v1/endpoints/:id',
      {
        config: { scope: 'read' },
        schema: { tags: ['endpoints'], summary: 'Get an external endpoint by id or name', params: idParams, response: { 200: endpointSchema, ...errorResponses } },
      },
      async (req) => endpoints.get(req.params.id),
    );

    app.delete(
      '/api/v1/endpoints/:id',
      {
        config: { scope: 'deploy' },
        schema: {
          tags: ['endpoints'],
          summary: 'Delete an external endpoint; the gateway stops serving it at once',
          params: idParams,
          response: { 200: endpointSchema, ...errorResponses },
        },
      },
      async (req) => endpoints.delete(req.params.id),
    );
  };
}
