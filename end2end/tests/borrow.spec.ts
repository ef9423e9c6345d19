// A developer borrows a machine and gives it back, in the browser.
import { test, expect } from '@playwright/test';
import { person, signIn, shot, SSH_KEY, waitForHydration, DEMO_POOLS } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

const POOL = 'debian12-build';

test('a developer requests a machine, watches it provision, returns it, and the machine is free again', async ({ page }) => {
  const dev = person('dana');
  await signIn(page, dev, 'developer');

  // The catalogue shows every pool with its free machines.
  await page.goto('/');
  const card = page.locator(`[data-pool=${POOL}]`);
  await expect(card).toBeVisible();
  for (const slug of DEMO_POOLS) {
    await expect(page.locator(`.pool-card[data-pool=${slug}]`)).toHaveCount(1);
  }
  const freeBefore = Number(await card.getByTestId('free-count').getAttribute('data-free'));
  expect(freeBefore).toBeGreaterThan(0);
  await shot(page, '01-catalogue');

  // Invalid input: a message next to each field, and nothing stored.
  await card.getByRole('link', { name: 'Request a machine' }).click();
  await expect(page.getByRole('heading', { name: /Request: Debian 12 build machine/ })).toBeVisible();
  await page.locator('textarea[name=ssh_public_key]').fill('ssh-rsa not-a-key');
  await page.locator('input[name=bug_ref]').fill('tomorrow');
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page.locator('.field-error[data-field=reason]')).toContainText('why you need');
  await expect(page.locator('.field-error[data-field=bug_ref]')).toContainText('bug number');
  await expect(page.locator('.field-error[data-field=ssh_public_key]')).toContainText('not an OpenSSH public key');
  await shot(page, '02-request-errors');
  await page.goto('/loans');
  await expect(page.getByText('You have not borrowed anything yet')).toBeVisible();

  // A valid request.
  await page.goto(`/request/${POOL}`);
  await page.locator('textarea[name=reason]').fill('Reproduce the linker crash from bug 1234567');
  await page.locator('input[name=bug_ref]').fill('1234567');
  await page.locator('select[name=duration_hours]').selectOption('8');
  await page.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page).toHaveURL(/\/loans\/\d+$/);

  // The timeline fills in while provisioning runs, without reloading.
  await expect(page.getByTestId('timeline').locator('[data-kind=requested]')).toBeVisible();
  await expect(page.getByTestId('timeline').locator('[data-kind=machine_assigned]')).toBeVisible();
  await expect(page.getByTestId('progress')).toBeVisible();
  await expect(page.getByTestId('timeline').locator('[data-kind=step_succeeded]').first()).toBeVisible();
  await shot(page, '03-provisioning');
  await expect(page.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });
  const connection = page.getByTestId('connection');
  await expect(connection).toContainText('ssh builder@deb12-build-');
  await expect(page.getByTestId('timeline').locator('[data-kind=step_succeeded]')).toHaveCount(3);
  await shot(page, '04-ready');

  // My loans lists it.
  await page.goto('/loans');
  await expect(page.locator('tbody tr')).toHaveCount(1);
  await expect(page.locator('tbody tr .badge')).toHaveText('Ready');
  await shot(page, '05-my-loans');
  await page.locator('tbody tr a').first().click();

  // "I'm done": clean-up runs and the machine goes back to the pool.
  await page.getByTestId('return').click();
  await expect(page.locator('h1 .badge')).toHaveText(/Returning|Returned/);
  await expect(page.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
  await expect(page.getByTestId('timeline').locator('[data-kind=cleanup_finished]')).toContainText('back in the pool');
  await shot(page, '06-returned');

  await page.goto('/');
  await expect(card.getByTestId('free-count')).toHaveAttribute('data-free', String(freeBefore));
});

test('a request still provisioning can be cancelled, and its machine is cleaned', async ({ page }) => {
  await signIn(page, person('carl'), 'developer');
  await page.goto('/request/macos14-arm64');
  await page.locator('textarea[name=reason]').fill('Check the signing setup');
  await page.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page).toHaveURL(/\/loans\/\d+$/);
  await page.getByTestId('cancel').click();
  await expect(page.locator('h1 .badge')).toHaveText('Cancelled');
  await expect(page.getByTestId('timeline').locator('[data-kind=cleanup_finished]')).toBeVisible({ timeout: 30_000 });
});
