// What a refusal looks like in the browser, and every page checked for accessibility
// (axe-core, WCAG 2.1 AA) and for anything its Content-Security-Policy had to refuse.
import { test, expect, type Page } from '@playwright/test';
import { person, signIn, shot, SSH_KEY, waitForHydration, freshPage, expectAccessible } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

const POOL = 'debian12-build';

async function request(page: Page, reason: string) {
  await page.goto(`/request/${POOL}`);
  await page.locator('textarea[name=reason]').fill(reason);
  await page.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await page.locator('input[name=wait]').uncheck();
  await page.getByRole('button', { name: 'Request machine' }).click();
}

test('a request over the policy\'s cap says which cap refused it and why', async ({ page }) => {
  await signIn(page, person('cara'), 'developer');
  const loans: string[] = [];
  for (const reason of ['First repro', 'Second repro']) {
    await request(page, reason);
    await expect(page).toHaveURL(/\/loans\/\d+$/);
    loans.push(new URL(page.url()).pathname);
  }
  await request(page, 'Third repro');
  // The shipped site policy lends at most 2 machines of one pool to one person at a time.
  await expect(page.getByTestId('form-error')).toHaveText(
    'You already hold 2 loans from this pool; it allows 2 per person. Return one first.',
  );
  await expect(page).toHaveURL(`/request/${POOL}`);
  await shot(page, '22-refused-by-cap');

  // Give the machines back for the other tests.
  for (const loan of loans) {
    await page.goto(loan);
    const cancel = page.getByTestId('cancel');
    const giveBack = (await cancel.count()) > 0 ? cancel : page.getByTestId('return');
    await giveBack.click();
    await expect(page.locator('h1 .badge')).toHaveText(/Cancelled|Returning|Returned/);
  }
});

test('every page meets WCAG 2.1 AA and loads nothing its security policy refuses', async ({ page, browser }) => {
  // A visitor.
  for (const path of ['/', '/login', `/l/${'ab'.repeat(32)}`]) {
    await page.goto(path);
    await expectAccessible(page, path);
  }
  // A developer with a loan.
  const dev = await freshPage(browser);
  await signIn(dev, person('axel'), 'developer');
  await expectAccessible(dev, 'the catalogue, signed in');
  await dev.goto(`/request/${POOL}`);
  await expectAccessible(dev, 'the request form');
  await dev.getByRole('button', { name: 'Request machine' }).click();
  await expect(dev.locator('.field-error[data-field=reason]')).toBeVisible();
  await expectAccessible(dev, 'the request form with field errors');
  await dev.locator('textarea[name=reason]').fill('Check the pages for accessibility');
  await dev.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await dev.getByRole('button', { name: 'Request machine' }).click();
  await expect(dev.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });
  await expectAccessible(dev, 'a ready loan');
  const loan = new URL(dev.url()).pathname;
  await dev.goto('/loans');
  await expectAccessible(dev, 'my loans');

  // An admin, on every admin page and on that loan.
  await signIn(page, person('ada'), 'admin');
  for (const path of [
    '/admin',
    '/admin/approvals',
    '/admin/loans',
    '/admin/machines',
    '/admin/machines/1',
    '/admin/pools',
    `/admin/pools/${POOL}`,
    '/admin/policies',
    '/admin/audit',
    '/admin/mailbox',
    loan,
  ]) {
    await page.goto(path);
    await expectAccessible(page, path);
  }
  await dev.goto(loan);
  await dev.getByTestId('return').click();
  await expect(dev.locator('h1 .badge')).toHaveText(/Returning|Returned/);
});
