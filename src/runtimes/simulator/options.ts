import { z } from 'zod';
import { type LengthDistribution, formatLengthDistribution, parseLengthDistribution } from './random.js';

const distributionObject = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fixed'), value: z.number().int().min(1) }),
  z.strictObject({ kind: z.literal('uniform'), min: z.number().int().min(1), max: z.number().int().min(1) }),
  z.strictObject({ kind: z.literal('normal'), mean: z.number().min(1), std: z.number().min(0) }),
]);

/** A length distribution as text (`uniform:16-128`), a number (fixed) or the parsed object. */
const lengthDistribution = z.union([z.string(), z.number().int().min(1), distributionObject]).transform((v, ctx): LengthDistribution => {
  const parsed = typeof v === 'object' ? parseLengthDistribution(formatLengthDistribution(v)) : parseLengthDistribution(String(v));
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
});

/**
 * Behaviour of the simulator, beyond where it listens. Every key is also a command-line flag of
 * `catapult runtime simulator` (see SIMULATOR_FLAGS) and a key of the `simulator` runtime's options.
 */
export const simulatorOptionsSchema = z.strictObject({
  ttftMs: z.coerce.number().min(0).default(100).describe('time to first token, from admission, in ms'),
  itlMs: z.coerce.number().min(0).default(20).describe('inter-token latency in ms'),
  ttftJitterMs: z.coerce.number().min(0).default(0).describe('standard deviation of TTFT (normal, seeded); 0 is exact'),
  itlJitterMs: z.coerce.number().min(0).default(0).describe('standard deviation of each inter-token gap; 0 is exact'),
  outputTokens: lengthDistribution
    .default({ kind: 'uniform', min: 16, max: 128 })
    .describe('output length when a request sets no max_tokens: fixed:N, uniform:MIN-MAX or normal:MEAN,STD'),
  maxTokensPolicy: z
    .enum(['exact', 'cap'])
    .default('exact')
    .describe('exact: a request with max_tokens gets exactly that many; cap: a sampled length, at most max_tokens'),
  maxModelLen: z.coerce
    .number()
    .int()
    .min(16)
    // A request's text is made up front (a few ms for 32k tokens); the ceiling bounds that work.
    .max(262_144)
    .default(32_768)
    .describe('context window in tokens (vLLM max_model_len): prompt + max_tokens beyond it is a 400, as a real server answers'),
  maxConcurrency: z.coerce.number().int().min(1).default(256).describe('sequences generated at once (vLLM max_num_seqs); more wait in a FIFO queue'),
  maxQueue: z.coerce.number().int().min(0).default(0).describe('requests allowed to wait; beyond it 429 (0: unbounded)'),
  seed: z.coerce.number().int().default(0).describe('seed for lengths, jitter and text'),
  mode: z.enum(['random', 'echo']).default('random').describe('random: words from a fixed vocabulary; echo: the prompt repeated'),
  embeddingDim: z.coerce.number().int().min(1).max(65_536).default(384).describe('length of embedding vectors'),
  embeddingLatencyMs: z.coerce.number().min(0).default(0).describe('delay before an embeddings response, in ms'),
  transcript: z
    .string()
    .default('the quick brown fox jumps over the lazy dog')
    .describe('text /v1/audio/transcriptions returns when no sidecar transcript exists'),
  transcriptsDir: z
    .string()
    .optional()
    .describe('directory of sidecar transcripts: audio "clip.wav" is answered with clip.txt from here'),
  slowFactor: z.coerce.number().positive().default(1).describe('multiplies TTFT and ITL, to play a slow replica'),
  failRate: z.coerce.number().min(0).max(1).default(0).describe('share of requests answered with an injected error'),
  failStatus: z.coerce.number().int().min(400).max(599).default(500).describe('HTTP status of injected errors'),
  timerSpinMs: z.coerce
    .number()
    .min(0)
    .max(5)
    .default(0)
    .describe('poll the event loop this long before each token is due, for ~0.05 ms timing at the cost of a busy core (0: timers, ±0.5 ms)'),
  maxBodyBytes: z.coerce.number().int().min(1024).default(32 * 1024 * 1024).describe('largest request body, in bytes'),
});

export type SimulatorOptions = z.infer<typeof simulatorOptionsSchema>;
export type SimulatorOptionsInput = z.input<typeof simulatorOptionsSchema>;
export type SimulatorOptionKey = keyof SimulatorOptions;

export const SIMULATOR_OPTION_KEYS = Object.keys(simulatorOptionsSchema.shape) as SimulatorOptionKey[];

/** `ttftMs` → `--ttft-ms`. */
export function optionFlag(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Command-line flags for simulator options that differ from the defaults, in a stable order. */
export function simulatorOptionsToArgs(options: SimulatorOptions): string[] {
  const defaults = simulatorOptionsSchema.parse({});
  const text = (key: SimulatorOptionKey, o: SimulatorOptions): string | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    return typeof v === 'object' ? formatLengthDistribution(v) : String(v);
  };
  const args: string[] = [];
  for (const key of SIMULATOR_OPTION_KEYS) {
    const value = text(key, options);
    if (value !== undefined && value !== text(key, defaults)) args.push(optionFlag(key), value);
  }
  return args;
}
