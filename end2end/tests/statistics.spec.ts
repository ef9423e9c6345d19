// The statistics page after a simulated week (`loaner demo simulate` writing into this site's
// database): the charts are drawn, each has its numbers beside it, each CSV download is the table
// on the page, the page passes axe, and a developer sees the summary without the admins' part.
import { test, expect, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expectAccessible, freshPage, person, shot, signIn, waitForHydration } from './helpers';

test.beforeEach(({ page }) => waitForHydration(page));

const root = path.join(__dirname, '..', '..');
const binary = process.env.LOANER_BIN ?? path.join(root, 'target/debug/loaner');

/** Parses CSV as RFC 4180 writes it: fields in double quotes may hold commas, quotes ("") and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else field += c;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

/** The table of a chart or section: header and rows, as the page shows them. */
async function tableOf(page: Page, scope: string): Promise<string[][]> {
  return page.locator(`${scope} table[data-testid=data-table]`).first().evaluate((table) =>
    Array.from(table.querySelectorAll('tr')).map((tr) =>
      Array.from(tr.querySelectorAll('th, td')).map((cell) => (cell.textContent ?? '').trim()),
    ),
  );
}

test('after a simulated week the statistics page charts it, and each CSV is its table', async ({ page, browser }) => {
  const simulate = spawnSync(binary, ['demo', 'simulate', '--days', '7', '--loans-per-day', '30', '--seed', '3'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      LOANER_DATA_DIR: path.join(root, 'target/e2e-data'),
      LOANER_LOG: 'warn',
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(simulate.status, simulate.stderr).toBe(0);
  const written = /Wrote (\d+) finished loans/.exec(simulate.stderr);
  expect(written, simulate.stderr).not.toBeNull();
  expect(Number(written![1])).toBeGreaterThan(50);

  const admin = person('stella');
  await signIn(page, admin, 'admin');
  await page.getByRole('link', { name: 'Statistics' }).click();
  await expect(page).toHaveURL(/\/stats$/);
  await expect(page.getByRole('heading', { name: 'Statistics', level: 1 })).toBeVisible();
  const requested = Number(await page.getByTestId('loans-requested').locator('.tile-number').textContent());
  expect(requested).toBeGreaterThanOrEqual(Number(written![1]));

  // The charts: bars per day and outcome, the wait distribution, a line per pool.
  const perDay = page.locator('[data-chart=loans-per-day] svg[role=img]');
  await expect(perDay.locator('title').first()).toHaveText('Loans per day, by how they ended');
  expect(await perDay.locator('rect').count()).toBeGreaterThan(7);
  expect(await page.locator('[data-chart=wait-times] svg rect').count()).toBe(7);
  expect(await page.locator('[data-chart=utilisation] svg polyline').count()).toBeGreaterThanOrEqual(3);

  // Each chart's CSV is the table beside it.
  for (const chart of ['loans-per-day', 'wait-times', 'utilisation']) {
    const scope = `[data-chart=${chart}]`;
    const href = await page.locator(`${scope} a[data-testid=csv]`).getAttribute('href');
    const reply = await page.request.get(href!);
    expect(reply.status(), href!).toBe(200);
    expect(reply.headers()['content-type']).toContain('text/csv');
    expect(parseCsv(await reply.text()), chart).toEqual(await tableOf(page, scope));
  }
  // The per-day table adds up to the loans requested.
  const days = await tableOf(page, '[data-chart=loans-per-day]');
  const total = days.slice(1).reduce((sum, row) => sum + Number(row[row.length - 1]), 0);
  expect(total).toBe(requested);

  // The admins' part: step failures, broken machines, bugs linked to the tracker, groups.
  await expect(page.getByTestId('admin-stats')).toBeVisible();
  const bug = page.getByTestId('bugs').locator('a[data-testid=bug-link]').first();
  await expect(bug).toHaveAttribute('href', /^https:\/\/bugzilla\.example\.com\/show_bug\.cgi\?id=\d+$/);

  // One pool: the filter is kept and the figures shrink.
  await page.locator('form[data-testid=stats-filter] select[name=pool]').selectOption('debian12-build');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/pool=debian12-build/);
  await expect(page.getByTestId('period')).toContainText('pool');
  const onePool = Number(await page.getByTestId('loans-requested').locator('.tile-number').textContent());
  expect(onePool).toBeLessThan(requested);
  await page.goto('/stats');

  // Accessible with every table open.
  for (const summary of await page.locator('details.stats-details > summary').all()) await summary.click();
  await expectAccessible(page, 'the statistics page');
  await page.goto('/stats');
  await shot(page, '50-statistics');

  // A bad period is refused naming the field, and nothing breaks.
  await page.goto('/stats?days=12');
  await expect(page.getByText('Choose 7, 30 or 90 days.')).toBeVisible();

  // A developer sees the summary, not the admins' part, and cannot download it.
  const dev = await freshPage(browser);
  await signIn(dev, person('dora'), 'developer');
  await dev.goto('/stats');
  await expect(dev.getByTestId('loans-requested')).toBeVisible();
  await expect(dev.getByTestId('admin-stats')).toHaveCount(0);
  const refused = await dev.request.get('/stats/step-failures.csv');
  expect(refused.status()).toBe(403);
  await shot(dev, '51-statistics-developer');
});
