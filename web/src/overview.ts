/** The overview: hosts by health, failures over time, the hosts and VMs with most failures. */
import {
  ACTIONS,
  get,
  HEALTH_STATES,
  type HostCount,
  type HostsOverview,
  RECIPIENTS,
  type Series,
  type VmCount,
} from './api.js';
import { ACTION_STYLE, chart, RECIPIENT_STYLE } from './chart.js';
import { h, hostHref, link, replace, table, vmHref, when } from './dom.js';
import type { View } from './main.js';
import { currentRange, rangePicker, withRange } from './range.js';

export function overview(): View {
  const health = h('section', { 'aria-labelledby': 'health-h' });
  const byAction = chart('Failures over time, by action');
  const byRecipient = chart('Failures over time, by recipient');
  const topHosts = h('div');
  const topVms = h('div');
  const total = h('p', { class: 'total' });
  const refresh = async () => {
    const range = currentRange();
    const [hosts, series, hostsTop, vmsTop] = await Promise.all([
      get<HostsOverview>('/api/hosts'),
      get<Series>('/api/series', { range }),
      get<HostCount[]>('/api/top/hosts', { range, limit: 10 }),
      get<VmCount[]>('/api/top/vms', { range, limit: 10 }),
    ]);
    replace(
      health,
      h('h2', { id: 'health-h' }, 'Hosts by health'),
      h(
        'ul',
        { class: 'states' },
        HEALTH_STATES.map((s) =>
          h('li', { class: `state ${s}` }, h('span', { class: 'n' }, hosts.byState[s]), ` ${s}`),
        ),
      ),
      table(
        'Hosts, least healthy first',
        ['Host', 'Health', 'Why', 'Failures (24 h)'],
        hosts.hosts.map((x) => [
          link(withRange(hostHref(x.host)), x.host),
          h('span', { class: `badge ${x.health.state}` }, x.health.state),
          x.health.reasons.join('; '),
          ACTIONS.reduce((n, a) => n + x.facts.lastDay[a], 0),
        ]),
        'none yet',
      ),
    );
    total.textContent = `${series.total} failure${series.total === 1 ? '' : 's'} in this range.`;
    byAction.update(
      series.t,
      ACTIONS.map((a) => ({ label: a, ...ACTION_STYLE[a], values: series.byAction[a] })),
      series.bucketSeconds,
    );
    byRecipient.update(
      series.t,
      RECIPIENTS.map((r) => ({ label: r, ...RECIPIENT_STYLE[r], values: series.byRecipient[r] })),
      series.bucketSeconds,
    );
    replace(
      topHosts,
      table(
        'Hosts with most failures',
        ['Host', 'Failures'],
        hostsTop.map((x) => [link(withRange(hostHref(x.host)), x.host), x.failures]),
        'no failures in this range',
      ),
    );
    replace(
      topVms,
      table(
        'VMs with most failures',
        ['VM', 'Host', 'Failures', 'Fatal or reset', 'Last'],
        vmsTop.map((x) => [
          link(vmHref(x.host, x.vm), x.vm),
          link(withRange(hostHref(x.host)), x.host),
          x.failures,
          x.severe,
          when(x.lastSeen),
        ]),
        'no failures in this range',
      ),
    );
  };
  return {
    title: 'Overview',
    crumbs: [],
    body: [
      h('h1', {}, 'Memory failures'),
      rangePicker(() => void refresh()),
      health,
      h(
        'section',
        { 'aria-labelledby': 'time-h' },
        h('h2', { id: 'time-h' }, 'Over time'),
        total,
        h('div', { class: 'charts' }, byAction.element, byRecipient.element),
      ),
      h(
        'section',
        { 'aria-labelledby': 'top-h', class: 'tops' },
        h('h2', { id: 'top-h' }, 'Most failures'),
        topHosts,
        topVms,
      ),
    ],
    refresh,
  };
}
