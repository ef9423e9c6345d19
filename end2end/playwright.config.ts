// Browser tests against a real `loaner serve` in its zero-configuration mode (private
// PostgreSQL, demo inventory, development login), driven in Debian's Chromium; and against a
// second one that signs people in through a real OpenID Connect provider (sso.spec.ts).
import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const port = process.env.E2E_PORT ?? '3100';
const smtpPort = process.env.E2E_SMTP_PORT ?? '2526';
const binary = process.env.LOANER_BIN ?? path.join(root, 'target/debug/loaner');
const python = process.env.SMTP_SINK_PYTHON ?? 'python3';
/** Where the SMTP sink keeps what it receives (a Maildir); tests read the messages from here. */
export const maildir = path.join(root, 'target/e2e-mail');

// Single sign-on: the test provider (end2end/oidc/provider.mjs) and a second Loaner that uses it.
const oidcPort = process.env.E2E_OIDC_PORT ?? '3190';
const ssoPort = process.env.E2E_SSO_PORT ?? '3101';
/** The provider's issuer, and the Loaner that signs in there. */
export const oidcIssuer = `http://127.0.0.1:${oidcPort}`;
export const ssoBaseURL = `http://127.0.0.1:${ssoPort}`;
/** The provider reads its clients and accounts from these folders at every use. */
export const oidcClientsDir = path.join(root, 'target/e2e-oidc/clients');
export const oidcAccountsDir = path.join(root, 'target/e2e-oidc/accounts');
const ssoClientId = 'loaner-e2e';
const ssoClientSecret = 'e2e-client-secret-not-for-real-use';
// The config is read before any web server starts: Loaner's client is registered now.
fs.mkdirSync(oidcClientsDir, { recursive: true });
fs.mkdirSync(oidcAccountsDir, { recursive: true });
fs.writeFileSync(
  path.join(oidcClientsDir, `${ssoClientId}.json`),
  JSON.stringify({
    client_id: ssoClientId,
    client_secret: ssoClientSecret,
    redirect_uris: [`${ssoBaseURL}/auth/callback`],
    post_logout_redirect_uris: [`${ssoBaseURL}/signed-out`],
  }, null, 2),
);

// Hardware drivers: a third Loaner whose only pool acts through real peers (sshd, ipmi_sim, snmpd,
// moto), started by the Rust tests' own harness (server/examples/test_peers.rs).
const peersPort = process.env.E2E_PEERS_PORT ?? '3102';
export const peersBaseURL = `http://127.0.0.1:${peersPort}`;
/** Where the peers keep their keys, secrets and state. */
export const peersDir = path.join(root, 'target/test-peers');
const peersExample = process.env.TEST_PEERS_BIN ?? path.join(root, 'target/debug/examples/test_peers');

/** How the servers send mail: over SMTP to the sink below. */
const mailEnv = {
  LOANER_MAIL__TRANSPORT: 'smtp',
  LOANER_MAIL__HOST: '127.0.0.1',
  LOANER_MAIL__PORT: smtpPort,
  LOANER_MAIL__TLS: 'none',
  LOANER_MAIL__FROM: 'Loaner <loaner@loaner.test>',
};

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
      ...mailEnv,
      LOANER_TEST_CLOCK: 'true',
      // Bug references link to a tracker (the statistics page and the loan page show the links).
      LOANER_BUG_URL_TEMPLATE: 'https://bugzilla.example.com/show_bug.cgi?id={}',
      LOANER_JOBS__POLL_SECS: '1',
      // Every test signs its people in from this one address; the sign-in limit itself is
      // tested over HTTP (server/tests/integration/security.rs).
      LOANER_LIMITS__SIGN_INS_PER_MINUTE: '1000',
    },
   },
   {
    // The OpenID Connect provider (npm oidc-provider); before the Loaner below, which is not
    // ready until it has read the provider's discovery document.
    command: 'node oidc/provider.mjs',
    url: `${oidcIssuer}/.well-known/openid-configuration`,
    cwd: __dirname,
    timeout: 30_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
    env: {
      OIDC_PORT: oidcPort,
      OIDC_CLIENTS_DIR: oidcClientsDir,
      OIDC_ACCOUNTS_DIR: oidcAccountsDir,
    },
   },
   {
    // A second Loaner (own private PostgreSQL, demo inventory) that signs people in only
    // through that provider.
    command: `${binary} serve`,
    url: `${ssoBaseURL}/readyz`,
    cwd: root,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15_000 },
    env: {
      LOANER_BIND: `127.0.0.1:${ssoPort}`,
      LOANER_DATA_DIR: path.join(root, 'target/e2e-sso-data'),
      LOANER_SITE_ROOT: path.join(root, 'target/site'),
      LOANER_LOG: 'info,tower_http=warn',
      LOANER_OIDC__ISSUER: oidcIssuer,
      LOANER_OIDC__CLIENT_ID: ssoClientId,
      LOANER_OIDC__CLIENT_SECRET: ssoClientSecret,
      // Lists, in figment's syntax for environment values.
      LOANER_OIDC__SCOPES: '[openid, email, profile, groups]',
      LOANER_OIDC__ADMIN_GROUPS: '[loaner-admins]',
      LOANER_OIDC__ALLOWED_EMAIL_DOMAINS: '[example.com]',
      LOANER_OIDC__DISPLAY_NAME: 'Test SSO',
      ...mailEnv,
      LOANER_JOBS__POLL_SECS: '1',
      LOANER_LIMITS__SIGN_INS_PER_MINUTE: '1000',
    },
   },
   {
    // A third Loaner (own private PostgreSQL, no demo) whose pool's steps use IPMI and ssh
    // against the real peers: the peers start, the pool is synced from the inventory file the
    // example writes, then Loaner serves with the peers' secrets and known hosts.
    command: `${peersExample} && ${binary} inventory sync target/e2e-peers/inventory.toml && exec ${binary} serve`,
    url: `${peersBaseURL}/readyz`,
    cwd: root,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15_000 },
    env: {
      LOANER_BIND: `127.0.0.1:${peersPort}`,
      LOANER_DATA_DIR: path.join(root, 'target/e2e-peers-data'),
      LOANER_SITE_ROOT: path.join(root, 'target/site'),
      LOANER_LOG: 'info,tower_http=warn',
      LOANER_SEED_DEMO: 'false',
      LOANER_DRIVERS__CREDENTIALS_FILE: path.join(peersDir, 'secrets.toml'),
      LOANER_DRIVERS__KNOWN_HOSTS: path.join(peersDir, 'known_hosts'),
      LOANER_DRIVERS__POLL_MS: '200',
      LOANER_HEALTH__INTERVAL_MINUTES: '0',
      SMTP_SINK_PYTHON: python,
      ...mailEnv,
      LOANER_JOBS__POLL_SECS: '1',
      LOANER_LIMITS__SIGN_INS_PER_MINUTE: '1000',
    },
   },
  ],
});
