// Browser tests against a real `loaner serve` in its zero-configuration mode (private
// PostgreSQL, demo inventory, development login), driven in Debian's Chromium.
import { defineConfig } from '@playwright/test';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const port = process.env.E2E_PORT ?? '3100';
const smtpPort = process.env.E2E_SMTP_PORT ?? '2526';
const binary = process.env.LOANER_BIN ?? path.join(root, 'target/debug/loaner');
const python = process.env.SMTP_SINK_PYTHON ?? 'python3';
/** Where the SMTP sink keeps what it receives (a Maildir); tests read the messages from here. */
export const maildir = path.join(root, 'target/e2e-mail');

export default defineConfig({
  testDir: './tests',
  timeout: 90_000,
  expect: { timeout: 15_000 },
  // One server, one database: tests run one after another and each uses its own people.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  webServer: [
   {
    // A real SMTP server: Python's aiosmtpd, storing each message in a Maildir.
    command: `${python} -m aiosmtpd -n -l 127.0.0.1:${smtpPort} -c aiosmtpd.handlers.Mailbox ${maildir}`,
    port: Number(smtpPort),
    timeout: 30_000,
    reuseExistingServer: false,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
   },
   {
    command: `${binary} serve`,
    url: `http://127.0.0.1:${port}/readyz`,
    cwd: root,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15_000 },
    env: {
      LOANER_BIND: `127.0.0.1:${port}`,
      LOANER_DATA_DIR: path.join(root, 'target/e2e-data'),
      LOANER_SITE_ROOT: path.join(root, 'target/site'),
      LOANER_LOG: 'info,tower_http=warn',
      // Mail goes over SMTP to the sink above; the tests move the server's clock.
      LOANER_MAIL__TRANSPORT: 'smtp',
      LOANER_MAIL__HOST: '127.0.0.1',
      LOANER_MAIL__PORT: smtpPort,
      LOANER_MAIL__TLS: 'none',
      LOANER_MAIL__FROM: 'Loaner <loaner@loaner.test>',
      LOANER_TEST_CLOCK: 'true',
      LOANER_JOBS__POLL_SECS: '1',
      // Every test signs its people in from this one address; the sign-in limit itself is
      // tested over HTTP (server/tests/integration/security.rs).
      LOANER_LIMITS__SIGN_INS_PER_MINUTE: '1000',
    },
   },
  ],
});
