/** A host: its health verdict with the reasons, its failure timeline, its VMs, evacuations. */
import { ACTIONS, get, type HostDetail, type Series, type VmCount } from './api.js';
import { ACTION_STYLE, chart } from './chart.js';
import { h, hostHref, link, replace, table, vmHref, when } from './dom.js';
import type { View } from './main.js';
import { currentRange, rangePicker } from './range.js';

const PAGE = 50;

export function hostPage(host: string): View {
  const verdict = h('section', { 'aria-labelledby': 'verdict-h' });
  const timeline = chart(`Failures on ${host} over time, by action`);
  const vms = h('div');
  const pager = h('p', { class: 'pager' });
  const evacuations = h('section', { 'aria-labelledby': 'evac-h' });
  let offset = 0;
  const prev = h('button', { type: 'button' }, 'Previous VMs');
  const next = h('button', { type: 'button' }, 'More VMs');
  prev.addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE);
    void refresh();
  });
  next.addEventListener('click', () => {
    offset += PAGE;
    void refresh();
  });
  const refresh = async () => {
    const range = currentRange();
    const path = `/api/hosts/${encodeURIComponent(host)}`;
    const [detail, series, page] = await Promise.all([
      get<HostDetail>(path),
      get<Series>('/api/series', { range, host }),
      get<{ items: VmCount[] }>(`${path}/vms`, { range, limit: PAGE, offset }),
    ]);
    replace(
      verdict,
      h(
        'h2',
        { id: 'verdict-h' },
        'Health: ',
        h('span', { class: `badge ${detail.health.state}` }, detail.health.state),
      ),
      h(
        'ul',
        {},
        detail.health.reasons.map((r) => h('li', {}, r)),
      ),
      h(
        'p',
        {},
        `Last failure: ${when(detail.facts.lastFailure)}. VMs with failures in the last 24 h: ${detail.facts.vms}.`,
      ),
    );
    timeline.update(
      series.t,
      ACTIONS.map((a) => ({ label: a, ...ACTION_STYLE[a], values: series.byAction[a] })),
      series.bucketSeconds,
    );
    replace(
      vms,
      table(
        `VMs on ${host} with failures in this range`,
        ['VM', 'Failures', 'Fatal or reset', 'Last'],
        page.items.map((x) => [
          link(vmHref(host, x.vm), x.vm),
          x.failures,
          x.severe,
          when(x.lastSeen),
        ]),
        'none',
      ),
    );
    prev.disabled = offset === 0;
    next.disabled = page.items.length < PAGE;
    replace(pager, prev, ' ', next);
    replace(
      evacuations,
      h('h2', { id: 'evac-h' }, 'Evacuations'),
      detail.evacuations.length === 0
        ? h('p', { class: 'empty' }, 'No evacuation recorded for this host.')
        : table(
            'Evacuations, newest first: each VM moved off this host',
            ['Evacuation', 'VM', 'To', 'Step', 'Detail', 'When'],
            detail.evacuations.map((e) => [
              `#${e.evacuation}`,
              e.vm,
              e.to,
              e.state,
              e.detail,
              when(e.at),
            ]),
            'none',
          ),
    );
  };
  return {
    title: host,
    crumbs: [[hostHref(host), host]],
    body: [
      h('h1', {}, 'Host ', h('span', { class: 'name' }, host)),
      rangePicker(() => {
        offset = 0;
        void refresh();
      }),
      verdict,
      h(
        'section',
        { 'aria-labelledby': 'tl-h' },
        h('h2', { id: 'tl-h' }, 'Failure timeline'),
        timeline.element,
      ),
      h('section', { 'aria-labelledby': 'vms-h' }, h('h2', { id: 'vms-h' }, 'VMs'), vms, pager),
      evacuations,
    ],
    refresh,
  };
}
