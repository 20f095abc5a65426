import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { type Evaluation, EvaluationView } from './common';

const evaluation: Evaluation = {
  wer: 0.125,
  cer: 0.05,
  normalizer: 'catapult-en/1',
  utterances: 10,
  scored: 9,
  failed: 1,
  words: { hits: 70, substitutions: 6, deletions: 3, insertions: 1, referenceLength: 80 },
  chars: { hits: 380, substitutions: 12, deletions: 6, insertions: 2, referenceLength: 400 },
  audioSeconds: 42,
  rtfx: 18.5,
  worst: [
    {
      id: 'utt-007',
      reference: 'turn the lights off',
      hypothesis: 'turn the light of',
      wer: 0.5,
      edits: 2,
      ops: [
        { op: 'equal', ref: 'turn', hyp: 'turn' },
        { op: 'equal', ref: 'the', hyp: 'the' },
        { op: 'substitute', ref: 'lights', hyp: 'light' },
        { op: 'substitute', ref: 'off', hyp: 'of' },
      ],
    },
  ],
};

describe('the ASR results', () => {
  it('show WER and CER with their edit counts, failures kept out of the rates, and the worst utterances aligned', () => {
    render(<EvaluationView e={evaluation} />);
    const wer = screen.getByRole('group', { name: 'WER' });
    expect(wer.textContent).toContain('12.50 %');
    expect(wer.textContent).toMatch(/6\s*sub/);
    expect(wer.textContent).toMatch(/3\s*del/);
    expect(wer.textContent).toMatch(/1\s*ins/);
    expect(screen.getByRole('group', { name: 'CER' }).textContent).toContain('5.00 %');
    expect(screen.getByRole('group', { name: 'Utterances' }).textContent).toContain('1 failed (not in the rates)');
    expect(screen.getByRole('group', { name: 'RTFx' }).textContent).toContain('18.5');
    const worst = screen.getByRole('table', { name: 'Worst utterances' });
    const row = within(worst).getByText('utt-007').closest('tr')!;
    expect(row.textContent).toContain('50.0 %');
    expect(within(row).getByTitle('substituted: said "lights", heard "light"')).toBeTruthy();
    expect(row.textContent).toContain('heard: “turn the light of”');
  });
});
