import type { z } from 'zod';
import { CONFIG_KEYS, configSchema, envName } from './config.js';

/** The README's configuration table, generated from the schema so the two cannot drift apart. */
export function configTableMarkdown(): string {
  const defaults = configSchema.parse({});
  const rows = CONFIG_KEYS.map((key) => {
    const field = configSchema.shape[key] as z.ZodType;
    const description = field.description ?? '';
    const value = defaults[key];
    const shown = value === '' ? '(empty)' : `\`${String(value)}\``;
    return `| \`${envName(key)}\` | \`${key}\` | ${shown} | ${description} |`;
  });
  return ['| environment variable | catapult.yaml key | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
