// Admin pages: refused to developers and visitors with the right status, shown to admins.
import { test, expect } from '@playwright/test';
import { person, signIn, shot, SSH_KEY, waitForHydration, freshPage, DEMO_HOSTS } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

test('a developer opening an admin page is refused with 403', async ({ page }) => {
  await signIn(page, person('dev'), 'developer');
  for (const path of ['/admin/machines', '/admin/loans']) {
    const response = await page.goto(path);
    expect(response?.status()).toBe(403);
    await expect(page.getByTestId('forbidden')).toBeVisible();
  }
  await expect(page.locator('nav').getByText('Admin')).toHaveCount(0);
  await shot(page, '07-admin-forbidden');
});

test('a visitor opening an admin page is asked to sign in with 401', async ({ page }) => {
  const response = await page.goto('/admin/machines');
  expect(response?.status()).toBe(401);
  await expect(page.getByRole('heading', { name: 'Please sign in' })).toBeVisible();
});

test('an admin sees every machine and every loan, with borrowers', async ({ page, browser }) => {
  // A developer borrows a Windows test machine in their own browser.
  const devPage = await freshPage(browser);
  const borrower = person('gina');
  await signIn(devPage, borrower, 'developer');
  await devPage.goto('/request/win11-test');
  await devPage.locator('textarea[name=reason]').fill('Chase the intermittent GPU test failure');
  await devPage.locator('input[name=bug_ref]').fill('https://bugs.example.com/show_bug.cgi?id=42');
  await devPage.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await devPage.getByRole('button', { name: 'Request machine' }).click();
  await expect(devPage.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });

  await signIn(page, person('rex'), 'admin');
  const response = await page.goto('/admin/machines');
  expect(response?.status()).toBe(200);
  // Every demo machine is listed (other tests may have added more).
  for (const host of DEMO_HOSTS) {
    await expect(page.locator('tbody tr', { hasText: host })).toHaveCount(1);
  }
  const loaned = page.locator('tbody tr', { hasText: borrower.name });
  await expect(loaned.locator('.badge')).toHaveText('Loaned');
  await expect(loaned).toContainText('win11-test-');
  await shot(page, '08-admin-machines');

  await page.getByRole('link', { name: 'Admin' }).click();
  await page.locator('.admin-tabs').getByRole('link', { name: 'Loans' }).click();
  await expect(page.getByRole('heading', { name: 'All loans' })).toBeVisible();
  const row = page.locator('tbody tr', { hasText: borrower.name });
  await expect(row.locator('.badge')).toHaveText('Ready');
  await shot(page, '09-admin-loans');

  // Give the machine back so later tests find the pool full.
  await devPage.getByTestId('return').click();
  await expect(devPage.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
  await devPage.close();
});
