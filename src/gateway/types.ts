import { z } from 'zod';

export const ROUTE_PROTOCOLS = ['openai', 'kserve-v2', 'http'] as const;
export type RouteProtocol = (typeof ROUTE_PROTOCOLS)[number];

export const ROUTE_KINDS = ['deployment', 'endpoint'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

export const AFFINITY_MODES = ['none', 'session', 'prefix'] as const;
export type AffinityMode = (typeof AFFINITY_MODES)[number];

/**
 * A name clients use: the `model` field of an OpenAI request or `{name}` in `/v2/models/{name}`.
 * Hugging Face style names (`org/model`, `model:tag`) are allowed; whitespace, `?` and `#` are not,
 * so a name always survives a URL path.
 */
export const routeNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/, 'letters, digits and . _ : / @ + -, starting with a letter or digit');

/** An http(s) base URL without credentials (secrets go in upstream headers, which are never shown). */
export const upstreamUrlSchema = z
  .string()
  .max(2000)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.search === '' && u.hash === '';
    } catch {
      return false;
    }
  }, 'an http:// or https:// URL without user info, query or fragment');

const headerNameSchema = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'an HTTP header name');

export const routeReplicaSchema = z.object({
  id: z.string().min(1).max(200),
  /** `http://host:port` of the replica, optionally with a base path. */
  url: upstreamUrlSchema,
  ready: z.boolean(),
});

/** What the control plane tells gateways about one deployment or external endpoint. */
export const routeInputSchema = z.object({
  id: z.string().min(1).max(200),
  kind: z.enum(ROUTE_KINDS),
  name: routeNameSchema,
  aliases: z.array(routeNameSchema).max(20).default([]),
  protocol: z.enum(ROUTE_PROTOCOLS),
  replicas: z.array(routeReplicaSchema).max(1000),
  /** Headers added to every upstream request (an endpoint's auth header). Secret: shown only to gateway principals. */
  upstreamHeaders: z.record(headerNameSchema, z.string().max(8192)).optional(),
  /** The model name the upstream itself expects, when it differs from `name`. */
  upstreamModel: z.string().min(1).max(200).optional(),
  /** Session or prompt-prefix affinity for LLM routes; the gateway's default applies when unset. */
  affinity: z.enum(AFFINITY_MODES).optional(),
});

export type RouteInput = z.input<typeof routeInputSchema>;
export type RouteReplica = z.output<typeof routeReplicaSchema>;

/** A route as stored: the input plus the sequence number of the event that last wrote it. */
export type Route = z.output<typeof routeInputSchema> & {
  /** Sequence number of the `route.updated` event that wrote this version. */
  seq: number;
  updatedAt: number;
};

/** A route as read APIs and events show it: upstream headers in clear only for gateway principals. */
export type RouteView = Omit<Route, 'upstreamHeaders'> & {
  upstreamHeaders?: Record<string, string>;
  /** Whether the route carries upstream headers (shown even when their values are not). */
  hasUpstreamHeaders: boolean;
  /** Set when `upstreamHeaders` are shown redacted (`Bearer sk-…765`), to a principal without the gateway scope. */
  upstreamHeadersRedacted?: boolean;
};

export const routeViewSchema = z
  .object({
    id: z.string(),
    kind: z.enum(ROUTE_KINDS),
    name: z.string(),
    aliases: z.array(z.string()),
    protocol: z.enum(ROUTE_PROTOCOLS),
    replicas: z.array(z.object({ id: z.string(), url: z.string(), ready: z.boolean() })),
    upstreamHeaders: z
      .record(z.string(), z.string())
      .optional()
      .describe('In clear only for keys with the gateway scope; redacted (`Bearer sk-…765`) for every other key'),
    hasUpstreamHeaders: z.boolean(),
    upstreamHeadersRedacted: z.boolean().optional().describe('True when upstreamHeaders are redacted'),
    upstreamModel: z.string().optional(),
    affinity: z.enum(AFFINITY_MODES).optional(),
    seq: z.number(),
    updatedAt: z.number(),
  })
  .meta({ id: 'Route' });

/** A key as the data plane checks it (hash only), from `GET /api/v1/gateway/keys`. */
export const keyCredentialSchema = z
  .object({
    id: z.string(),
    hash: z.string(),
    scopes: z.array(z.string()),
    deployments: z.array(z.string()).nullable(),
    rateLimitRpm: z.number().nullable(),
    rateLimitTpm: z.number().nullable(),
    expiresAt: z.number().nullable(),
  })
  .meta({ id: 'KeyCredential' });

/** Event types a gateway follows. */
export const GATEWAY_EVENT_TYPES = ['route.updated', 'route.deleted', 'key.created', 'key.revoked'] as const;
