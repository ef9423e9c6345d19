// Live updates: an open loan page asks the server for nothing while nothing happens, and shows
// a change made elsewhere at once (pushed through its event stream, not polled).
import { test, expect } from '@playwright/test';
import { person, signIn, shot, SSH_KEY, waitForHydration, expectAccessible } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

test('an idle loan page polls nothing and shows a change made in another tab at once', async ({ page }) => {
  const dev = person('lena');
  await signIn(page, dev, 'developer');
  await page.goto('/request/debian12-build');
  await page.locator('textarea[name=reason]').fill('Watch the live timeline');
  await page.locator('input[name=bug_ref]').fill('42');
  await page.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page).toHaveURL(/\/loans\/\d+$/);
  const loanUrl = page.url();
  await expect(page.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });

  // Idle: the page holds its stream open and sends nothing else.
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  // Longer than the 15 s the page used to wait between polls when idle.
  await page.waitForTimeout(16_000);
  expect(requests.filter((p) => p.startsWith('/api/')), 'no polling while idle').toEqual([]);

  // Returned from another tab: this page follows without being reloaded.
  const other = await page.context().newPage();
  await waitForHydration(other);
  await other.goto(loanUrl);
  await other.getByTestId('return').click();
  await expect(page.locator('h1 .badge')).toHaveText(/Returning|Returned/, { timeout: 5_000 });
  await expect(page.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
  await expect(page.getByTestId('timeline').locator('[data-kind=cleanup_finished]')).toBeVisible();
  const calls = requests.filter((p) => p.startsWith('/api/get_loan')).length;
  // One read per change pushed (a few steps), not one a second.
  expect(calls).toBeGreaterThan(0);
  expect(calls).toBeLessThan(15);
  await shot(page, '30-live-update');
  await expectAccessible(page, 'loan page after a live update');
  await other.close();
});
