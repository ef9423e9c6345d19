// API tokens in the browser: made on the account's tokens page (the secret shown once), used by the
// command-line client, revoked — and the client is refused at once.
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectAccessible, person, shot, signIn, SSH_KEY, waitForHydration } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

const binary = process.env.LOANER_BIN ?? path.join(__dirname, '..', '..', 'target/debug/loaner');

/** Runs the `loaner` client against this site with `token`. */
function client(baseURL: string, token: string, ...args: string[]) {
  const run = spawnSync(binary, args, {
    env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', LOANER_URL: baseURL, LOANER_TOKEN: token },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

test('a token made on the tokens page works with the client until it is revoked', async ({ page, baseURL }) => {
  const dev = person('tina');
  await signIn(page, dev, 'developer');
  await page.goto('/account');
  await page.getByRole('link', { name: 'API tokens' }).click();
  await expect(page).toHaveURL(/\/account\/tokens$/);
  await expect(page.getByRole('heading', { name: 'API tokens', level: 1 })).toBeVisible();
  await expect(page.getByTestId('my-tokens')).toHaveCount(0);
  await expectAccessible(page, 'the tokens page');

  // A name is required; the form says so next to the field.
  await page.getByRole('button', { name: 'Make token' }).click();
  await expect(page.locator('input[name=name]:invalid')).toHaveCount(1);

  await page.locator('input[name=name]').fill('CI runner');
  await page.locator('input[name=scope_loans_write]').check();
  await page.getByRole('button', { name: 'Make token' }).click();
  const secret = (await page.getByTestId('new-token-secret').textContent()) ?? '';
  expect(secret).toMatch(/^loaner_[0-9a-f]{64}$/);
  const row = page.getByTestId('my-tokens').locator('tbody tr');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('CI runner');
  await expect(row).toContainText('loans:read, loans:write');
  await expect(row).toContainText('never');
  await expectAccessible(page, 'the tokens page with a new token');
  await shot(page, '40-api-token-made');

  // The client acts as Tina with it.
  const pools = client(baseURL!, secret, '--json', 'pools');
  expect(pools.code, pools.err).toBe(0);
  expect(JSON.parse(pools.out).pools.map((p: { slug: string }) => p.slug)).toContain('debian12-build');
  const mine = client(baseURL!, secret, 'loans');
  expect(mine.code, mine.err).toBe(0);
  expect(mine.out).toContain('No loans.');

  // Borrowing from the terminal against this running `loaner serve`: wait for ready, extend,
  // and a refusal that names the rule (two loans per pool per person, the demo site's policy).
  const key = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'loaner-key-')), 'id_ed25519.pub');
  fs.writeFileSync(key, SSH_KEY);
  const borrowed = client(baseURL!, secret, 'borrow', 'win11-test', '--reason', 'From the client', '--bug', '4711', '--key', key, '--wait', '--timeout', '45');
  expect(borrowed.code, borrowed.err).toBe(0);
  expect(borrowed.out).toContain('Ready. Connect with:\n  ssh tester@win11-test-');
  const listed = JSON.parse(client(baseURL!, secret, '--json', 'loans').out);
  expect(listed.loans).toHaveLength(1);
  expect(listed.loans[0].state).toBe('ready');
  const first = String(listed.loans[0].id);
  const extended = client(baseURL!, secret, 'extend', first);
  expect(extended.code, extended.err).toBe(0);
  expect(extended.out).toContain(`Loan ${first} extended`);
  const second = client(baseURL!, secret, '--json', 'borrow', 'win11-test', '--reason', 'Second', '--bug', '4711', '--key', key);
  expect(second.code, second.err).toBe(0);
  const third = client(baseURL!, secret, 'borrow', 'win11-test', '--reason', 'Third', '--bug', '4711', '--key', key);
  expect(third.code).toBe(2);
  expect(third.err).toContain('max_loans_per_user_in_pool');
  expect(client(baseURL!, secret, 'return', first).code).toBe(0);
  // The second is cancelled while it provisions, or returned if it is ready already.
  const secondId = String(JSON.parse(second.out).summary.id);
  if (client(baseURL!, secret, 'cancel', secondId).code !== 0) {
    expect(client(baseURL!, secret, 'return', secondId).code).toBe(0);
  }

  // Shown once: after a reload the page has the token but never its secret.
  await page.reload();
  await expect(page.getByTestId('my-tokens').locator('tbody tr')).toContainText('CI runner');
  expect(await page.content()).not.toContain(secret);
  await expect(page.getByTestId('my-tokens').locator('tbody tr')).not.toContainText('never');

  await page.getByRole('button', { name: 'Revoke the token “CI runner”' }).click();
  await expect(page.getByTestId('my-tokens').locator('tbody tr .badge')).toContainText('Revoked');
  await shot(page, '41-api-token-revoked');
  const refused = client(baseURL!, secret, 'pools');
  expect(refused.code).toBe(2);
  expect(refused.err).toContain('revoked');
});
