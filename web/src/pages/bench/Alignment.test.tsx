import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { Alignment } from './common';

describe('the alignment of a transcript', () => {
  it('shows substitutions, deletions and insertions apart from the words that match, each in its own colour', () => {
    render(
      <Alignment
        ops={[
          { op: 'equal', ref: 'the', hyp: 'the' },
          { op: 'substitute', ref: 'cat', hyp: 'hat' },
          { op: 'delete', ref: 'sat' },
          { op: 'equal', ref: 'on', hyp: 'on' },
          { op: 'insert', hyp: 'a' },
          { op: 'equal', ref: 'mat', hyp: 'mat' },
        ]}
      />,
    );
    const line = screen.getByLabelText('Alignment of the reference and the hypothesis');
    // What a screen reader reads out, word by word.
    expect(line.textContent).toBe('thesubstituted cathatdeleted satoninserted +amat');
    const sub = screen.getByTitle('substituted: said "cat", heard "hat"');
    const del = screen.getByTitle('deleted: "sat" was not heard');
    const ins = screen.getByTitle('inserted: "a" was heard but not said');
    // The said word of a substitution is struck through, beside what was heard.
    expect(sub.querySelector('s')?.textContent).toBe('cat');
    // Three kinds, three colours (the classes carry them), none shared with matching words.
    const kinds = new Set([sub.className, del.className, ins.className]);
    expect(kinds.size).toBe(3);
    expect(screen.getByText('the').className).not.toMatch(/sub|del|ins/);
  });
});
