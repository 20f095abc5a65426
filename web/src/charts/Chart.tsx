import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Series colours, chosen to stay apart on both themes and for the common colour-vision deficiencies. */
export const PALETTE = ['#5b9dff', '#f0b35a', '#3fb97a', '#e8657a', '#a387f5', '#4cc9d6', '#d98be0', '#9ccc65'];

export interface SeriesDef {
  label: string;
  color?: string;
  /** Which y scale: 'y' (left) or 'y2' (right). */
  scale?: 'y' | 'y2';
  kind?: 'line' | 'points';
  dash?: number[];
  width?: number;
  fill?: boolean;
}

export interface ChartProps {
  title: string;
  /** Short text beside the title: units, what is measured. */
  meta?: string;
  /** What the chart shows, for people who cannot see it (also its accessible name). */
  summary: string;
  /** uPlot's aligned data: x values first, then one array per series. */
  data: uPlot.AlignedData;
  series: SeriesDef[];
  height?: number;
  xLabel?: string;
  yLabel?: string;
  y2Label?: string;
  xValues?: (v: number) => string;
  yValues?: (v: number) => string;
  y2Values?: (v: number) => string;
  /** Tick steps to choose from on the x axis (whole seconds for time series). */
  xIncrs?: number[];
  /** Fixed x ticks (for percentile axes) with their labels. */
  xTicks?: { at: number[]; label: (v: number) => string };
  yMin?: number;
  /** Fit the y axis to the data instead of starting at zero (latency distributions). */
  yFit?: boolean;
}

function cssVar(name: string, fallback: string): string {
  if (typeof window === 'undefined') return fallback;
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Re-renders charts when the theme changes: canvas colours are read once per chart. */
function useThemeVersion(): number {
  const [v, setV] = useState(0);
  useEffect(() => {
    const obs = new MutationObserver(() => setV((x) => x + 1));
    obs.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => obs.disconnect();
  }, []);
  return v;
}

function build(p: ChartProps, width: number): uPlot.Options {
  const axis = cssVar('--chart-axis', '#8b95a5');
  const grid = cssVar('--chart-grid', 'rgba(139,149,165,0.14)');
  const font = '11px ui-sans-serif, system-ui, sans-serif';
  const axisBase: uPlot.Axis = { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font, labelFont: font };
  const hasY2 = p.series.some((s) => s.scale === 'y2');
  return {
    width,
    height: p.height ?? 220,
    cursor: { drag: { x: true, y: false }, points: { size: 6 } },
    legend: { live: true },
    scales: {
      x: { time: false },
      y: {
        range: (_u, min, max): uPlot.Range.MinMax => {
          if (p.yFit && Number.isFinite(min) && Number.isFinite(max)) {
            const pad = Math.max((max - min) * 0.1, max * 0.02, 0.01);
            return [Math.max(0, min - pad), max + pad];
          }
          return [Math.min(p.yMin ?? 0, min), max > 0 ? max * 1.08 : 1];
        },
      },
      ...(hasY2 ? { y2: { range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, max > 0 ? max * 1.08 : 1] } } : {}),
    },
    axes: [
      {
        ...axisBase,
        ...(p.xLabel ? { label: p.xLabel } : {}),
        ...(p.xIncrs ? { incrs: p.xIncrs } : {}),
        ...(p.xTicks ? { splits: () => p.xTicks!.at, values: (_u: uPlot, vals: number[]) => vals.map((v) => p.xTicks!.label(v)) } : {}),
        ...(p.xValues && !p.xTicks ? { values: (_u: uPlot, vals: number[]) => vals.map((v) => p.xValues!(v)) } : {}),
      },
      {
        ...axisBase,
        size: 58,
        ...(p.yLabel ? { label: p.yLabel } : {}),
        ...(p.yValues ? { values: (_u: uPlot, vals: number[]) => vals.map((v) => p.yValues!(v)) } : {}),
      },
      ...(hasY2
        ? [
            {
              ...axisBase,
              scale: 'y2',
              side: 1,
              size: 58,
              grid: { show: false },
              ...(p.y2Label ? { label: p.y2Label } : {}),
              ...(p.y2Values ? { values: (_u: uPlot, vals: number[]) => vals.map((v) => p.y2Values!(v)) } : {}),
            } satisfies uPlot.Axis,
          ]
        : []),
    ],
    series: [
      { label: p.xLabel ?? 'x', ...(p.xValues ? { value: (_u: uPlot, v: number | null) => (v === null ? '—' : p.xValues!(v)) } : {}) },
      ...p.series.map((s, i): uPlot.Series => {
        const color = s.color ?? PALETTE[i % PALETTE.length]!;
        const values = s.scale === 'y2' ? p.y2Values : p.yValues;
        const base: uPlot.Series = {
          label: s.label,
          stroke: color,
          width: s.width ?? 1.75,
          scale: s.scale ?? 'y',
          spanGaps: true,
          points: { show: s.kind === 'points', size: 5, fill: color },
          ...(s.dash ? { dash: s.dash } : {}),
          ...(values ? { value: (_u: uPlot, v: number | null) => (v === null ? '—' : values(v)) } : {}),
        };
        if (s.fill) return { ...base, fill: `${color}22` };
        return base;
      }),
    ],
  };
}

/**
 * A uPlot chart that fills its container's width. Canvas cannot be read by screen readers, so the
 * figure carries a summary as its accessible name, and the legend (a table) gives the values under
 * the cursor.
 */
export function Chart(props: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const theme = useThemeVersion();
  const propsRef = useRef(props);
  propsRef.current = props;
  // A new series set, height or theme needs a new chart; new data alone is set on the current one.
  const shape = `${props.series.map((s) => `${s.label}:${s.kind ?? ''}:${s.scale ?? ''}`).join('|')}|${props.height ?? ''}|${theme}`;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const width = Math.max(200, el.clientWidth || 600);
    const u = new uPlot(build(propsRef.current, width), propsRef.current.data, el);
    plot.current = u;
    const ro = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: propsRef.current.height ?? 220 }));
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  return (
    <figure className="chart" style={{ margin: 0 }}>
      <figcaption className="chart-title">
        {props.title}
        {props.meta ? <span className="meta">{props.meta}</span> : null}
      </figcaption>
      <div ref={host} role="img" aria-label={`${props.title}: ${props.summary}`} />
    </figure>
  );
}
