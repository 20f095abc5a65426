import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRecipe, planStages, prepareItems } from '../../src/bench/index.js';
import { ROOT } from '../helpers/cli.js';

const DIR = join(ROOT, 'examples', 'bench');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

describe('the example recipes', () => {
  it('are all there', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  for (const file of files) {
    it(`${file} is a valid recipe`, () => {
      const recipe = parseRecipe(readFileSync(join(DIR, file), 'utf8'), file);
      expect(recipe.name.length).toBeGreaterThan(0);
      expect(planStages(recipe).length).toBeGreaterThan(0);
    });
  }

  it('chat-bursty.yaml reads its prompts from the JSONL beside it', async () => {
    const recipe = parseRecipe(readFileSync(join(DIR, 'chat-bursty.yaml'), 'utf8'));
    const items = await prepareItems(recipe, { model: 'demo-llm', cwd: ROOT });
    expect(items).toHaveLength(4);
    expect(items.map((i) => i.maxTokens)).toEqual([64, 32, 96, 80]);
    expect(JSON.parse(items[0]!.body!.toString())).toMatchObject({ model: 'demo-llm', prompt: expect.stringContaining('KV cache'), max_tokens: 64, stream: true });
  });
});
