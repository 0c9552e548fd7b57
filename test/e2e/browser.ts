// The user's browser in the end-to-end test: Debian's Chromium, headless, driven by
// playwright-core, with a fresh profile that close() removes. Spawn pages are watched through
// the progress stream the page receives (RECORD_PROGRESS), so the test sees every event the page
// got, also after it navigated away.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '../..') : process.cwd();
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'e2e');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ProgressEvent {
  progress?: number;
  message?: string;
  html_message?: string;
  failed?: boolean;
  ready?: boolean;
  /** When the page received it (ms since the epoch). */
  receivedAt?: number;
}

// Every message of every EventSource the page opens (the spawn page's progress stream) is
// handed to the test as it arrives, before the page renders it: the binding call is sent at
// once, so nothing is lost when the page navigates away right after (it does on "ready").
const RECORD_PROGRESS = `(() => {
  const Original = window.EventSource;
  if (!Original) return;
  window.EventSource = function (url, init) {
    const source = new Original(url, init);
    source.addEventListener('message', (e) => window.__jfoProgress(e.data));
    return source;
  };
  window.EventSource.prototype = Original.prototype;
})();`;

export interface Browser {
  context: BrowserContext;
  /** A new tab; progress events its spawn pages log are collected in `events`. */
  open(): Promise<{ page: Page; events: ProgressEvent[] }>;
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'jfo-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ARGS,
      viewport: { width: 1100, height: 800 },
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async open() {
      const page = await context.newPage();
      const events: ProgressEvent[] = [];
      await page.exposeFunction('__jfoProgress', (data: string) => {
        events.push({ ...(JSON.parse(data) as ProgressEvent), receivedAt: Date.now() });
      });
      await page.addInitScript(RECORD_PROGRESS);
      return { page, events };
    },
    async screenshot(page, name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Logs in through the hub's login form (the dummy authenticator accepts any password). */
export async function logIn(page: Page, hubUrl: string, user: string): Promise<void> {
  await page.goto(`${hubUrl}/hub/login`);
  await page.fill('#username_input', user);
  await page.fill('#password_input', 'any password');
  await Promise.all([
    page.waitForURL((u) => !u.pathname.endsWith('/login')),
    page.click('#login_submit'),
  ]);
}

/** The text of every entry in the spawn page's event log so far. */
export async function eventLog(page: Page): Promise<string[]> {
  return page.locator('#progress-log .progress-log-event').allInnerTexts();
}

/** Messages of collected events (html_message's text when there is no plain message). */
export function messages(events: ProgressEvent[]): string[] {
  return events.map((e) => e.message ?? (e.html_message ?? '').replace(/<[^>]*>/g, ' ').trim());
}

/**
 * What a spawn page received, checked: percentages never go backwards, and exactly one event
 * ends it (ready or failed), the last one the page read. Returns that event.
 */
export function pageEnd(events: ProgressEvent[]): ProgressEvent {
  const values = events.map((e) => e.progress ?? 0);
  if (values.some((v, i) => i > 0 && v < values[i - 1]!))
    throw new Error(`progress went backwards on the spawn page: ${JSON.stringify(events)}`);
  const ends = events.filter((e) => e.failed || e.ready);
  if (ends.length !== 1 || ends[0] !== events.at(-1))
    throw new Error(`the spawn page did not end at exactly one event: ${JSON.stringify(events)}`);
  return ends[0]!;
}
