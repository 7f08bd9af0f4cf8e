/**
 * Building DOM from data. Every string becomes a text node and every
 * attribute goes through setAttribute: names and raw messages come from the
 * hypervisor side and are never parsed as HTML.
 */
export type Child = Node | string | number | null | undefined | false | readonly Child[];
export type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A table in a region that scrolls sideways on a narrow screen (and by keyboard). */
export function table(
  caption: string,
  head: readonly string[],
  rows: readonly (readonly Child[])[],
  empty: string,
): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, `${caption}: ${empty}`);
  return h(
    'div',
    { class: 'scroll', role: 'region', 'aria-label': caption, tabindex: 0 },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            {},
            r.map((c) => h('td', {}, c)),
          ),
        ),
      ),
    ),
  );
}

export function link(href: string, text: string): HTMLAnchorElement {
  return h('a', { href }, text);
}

export function hostHref(host: string): string {
  return `/hosts/${encodeURIComponent(host)}`;
}

export function vmHref(host: string, vm: string): string {
  return `${hostHref(host)}/vms/${encodeURIComponent(vm)}`;
}

/** 2026-12-04T10:41:07.332511Z → 2026-12-04 10:41:07 UTC */
export function when(iso: string | null): string {
  return iso === null ? '—' : `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}
