import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/services.js';

/** Every top-level key of one JSON object text, in order, duplicates kept (JSON.parse would hide them). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && line[j + 1] === ':') keys.push(JSON.parse(line.slice(i, j + 1)) as string);
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

describe('log lines of catapult up', () => {
  it('are JSON objects without duplicate keys; the local agent says so in a field of its own', async () => {
    const dir = tempDir();
    const up = startCli(['up', '--data-dir', dir.dir, '--api-port', '0', '--gateway-port', '0', '--no-demo', '--log-level', 'debug']);
    try {
      await up.waitFor(/Admin key/);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await up.stop();
      dir.remove();
    }
    const lines = up.stderr().split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const keys = topLevelKeys(line);
      expect(new Set(keys).size, line).toBe(keys.length);
    }
    const agentLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.component === 'agent');
    expect(agentLines.length).toBeGreaterThan(0);
    expect(agentLines.every((l) => l.name === 'catapult')).toBe(true);
  });
});
