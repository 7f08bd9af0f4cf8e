/** The time-range picker; the choice lives in the address (?range=) so a link keeps it. */
import { h } from './dom.js';

export const PRESETS = [
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
] as const;
export type Preset = (typeof PRESETS)[number][0];

export function currentRange(): Preset {
  const asked = new URLSearchParams(location.search).get('range');
  return PRESETS.find(([p]) => p === asked)?.[0] ?? '24h';
}

export function rangePicker(onChange: (range: Preset) => void): HTMLElement {
  const select = h(
    'select',
    { id: 'range', name: 'range' },
    PRESETS.map(([value, label]) =>
      h('option', { value, selected: value === currentRange() }, label),
    ),
  );
  select.addEventListener('change', () => {
    const range = select.value as Preset;
    const url = new URL(location.href);
    url.searchParams.set('range', range);
    history.replaceState(null, '', url);
    onChange(range);
  });
  return h('p', { class: 'picker' }, h('label', { for: 'range' }, 'Time range '), select);
}

/** Keeps the chosen range on links to other pages. */
export function withRange(href: string): string {
  const range = new URLSearchParams(location.search).get('range');
  return range === null ? href : `${href}?range=${encodeURIComponent(range)}`;
}
