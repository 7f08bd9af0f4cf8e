/**
 * The memfail dashboard: one script for every page (chosen by the path), each
 * page a View that renders once and refreshes when the live stream says the
 * store has something new.
 */
import 'uplot/dist/uPlot.min.css';
import '../app.css';
import { ApiError } from './api.js';
import { type Child, h, replace } from './dom.js';
import { hostPage } from './host.js';
import { overview } from './overview.js';
import { withRange } from './range.js';
import { vmPage } from './vm.js';

export interface View {
  readonly title: string;
  /** Breadcrumbs after "Overview": [href, text]. */
  readonly crumbs: readonly (readonly [string, string])[];
  readonly body: readonly Child[];
  refresh(): Promise<void>;
}

function route(path: string): View | null {
  if (path === '/') return overview();
  const host = /^\/hosts\/([^/]+)$/.exec(path);
  if (host) return hostPage(decodeURIComponent(host[1]!));
  const vm = /^\/hosts\/([^/]+)\/vms\/([^/]+)$/.exec(path);
  if (vm) return vmPage(decodeURIComponent(vm[1]!), decodeURIComponent(vm[2]!));
  return null;
}

function start(): void {
  const main = document.getElementById('main')!;
  const crumbs = document.getElementById('crumbs')!;
  const live = document.getElementById('live')!;
  let view: View | null;
  try {
    view = route(location.pathname);
  } catch {
    view = null;
  }
  if (view === null) {
    replace(
      main,
      h('h1', {}, 'Not found'),
      h('p', {}, 'Nothing here. ', h('a', { href: '/' }, 'Back to the overview')),
    );
    live.textContent = '';
    return;
  }
  const page = view;
  document.title = `${page.title} — memfail`;
  replace(
    crumbs,
    h('li', {}, h('a', { href: withRange('/') }, 'Overview')),
    page.crumbs.map(([href, text], i) =>
      h(
        'li',
        {},
        h('a', { href, ...(i === page.crumbs.length - 1 ? { 'aria-current': 'page' } : {}) }, text),
      ),
    ),
  );
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  replace(main, error, page.body);
  let running: Promise<void> | null = null;
  let again = false;
  const refresh = async () => {
    if (running !== null) {
      again = true;
      return;
    }
    running = page
      .refresh()
      .then(() => {
        error.hidden = true;
        live.textContent = `Live — updated ${new Date().toISOString().slice(11, 19)} UTC`;
      })
      .catch((err: unknown) => {
        error.hidden = false;
        error.textContent =
          err instanceof ApiError && err.status === 404
            ? `Not found: ${err.message}`
            : `Could not load the data: ${err instanceof Error ? err.message : String(err)}`;
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          void refresh();
        }
      });
  };
  void refresh();
  // The server says when the store's largest ids move; the page then reads again.
  // Opened after `load`: a stream still open would hold the load event back forever.
  // A browser keeps at most 6 HTTP/1.1 connections to one server, and each
  // stream holds one: a hidden tab closes its stream and reads again when shown.
  let stream: EventSource | null = null;
  let marks = '';
  const listen = () => {
    if (stream !== null || document.hidden) return;
    stream = new EventSource('/api/stream');
    stream.addEventListener('marks', (e) => {
      const data = (e as MessageEvent<string>).data;
      if (marks !== '' && data !== marks) void refresh();
      marks = data;
    });
    stream.addEventListener('error', () => {
      live.textContent = 'Live updates paused: reconnecting…';
    });
  };
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) return listen();
    stream?.close();
    stream = null;
    live.textContent = 'Live updates paused while the tab is hidden';
  });
  if (document.readyState === 'complete') listen();
  else window.addEventListener('load', listen, { once: true });
}

start();
