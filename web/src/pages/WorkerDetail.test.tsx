import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { WorkerPerformancePanel } from './WorkerDetail';

describe('the worker page’s performance panel', () => {
  it('shows GPU use over the last 1, 5 and 15 minutes and draws the heartbeats’ samples', () => {
    const samples = [30, 70, 100].map((u, i) => ({ at: 1_000 + i * 5_000, gpuUtilizationPercent: u, gpuMemoryUsedBytes: 0, replicasServing: 1 }));
    render(<WorkerPerformancePanel performance={{ windowMs: 900_000, gpuUtilizationPercent: { last1m: 66.7, last5m: 50, last15m: null }, samples }} />);
    const value = (term: string) => screen.getByText(term).nextElementSibling?.textContent;
    expect(value('GPU use, last minute')).toBe('66.7%');
    expect(value('Last 5 minutes')).toBe('50%');
    expect(value('Last 15 minutes')).toBe('—');
    expect(screen.getByRole('img', { name: /from 3 heartbeats/ })).toBeTruthy();
  });

  it('says when no GPU use has been reported', () => {
    render(<WorkerPerformancePanel performance={{ windowMs: 900_000, gpuUtilizationPercent: { last1m: null, last5m: null, last15m: null }, samples: [] }} />);
    expect(screen.getByText('No GPU use reported yet.')).toBeTruthy();
  });
});
