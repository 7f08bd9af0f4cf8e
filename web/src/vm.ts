/** A VM: each failure explained, with its outcome, the lifecycle around it and the raw QMP message. */
import { type FailureDetail, get, type Page } from './api.js';
import { h, hostHref, replace, vmHref, when } from './dom.js';
import type { View } from './main.js';

const PAGE = 20;

export function vmPage(host: string, vm: string): View {
  const list = h('ul', { class: 'failures' });
  const more = h('button', { type: 'button' }, 'Older failures');
  const status = h('p', { class: 'empty' });
  let shown = PAGE;
  more.addEventListener('click', () => {
    shown += PAGE;
    void refresh();
  });
  const path = `/api/hosts/${encodeURIComponent(host)}/vms/${encodeURIComponent(vm)}/failures`;
  const refresh = async () => {
    // Newest first; a live update re-reads the pages already shown.
    const items: FailureDetail[] = [];
    let before: number | undefined;
    let next: number | null = null;
    do {
      const page: Page<FailureDetail> = await get(path, {
        limit: Math.min(200, shown - items.length),
        before,
      });
      items.push(...page.items);
      next = page.next;
      before = next ?? undefined;
    } while (next !== null && items.length < shown);
    // A live update must not close what the reader opened.
    const open = new Set(
      Array.from(list.querySelectorAll<HTMLDetailsElement>('details[open]'), (d) => d.dataset.key),
    );
    replace(list, items.map(failureItem));
    for (const d of list.querySelectorAll<HTMLDetailsElement>('details')) {
      if (open.has(d.dataset.key)) d.open = true;
    }
    status.textContent = items.length === 0 ? 'No memory failure recorded for this VM.' : '';
    more.hidden = next === null;
  };
  return {
    title: vm,
    crumbs: [
      [hostHref(host), host],
      [vmHref(host, vm), vm],
    ],
    body: [
      h('h1', {}, 'VM ', h('span', { class: 'name' }, vm)),
      h('p', {}, 'On host ', h('a', { href: hostHref(host) }, host), '. Newest failure first.'),
      status,
      list,
      more,
    ],
    refresh,
  };
}

function failureItem(f: FailureDetail): HTMLElement {
  const flags = [
    f.actionRequired ? 'action-required' : 'action-optional',
    f.recursive ? 'recursive' : null,
  ]
    .filter((x) => x !== null)
    .join(', ');
  return h(
    'li',
    { class: `failure ${f.valid ? '' : 'invalid'}`, 'data-id': f.id },
    h(
      'article',
      { 'aria-labelledby': `f${f.id}` },
      h(
        'h2',
        { id: `f${f.id}` },
        when(f.timestamp),
        ' — ',
        f.action === null ? 'unreadable event' : `${f.recipient} ${f.action}`,
      ),
      h('p', { class: 'explanation' }, f.explanation),
      h(
        'dl',
        {},
        h('dt', {}, 'Outcome'),
        h('dd', {}, f.outcome ?? '—'),
        h('dt', {}, 'Flags'),
        h('dd', {}, f.action === null ? '—' : flags),
        h('dt', {}, 'Dialect'),
        h('dd', {}, f.dialect ?? 'unknown'),
        h('dt', {}, 'Received'),
        h('dd', {}, when(f.receivedAt)),
        !f.valid && [h('dt', {}, 'Validation'), h('dd', {}, f.error ?? 'invalid')],
      ),
      h(
        'details',
        { 'data-key': `${f.id}-around` },
        h('summary', {}, `Lifecycle events within a minute (${f.around.length})`),
        f.around.length === 0
          ? h('p', {}, 'None.')
          : h(
              'ul',
              {},
              f.around.map((e) =>
                h(
                  'li',
                  {},
                  when(e.timestamp ?? e.receivedAt),
                  ' ',
                  h('strong', {}, e.event),
                  e.data === null ? '' : ` ${JSON.stringify(e.data)}`,
                ),
              ),
            ),
      ),
      h(
        'details',
        { 'data-key': `${f.id}-raw` },
        h('summary', {}, 'Raw QMP message'),
        h('pre', {}, f.raw),
      ),
    ),
  );
}
