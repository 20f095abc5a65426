import { render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { BarChart, niceTicks } from './BarChart';
import { formatNumber } from '../lib/format';

describe('the bar chart axis', () => {
  it('labels every tick differently, at round steps, whatever the largest value', () => {
    for (const max of [0.22, 0.0037, 1, 2.17, 7.3, 48, 999, 12_345]) {
      const { top, ticks } = niceTicks(max);
      expect(top).toBeGreaterThanOrEqual(max);
      const labels = ticks.map((t) => t.label);
      expect(new Set(labels).size, `${max}: ${labels.join(', ')}`).toBe(labels.length);
    }
    expect(niceTicks(0.22).ticks.map((t) => t.label)).toEqual(['0.0', '0.1', '0.2', '0.3']);
  });

  it('draws a goodput chart of small rates with distinct y-axis labels', () => {
    const { container } = render(
      <BarChart title="Goodput" series={[{ label: 'throughput' }, { label: 'goodput' }]} groups={[{ label: 'c1', values: [0.22, 0.17] }]} format={(v) => formatNumber(v)} />,
    );
    const labels = [...container.querySelectorAll('svg > g > text')].map((t) => t.textContent);
    expect(labels.length).toBeGreaterThan(3);
    expect(new Set(labels).size).toBe(labels.length);
  });
});
