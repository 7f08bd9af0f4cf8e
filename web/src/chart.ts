/**
 * Failures over time as a uPlot line chart, one line per key. The canvas is
 * for the eye; the figure's caption and the table under "Show as a table"
 * carry the same numbers for screen readers and keyboards.
 */
import uPlot from 'uplot';
import { h, replace } from './dom.js';

export interface Line {
  readonly label: string;
  readonly color: string;
  readonly dash?: readonly number[];
  readonly values: readonly number[];
}

export interface ChartView {
  readonly element: HTMLElement;
  update(t: readonly number[], lines: readonly Line[], bucketSeconds: number): void;
}

const STEPPED = uPlot.paths.stepped?.({ align: 1 });

export function chart(title: string): ChartView {
  const id = `chart-${Math.random().toString(36).slice(2, 8)}`;
  const plotBox = h('div', { class: 'plot', 'aria-hidden': 'true' });
  const summary = h('p', { class: 'summary', id: `${id}-summary` });
  const tableBox = h('div');
  const element = h(
    'figure',
    { class: 'chart', 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-summary` },
    h('figcaption', { id: `${id}-title` }, title),
    plotBox,
    summary,
    h('details', {}, h('summary', {}, 'Show as a table'), tableBox),
  );
  let plot: uPlot | null = null;
  let labels = '';
  const width = () => Math.max(260, plotBox.clientWidth || element.clientWidth || 600);
  new ResizeObserver(() => plot?.setSize({ width: width(), height: 220 })).observe(plotBox);

  return {
    element,
    update(t, lines, bucketSeconds) {
      const data: uPlot.AlignedData = [
        Float64Array.from(t),
        ...lines.map((l) => Float64Array.from(l.values)),
      ];
      const key = lines.map((l) => l.label).join('\0');
      if (plot === null || key !== labels) {
        plot?.destroy();
        labels = key;
        plot = new uPlot(
          {
            width: width(),
            height: 220,
            legend: { show: true },
            cursor: { drag: { x: false, y: false } },
            scales: { x: { time: true } },
            // The axis says UTC, whatever the browser's zone.
            tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
            axes: [{}, { label: `per ${bucketName(bucketSeconds)}`, size: 60 }],
            series: [
              {
                label: 'time (UTC)',
                value: (_u, v) =>
                  v === null
                    ? '—'
                    : new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' '),
              },
              ...lines.map((l) => ({
                label: l.label,
                stroke: l.color,
                width: 2,
                // A count per bucket: a step over the bucket, not a line between points.
                paths: STEPPED,
                ...(l.dash ? { dash: [...l.dash] } : {}),
                points: { show: false },
              })),
            ],
          },
          data,
          plotBox,
        );
      } else plot.setData(data);
      const totals = lines.map((l) => `${l.label} ${l.values.reduce((a, b) => a + b, 0)}`);
      summary.textContent = `Per ${bucketName(bucketSeconds)}: ${totals.join(', ')}.`;
      const rows = t
        .map((at, i) => ({ at, values: lines.map((l) => l.values[i] ?? 0) }))
        .filter((r) => r.values.some((v) => v > 0));
      replace(
        tableBox,
        rows.length === 0
          ? h('p', {}, 'No failures in this range.')
          : h(
              'div',
              {
                class: 'scroll',
                role: 'region',
                'aria-label': `${title}, as numbers`,
                tabindex: 0,
              },
              h(
                'table',
                {},
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    h('th', { scope: 'col' }, 'from (UTC)'),
                    lines.map((l) => h('th', { scope: 'col' }, l.label)),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  rows.map((r) =>
                    h(
                      'tr',
                      {},
                      h(
                        'td',
                        {},
                        new Date(r.at * 1000).toISOString().slice(0, 16).replace('T', ' '),
                      ),
                      r.values.map((v) => h('td', {}, v)),
                    ),
                  ),
                ),
              ),
            ),
      );
    },
  };
}

function bucketName(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? 'day' : `${seconds / 86_400} days`;
  if (seconds % 3_600 === 0) return seconds === 3_600 ? 'hour' : `${seconds / 3_600} hours`;
  return seconds === 60 ? 'minute' : `${seconds / 60} minutes`;
}

/** Colours with at least 4.5:1 contrast on white; dashes tell the lines apart without colour. */
export interface LineStyle {
  readonly color: string;
  readonly dash?: readonly number[];
}

export const ACTION_STYLE: Record<'ignore' | 'inject' | 'fatal' | 'reset', LineStyle> = {
  ignore: { color: '#4b5563', dash: [2, 3] },
  inject: { color: '#1d4ed8' },
  fatal: { color: '#b91c1c', dash: [8, 4] },
  reset: { color: '#9a3412', dash: [4, 2] },
};

export const RECIPIENT_STYLE: Record<'hypervisor' | 'guest', LineStyle> = {
  hypervisor: { color: '#6d28d9', dash: [6, 3] },
  guest: { color: '#047857' },
};
