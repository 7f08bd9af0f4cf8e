/// <reference lib="dom" />
/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core
 * (never a downloaded browser), over `memfail serve` reading the database a
 * real `memfail watch` writes while `memfail sim` VMs take injected failures.
 * Screenshots are taken on every run; they replace the README's in
 * docs/screenshots/ only with MEMFAIL_SCREENSHOTS=1 (so a test run leaves the
 * checkout as it was), else they go to a temporary folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { Journal } from '../../src/evacuate/journal.js';
import { type Child, memfail, until } from '../agent/child.js';
import { failureAt, lifecycleAt, minutesAgo, record, tempDir } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS =
  process.env.MEMFAIL_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
    : mkdtempSync(join(tmpdir(), 'memfail-shots-'));
const XSS = '<img src=x onerror=alert(1)>';
/** Failures QEMU 7.2 really reports (see src/event/reachable.ts). */
const KINDS = [
  { action: 'inject', actionRequired: true },
  { recipient: 'hypervisor', action: 'ignore', actionRequired: false },
  { action: 'inject', actionRequired: false },
  { action: 'reset', actionRequired: true, recursive: true },
] as const;

describe('dashboard in chromium', () => {
  const { dir, cleanup } = tempDir('memfail-web-');
  const db = join(dir, 'events.db');
  const sock = join(dir, 'vm.sock');
  const children: Child[] = [];
  let url = '';
  let context: BrowserContext;
  let profile = '';
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];

  before(async () => {
    const sim = memfail(['sim', '--listen', `unix:${sock}`, '--guest', 'linux']);
    children.push(sim);
    await until(() => sim.stderr().length > 0 || sim.stdout().length > 0, 'sim to start');
    // The history the pages show, written through the agent's store.
    const failures = [];
    for (let i = 39; i >= 0; i--) {
      failures.push(failureAt(`web-${i % 6}`, minutesAgo(20 * i + 3), KINDS[i % KINDS.length]));
    }
    record(
      db,
      [
        ...failures,
        failureAt(XSS, minutesAgo(30), { action: 'reset' }),
        lifecycleAt(XSS, 'RESET', minutesAgo(30) + 1000),
        failureAt('web-1', minutesAgo(90), { recipient: 'hypervisor', action: 'fatal' }),
      ].sort((a, b) => a.receivedUs - b.receivedUs),
    ); // in receipt order, as the agent writes
    // host-a was evacuated once, as health --act records it in the same file.
    const journal = Journal.open(db);
    const id = journal.begin('host-a', 'qmp', 'failing: 3 action-required failures on 2 VMs', [
      { vm: 'web-1', dest: 'host-b' },
      { vm: XSS, dest: 'host-b' },
    ]);
    assert.equal(typeof id, 'number');
    journal.setStep(id as number, 'web-1', 'completed', 'migrated in 1.2 s, downtime 3 ms');
    journal.setStep(id as number, XSS, 'failed', 'destination refused: no room');
    journal.finish(id as number, 'incomplete', '1 of 2 VMs moved');
    journal.close();
    const watch = memfail(['watch', `live=unix:${sock}`, '--db', db, '-q']);
    children.push(watch);
    await until(() => lifecycleCount(db, 'live') > 0, 'watch to connect to the VM');
    const serve = memfail(['serve', '--db', db, '--listen', '127.0.0.1:0', '--host', 'host-a']);
    children.push(serve);
    await until(() => /dashboard at (http:\S+)/.test(serve.stderr()), 'serve to start');
    url = /dashboard at (http:\S+)/.exec(serve.stderr())![1]!;

    profile = mkdtempSync(join(tmpdir(), 'memfail-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
    context.on('page', watchPage);
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await context?.close();
    for (const c of children) c.process.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
    rmSync(profile, { recursive: true, force: true });
    cleanup();
  });

  function watchPage(page: Page): void {
    if (process.env.MEMFAIL_WEB_DEBUG) {
      page.on('request', (r) => console.log('request', r.url()));
      page.on('requestfinished', (r) => console.log('finished', r.url()));
      page.on('requestfailed', (r) => console.log('failed', r.url(), r.failure()?.errorText));
    }
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }

  /** Opens `path`, runs `use`, and always closes the page (each open page holds a live stream). */
  async function visit(
    path: string,
    use: (page: Page) => Promise<void>,
    width = 1280,
  ): Promise<void> {
    const page = await context.newPage();
    try {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(new URL(path, url).href);
      await page.waitForSelector('#live:has-text("Live")');
      await use(page);
    } finally {
      await page.close();
    }
  }

  const hostPath = '/hosts/host-a';
  const vmPath = (vm: string) => `${hostPath}/vms/${encodeURIComponent(vm)}`;

  test('every page loads with no console error; screenshots for the README', async () => {
    await visit('/', async (page) => {
      await page.waitForSelector('.chart canvas');
      assert.equal(await page.locator('h1').textContent(), 'Memory failures');
      assert.equal((await page.locator('.chart canvas').count()) >= 2, true);
      await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
    });
    await visit(hostPath, async (page) => {
      await page.waitForSelector('.chart canvas');
      assert.match((await page.locator('#verdict-h').textContent()) ?? '', /failing/);
      const evac = page.locator('section[aria-labelledby=evac-h] tbody tr');
      assert.equal(await evac.count(), 2);
      assert.deepEqual(await evac.first().locator('td').allTextContents(), [
        '#1',
        'web-1',
        'host-b',
        'completed',
        'migrated in 1.2 s, downtime 3 ms',
        await evac.first().locator('td').last().textContent(),
      ]);
      assert.equal(await evac.nth(1).locator('td').nth(1).textContent(), XSS);
      await page.screenshot({ path: join(SHOTS, 'host.png'), fullPage: true });
    });
    await visit(vmPath('web-1'), async (page) => {
      await page.waitForSelector('.failure');
      await page.locator('.failure summary:has-text("Raw QMP message")').first().click();
      await page.screenshot({ path: join(SHOTS, 'vm.png'), fullPage: true });
    });
    await visit(
      '/',
      async (page) => {
        await page.waitForSelector('.chart canvas');
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth - window.innerWidth,
        );
        assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 375px screen`);
        await page.screenshot({ path: join(SHOTS, 'overview-narrow.png'), fullPage: true });
      },
      375,
    );
    const page = await context.newPage();
    try {
      const res = await page.goto(new URL(vmPath('nobody'), url).href);
      assert.equal(res?.status(), 404);
      await page.waitForSelector('[role=alert]:has-text("Not found")');
    } finally {
      await page.close();
    }
    assert.deepEqual(
      consoleErrors.filter((e) => !(e.includes('/vms/nobody') && /status of 404/.test(e))),
      [],
    );
    consoleErrors.length = 0;
  });

  test('a VM named like HTML is shown as text and runs nothing', async () => {
    await visit(vmPath(XSS), async (page) => {
      await page.waitForSelector('.failure');
      assert.equal(await page.locator('h1 .name').textContent(), XSS);
      assert.equal(await page.locator('main img').count(), 0);
      assert.match((await page.locator('.explanation').first().textContent()) ?? '', /<img src=x/);
    });
    await visit('/', async (page) => {
      await page.waitForSelector('td a:text-is("<img src=x onerror=alert(1)>")');
      assert.equal(await page.locator('main img').count(), 0);
    });
    assert.deepEqual(dialogs, []);
    assert.deepEqual(consoleErrors, []);
  });

  test('a failure injected into a simulated VM appears on the open overview and VM page within a second', async () => {
    await visit('/', (overview) =>
      visit(vmPath('live'), async (vm) => {
        await vm.waitForSelector('p.empty:has-text("No memory failure")');
        await overview.waitForSelector('.total');
        const totalBefore = await overview.locator('.total').textContent();
        const before = maxFailureId(db);
        const inject = memfail(['inject', `unix:${sock}`, '--preset', 'ar']);
        const shownOnVm = vm.waitForSelector('.failure h2:has-text("guest inject")', {
          timeout: 30_000,
        });
        const shownOnOverview = overview.waitForFunction(
          (old) => document.querySelector('.total')?.textContent !== old,
          totalBefore,
          { timeout: 30_000 },
        );
        await until(() => maxFailureId(db) > before, 'the watcher to record the failure', 30_000);
        const recordedAt = performance.now();
        await shownOnVm;
        const vmMs = performance.now() - recordedAt;
        await shownOnOverview;
        const overviewMs = performance.now() - recordedAt;
        console.log(
          `recorded → shown: VM page ${vmMs.toFixed(0)} ms, overview ${overviewMs.toFixed(0)} ms`,
        );
        assert.ok(vmMs < 1000, `VM page took ${vmMs} ms`);
        assert.ok(overviewMs < 1000, `overview took ${overviewMs} ms`);
        assert.equal(await inject.exited, 0);
        assert.match(
          (await vm.locator('.explanation').first().textContent()) ?? '',
          /live — action-required error in guest memory/,
        );
        // What the reader opened stays open through the next live update.
        await vm.locator('.failure summary:has-text("Raw QMP message")').first().click();
        const second = memfail(['inject', `unix:${sock}`, '--preset', 'ao']);
        await vm.waitForFunction(() => document.querySelectorAll('.failure').length === 2, null, {
          timeout: 30_000,
        });
        assert.equal(await second.exited, 0);
        assert.equal(
          await vm
            .locator('.failure')
            .nth(1)
            .locator('details[data-key$="-raw"]')
            .getAttribute('open'),
          '',
        );
      }),
    );
    assert.deepEqual(consoleErrors, []);
  });

  test('keyboard navigation reaches every control', async () => {
    for (const path of ['/', hostPath, vmPath('web-1')]) {
      await visit(path, async (page) => {
        await page.waitForSelector('main h2');
        const controls = await page.evaluate(() =>
          Array.from(
            document.querySelectorAll(
              'a[href], button:not([disabled]):not([hidden]), select, summary, [tabindex="0"]',
            ),
          )
            // Visible ones; what a closed <details> holds is reached by opening it (its summary is a control).
            .filter(
              (el) => (el as HTMLElement).offsetParent !== null || el.classList.contains('skip'),
            )
            .filter((el) => el.tagName === 'SUMMARY' || el.closest('details:not([open])') === null)
            .map((el, i) => {
              (el as HTMLElement).dataset.kb = String(i);
              return i;
            }),
        );
        assert.ok(controls.length > 3, `${path}: only ${controls.length} controls`);
        const reached = new Set<string>();
        for (let i = 0; i < controls.length * 2 + 5 && reached.size < controls.length; i++) {
          await page.keyboard.press('Tab');
          const id = await page.evaluate(
            () => (document.activeElement as HTMLElement | null)?.dataset.kb ?? null,
          );
          if (id !== null) reached.add(id);
        }
        const missed = controls.filter((i) => !reached.has(String(i)));
        const names = await page.evaluate(
          (ids) =>
            ids.map((i) => document.querySelector(`[data-kb="${i}"]`)?.outerHTML.slice(0, 80)),
          missed,
        );
        assert.deepEqual(names, [], `${path}: not reachable by Tab`);
        if (path === '/') {
          // The range picker works from the keyboard too.
          await page.focus('#range');
          await page.keyboard.press('ArrowDown');
          await page.waitForURL(/range=7d/);
        }
      });
    }
    assert.deepEqual(consoleErrors, []);
  });
});

function maxFailureId(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (
      db.prepare('SELECT coalesce(max(id), 0) AS n FROM memory_failure').get() as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

function lifecycleCount(path: string, vm: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM lifecycle WHERE vm = ?').get(vm) as { n: number })
      .n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}
