// The latency chart of docs/benchmarks.md as hand-written SVG text: per workload, a bar per
// system at each percentile (p50, p90, p99, p99.9), log-scale y axis, one legend entry and one
// <g class="series"> per system. Pure string building; never measures, never writes files.

export const PERCENTILES = ['p50', 'p90', 'p99', 'p99.9'] as const;
export type Percentile = (typeof PERCENTILES)[number];

export interface ChartSeries {
  readonly system: string;
  /** Latency in ms per percentile; a missing percentile (not measured) draws no bar. */
  readonly ms: Partial<Readonly<Record<Percentile, number>>>;
}

export interface ChartGroup {
  readonly workload: string;
  readonly series: readonly ChartSeries[];
}

/** Fixed colours, one per system in order of first appearance (colour-blind-safe Okabe-Ito). */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'] as const;
const BAR_PX = 12;
const PERCENTILE_GAP_PX = 8;
const GROUP_GAP_PX = 36;
const PLOT_HEIGHT_PX = 260;
const MARGIN_LEFT_PX = 70;
const MARGIN_TOP_PX = 56;
const MARGIN_BOTTOM_PX = 96;
const MARGIN_RIGHT_PX = 20;
/** Workload labels wrap at this many characters per line under the axis. */
const LABEL_LINE_CHARS = 26;
const FONT = 'font-family="sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Words wrapped into lines of at most `width` characters (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/)) {
    if (cur !== '' && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur === '' ? w : `${cur} ${w}`;
  }
  if (cur !== '') lines.push(cur);
  return lines;
}

const f = (x: number): string => (Math.round(x * 10) / 10).toString();

function decadeLabel(exp: number): string {
  const v = 10 ** exp;
  return exp < 0 ? `${v.toFixed(-exp)} ms` : `${v} ms`;
}

/** The SVG document; `title` goes on top. Groups without any value are still labelled. */
export function latencyChartSvg(title: string, groups: readonly ChartGroup[]): string {
  const systems: string[] = [];
  for (const g of groups) for (const s of g.series) if (!systems.includes(s.system)) systems.push(s.system);
  const values: number[] = [];
  for (const g of groups) for (const s of g.series) for (const p of PERCENTILES) {
    const v = s.ms[p];
    if (v !== undefined && Number.isFinite(v) && v > 0) values.push(v);
  }
  const lo = values.length === 0 ? -1 : Math.floor(Math.log10(Math.min(...values)));
  const hiRaw = values.length === 0 ? 1 : Math.ceil(Math.log10(Math.max(...values)));
  const hi = hiRaw > lo ? hiRaw : lo + 1;
  const y = (ms: number): number => MARGIN_TOP_PX + PLOT_HEIGHT_PX * (1 - (Math.log10(ms) - lo) / (hi - lo));
  const clusterPx = Math.max(1, systems.length) * BAR_PX;
  const groupPx = PERCENTILES.length * clusterPx + (PERCENTILES.length - 1) * PERCENTILE_GAP_PX;
  const plotWidth = Math.max(1, groups.length) * (groupPx + GROUP_GAP_PX);
  const width = MARGIN_LEFT_PX + plotWidth + MARGIN_RIGHT_PX;
  const height = MARGIN_TOP_PX + PLOT_HEIGHT_PX + MARGIN_BOTTOM_PX;
  const groupX = (gi: number): number => MARGIN_LEFT_PX + GROUP_GAP_PX / 2 + gi * (groupPx + GROUP_GAP_PX);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${f(width)}" height="${f(height)}" viewBox="0 0 ${f(width)} ${f(height)}" role="img">`);
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect x="0" y="0" width="${f(width)}" height="${f(height)}" fill="#ffffff"/>`);
  out.push(`<text x="${MARGIN_LEFT_PX}" y="20" ${FONT} font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  // Legend.
  systems.forEach((s, i) => {
    const x = MARGIN_LEFT_PX + i * 150;
    out.push(`<g class="legend"><rect x="${x}" y="30" width="12" height="12" fill="${PALETTE[i % PALETTE.length] as string}"/><text x="${x + 16}" y="41" ${FONT} font-size="12">${escapeXml(s)}</text></g>`);
  });
  // Log axis: a grid line and label per decade.
  out.push('<g class="axis">');
  for (let e = lo; e <= hi; e++) {
    const yy = f(y(10 ** e));
    out.push(`<line x1="${MARGIN_LEFT_PX}" y1="${yy}" x2="${f(MARGIN_LEFT_PX + plotWidth)}" y2="${yy}" stroke="#dddddd"/>`);
    out.push(`<text x="${MARGIN_LEFT_PX - 6}" y="${yy}" ${FONT} font-size="11" text-anchor="end" dominant-baseline="middle">${escapeXml(decadeLabel(e))}</text>`);
  }
  out.push(`<line x1="${MARGIN_LEFT_PX}" y1="${MARGIN_TOP_PX}" x2="${MARGIN_LEFT_PX}" y2="${MARGIN_TOP_PX + PLOT_HEIGHT_PX}" stroke="#333333"/>`);
  out.push(`<text transform="translate(14 ${MARGIN_TOP_PX + PLOT_HEIGHT_PX / 2}) rotate(-90)" ${FONT} font-size="11" text-anchor="middle">latency (log scale)</text>`);
  out.push('</g>');
  // Workload and percentile labels.
  groups.forEach((g, gi) => {
    const x0 = groupX(gi);
    PERCENTILES.forEach((p, pi) => {
      const cx = x0 + pi * (clusterPx + PERCENTILE_GAP_PX) + clusterPx / 2;
      out.push(`<text x="${f(cx)}" y="${MARGIN_TOP_PX + PLOT_HEIGHT_PX + 14}" ${FONT} font-size="10" text-anchor="middle">${p}</text>`);
    });
    wrap(g.workload, LABEL_LINE_CHARS).forEach((line, li) => {
      out.push(`<text class="workload" x="${f(x0 + groupPx / 2)}" y="${MARGIN_TOP_PX + PLOT_HEIGHT_PX + 32 + li * 13}" ${FONT} font-size="11" text-anchor="middle">${escapeXml(line)}</text>`);
    });
  });
  // One group of bars per system.
  const base = MARGIN_TOP_PX + PLOT_HEIGHT_PX;
  systems.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length] as string;
    out.push(`<g class="series" data-system="${escapeXml(s)}" fill="${color}">`);
    groups.forEach((g, gi) => {
      const series = g.series.find((x) => x.system === s);
      if (series === undefined) return;
      PERCENTILES.forEach((p, pi) => {
        const v = series.ms[p];
        if (v === undefined || !Number.isFinite(v) || v <= 0) return;
        const x = groupX(gi) + pi * (clusterPx + PERCENTILE_GAP_PX) + si * BAR_PX;
        const top = y(v);
        out.push(`<rect x="${f(x)}" y="${f(top)}" width="${BAR_PX - 2}" height="${f(Math.max(0.5, base - top))}"><title>${escapeXml(`${s}, ${g.workload}, ${p}: ${v.toFixed(3)} ms`)}</title></rect>`);
      });
    });
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
