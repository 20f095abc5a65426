import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';

/**
 * Every setting Catapult reads, with its default. Each key maps to an environment variable
 * (`CATAPULT_` + the key in SCREAMING_SNAKE_CASE) and to the same key in `catapult.yaml`.
 * Precedence: command-line flags > environment > catapult.yaml > default.
 */
export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('./.catapult').describe('Directory for the SQLite database, keys and raw results'),
  databaseUrl: z
    .string()
    .default('')
    .describe('postgres://… to use Postgres; empty means SQLite at <dataDir>/catapult.db')
    .refine((v) => v === '' || /^postgres(ql)?:\/\//.test(v), {
      message: 'must be empty (SQLite) or a postgres:// URL',
    }),
  secretKey: z
    .string()
    .default('')
    .describe('Key (32 bytes, base64) that encrypts stored secrets; the same on every server sharing a database. Empty: <dataDir>/secret.key, created on first start')
    .refine((v) => v === '' || (/^[A-Za-z0-9+/_-]+={0,2}$/.test(v.trim()) && Buffer.from(v.trim().replace(/-/g, '+').replace(/_/g, '/'), 'base64').length === 32), {
      message: 'must be 32 bytes in base64 (e.g. from `openssl rand -base64 32`)',
    }),
  apiHost: z.string().default('127.0.0.1').describe('Address the control-plane API listens on'),
  apiPort: z.coerce.number().int().min(0).max(65535).default(8080).describe('Port of the control-plane API (0: any free port)'),
  gatewayHost: z.string().default('127.0.0.1').describe('Address the data-plane gateway listens on'),
  gatewayPort: z.coerce.number().int().min(0).max(65535).default(8000).describe('Port of the data-plane gateway (0: any free port)'),
  gatewayBodyLimit: z.coerce.number().int().min(1024).default(32 * 1024 * 1024).describe('Largest request body the gateway accepts, in bytes (413 beyond)'),
  gatewayMaxRetries: z.coerce.number().int().min(0).max(2).default(2).describe('Other replicas the gateway tries after a failed attempt (connect failure, 502/503)'),
  gatewayConnectTimeoutMs: z.coerce.number().int().min(50).default(2000).describe('Time the gateway allows to connect to a replica'),
  gatewayResponseTimeoutMs: z.coerce
    .number()
    .int()
    .min(0)
    .default(300_000)
    .describe('Time the gateway waits for response headers, and between streamed chunks (0: no limit)'),
  gatewayEjectAfter: z.coerce.number().int().min(1).default(3).describe('Consecutive connect failures or 5xx answers that eject a replica from balancing'),
  gatewayEjectBaseMs: z.coerce.number().int().min(100).default(5000).describe('First ejection length; each further ejection in a row doubles it'),
  gatewayAccessLog: z.union([z.boolean(), z.stringbool()]).default(true).describe('One structured log line per data-plane request'),
  gatewayActiveRequestBias: z.coerce
    .number()
    .min(0)
    .max(2)
    .default(0.5)
    .describe('Balancing cost = latency × (outstanding + 1)^bias; below 1 suits batching LLM servers, 1 one-at-a-time servers'),
  gatewayAffinity: z
    .enum(['none', 'session', 'prefix'])
    .default('session')
    .describe('LLM routes: keep a session (x-session-id header or `user`) or a prompt prefix on one replica while loads allow'),
  gatewayCorsOrigins: z
    .string()
    .default('*')
    .describe('Web origins browsers may call the gateway from, comma-separated (`*`: any, empty: none); the key stays the access check'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level'),
  bodyLimit: z.coerce.number().int().min(1024).default(1_048_576).describe('Largest request body the API accepts, in bytes'),
  eventPollMs: z.coerce.number().int().min(50).default(1000).describe('How often the event stream looks for events written by other servers'),
  url: z.string().url().default('http://127.0.0.1:8080').describe('API URL the CLI talks to'),
  apiKey: z.string().default('').describe('API key the CLI uses; falls back to <dataDir>/admin.key'),
  heartbeatIntervalMs: z.coerce.number().int().min(50).default(5000).describe('How often agents heartbeat; the server tells each agent when it registers'),
  missedHeartbeats: z.coerce.number().int().min(1).default(3).describe('Heartbeats missed in a row before a worker is not_ready'),
  modelWatchDirs: z
    .string()
    .default('')
    .describe('Folders whose new files and sub-folders are registered as models once stable, once per content (comma-separated; empty: none)'),
  modelWatchStableMs: z.coerce.number().int().min(0).default(5000).describe('How long a watched model must stay unchanged before it is registered'),
  offlineGraceMs: z.coerce
    .number()
    .int()
    .min(100)
    .default(60_000)
    .describe('Silence after which a worker is offline and its replicas are placed elsewhere'),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigKey = keyof Config;

export const CONFIG_KEYS = Object.keys(configSchema.shape) as ConfigKey[];

/** `apiPort` → `CATAPULT_API_PORT`. */
export function envName(key: ConfigKey): string {
  return `CATAPULT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export class ConfigError extends Error {
  readonly code = 'CATAPULT_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** Environment to read; pass `{}` in tests. */
  env: Record<string, string | undefined>;
  /** Explicit path to a YAML file; otherwise `CATAPULT_CONFIG`, then `./catapult.yaml` if it exists. */
  file?: string;
  /** Values from command-line flags; undefined entries are ignored. */
  overrides?: Partial<Record<ConfigKey, unknown>>;
  cwd?: string;
}

/** Builds the configuration from defaults, an optional YAML file, the environment and flags, and validates it. */
export function loadConfig(opts: LoadConfigOptions): Config {
  const cwd = opts.cwd ?? process.cwd();
  const raw: Record<string, unknown> = {};
  const sources: Record<string, string> = {};

  const explicitFile = opts.file ?? opts.env.CATAPULT_CONFIG;
  const file = explicitFile ? resolve(cwd, explicitFile) : resolve(cwd, 'catapult.yaml');
  if (existsSync(file)) {
    const doc = parseDocument(readFileSync(file, 'utf8'));
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new ConfigError(`${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message}`);
    }
    const data: unknown = doc.toJS();
    if (data !== null && data !== undefined) {
      if (typeof data !== 'object' || Array.isArray(data)) {
        throw new ConfigError(`${file}: expected a mapping of settings at the top level`);
      }
      for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
        raw[k] = v;
        sources[k] = file;
      }
    }
  } else if (explicitFile) {
    throw new ConfigError(`config file ${file} does not exist (from ${opts.file ? '--config' : 'CATAPULT_CONFIG'})`);
  }

  for (const key of CONFIG_KEYS) {
    const value = opts.env[envName(key)];
    if (value !== undefined && value !== '') {
      raw[key] = value;
      sources[key] = envName(key);
    }
  }
  for (const [key, value] of Object.entries(opts.overrides ?? {})) {
    if (value !== undefined) {
      raw[key] = value;
      sources[key] = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    }
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const from = sources[key] ?? 'default';
      if (issue.code === 'unrecognized_keys') {
        return `unknown setting(s) ${issue.keys.join(', ')} in ${file}; known settings: ${CONFIG_KEYS.join(', ')}`;
      }
      return `${key} (from ${from}): ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

/** The one place that reads the process environment. */
export function loadConfigFromProcess(overrides?: LoadConfigOptions['overrides'], file?: string): Config {
  return loadConfig({ env: process.env, overrides, ...(file ? { file } : {}) });
}

/** Whether the process runs under CI (`CI=true`): services a test needs must then exist. */
export function isCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/**
 * The parts of this process's environment a child process (a replica, a runtime) should inherit:
 * search path, home, locale, temp dir, and anything GPU drivers read. Settings stay out.
 */
export function inheritedEnvironment(): Record<string, string> {
  const keep = /^(PATH|HOME|USER|LANG|LC_[A-Z]+|TZ|TMPDIR|LD_LIBRARY_PATH|NVIDIA_[A-Z_]+|CUDA_[A-Z_]+|ROCM_[A-Z_]+|HIP_[A-Z_]+|NODE_OPTIONS)$/;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && keep.test(k)) out[k] = v;
  return out;
}
