// TEST-ONLY OpenID Connect provider for aspen's integration tests.
// Its keys are generated at start, its login page accepts any password, and it
// has an unauthenticated admin API under /__test/. Never run it anywhere else.
//
//   node tests/idp/provider.mjs --config FILE
//
// See README.md beside this file for the contract.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// stdout carries exactly one line (the ready line). oidc-provider prints its
// NOTICEs with console.info, so every console.log/info goes to stderr.
console.log = console.info = console.debug = (...args) => console.error(...args);

// oidc-provider warns about Node 20 ("Use Node.js v22.x LTS"); it still runs.
const { default: Provider, errors } = await import('oidc-provider');
// One in-memory store for all the Provider instances that "swap" builds, so
// sessions, grants, codes and pending interactions survive a rotate or a
// client change. (Deep import: fine with the exact version pinned.)
const { createMemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
const sharedAdapter = createMemoryAdapter(15);

function log(...args) {
  console.error('[test-idp]', ...args);
}

function die(message) {
  log(`fatal: ${message}`);
  process.exit(2);
}

// ---------- command line and config ----------

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--config' && i + 1 < argv.length) {
      out.config = argv[i += 1];
    } else if (argv[i].startsWith('--config=')) {
      out.config = argv[i].slice('--config='.length);
    } else {
      die(`unknown argument ${argv[i]} (usage: provider.mjs --config FILE)`);
    }
  }
  if (!out.config) die('usage: provider.mjs --config FILE');
  return out;
}

const args = parseArgs(process.argv.slice(2));
let config;
try {
  config = JSON.parse(fs.readFileSync(args.config, 'utf8'));
} catch (err) {
  die(`cannot read config ${args.config}: ${err.message}`);
}

const state = {
  port: Number.isInteger(config.port) ? config.port : 0,
  issuer: undefined,
  clients: normalizeClients(config.clients ?? []),
  accounts: config.accounts ?? [],
  resource: config.resource, // e.g. "urn:aspen:device"; undefined = no JWT access tokens
  resourceScope: config.resource_scope ?? 'device',
  pkceRequired: config.pkce_required ?? true,
  signingJwk: undefined, // private JWK of the current signing key
  rogueKey: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, // NOT in the JWKS
  cookieKeys: [crypto.randomBytes(32).toString('base64url')], // constant across swaps
  tamper: 'off',
  lastToken: undefined, // { id_token, served_id_token, mode, access_token }
  generation: 0,
};

const TAMPER_MODES = new Set(['off', 'resign', 'none', 'hs256', 'audience', 'expired', 'nonce', 'issuer']);

// A redirect URI with a custom scheme (Apple's apple-remotemanagement-user-login://...)
// is refused for "web" clients, so such clients default to application_type "native".
function normalizeClients(clients) {
  if (!Array.isArray(clients)) throw new TypeError('clients must be an array');
  return clients.map((c) => {
    const client = { ...c };
    const uris = [...(client.redirect_uris ?? []), ...(client.post_logout_redirect_uris ?? [])];
    const custom = uris.some((u) => !/^https?:/i.test(u));
    if (client.application_type === undefined && custom) client.application_type = 'native';
    return client;
  });
}

function newSigningJwk() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `test-${crypto.randomBytes(8).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

// ---------- accounts ----------

function lookupAccount(idOrEmail) {
  if (typeof idOrEmail !== 'string' || !idOrEmail) return undefined;
  const byId = state.accounts.find((a) => a.id === idOrEmail);
  if (byId) return byId;
  const lower = idOrEmail.toLowerCase();
  return state.accounts.find((a) => typeof a.email === 'string' && a.email.toLowerCase() === lower);
}

function accountClaims(a) {
  const claims = { sub: a.id };
  if (a.email !== undefined) {
    claims.email = a.email;
    claims.email_verified = a.email_verified ?? true;
  }
  for (const k of ['name', 'preferred_username', 'groups']) {
    if (a[k] !== undefined) claims[k] = a[k];
  }
  return claims;
}

// ---------- the oidc-provider instance ("swap" rebuilds it) ----------

function buildProvider() {
  const configuration = {
    adapter: sharedAdapter,
    clients: state.clients,
    jwks: { keys: [state.signingJwk] },
    cookies: { keys: state.cookieKeys },
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // Scope-requested claims go into the ID token too, not only to userinfo.
    conformIdTokenClaims: false,
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    pkce: { required: () => state.pkceRequired },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // An authorization request without a resource parameter and without the
        // openid scope (a plain OAuth2 client such as Apple's device) gets the
        // configured resource.
        defaultResource(ctx, client, oneOf) {
          if (oneOf) return state.resource && oneOf.includes(state.resource) ? state.resource : oneOf;
          const scope = String(ctx.oidc.params?.scope ?? '').split(' ');
          if (state.resource && !scope.includes('openid')) return state.resource;
          return undefined;
        },
        // The token request need not repeat resource= to get the JWT access token.
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, indicator) {
          if (state.resource && indicator === state.resource) {
            return {
              scope: state.resourceScope,
              audience: state.resource,
              accessTokenFormat: 'jwt',
              accessTokenTTL: 3600,
              jwt: { sign: { alg: 'RS256' } },
            };
          }
          throw new errors.InvalidTarget();
        },
      },
    },
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken' || !token.resourceServer) return undefined;
      const a = lookupAccount(token.accountId);
      if (!a) return undefined;
      const { sub, ...rest } = accountClaims(a);
      return rest;
    },
    async findAccount(ctx, id) {
      const a = lookupAccount(id);
      if (!a) return undefined;
      return { accountId: a.id, claims: () => accountClaims(a) };
    },
    // A client registered with grant_types [..., "refresh_token"] gets refresh
    // tokens without having to ask for offline_access.
    issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
    clientBasedCORS: () => true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      RefreshToken: 24 * 3600,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
  };

  const provider = new Provider(state.issuer, configuration);

  // devInteractions sets the session's accountId to whatever was typed in the
  // login field. Map an email to the account id (so the authorization code,
  // the grant and `sub` all agree) and refuse unknown logins.
  const interactionFinished = provider.interactionFinished.bind(provider);
  provider.interactionFinished = async (req, res, result, options) => {
    if (result?.login) {
      const typed = result.login.accountId;
      const a = lookupAccount(typed);
      if (a) {
        result = { ...result, login: { ...result.login, accountId: a.id } };
        log(`login ${JSON.stringify(typed)} -> account ${JSON.stringify(a.id)}`);
      } else {
        log(`login ${JSON.stringify(typed)} refused: unknown account`);
        result = { error: 'access_denied', error_description: `unknown test account: ${typed}` };
        options = { ...options, mergeWithLastSubmission: false };
      }
    }
    return interactionFinished(req, res, result, options);
  };

  provider.on('server_error', (ctx, err) => log('server_error', err));
  for (const ev of ['authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
    provider.on(ev, (ctx, err) => log(ev, err.name, err.message, err.error_description ?? ''));
  }
  return provider;
}

// Static clients are only validated when first used; check them now so a bad
// client is refused at start or by POST /__test/clients, not mid-flow.
async function validateClients(provider) {
  for (const c of state.clients) {
    try {
      const found = await provider.Client.find(String(c.client_id));
      if (!found) throw new Error('not found');
    } catch (err) {
      throw new Error(`client ${c.client_id}: ${err.error_description ?? err.message}`);
    }
  }
}

let current; // { provider, handler }

async function swap() {
  const provider = buildProvider();
  await validateClients(provider);
  state.generation += 1;
  current = { provider, handler: provider.callback() };
  log(`provider #${state.generation} kid=${state.signingJwk.kid} clients=${state.clients.map((c) => c.client_id).join(',') || '-'}`);
}

// ---------- ID token tampering ----------

const b64json = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const unb64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return { header: unb64json(h), payload: unb64json(p) };
}

function signRs256(header, payload, key) {
  const input = `${b64json(header)}.${b64json(payload)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), key).toString('base64url');
  return `${input}.${sig}`;
}

function tamper(idToken, mode) {
  const { header, payload } = decodeJwt(idToken);
  const realKey = crypto.createPrivateKey({ key: state.signingJwk, format: 'jwk' });
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'resign':
      return signRs256(header, payload, state.rogueKey);
    case 'none':
      return `${b64json({ ...header, alg: 'none' })}.${b64json(payload)}.`;
    case 'hs256': {
      const aud = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
      const client = state.clients.find((c) => c.client_id === aud);
      const secret = client?.client_secret ?? '';
      const input = `${b64json({ ...header, alg: 'HS256' })}.${b64json(payload)}`;
      return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
    }
    case 'audience':
      return signRs256(header, { ...payload, aud: 'someone-else' }, realKey);
    case 'expired': {
      const lifetime = (payload.exp ?? now) - (payload.iat ?? now);
      const exp = now - 7200;
      return signRs256(header, { ...payload, exp, iat: exp - lifetime }, realKey);
    }
    case 'nonce':
      return signRs256(header, { ...payload, nonce: `tampered-${crypto.randomBytes(8).toString('hex')}` }, realKey);
    case 'issuer':
      return signRs256(header, { ...payload, iss: `${state.issuer}/tampered` }, realKey);
    default:
      return idToken;
  }
}

// Buffer the token endpoint's answer, record and maybe rewrite its id_token.
function interceptTokenResponse(res) {
  const chunks = [];
  const origWrite = res.write.bind(res);
  const origEnd = res.end.bind(res);
  const origWriteHead = res.writeHead.bind(res);
  let headArgs;
  const toBuf = (chunk, enc) => (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, typeof enc === 'string' ? enc : 'utf8'));
  res.writeHead = (...a) => { headArgs = a; return res; };
  res.write = (chunk, enc, cb) => {
    if (chunk != null) chunks.push(toBuf(chunk, enc));
    if (typeof enc === 'function') enc();
    else if (typeof cb === 'function') cb();
    return true;
  };
  res.end = (chunk, enc, cb) => {
    if (typeof chunk === 'function') { cb = chunk; chunk = undefined; }
    if (typeof enc === 'function') { cb = enc; enc = undefined; }
    if (chunk != null) chunks.push(toBuf(chunk, enc));
    let body = Buffer.concat(chunks);
    try {
      const json = JSON.parse(body.toString('utf8'));
      if (json && typeof json.id_token === 'string') {
        const served = state.tamper === 'off' ? json.id_token : tamper(json.id_token, state.tamper);
        state.lastToken = {
          id_token: json.id_token, served_id_token: served, mode: state.tamper, access_token: json.access_token,
        };
        if (served !== json.id_token) {
          log(`tampered id_token (mode ${state.tamper})`);
          json.id_token = served;
          body = Buffer.from(JSON.stringify(json));
        }
      } else if (json && typeof json.access_token === 'string') {
        state.lastToken = { ...(state.lastToken ?? {}), access_token: json.access_token };
      }
    } catch {
      // not JSON: pass through untouched
    }
    if (headArgs) {
      // writeHead(status[, message][, headers]): fix content-length in the headers object if any
      const headers = headArgs.find((x) => x && typeof x === 'object');
      if (headers && !Array.isArray(headers)) {
        for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-length') delete headers[k];
      }
    }
    // Node's end() sends implicit headers through res.writeHead: put the originals back first.
    res.writeHead = origWriteHead;
    res.write = origWrite;
    res.end = origEnd;
    if (!res.headersSent) res.setHeader('Content-Length', body.length);
    if (headArgs) origWriteHead(...headArgs);
    return origEnd(body, cb);
  };
}

// ---------- admin API and request routing ----------

function sendJson(res, status, obj) {
  const body = Buffer.from(`${JSON.stringify(obj)}\n`);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readJson(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  return JSON.parse(text);
}

async function admin(req, res, path) {
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'POST /__test/rotate': {
      const previous = state.signingJwk;
      state.signingJwk = newSigningJwk();
      try {
        await swap();
      } catch (err) {
        state.signingJwk = previous;
        throw err;
      }
      return sendJson(res, 200, { kid: state.signingJwk.kid });
    }
    case 'POST /__test/tamper': {
      const { mode } = await readJson(req);
      if (!TAMPER_MODES.has(mode)) {
        return sendJson(res, 400, { error: `mode must be one of ${[...TAMPER_MODES].join(', ')}` });
      }
      state.tamper = mode;
      log(`tamper mode ${mode}`);
      return sendJson(res, 200, { mode });
    }
    case 'POST /__test/clients': {
      const body = await readJson(req);
      const list = Array.isArray(body) ? body : body.clients;
      const previous = state.clients;
      try {
        state.clients = normalizeClients(list);
        await swap();
      } catch (err) {
        state.clients = previous;
        await swap();
        return sendJson(res, 400, { error: err.message });
      }
      return sendJson(res, 200, { clients: state.clients.map((c) => c.client_id) });
    }
    case 'POST /__test/accounts': {
      const body = await readJson(req);
      const list = Array.isArray(body) ? body : body.accounts;
      if (!Array.isArray(list)) return sendJson(res, 400, { error: 'accounts must be an array' });
      state.accounts = list;
      return sendJson(res, 200, { accounts: list.map((a) => a.id) });
    }
    case 'GET /__test/last-token': {
      if (!state.lastToken?.id_token) return sendJson(res, 404, { error: 'no id_token issued yet' });
      return sendJson(res, 200, { ...decodeJwt(state.lastToken.id_token), ...state.lastToken });
    }
    case 'GET /__test/state':
      return sendJson(res, 200, {
        issuer: state.issuer,
        kid: state.signingJwk.kid,
        tamper: state.tamper,
        clients: state.clients.map((c) => c.client_id),
        accounts: state.accounts.map((a) => a.id),
        resource: state.resource ?? null,
        generation: state.generation,
      });
    default:
      return sendJson(res, 404, { error: `no admin route ${route}` });
  }
}

async function handle(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  if (path.startsWith('/__test/')) {
    try {
      await admin(req, res, path);
    } catch (err) {
      log('admin error', err);
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
    }
    return;
  }
  if (req.method === 'POST' && path === '/token') interceptTokenResponse(res);
  if (!current) { sendJson(res, 503, { error: "starting" }); return; }
  current.handler(req, res);
}

// ---------- start ----------

const server = http.createServer((req, res) => { handle(req, res); });
server.on('clientError', (err, socket) => socket.destroy());

server.listen(state.port, '127.0.0.1', async () => {
  const { port } = server.address();
  state.port = port;
  state.issuer = `http://127.0.0.1:${port}`;
  state.signingJwk = newSigningJwk();
  try {
    await swap();
  } catch (err) {
    die(err.message);
  }
  process.stdout.write(`${JSON.stringify({ issuer: state.issuer, port })}\n`);
  log(`ready at ${state.issuer}`);
});
server.on('error', (err) => die(`listen: ${err.message}`));

function shutdown(why) {
  log(`exiting: ${why}`);
  process.exit(0);
}

process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
