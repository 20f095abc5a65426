import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { RecipeEditor } from './BenchmarkNew';

const RECIPE = `name: smoke
target: { deployment: demo-llm }
workload:
  api: openai-chat
  dataset: { type: synthetic, inputTokens: 32, outputTokens: 16 }
load: { type: closed }
stop: { duration: 3s }
`;

function Harness({ validate }: { validate: Parameters<typeof RecipeEditor>[0]['validate'] }) {
  const [text, setText] = useState(RECIPE);
  return <RecipeEditor text={text} setText={setText} validate={validate} submitError={undefined} />;
}

describe('the recipe editor', () => {
  it('marks the server’s validation errors at their lines, and jumps there', async () => {
    const validate = vi.fn(() =>
      Promise.resolve({ valid: false, errors: [{ path: 'load.concurrency', line: 6, column: 7, message: 'a closed load needs concurrency (or concurrencies for a sweep)' }] }),
    );
    render(<Harness validate={validate} />);
    const problems = await screen.findByRole('list', { name: 'Problems in the YAML' });
    const item = problems.querySelector('button')!;
    expect(item.textContent).toBe('Line 6:7load.concurrency a closed load needs concurrency (or concurrencies for a sweep)');
    expect(screen.getByRole('status').textContent).toBe('1 problem in the recipe.');
    expect(validate).toHaveBeenCalledWith({ yaml: RECIPE });
    // The problem is a button: pressing it puts the cursor on that line of the editor.
    await userEvent.click(item);
    const editor = screen.getByRole('textbox', { name: 'Recipe' });
    await waitFor(() => expect(editor.contains(document.activeElement) || editor === document.activeElement).toBe(true));
  });

  it('says a valid recipe is valid', async () => {
    render(<Harness validate={() => Promise.resolve({ valid: true, errors: [] })} />);
    await waitFor(() => expect(screen.getByRole('status').textContent).toContain('The recipe is valid.'));
    expect(screen.queryByRole('list', { name: 'Problems in the YAML' })).toBeNull();
  });
});
