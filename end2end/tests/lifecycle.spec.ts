// Every loan ends: reminders arrive by email, and their one-click links return or extend the
// loan after a confirmation. These tests move the server's clock, so they run last.
import { test, expect, type Page } from '@playwright/test';
import { advanceClock, linksIn, person, shot, signIn, waitForMail, SSH_KEY, waitForHydration, freshPage } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

/** Requests a Debian build machine for a day and waits until it is ready; returns its FQDN. */
async function borrow(page: Page): Promise<{ loanUrl: string; fqdn: string }> {
  await page.goto('/request/debian12-build');
  await page.locator('textarea[name=reason]').fill('Bisect the nightly regression');
  await page.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page).toHaveURL(/\/loans\/\d+$/);
  await expect(page.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });
  const command = await page.locator('pre.command').innerText();
  return { loanUrl: new URL(page.url()).pathname, fqdn: command.split('@')[1].trim() };
}

test('the Return link from the reminder email returns the loan, and opening it alone changes nothing', async ({ page, request, browser }) => {
  const dev = person('rita');
  await signIn(page, dev, 'developer');
  await page.goto('/');
  const freeBefore = await page.locator('[data-pool=debian12-build]').getByTestId('free-count').getAttribute('data-free');
  const { loanUrl, fqdn } = await borrow(page);

  // 23 hours later the one-hour reminder falls due and goes out over SMTP. (Sessions last 12
  // hours, so the borrower signs in again.)
  await advanceClock(request, 23 * 3600 + 60);
  await signIn(page, dev, 'developer');
  const mail = await waitForMail(dev.email, `${fqdn} goes back`);
  expect(mail.text).toContain('Return it now:');
  const [returnLink, extendLink] = linksIn(mail.text);
  expect(returnLink).toBeTruthy();
  expect(extendLink).toBeTruthy();
  const rendered = await freshPage(browser);
  await rendered.setContent(mail.html); // not a Loaner page: nothing to hydrate
  await expect(rendered.getByRole('link', { name: 'Return now' })).toBeVisible();
  await expect(rendered.getByRole('link', { name: 'Extend by 1 day' })).toBeVisible();
  await shot(rendered, '10-reminder-email');
  await rendered.close();

  // What a mail scanner does: HEAD, two GETs and a full page load, no click.
  expect((await request.head(returnLink)).status()).toBe(200);
  expect((await request.get(returnLink)).status()).toBe(200);
  expect((await request.get(returnLink)).status()).toBe(200);
  const scanner = await freshPage(browser);
  await scanner.goto(returnLink);
  await expect(scanner.getByTestId('confirm')).toBeVisible();
  await scanner.close();
  await page.goto(loanUrl);
  await expect(page.locator('h1 .badge')).toHaveText('Ready');

  // The borrower opens the link (signed out: the token is the authority) and confirms.
  const anonymous = await freshPage(browser);
  await anonymous.goto(returnLink);
  await expect(anonymous.getByRole('heading', { name: `Return ${fqdn}?` })).toBeVisible();
  await shot(anonymous, '11-confirm-return');
  await anonymous.getByTestId('confirm').click();
  await expect(anonymous.getByTestId('link-done')).toContainText('This link was used at');
  await shot(anonymous, '12-link-used');
  // A second POST is a harmless no-op.
  const again = await anonymous.request.post('/api/use_link', { form: { token: returnLink.split('/').pop()! } });
  expect(again.status()).toBe(200);
  await anonymous.close();

  await page.goto(loanUrl);
  await expect(page.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
  await expect(page.getByTestId('timeline').locator('[data-kind=link_used]')).toBeVisible();
  await page.goto('/');
  await expect(page.locator('[data-pool=debian12-build]').getByTestId('free-count')).toHaveAttribute('data-free', freeBefore!);
});

test('the Extend link from the reminder email extends the loan once; the old Return link expires', async ({ page, request, browser }) => {
  const dev = person('ezra');
  await signIn(page, dev, 'developer');
  const { loanUrl, fqdn } = await borrow(page);
  const deadlineBefore = await page.getByTestId('deadline').innerText();

  await advanceClock(request, 23 * 3600 + 60);
  await signIn(page, dev, 'developer');
  const mail = await waitForMail(dev.email, `${fqdn} goes back`);
  const [returnLink, extendLink] = linksIn(mail.text);

  const visitor = await freshPage(browser);
  await visitor.goto(extendLink);
  await expect(visitor.getByRole('heading', { name: `Extend your loan of ${fqdn}?` })).toBeVisible();
  await visitor.getByTestId('confirm').click();
  await expect(visitor.getByTestId('link-done')).toContainText('The loan now ends');
  await visitor.goto(returnLink);
  await expect(visitor.getByTestId('link-expired')).toBeVisible();
  await shot(visitor, '13-link-expired');
  await visitor.close();

  await page.goto(loanUrl);
  await expect(page.getByTestId('deadline')).not.toHaveText(deadlineBefore);
  await expect(page.getByTestId('timeline').locator('[data-kind=extended]')).toContainText('from the email link');
  const extended = await waitForMail(dev.email, 'Extended:');
  expect(extended.text).toContain('now ends at');

  // From the loan page too, up to the pool's limit.
  await page.getByTestId('extend').click();
  await expect(page.getByTestId('timeline').locator('[data-kind=extended]')).toHaveCount(2);
  await shot(page, '14-extended');
  await page.getByTestId('return').click();
  await expect(page.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
});

test('an admin reads the sent messages in the development mailbox, whose copies keep no usable link', async ({ page }) => {
  await signIn(page, person('ada'), 'admin');
  await page.getByRole('link', { name: 'Mailbox' }).click();
  await expect(page.getByRole('heading', { name: 'Development mailbox' })).toBeVisible();
  const reminder = page.locator('tr[data-kind=reminder]').first();
  await expect(reminder).toBeVisible();
  await shot(page, '15-mailbox');
  await reminder.getByRole('link').click();
  // This server sends over SMTP: the stored copy's links were cut when it was sent.
  await expect(page.getByTestId('links-removed')).toBeVisible();
  const frame = page.frameLocator('[data-testid=mail-html]');
  await expect(frame.getByRole('link', { name: 'Return now' })).toHaveAttribute('href', /\/l\/sent-link-removed$/);
  await expect(page.getByTestId('mail-text')).not.toContainText(/\/l\/[0-9a-f]{64}/);
  await frame.getByRole('link', { name: 'Return now' }).click();
  await expect(page.getByText('This link is not valid')).toBeVisible();
});
