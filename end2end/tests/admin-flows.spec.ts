// The admin side in the browser: approving a request, the waiting line, a manual step, the
// inventory and policy editors, and the audit log.
import { test, expect, type Browser, type Page } from '@playwright/test';
import * as path from 'node:path';
import { person, shot, signIn, SSH_KEY, waitForHydration, freshPage } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

const demo = path.resolve(__dirname, '..', '..', 'server', 'demo');

async function asPerson(browser: Browser, prefix: string, role: 'developer' | 'admin'): Promise<Page> {
  const page = await freshPage(browser);
  await signIn(page, person(prefix), role);
  return page;
}

async function request(page: Page, pool: string, reason: string, bug?: string) {
  await page.goto(`/request/${pool}`);
  await page.locator('textarea[name=reason]').fill(reason);
  if (bug) await page.locator('input[name=bug_ref]').fill(bug);
  await page.locator('textarea[name=ssh_public_key]').fill(SSH_KEY);
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page).toHaveURL(/\/loans\/\d+$/);
}

test('a request to a manual-approval pool is approved in the queue and becomes ready', async ({ browser }) => {
  const dev = await asPerson(browser, 'mona', 'developer');
  await request(dev, 'gpu-perf', 'Profile the shader compile regression', '4242');
  await expect(dev.getByTestId('awaiting-approval')).toBeVisible();
  await expect(dev.locator('h1 .badge')).toHaveText('Requested');

  const admin = await asPerson(browser, 'ruth', 'admin');
  await admin.goto('/admin/approvals');
  const card = admin.locator('.request', { hasText: 'Profile the shader compile regression' });
  await expect(card).toBeVisible();
  await expect(card).toContainText('Mona Tester');
  await shot(admin, '16-approval-queue');
  // Approve for less than asked: 2 of the 4 hours.
  await card.getByRole('spinbutton', { name: 'Hours' }).fill('2');
  await card.getByTestId('approve').click();
  await expect(admin.locator('.request', { hasText: 'Profile the shader compile regression' })).toHaveCount(0);

  await expect(dev.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });
  await expect(dev.getByTestId('timeline')).toContainText('Approved by Ruth Tester');
  await expect(dev.getByTestId('timeline')).toContainText('Ruth Tester shortened the loan from 4 hours to 2 hours');
  await dev.getByTestId('return').click();
  await expect(dev.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
});

test('an admin adds a one-machine pool; a second request waits and gets the machine when the first is returned', async ({ browser }) => {
  const admin = await asPerson(browser, 'otto', 'admin');
  // The pool editor: a pool with the demo's steps and its own policy.
  await admin.goto('/admin/pools/new');
  await admin.locator('input[name=slug]').fill('solo-board');
  await admin.locator('input[name=name]').fill('Solo test board');
  await admin.locator('input[name=platform]').fill('Linux riscv64');
  await admin.locator('input[name=image_name]').fill('riscv-test');
  await admin.locator('input[name=image_version]').fill('1.0');
  await admin.locator('textarea[name=description]').fill('The **only** RISC-V board. Mind the queue.');
  await admin.locator('textarea[name=provision_steps]').fill(JSON.stringify([
    { name: 'Power on', action: 'power_on', command: `${demo}/power_on.sh` },
    { name: 'Install your SSH key', action: 'grant_access', command: `${demo}/grant_access.sh` },
  ]));
  await admin.locator('textarea[name=reclaim_steps]').fill(JSON.stringify([
    { name: 'Revoke access', action: 'revoke_access', command: `${demo}/revoke_access.sh` },
  ]));
  await admin.locator('input[name=max_duration_hours]').fill('12');
  await admin.locator('input[name=default_duration_hours]').fill('48');
  await admin.getByTestId('save-pool').click();
  await expect(admin.locator('.field-error[data-field=default_duration_hours]')).toContainText('cannot exceed the maximum');
  await admin.locator('input[name=default_duration_hours]').fill('4');
  await admin.getByTestId('save-pool').click();
  await expect(admin).toHaveURL(/\/admin\/pools\/solo-board/);
  await shot(admin, '17-pool-editor');
  // One machine.
  await admin.goto('/admin/machines/new');
  await admin.locator('input[name=fqdn]').fill('Solo-01.Lab.Example.com');
  await admin.locator('select[name=pool]').selectOption('solo-board');
  await admin.getByTestId('save-machine').click();
  await expect(admin.locator('h1')).toContainText('solo-01.lab.example.com');

  const first = await asPerson(browser, 'fay', 'developer');
  await request(first, 'solo-board', 'Bring up the new kernel');
  await expect(first.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });

  const second = await asPerson(browser, 'sid', 'developer');
  await second.goto('/request/solo-board');
  await expect(second.getByTestId('caps')).toContainText('Up to 12 hours per loan; 4 hours by default.');
  await request(second, 'solo-board', 'Run the RISC-V test suite');
  await expect(second.getByTestId('waiting')).toContainText('#1 in line');
  await expect(second.locator('h1 .badge')).toHaveText('Waiting for a machine');
  await shot(second, '18-waiting-loan');

  await first.getByTestId('return').click();
  await expect(second.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });
  await expect(second.getByTestId('timeline')).toContainText('Machine solo-01.lab.example.com assigned');
  await second.getByTestId('return').click();
  await expect(second.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
});

test('a manual step waits for an admin, who marks it done on the dashboard, and the loan moves on', async ({ browser }) => {
  const dev = await asPerson(browser, 'pia', 'developer');
  await request(dev, 'rpi5-lab', 'Debug the SPI driver on real hardware');
  await expect(dev.getByTestId('waiting-for-admin')).toContainText('Connect the serial console', { timeout: 30_000 });

  const admin = await asPerson(browser, 'hal', 'admin');
  await admin.goto('/admin');
  const task = admin.getByTestId('tasks').locator('.task', { hasText: 'Connect the serial console' }).first();
  await expect(task).toContainText('Plug the board');
  await shot(admin, '19-admin-dashboard');
  await task.locator('input[name=note]').fill('console on port 3, boot prompt OK');
  await task.getByTestId('task-done').click();

  await expect(dev.locator('h1 .badge')).toHaveText('Ready', { timeout: 30_000 });
  await expect(dev.getByTestId('timeline')).toContainText('Hal Tester did "Connect the serial console"');
  await dev.getByTestId('return').click();
  await expect(dev.locator('h1 .badge')).toHaveText('Returned', { timeout: 30_000 });
});

test('an admin edits the site policy and reads, filters and exports the audit log', async ({ browser }) => {
  const admin = await asPerson(browser, 'vera', 'admin');
  await admin.goto('/admin/policies');
  await admin.locator('input[name=max_loans_per_user]').fill('0');
  await admin.getByTestId('save-site').click();
  await expect(admin.locator('.field-error[data-field=max_loans_per_user]')).toContainText('at least 1');
  await admin.locator('input[name=max_loans_per_user]').fill('5');
  await admin.getByTestId('save-site').click();
  await expect(admin.getByTestId('saved')).toBeVisible();
  await shot(admin, '20-policy-editor');

  await admin.goto('/admin/audit?actor=Vera');
  const table = admin.getByTestId('audit');
  await expect(table.locator('tr[data-kind="site_policy.update"]').first()).toContainText('"max_loans_per_user":5');
  await shot(admin, '21-audit-log');
  const csv = await admin.request.get('/admin/audit.csv?actor=Vera');
  expect(csv.status()).toBe(200);
  expect(csv.headers()['content-type']).toContain('text/csv');
  expect(await csv.text()).toContain('site_policy.update');

  // A developer gets neither the page nor the data.
  const dev = await asPerson(browser, 'walt', 'developer');
  expect((await dev.goto('/admin/audit'))?.status()).toBe(403);
  expect((await dev.request.get('/admin/audit.csv')).status()).toBe(403);
});
