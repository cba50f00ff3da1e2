// Shared pieces of the browser tests: launching Debian's Chromium through playwright-core
// (no browser download), timed steps, a screenshot of every page, and a failure that says
// what the page showed.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BASE = (process.env.LUFFY_E2E_BASE || 'http://127.0.0.1:8081').replace(/\/$/, '');
export const SHOTS = process.env.LUFFY_E2E_SCREENSHOTS || fileURLToPath(new URL('./screenshots/', import.meta.url));
export const CHROMIUM = process.env.LUFFY_E2E_CHROMIUM || '/usr/bin/chromium';

// A phone: the main flow is what most students see.
export const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

// A Run is one script: numbered, timed steps and screenshots named after them. The first
// failure ends it with what went wrong and what was on the screen.
export class Run {
  constructor(name) {
    this.name = name;
    this.started = Date.now();
    this.n = 0;
    this.shots = [];
    this.page = null; // the page a failure screenshot is taken of
    this.watched = new WeakSet();
    mkdirSync(SHOTS, { recursive: true });
  }

  log(msg) { console.log(`[${this.name}] ${msg}`); }

  async step(title, fn) {
    this.n++;
    const t0 = Date.now();
    try {
      const out = await fn();
      this.log(`${String(this.n).padStart(2, '0')} ok   ${title} (${secs(Date.now() - t0)}, total ${secs(Date.now() - this.started)})`);
      return out;
    } catch (err) {
      this.log(`${String(this.n).padStart(2, '0')} FAIL ${title} (${secs(Date.now() - t0)})`);
      throw new StepError(`step ${this.n} "${title}": ${err && err.message ? err.message : err}`);
    }
  }

  // shot saves the whole page as NAME-NN-what.png.
  async shot(page, what) {
    const file = join(SHOTS, `${this.name}-${String(this.shots.length + 1).padStart(2, '0')}-${what}.png`);
    // from the top: a sticky header scrolled along would sit in the middle of the image
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: file, fullPage: true });
    this.shots.push(file);
  }

  // main runs body, then closes the browser; on failure it prints the page's state and
  // exits non-zero.
  async main(body) {
    const browser = await launch();
    this.log(`chromium ${browser.version()} at ${CHROMIUM}; base ${BASE}; screenshots in ${SHOTS}`);
    let code = 0;
    try {
      await body(browser);
      this.log(`passed in ${secs(Date.now() - this.started)}; ${this.shots.length} screenshots`);
    } catch (err) {
      code = 1;
      console.error(`[${this.name}] FAILED: ${err && err.message ? err.message : err}`);
      if (!(err instanceof StepError) && err && err.stack) console.error(err.stack);
      await this.report();
    } finally {
      await browser.close().catch(() => {});
    }
    process.exit(code);
  }

  async report() {
    const page = this.page;
    if (!page || page.isClosed()) return;
    try {
      console.error(`[${this.name}] page: ${page.url()}`);
      const text = await page.evaluate(() => document.body ? document.body.innerText : '(no body)');
      console.error(`[${this.name}] page text: ${text.replace(/\s+/g, ' ').slice(0, 800)}`);
      const file = join(SHOTS, `${this.name}-FAILED.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.error(`[${this.name}] screenshot of the failure: ${file}`);
    } catch (e) {
      console.error(`[${this.name}] (could not read the page: ${e.message})`);
    }
  }

  // watch makes page the one a failure is reported from, and echoes what it complains
  // about to the log: script errors, error answers and failed requests help explain a
  // failed step.
  watch(page) {
    this.page = page;
    if (this.watched.has(page)) return page;
    this.watched.add(page);
    page.on('pageerror', (e) => this.log(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) this.log(`answer ${r.status()} to ${r.request().method()} ${r.url().slice(0, 160)}`);
    });
    page.on('console', (m) => {
      const where = m.location().url || '';
      // an error answer is logged as a response (above), or is the payment simulator's
      // missing icon, no concern of the app
      if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) this.log(`console error: ${m.text()} ${where}`);
    });
    page.on('requestfailed', (r) => {
      const f = r.failure();
      // a navigation or a page change aborts requests in flight on purpose
      if (f && f.errorText !== 'net::ERR_ABORTED') this.log(`request failed: ${r.method()} ${r.url().slice(0, 160)}: ${f.errorText}`);
    });
    return page;
  }
}

class StepError extends Error {}

export const secs = (ms) => (ms / 1000).toFixed(2) + ' s';

// visible waits for selector to be visible and answers its locator.
export async function visible(page, selector, timeout = 15000) {
  const loc = page.locator(selector).first();
  await loc.waitFor({ state: 'visible', timeout });
  return loc;
}

// message waits for selector to be visible with text matching re, and answers the text.
export async function message(page, selector, re, timeout = 15000) {
  const loc = await visible(page, selector, timeout);
  const text = (await loc.innerText()).trim();
  if (!re.test(text)) throw new Error(`${selector} says ${JSON.stringify(text)}, want ${re}`);
  return text;
}

// notBlank checks that the page shows something a user can read, besides the header.
export async function notBlank(page) {
  const text = await page.evaluate(() => (document.getElementById('app') || document.body).innerText.trim());
  if (text.length < 10 || /^Loading…$/.test(text)) throw new Error(`the page is blank or stuck: ${JSON.stringify(text)}`);
}

// go opens a route of the app (a hash path like '/problems').
export async function go(page, route) {
  await page.goto(`${BASE}/#${route}`);
}

// api calls the site's API from the test itself (not the page), for setup.
export async function api(path, { method = 'GET', body, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(BASE + '/api/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error(`${method} ${BASE}/api/v1${path}: ${e.cause ? e.cause.message : e.message}`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return data;
}

// paidVideoLesson finds the demo course whose paid (not free-preview) lesson has a video:
// the seed ingests one into the first paid course.
export async function paidVideoLesson() {
  const list = await api('/courses?limit=100');
  for (const c of list.items) {
    if (!c.price_from_fen) continue;
    const full = await api(`/courses/${c.id}`);
    for (const ch of full.chapters || []) {
      for (const l of ch.lessons || []) {
        if (l.video_id && !l.free_preview) return { course: full, lesson: l };
      }
    }
  }
  throw new Error('no course among the first 100 has a paid lesson with video: did `luffy up` seed the demo videos?');
}

export function newUsername(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 32);
}
