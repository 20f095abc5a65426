import { PALETTE } from './Chart';

export interface BarGroup {
  /** Category label on the x axis (p50, p99…). */
  label: string;
  values: (number | null)[];
}

/**
 * Axis ticks from 0 to at least `max` at a round step (1, 2, 2.5 or 5 times a power of ten, about
 * four intervals), with labels of just enough decimals that no two are alike.
 */
export function niceTicks(max: number): { top: number; ticks: { value: number; label: string }[] } {
  if (!(max > 0) || !Number.isFinite(max)) return { top: 1, ticks: [0, 0.25, 0.5, 0.75, 1].map((v) => ({ value: v, label: String(v) })) };
  const raw = max / 4;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw * 0.999) ?? 10 * pow;
  const intervals = Math.max(1, Math.ceil(max / step - 1e-9));
  // 2.5 × 10^k needs one decimal more than its power of ten.
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (Math.round(step / pow) === 2.5 || Math.round((step / pow) * 10) === 25 ? 1 : 0));
  const ticks = Array.from({ length: intervals + 1 }, (_, k) => {
    const value = k * step;
    return { value, label: value.toFixed(decimals) };
  });
  return { top: intervals * step, ticks };
}

/**
 * Grouped bars in SVG: one group per category, one bar per series. Small enough not to need a
 * chart library, and each bar carries its value in a <title> for pointer and screen-reader users.
 */
export function BarChart({
  title,
  meta,
  groups,
  series,
  format,
  height = 220,
}: {
  title: string;
  meta?: string;
  groups: BarGroup[];
  series: { label: string; color?: string }[];
  format: (v: number) => string;
  height?: number;
}) {
  const axis = niceTicks(Math.max(0, ...groups.flatMap((g) => g.values.filter((v): v is number => v !== null))));
  const max = axis.top;
  // The caller's format (with its unit) when it tells every tick apart; else just enough decimals.
  const formatted = axis.ticks.map((t) => format(t.value));
  const tickLabels = new Set(formatted).size === formatted.length ? formatted : axis.ticks.map((t) => t.label);
  const W = 640;
  const H = height;
  const pad = { l: 56, r: 8, t: 10, b: 26 };
  const innerW = W - pad.l - pad.r;
  const innerH = H - pad.t - pad.b;
  const gw = innerW / Math.max(1, groups.length);
  const bw = Math.min(38, (gw * 0.78) / Math.max(1, series.length));
  const color = (i: number) => series[i]?.color ?? PALETTE[i % PALETTE.length]!;
  return (
    <figure className="chart" style={{ margin: 0 }}>
      <figcaption className="chart-title">
        {title}
        {meta ? <span className="meta">{meta}</span> : null}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={`${title}: ${groups.map((g) => `${g.label} ${g.values.map((v, i) => `${series[i]?.label ?? ''} ${v === null ? 'none' : format(v)}`).join(', ')}`).join('; ')}`}>
        {axis.ticks.map(({ value: t }, k) => {
          const y = pad.t + innerH - (t / max) * innerH;
          return (
            <g key={t}>
              <line x1={pad.l} x2={W - pad.r} y1={y} y2={y} stroke="var(--chart-grid)" />
              <text x={pad.l - 6} y={y + 4} textAnchor="end" fontSize="11" fill="var(--chart-axis)">
                {tickLabels[k]}
              </text>
            </g>
          );
        })}
        {groups.map((g, gi) => {
          const x0 = pad.l + gi * gw + (gw - bw * series.length) / 2;
          return (
            <g key={g.label}>
              {g.values.map((v, si) => {
                if (v === null) return null;
                const h = (v / max) * innerH;
                return (
                  <rect key={si} x={x0 + si * bw} y={pad.t + innerH - h} width={bw - 2} height={Math.max(0.5, h)} fill={color(si)} rx="2">
                    <title>{`${series[si]?.label ?? ''} ${g.label}: ${format(v)}`}</title>
                  </rect>
                );
              })}
              <text x={pad.l + gi * gw + gw / 2} y={H - 8} textAnchor="middle" fontSize="11" fill="var(--chart-axis)">
                {g.label}
              </text>
            </g>
          );
        })}
      </svg>
      {series.length > 1 ? (
        <div className="legend-row" style={{ marginTop: 4 }}>
          {series.map((s, i) => (
            <span key={s.label}>
              <span className="swatch" style={{ background: color(i) }} />
              {s.label}
            </span>
          ))}
        </div>
      ) : null}
    </figure>
  );
}
