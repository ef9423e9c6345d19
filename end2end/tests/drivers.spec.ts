// Hardware drivers in the browser: the third Loaner of playwright.config.ts has one pool whose
// steps use IPMI and ssh only, against a real BMC (ipmi_sim) and a real sshd started by the Rust
// tests' harness. A developer borrows the machine, logs in with their key, returns it, and is
// locked out; an admin runs an action from the machine's page and reads its output.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectAccessible, person, shot, signIn, waitForHydration } from './helpers';
import { peersBaseURL, peersDir } from '../playwright.config';

test.use({ baseURL: peersBaseURL });
test.beforeEach(({ page }) => waitForHydration(page));

const borrowerKey = path.join(peersDir, 'keys', 'borrower');
/** The peers' ports, as the harness recorded them (ssh, ipmi, snmp, ec2). */
const lab = () => {
  const [ssh, ipmi, snmp, ec2] = fs.readFileSync(path.join(peersDir, 'ports'), 'utf8').trim().split(/\s+/).map(Number);
  return { ssh, ipmi, snmp, ec2 };
};

/** Whether the borrower's key logs in to the lab machine (the real sshd). */
function borrowerCanLogIn(): boolean {
  // The one user the peers' sshd lets in.
  const config = fs.readFileSync(path.join(peersDir, 'sshd_config'), 'utf8');
  const user = /^AllowUsers (\S+)/m.exec(config)?.[1] ?? 'root';
  try {
    const out = execFileSync('ssh', [
      '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${path.join(peersDir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes',
      '-i', borrowerKey, '-p', String(lab().ssh), `${user}@127.0.0.1`, 'echo borrowed',
    ], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
    return out.toString().includes('borrowed');
  } catch {
    return false;
  }
}

const power = () => fs.readFileSync(path.join(peersDir, 'state', 'ipmi', 'power'), 'utf8').trim();

async function timelineText(page: Page) {
  return (await page.getByTestId('timeline').innerText()).replace(/\s+/g, ' ');
}

test('a loan on a pool of IPMI and ssh steps: powered on, the key works, returned, the key is gone', async ({ page }) => {
  const dana = person('dana-hw');
  await signIn(page, dana, 'developer');
  expect(borrowerCanLogIn()).toBe(false);

  await page.goto('/request/lab');
  await page.locator('textarea[name=reason]').fill('Bisect the NIC driver regression on real hardware');
  await page.locator('input[name=bug_ref]').fill('1234567');
  await page.locator('textarea[name=ssh_public_key]').fill(fs.readFileSync(`${borrowerKey}.pub`, 'utf8').trim());
  await page.getByRole('button', { name: 'Request machine' }).click();
  await expect(page).toHaveURL(/\/loans\/\d+$/);
  await expect(page.locator('h1 .badge')).toHaveText('Ready', { timeout: 60_000 });
  const timeline = await timelineText(page);
  expect(timeline).toContain('Power on');
  expect(timeline).toContain('Install your key');
  await expect(page.getByTestId('connection')).toContainText('ssh ');
  expect(power()).toBe('1');
  expect(borrowerCanLogIn()).toBe(true);
  await expectAccessible(page, 'loan page on hardware');
  await shot(page, '30-hardware-loan-ready');

  await page.getByTestId('return').click();
  await expect(page.locator('h1 .badge')).toHaveText('Returned', { timeout: 90_000 });
  expect(await timelineText(page)).toContain('Remove your key');
  expect(borrowerCanLogIn()).toBe(false);
  expect(power()).toBe('0');
  await shot(page, '31-hardware-loan-returned');
});

test('an admin runs an action from a machine page and reads what the BMC said', async ({ page }) => {
  const rex = person('rex-hw');
  await signIn(page, rex, 'admin');
  await page.goto('/admin/machines');
  await page.getByRole('link', { name: 'lab-01.test.example' }).click();
  await expect(page.getByRole('heading', { name: 'Actions' })).toBeVisible();
  await page.getByTestId('action-status').click();
  const row = page.locator('[data-testid^=machine-action-]').first();
  await expect(row.locator('.badge')).toHaveText('Done', { timeout: 30_000 });
  await row.locator('summary').click();
  await expect(row).toContainText('power is');
  await page.getByTestId('action-power_on').click();
  // The newest action is listed first once it is queued.
  await expect(page.locator('[data-testid^=machine-action-]')).toHaveCount(2);
  await expect(page.locator('[data-testid^=machine-action-]').first()).toContainText('Power on');
  await expect(page.locator('[data-testid^=machine-action-]').first().locator('.badge')).toHaveText('Done', { timeout: 30_000 });
  expect(power()).toBe('1');
  await expectAccessible(page, 'machine page with actions');
  await shot(page, '32-machine-actions');
});
