// What the browser tests share: signing in, a valid SSH key, screenshots.
import { expect, type APIRequestContext, type Browser, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import PostalMime from 'postal-mime';
import AxeBuilder from '@axe-core/playwright';

export const SSH_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7+yCspE9CRdOHU+q8ScWEUPH01OALC ada@laptop';

/** The pools and machines `loaner serve --demo` creates (other tests may add more). */
export const DEMO_POOLS = ['debian12-build', 'win11-test', 'macos14-arm64', 'gpu-perf', 'rpi5-lab'];
export const DEMO_HOSTS = [
  ...[1, 2, 3, 4, 5].map((n) => `deb12-build-0${n}`),
  ...[1, 2, 3, 4].map((n) => `win11-test-0${n}`),
  ...[1, 2, 3].map((n) => `mac14-arm-0${n}`),
  'gpu-perf-01',
  'rpi5-lab-01',
  'rpi5-lab-02',
];

/** A person no other test uses, so tests never see each other's loans. */
export function person(prefix: string) {
  const id = `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;
  return { name: `${prefix[0].toUpperCase()}${prefix.slice(1)} Tester`, email: `${id}@example.com` };
}

/**
 * Makes `page.goto` wait until the page is hydrated (interactive), so a test never clicks a
 * button whose handler is not attached yet, and fails the test if the page's
 * Content-Security-Policy refused anything it loads or runs (an inline script without the nonce,
 * an inline style), or if the browser code failed (a panic, e.g. an island that did not match
 * the HTML the server sent).
 */
export function waitForHydration(page: Page) {
  const refused: string[] = [];
  const failed: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) {
      refused.push(message.text());
    }
    if (message.type() === 'error' && /panicked at|hydration error/i.test(message.text())) {
      failed.push(message.text());
    }
  });
  page.on('pageerror', (error) => failed.push(error.message));
  const goto = page.goto.bind(page);
  page.goto = async (url: string, options?: Parameters<Page['goto']>[1]) => {
    const response = await goto(url, options);
    await page.waitForSelector('body[data-hydrated]', { state: 'attached', timeout: 30_000 });
    expect(refused, `the page's security policy refused something on ${url}`).toEqual([]);
    expect(failed, `the browser code failed on ${url}`).toEqual([]);
    return response;
  };
}

/** Fails when the page has accessibility problems axe-core finds against WCAG 2.1 AA. */
export async function expectAccessible(page: Page, what: string) {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  const problems = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`,
  );
  expect(problems, `accessibility of ${what}`).toEqual([]);
}

/** A new page in a browser context of its own (another person), hydration-aware. */
export async function freshPage(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  waitForHydration(page);
  return page;
}

/** Signs in through the development login. */
export async function signIn(page: Page, who: { name: string; email: string }, role: 'developer' | 'admin') {
  await page.goto('/login');
  await page.waitForSelector('body[data-hydrated]', { state: 'attached', timeout: 30_000 });
  await expect(page.getByTestId('dev-banner')).toBeVisible();
  await page.getByLabel('Name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.locator(`input[name=role][value=${role}]`).check();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('.who-name')).toHaveText(who.name);
}

/** Saves a full-page screenshot under end2end/screenshots/. */
export async function shot(page: Page, name: string) {
  // From the top, so the sticky header is where a reader expects it.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(__dirname, '..', 'screenshots', `${name}.png`), fullPage: true });
}

const maildir = path.join(__dirname, '..', '..', 'target', 'e2e-mail', 'new');

export type Mail = { to: string; subject: string; text: string; html: string; file: string };

/** Every message the SMTP sink received, oldest first. */
export async function receivedMail(): Promise<Mail[]> {
  if (!fs.existsSync(maildir)) return [];
  const files = fs.readdirSync(maildir).map((f) => path.join(maildir, f));
  files.sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
  const mails: Mail[] = [];
  for (const file of files) {
    const parsed = await PostalMime.parse(fs.readFileSync(file));
    const to = (parsed.to ?? []).map((a) => ('address' in a ? a.address : '') ?? '').join(', ');
    mails.push({ to, subject: parsed.subject ?? '', text: parsed.text ?? '', html: parsed.html ?? '', file });
  }
  return mails;
}

/** Waits for a message to `to` whose subject contains `subject`, newer than `seen` messages. */
export async function waitForMail(to: string, subject: string, timeoutMs = 30_000): Promise<Mail> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await receivedMail()).filter((m) => m.to.includes(to) && m.subject.includes(subject));
    if (found.length > 0) return found[found.length - 1];
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no message to ${to} with "${subject}" arrived`);
}

/** The one-click links (paths `/l/<token>`) in a message's text, in order. */
export function linksIn(text: string): string[] {
  return [...text.matchAll(/https?:\/\/[^\s]+(\/l\/[0-9a-f]{64})/g)].map((m) => m[1]);
}

/** Moves the server's clock forward (the server runs with its test clock on). */
export async function advanceClock(request: APIRequestContext, seconds: number) {
  const response = await request.post('/_test/clock', { form: { advance_secs: String(seconds) } });
  expect(response.ok()).toBeTruthy();
}
