import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DataTable } from './DataTable';
import { Empty } from './ui';

const head = (
  <>
    <th>Name</th>
    <th>Size</th>
  </>
);
const row = (r: { name: string; size: number }) => (
  <tr key={r.name}>
    <td>{r.name}</td>
    <td>{r.size}</td>
  </tr>
);

describe('DataTable', () => {
  it('shows a loading skeleton until the first answer, not an empty state', () => {
    render(<DataTable loading rows={[]} empty={<Empty title="Nothing here" />} head={head} row={row} />);
    expect(screen.getByRole('status', { name: 'Loading' })).toBeTruthy();
    expect(screen.queryByText('Nothing here')).toBeNull();
  });

  it('shows the empty state when there are no rows', () => {
    render(<DataTable rows={[]} empty={<Empty title="Nothing here" />} head={head} row={row} />);
    expect(screen.getByText('Nothing here')).toBeTruthy();
    expect(screen.queryByRole('table')).toBeNull();
  });

  it('shows one table row per item under the header', () => {
    render(<DataTable rows={[{ name: 'a', size: 1 }, { name: 'b', size: 2 }]} empty={<Empty title="Nothing here" />} head={head} row={row} label="Files" />);
    const table = screen.getByRole('table', { name: 'Files' });
    expect(table.querySelectorAll('thead th')).toHaveLength(2);
    expect([...table.querySelectorAll('tbody tr')].map((tr) => tr.textContent)).toEqual(['a1', 'b2']);
  });
});
