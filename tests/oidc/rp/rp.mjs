// An independent OpenID Connect relying party for the provider's tests: openid-client does discovery, the
// authorization request (PKCE S256, state, nonce), the code exchange, userinfo and refresh; jose verifies
// the ID token against the provider's JWKS. The login forms are posted like a browser would (fetch with a
// cookie jar, no redirects followed). Input: one JSON object on stdin (secrets and the ID number never on a
// command line); output: one JSON object on stdout.
import * as client from 'openid-client'
import { createRemoteJWKSet, jwtVerify } from 'jose'

const input = JSON.parse(await new Promise((resolve) => {
  let data = ''
  process.stdin.on('data', (c) => { data += c })
  process.stdin.on('end', () => resolve(data))
}))

const jar = new Map()
async function browse (url, form) {
  const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') }
  const init = { redirect: 'manual', headers }
  if (form) {
    init.method = 'POST'
    init.body = new URLSearchParams(form)
    headers['content-type'] = 'application/x-www-form-urlencoded'
  }
  const res = await fetch(url, init)
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';')
    const i = pair.indexOf('=')
    jar.set(pair.slice(0, i), pair.slice(i + 1))
  }
  return { status: res.status, location: res.headers.get('location'), html: await res.text(), url }
}

function field (html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`))
  return m ? m[1].replace(/&amp;/g, '&') : ''
}

// Log in through the pages; returns the redirect back to the platform (or the last page if there is none).
async function login (authUrl, person) {
  let page = await browse(authUrl)
  if (page.location) return page
  const loginUrl = new URL('login', page.url)
  const form = { tx: field(page.html, 'tx'), csrf: field(page.html, 'csrf'), action: 'login',
    id_number: person.id_number, password: person.password }
  if (person.totp_code) form.totp_code = person.totp_code
  page = await browse(loginUrl, form)
  if (page.location || !page.html.includes('action="organisation"')) return page
  return browse(new URL('organisation', page.url),
    { tx: field(page.html, 'tx'), csrf: field(page.html, 'csrf'), org: person.org || '' })
}

const out = {}
const config = await client.discovery(new URL(input.issuer), input.client_id,
  { client_secret: input.client_secret, id_token_signed_response_alg: 'ES256' }, undefined,
  { execute: [client.allowInsecureRequests] })
const meta = config.serverMetadata()
out.discovered_issuer = meta.issuer

const verifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const nonce = client.randomNonce()
const params = { redirect_uri: input.redirect_uri, scope: input.scope || 'openid profile',
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce }
if (input.acr_values) params.acr_values = input.acr_values
if (input.claims) params.claims = JSON.stringify(input.claims)
const authUrl = client.buildAuthorizationUrl(config, params)

const back = await login(authUrl.href, input.person)
out.login_status = back.status
if (!back.location) {
  out.page = back.html
  console.log(JSON.stringify(out))
  process.exit(0)
}
const callback = new URL(back.location)
out.callback_params = Object.fromEntries(callback.searchParams)
if (callback.searchParams.get('error')) {
  console.log(JSON.stringify(out))
  process.exit(0)
}

if (input.tamper_state) {
  const tampered = new URL(callback)
  tampered.searchParams.set('state', state + 'x')
  try {
    await client.authorizationCodeGrant(config, tampered, { pkceCodeVerifier: verifier, expectedState: state,
      expectedNonce: nonce, idTokenExpected: true })
    out.tampered_state = 'accepted'
  } catch (e) {
    out.tampered_state = e.code || e.name
  }
}

const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier,
  expectedState: state, expectedNonce: nonce, idTokenExpected: true, maxAge: input.max_age })
const claims = tokens.claims()
out.claims = claims
// Independent check of the ID token: jose against the published JWKS.
const jwks = createRemoteJWKSet(new URL(meta.jwks_uri))
const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, { issuer: meta.issuer,
  audience: input.client_id, algorithms: ['ES256'] })
out.jose = { payload, header: protectedHeader }
out.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
// The new access token works; no ID token on refresh (OpenID Connect Core 12.2: the RP keeps the login's).
out.refreshed = { rotated: refreshed.refresh_token !== tokens.refresh_token,
  sub: (await client.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub,
  id_token: refreshed.id_token ?? null }
try {
  await client.refreshTokenGrant(config, tokens.refresh_token)
  out.reuse = 'accepted'
} catch (e) {
  out.reuse = e.error || e.code || e.name
}
out.id_token = tokens.id_token
out.end_session = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token,
  post_logout_redirect_uri: input.redirect_uri, state: 'bye' }).href
console.log(JSON.stringify(out))
