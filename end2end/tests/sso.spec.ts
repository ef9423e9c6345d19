// Single sign-on in the browser: the second Loaner of playwright.config.ts signs people in only
// through the test OpenID Connect provider (end2end/oidc/provider.mjs), on the provider's own
// sign-in page. Each test has accounts of its own, written as files the provider reads at every
// use — so a test can take a group away between two sign-ins.
import { test, expect, type Browser, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectAccessible, shot, SSH_KEY, waitForHydration } from './helpers';
import { oidcAccountsDir, oidcIssuer, ssoBaseURL } from '../playwright.config';

test.use({ baseURL: ssoBaseURL });
test.beforeEach(({ page }) => waitForHydration(page));

const PROVIDER = 'Test SSO';
const ADMIN_GROUP = 'loaner-admins';
const POOL = 'debian12-build';

type Account = { login: string; name: string; email: string };

/** Writes the account `login` at the provider (whole file at once: it may be read any time). */
function writeAccount(who: Account, groups: string[]) {
  const file = path.join(oidcAccountsDir, `${who.login}.json`);
  const temporary = `${file}.tmp-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  fs.writeFileSync(
    temporary,
    JSON.stringify({ email: who.email, email_verified: true, name: who.name, groups }, null, 2),
  );
  fs.renameSync(temporary, file);
}

/** An account at the provider that no other test uses. */
function account(prefix: string, groups: string[]): Account {
  const login = `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;
  const who = { login, name: `${prefix[0].toUpperCase()}${prefix.slice(1)} Sso`, email: `${login}@example.com` };
  writeAccount(who, groups);
  return who;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const atProvider = new RegExp(`^${escapeRegExp(oidcIssuer)}/interaction/[^/?#]+$`);

/** The browser shows the provider's own sign-in page (not an automatic sign-in). */
async function expectProviderSignInPage(page: Page) {
  await expect(page).toHaveURL(atProvider);
  await expect(page.getByRole('heading', { name: 'Sign-in', exact: true })).toBeVisible();
  await expect(page.locator('input[name=login]')).toBeVisible();
}

/** Signs in on the provider's page the browser is on. */
async function signInAtProvider(page: Page, who: Account) {
  await expectProviderSignInPage(page);
  await page.locator('input[name=login]').fill(who.login);
  await page.locator('input[name=password]').fill('any password will do');
  await page.getByRole('button', { name: 'Sign-in', exact: true }).click();
}

/** Waits until the browser is back at Loaner on `pathname`, hydrated. */
async function backAtLoaner(page: Page, pathname: string) {
  await page.waitForURL((url) => url.origin === ssoBaseURL && url.pathname === pathname);
  await page.waitForSelector('body[data-hydrated]', { state: 'attached', timeout: 30_000 });
}

/** The whole single sign-on from Loaner's sign-in page, ending on `next`, signed in as `who`. */
async function ssoSignIn(page: Page, who: Account, next = '/') {
  await page.goto(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`);
  await page.getByRole('link', { name: `Sign in with ${PROVIDER}` }).click();
  await signInAtProvider(page, who);
  await backAtLoaner(page, next);
  await expect(page.locator('.who-name')).toHaveText(who.name);
}

/** A page in a browser context of its own (another browser: no cookies, here or at the provider). */
async function otherBrowser(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext({ baseURL: ssoBaseURL })).newPage();
  waitForHydration(page);
  return page;
}

const topBar = (page: Page) => page.locator('header.topbar');
const adminLink = (page: Page) => page.locator('nav.nav').getByRole('link', { name: 'Admin', exact: true });

test('a developer signs in on the provider\'s own page, lands where they were going, and borrows a machine', async ({ page }) => {
  const dev = account('dora', ['qa']);

  // The sign-in page offers single sign-on only: no development login on this server.
  await page.goto(`/login?next=/request/${POOL}`);
  const button = page.getByRole('link', { name: `Sign in with ${PROVIDER}` });
  await expect(button).toBeVisible();
  await expect(button).toHaveAttribute('href', `/auth/login?next=/request/${POOL}`);
  await expect(page.locator('input[name=email]')).toHaveCount(0);
  await expect(page.getByTestId('dev-banner')).toHaveCount(0);
  await expect(page.getByTestId('sign-in-problem')).toHaveCount(0);
  await shot(page, '30-sso-sign-in');
  await expectAccessible(page, '/login with single sign-on');

  // Off to the provider's page, and back on the request form asked for at first.
  await button.click();
  await signInAtProvider(page, dev);
  await backAtLoaner(page, `/request/${POOL}`);
  await expect(page.locator('.who-name')).toHaveText(dev.name);
  await expect(topBar(page).locator('.role-chip')).toHaveText('Developer');
  await expect(adminLink(page)).toHaveCount(0);
  await expect(page.getByRole('heading', { name: /Request: Debian 12 build machine/ })).toBeVisible();

  // A loan, as with any other sign-in.
  await page.locator('textarea[name=reason]').fill('Reproduce a crash, signed in through single sign-on');
  await page.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page).toHaveURL(/\/loans\/\d+$/);
  await expect(page.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });
  await expect(page.getByTestId('connection')).toContainText('ssh builder@deb12-build-');
  await page.goto('/loans');
  await expect(page.locator('tbody tr')).toHaveCount(1);

  // Give it back for the other tests.
  await page.locator('tbody tr a').first().click();
  await page.getByTestId('return').click();
  await expect(page.locator('h1 .badge')).toHaveText(/Returning|Returned/);
});

test('a member of the admin group signs in as an admin and the people page lists them', async ({ page }) => {
  const admin = account('adele', [ADMIN_GROUP, 'qa']);
  await ssoSignIn(page, admin);
  await expect(topBar(page).locator('.role-chip')).toHaveText('Admin');
  await expect(adminLink(page)).toBeVisible();

  const response = await page.goto('/admin/people');
  expect(response?.status()).toBe(200);
  const row = page.locator(`[data-testid=people] tr[data-person="${admin.email}"]`);
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(admin.name);
  await expect(row.locator('.role-chip')).toHaveText('Admin');
  await expect(row.locator('td').nth(2)).toHaveText(`${ADMIN_GROUP}, qa`);
  await expect(row.locator('td.num')).toHaveText('1');
  await shot(page, '31-sso-people');
  await expectAccessible(page, '/admin/people');
});

test('a person whose group lost admin is a developer at the next sign-in, and their admin sessions end', async ({ page, browser }) => {
  const who = account('dmitri', [ADMIN_GROUP]);
  await ssoSignIn(page, who);
  await expect(adminLink(page)).toBeVisible();
  expect((await page.goto('/admin'))?.status()).toBe(200);

  // The identity admins take the group away; the person signs in again in another browser.
  writeAccount(who, ['qa']);
  const later = await otherBrowser(browser);
  await ssoSignIn(later, who);
  await expect(topBar(later).locator('.role-chip')).toHaveText('Developer');
  await expect(adminLink(later)).toHaveCount(0);
  const refused = await later.goto('/admin');
  expect(refused?.status()).toBe(403);
  await expect(later.getByTestId('forbidden')).toBeVisible();

  // The session that was started as an admin ended with the demotion.
  const stale = await page.goto('/admin');
  expect(stale?.status()).toBe(401);
  await expect(topBar(page).getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(page.locator('.who-name')).toHaveCount(0);
  await later.context().close();
});

test('Cancel at the provider lands on the sign-in page, which explains it and offers to try again', async ({ page }) => {
  const who = account('cass', []);
  await page.goto('/login');
  await page.getByRole('link', { name: `Sign in with ${PROVIDER}` }).click();
  await expectProviderSignInPage(page);
  await page.getByRole('link', { name: '[ Cancel ]' }).click();

  await backAtLoaner(page, '/login');
  expect(new URL(page.url()).search).toBe('?problem=cancelled');
  const problem = page.getByTestId('sign-in-problem');
  await expect(problem).toHaveAttribute('data-problem', 'cancelled');
  await expect(problem.getByRole('heading', { name: 'Sign-in cancelled' })).toBeVisible();
  await expect(problem).toContainText(`You cancelled at ${PROVIDER}, so you are not signed in.`);
  const again = page.getByRole('link', { name: `Try again with ${PROVIDER}` });
  await expect(again).toBeVisible();
  await expect(topBar(page).getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(page.locator('.who-name')).toHaveCount(0);
  await shot(page, '32-sso-cancelled');
  await expectAccessible(page, '/login?problem=cancelled');

  // Trying again works.
  await again.click();
  await signInAtProvider(page, who);
  await backAtLoaner(page, '/');
  await expect(page.locator('.who-name')).toHaveText(who.name);
});

test('the account page lists this browser\'s session and ends the other browsers\' sessions', async ({ page, browser }) => {
  const who = account('sami', []);
  await ssoSignIn(page, who);
  await page.goto('/account');
  const sessions = page.getByTestId('sessions').locator('tbody tr');
  await expect(sessions).toHaveCount(1);
  await expect(sessions.first()).toContainText('This browser');
  await expect(sessions.first()).toContainText(PROVIDER);

  // The same person in a second browser: two sessions, one of them this one.
  const other = await otherBrowser(browser);
  await ssoSignIn(other, who);
  await page.goto('/account');
  await expect(sessions).toHaveCount(2);
  await expect(page.getByTestId('sessions').getByText('This browser')).toHaveCount(1);
  await expect(page.getByRole('button', { name: /^End the session of / })).toHaveCount(1);
  await shot(page, '34-sso-sessions');
  await expectAccessible(page, '/account');

  // "Sign out all other sessions" ends the second browser's.
  await page.getByTestId('end-other-sessions').click();
  await expect(page.getByRole('status')).toHaveText('Ended 1 other session.');
  await expect(sessions).toHaveCount(1);
  await expect(sessions.first()).toContainText('This browser');
  await other.goto('/account');
  await expect(topBar(other).getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(other.getByRole('heading', { name: 'Please sign in' })).toBeVisible();
  await other.context().close();
});

test('signing out ends the session at Loaner and at the provider', async ({ page }) => {
  const who = account('sybil', []);
  await ssoSignIn(page, who);
  // The provider remembers the person: until they sign out, signing in again skips its page.
  await page.goto('/login');
  await page.getByRole('link', { name: `Sign in with ${PROVIDER}` }).click();
  await backAtLoaner(page, '/');
  await expect(page.locator('.who-name')).toHaveText(who.name);

  // Signing out goes through the provider and comes back to the signed-out page. (A browser that
  // refuses a step — the page's Content-Security-Policy — stays where it is: say so at once.)
  const refused: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) refused.push(message.text());
  });
  await topBar(page).getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect
    .poll(() => refused[0] ?? new URL(page.url()).pathname, { message: 'signing out ends on /signed-out', timeout: 20_000 })
    .toBe('/signed-out');
  await backAtLoaner(page, '/signed-out');
  await expect(page.getByRole('heading', { name: 'You are signed out' })).toBeVisible();
  await expect(page.locator('main')).toContainText(`${PROVIDER} was asked to sign you out too`);
  await expect(topBar(page).getByRole('link', { name: 'Sign in' })).toBeVisible();
  await shot(page, '33-sso-signed-out');
  await expectAccessible(page, '/signed-out');

  // Loaner knows nobody in this browser any more...
  const session = await page.request.post('/api/get_session');
  expect(session.ok()).toBeTruthy();
  expect((await session.json()).user).toBeNull();
  expect((await page.goto('/admin'))?.status()).toBe(401);

  // ...and neither does the provider: signing in again asks for the login, not signs in at once.
  await page.goto('/login');
  await page.getByRole('link', { name: `Sign in with ${PROVIDER}` }).click();
  await expectProviderSignInPage(page);
});
