// A real OpenID Connect provider for Loaner's tests: npm `oidc-provider`, on 127.0.0.1 over plain
// http. One process serves a whole test run, so nothing about a test is configured at start:
//   - clients are read on demand from $OIDC_CLIENTS_DIR/<client_id>.json
//     {"client_id", "client_secret" (absent: a public client), "redirect_uris": [...],
//      "post_logout_redirect_uris": [...], "token_endpoint_auth_method" (optional)}
//   - accounts are read on demand, at every use, from $OIDC_ACCOUNTS_DIR/<login>.json
//     {"email", "email_verified", "name", "groups": [...], "groups_in_userinfo_only" (optional)}
// Sign-in is the library's own development page (/interaction/UID: `login`, any `password`,
// "Sign-in", "[ Cancel ]"); an unknown login is refused there. There is no consent screen, and
// the sign-out confirmation submits itself. Usage:
//   OIDC_PORT=0 OIDC_CLIENTS_DIR=... OIDC_ACCOUNTS_DIR=... node oidc/provider.mjs
// It prints `ready <port>` on stdout once it listens (port 0 picks a free one); the issuer is
// `http://127.0.0.1:<port>`. Errors go to stderr.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';

import Provider from 'oidc-provider';

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: set ${name}`);
    process.exit(2);
  }
  return value;
}

const clientsDir = requiredEnv('OIDC_CLIENTS_DIR');
const accountsDir = requiredEnv('OIDC_ACCOUNTS_DIR');

/** The JSON file `<dir>/<name>.json`, or undefined when there is none (or the name is no file name). */
async function readJson(dir, name) {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*$/.test(name)) {
    return undefined;
  }
  try {
    return JSON.parse(await readFile(path.join(dir, `${name}.json`), 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
}

async function readClient(clientId) {
  const file = await readJson(clientsDir, clientId);
  if (!file) {
    return undefined;
  }
  return {
    token_endpoint_auth_method: file.client_secret ? 'client_secret_basic' : 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...file,
  };
}

/**
 * Storage: clients come from their files; every other model (sessions, interactions, grants,
 * codes, tokens) lives in this process's memory until it expires.
 */
const memory = new Map(); // key -> { value, expiresAt }
const grantMembers = new Map(); // grantId -> Set of keys issued under that grant

function remember(key, value, expiresIn) {
  memory.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
}

function recall(key) {
  const entry = memory.get(key);
  if (entry && entry.expiresAt <= Date.now()) {
    memory.delete(key);
    return undefined;
  }
  return entry?.value;
}

setInterval(() => {
  const now = Date.now();
  for (const [key, { expiresAt }] of memory) {
    if (expiresAt <= now) {
      memory.delete(key);
    }
  }
}, 60_000).unref();

class Adapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async find(id) {
    return this.model === 'Client' ? readClient(id) : recall(this.key(id));
  }

  async findByUid(uid) {
    const id = recall(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = recall(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    remember(key, payload, expiresIn);
    if (this.model === 'Session') {
      remember(`sessionUid:${payload.uid}`, id, expiresIn);
    }
    if (payload.userCode) {
      remember(`userCode:${payload.userCode}`, id, expiresIn);
    }
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) {
        grantMembers.set(payload.grantId, new Set());
      }
      grantMembers.get(payload.grantId).add(key);
    }
  }

  async consume(id) {
    const payload = recall(this.key(id));
    if (payload) {
      payload.consumed = Math.floor(Date.now() / 1000);
    }
  }

  async destroy(id) {
    memory.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) {
      memory.delete(key);
    }
    grantMembers.delete(grantId);
  }
}

/** The account `login`, read from its file now: a test may change it between two sign-ins. */
async function findAccount(ctx, login) {
  if (!(await readJson(accountsDir, login))) {
    return undefined;
  }
  return {
    accountId: login,
    async claims(use) {
      const account = (await readJson(accountsDir, login)) ?? {};
      const claims = {
        sub: login,
        email: account.email,
        email_verified: account.email_verified,
        name: account.name,
      };
      if (use === 'userinfo' || !account.groups_in_userinfo_only) {
        claims.groups = account.groups;
      }
      return claims;
    },
  };
}

/**
 * Loaner is a first-party client: grant whatever it asks for instead of showing a consent page,
 * so that the browser goes from the sign-in page straight back to Loaner.
 */
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  const grant = (grantId && (await oidc.provider.Grant.find(grantId)))
    || new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  grant.addOIDCClaims([...oidc.requestParamClaims]);
  await grant.save();
  return grant;
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The sign-out confirmation submits itself (with `logout=yes`: the whole provider session ends,
 * not only the client's), so Loaner's sign-out comes back without a click; the button is for
 * browsers without JavaScript.
 */
async function logoutSource(ctx, form) {
  const confirm = form.replace(
    '</form>',
    '<input type="hidden" name="logout" value="yes"/><button type="submit">Sign out</button></form>',
  );
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Signing out</title></head>
<body>
  <h1>Signing out of ${escapeHtml(ctx.host)}</h1>
  ${confirm}
  <script>document.forms[0].submit()</script>
</body>
</html>`;
}

function configuration() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    adapter: Adapter,
    findAccount,
    loadExistingGrant,
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' }] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    // Scope claims (email, name, groups) go in the ID token too, as most providers do.
    conformIdTokenClaims: false,
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Cookies ignore ports: Loaner, on the same 127.0.0.1, must be able to tell these apart.
      names: { session: 'oidc_session', interaction: 'oidc_interaction', resume: 'oidc_resume' },
    },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource },
    },
  };
}

/** The library's pages load no web fonts: there is no internet here, a browser would wait. */
async function withoutWebFonts(ctx, next) {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com\/[^)]*\);/g, '');
  }
}

/**
 * The library's sign-in page accepts any login: one without an account file gets the same page
 * again, with an error, and no session.
 */
async function refuseUnknownLogins(ctx, next) {
  if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)) {
    return next();
  }
  const chunks = [];
  for await (const chunk of ctx.req) {
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  const form = new URLSearchParams(body.toString());
  const login = form.get('login');
  if (form.get('prompt') !== 'login' || (await readJson(accountsDir, login))) {
    ctx.req.body = body; // the provider's own parser reads the consumed body from here
    return next();
  }
  ctx.method = 'GET'; // the library renders this interaction's sign-in page again
  await next();
  ctx.body = String(ctx.body).replace('<form', `<p role="alert">Unknown login: ${escapeHtml(login)}</p>\n<form`);
}

const server = createServer();
server.listen(Number(process.env.OIDC_PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration());
  provider.use(withoutWebFonts);
  provider.use(refuseUnknownLogins);
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
    'end_session.error', 'end_session_confirm.error', 'discovery.error', 'jwks.error']) {
    provider.on(event, (ctx, err) => {
      console.error(`${event}: ${ctx.method} ${ctx.path}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
    });
  }
  server.on('request', provider.callback());
  process.stdout.write(`ready ${port}\n`);
});
