// A relying party on the certified openid-client library, driven by toegang's tests.
// One JSON request on stdin, one JSON answer on stdout:
//   {"op": "authorize", issuer, client_id, client_secret, redirect_uri, scope, params?}
//     -> {url, code_verifier, state, nonce, discovery}
//   {"op": "callback", ..., callback_url, code_verifier, state, nonce, max_age?}
//     -> {id_token_claims, userinfo, access_token, refresh_token, id_token}
//   {"op": "refresh", ..., refresh_token} -> {id_token_claims, access_token, refresh_token}
//   {"op": "logout", ..., id_token_hint, post_logout_redirect_uri} -> {url}
// An error answers {error, error_description, status, name, message}.
import * as client from 'openid-client'

const input = JSON.parse(await new Promise((resolve) => {
  let data = ''
  process.stdin.on('data', (chunk) => { data += chunk })
  process.stdin.on('end', () => resolve(data))
}))

async function configuration () {
  // toegang runs on http://127.0.0.1 in the tests: allow plain HTTP, nothing else changed.
  return client.discovery(new URL(input.issuer), input.client_id, input.client_secret, undefined, {
    execute: [client.allowInsecureRequests]
  })
}

async function run () {
  const config = await configuration()
  if (input.op === 'authorize') {
    const codeVerifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const nonce = client.randomNonce()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: input.redirect_uri,
      scope: input.scope,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(input.params || {})
    })
    return { url: url.href, code_verifier: codeVerifier, state, nonce, discovery: config.serverMetadata() }
  }
  if (input.op === 'callback') {
    const tokens = await client.authorizationCodeGrant(config, new URL(input.callback_url), {
      pkceCodeVerifier: input.code_verifier,
      expectedState: input.state,
      expectedNonce: input.nonce,
      maxAge: input.max_age,
      idTokenExpected: true
    }, { redirect_uri: input.redirect_uri })
    const claims = tokens.claims()
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
    return {
      id_token_claims: claims,
      userinfo,
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      id_token: tokens.id_token
    }
  }
  if (input.op === 'refresh') {
    const tokens = await client.refreshTokenGrant(config, input.refresh_token)
    return {
      id_token_claims: tokens.claims() || null,
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token
    }
  }
  if (input.op === 'logout') {
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: input.id_token_hint,
      post_logout_redirect_uri: input.post_logout_redirect_uri
    })
    return { url: url.href }
  }
  throw new Error(`unknown op ${input.op}`)
}

try {
  process.stdout.write(JSON.stringify(await run()) + '\n')
} catch (e) {
  process.stdout.write(JSON.stringify({
    // A 401 with WWW-Authenticate (a refused client secret) carries the error in the challenge.
    error: e.error ?? (Array.isArray(e.cause) ? e.cause[0]?.parameters?.error : undefined) ?? e.code ?? 'exception',
    error_description: e.error_description ?? null,
    status: e.status ?? e.cause?.status ?? null,
    name: e.name,
    message: e.message
  }) + '\n')
}
