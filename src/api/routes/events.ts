import { z } from 'zod';
import { CatapultError } from '../../errors/index.js';
import { type CatapultEvent, eventSchema } from '../../events/index.js';
import type { ApiResources } from '../context.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses } from '../schemas.js';

const cursor = z
  .string()
  .regex(/^\d{1,15}$/, 'a non-negative integer sequence number')
  .transform(Number);

function parseTypes(types: string | undefined): string[] | undefined {
  if (!types) return undefined;
  return types
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

const KEEPALIVE_MS = 15_000;

export const eventRoutes = (resources: ApiResources): RoutePlugin => (app) => {
  const { events } = resources;

  app.get(
    '/api/v1/events',
    {
      config: { scope: 'read', stream: true },
      schema: {
        tags: ['events'],
        summary: 'Server-Sent Events of resource changes; resumable with Last-Event-ID',
        description:
          'Each event has `id:` (its sequence number), `event:` (its type) and `data:` (JSON). Reconnect with the ' +
          '`Last-Event-ID` header (browsers do this for you) or `?since=SEQ` to resume without a gap. Without either, ' +
          'the stream starts at the newest event. `?types=a,b` filters by type.',
        querystring: z.strictObject({
          since: cursor.optional(),
          types: z.string().max(2000).optional(),
        }),
        headers: z.looseObject({ 'last-event-id': z.string().optional() }),
        response: { 200: z.string().describe('text/event-stream'), ...errorResponses },
      },
    },
    async (req, reply) => {
      const lastEventId = req.headers['last-event-id'];
      let after: number;
      if (typeof lastEventId === 'string' && lastEventId !== '') {
        if (!/^\d{1,15}$/.test(lastEventId)) {
          throw new CatapultError('CATAPULT_EVENT_CURSOR_INVALID', `Last-Event-ID '${lastEventId.slice(0, 40)}' is not a sequence number.`);
        }
        after = Number(lastEventId);
      } else if (req.query.since !== undefined) {
        after = req.query.since;
      } else {
        after = await events.latestSeq();
      }

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(`retry: 2000\n: stream from seq ${after}\n\n`);
      const send = (ev: CatapultEvent) => {
        res.write(`id: ${ev.seq}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
      };
      let unsubscribe: (() => void) | undefined;
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
      const cleanup = () => {
        clearInterval(keepalive);
        unsubscribe?.();
      };
      req.raw.on('close', cleanup);
      try {
        unsubscribe = await events.subscribe(after, send, parseTypes(req.query.types));
        if (res.destroyed) cleanup();
      } catch (err) {
        req.log.error({ err }, 'event stream failed');
        cleanup();
        res.end();
      }
    },
  );

  app.get(
    '/api/v1/events/log',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['events'],
        summary: 'Page through the event log as JSON, oldest first',
        querystring: z.strictObject({
          since: cursor.default(0),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          types: z.string().max(2000).optional(),
        }),
        response: { 200: z.object({ items: z.array(eventSchema), next: z.number() }), ...errorResponses },
      },
    },
    async (req) => {
      const items = await events.list(req.query.since, req.query.limit, parseTypes(req.query.types));
      return { items, next: items.at(-1)?.seq ?? req.query.since };
    },
  );
};
