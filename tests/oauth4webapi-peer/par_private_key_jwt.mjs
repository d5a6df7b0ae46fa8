// Pushed authorization requests (RFC 9126) with private_key_jwt (RFC 7523) on oauth4webapi,
// driven by tests/test_oidc_par_peers.py. One JSON request on stdin, one JSON answer on stdout:
//   {"op": "par", issuer, client_id, private_jwk, redirect_uri, scope}
//     -> {authorization_url, request_uri, expires_in, code_verifier, state, nonce}
//   {"op": "token", ..., callback_url, code_verifier, state, nonce, id_token_alg}
//     -> {id_token_claims, access_token, introspection, token_type}
// An error answers {error, error_description, status, name, message}.
import * as oauth from 'oauth4webapi'

const input = JSON.parse(await new Promise((resolve) => {
  let data = ''
  process.stdin.on('data', (chunk) => { data += chunk })
  process.stdin.on('end', () => resolve(data))
}))

// toegang runs on http://127.0.0.1 in the tests: allow plain HTTP, nothing else changed.
const insecure = { [oauth.allowInsecureRequests]: true }

async function clientAuth () {
  const jwk = input.private_jwk
  const algorithm = jwk.kty === 'EC'
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSA-PSS', hash: 'SHA-256' }
  const key = await crypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign'])
  return oauth.PrivateKeyJwt({ key, kid: jwk.kid })
}

async function run () {
  const issuer = new URL(input.issuer)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
  const client = { client_id: input.client_id }
  if (input.id_token_alg) client.id_token_signed_response_alg = input.id_token_alg
  const auth = await clientAuth()
  if (input.op === 'par') {
    const codeVerifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const nonce = oauth.generateRandomNonce()
    const params = new URLSearchParams({
      redirect_uri: input.redirect_uri,
      scope: input.scope,
      response_type: 'code',
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce
    })
    const response = await oauth.pushedAuthorizationRequest(as, client, auth, params, insecure)
    const pushed = await oauth.processPushedAuthorizationResponse(as, client, response)
    const url = new URL(as.authorization_endpoint)
    url.searchParams.set('client_id', client.client_id)
    url.searchParams.set('request_uri', pushed.request_uri)
    return {
      authorization_url: url.href,
      request_uri: pushed.request_uri,
      expires_in: pushed.expires_in,
      code_verifier: codeVerifier,
      state,
      nonce
    }
  }
  if (input.op === 'token') {
    // Checks iss (RFC 9207) and state in the callback.
    const params = oauth.validateAuthResponse(as, client, new URL(input.callback_url), input.state)
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, auth, params, input.redirect_uri, input.code_verifier, insecure
    )
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: input.nonce,
      requireIdToken: true
    })
    const introspection = await oauth.processIntrospectionResponse(
      as, client, await oauth.introspectionRequest(as, client, auth, result.access_token, insecure)
    )
    return {
      id_token_claims: oauth.getValidatedIdTokenClaims(result),
      id_token_header: JSON.parse(Buffer.from(result.id_token.split('.')[0], 'base64url').toString()),
      access_token: result.access_token,
      token_type: result.token_type,
      introspection
    }
  }
  throw new Error(`unknown op ${input.op}`)
}

try {
  process.stdout.write(JSON.stringify(await run()))
} catch (err) {
  // A 401 with WWW-Authenticate: oauth4webapi reads the error from the challenge.
  const challenge = Array.isArray(err.cause) ? err.cause[0] : undefined
  process.stdout.write(JSON.stringify({
    error: err.error ?? err.cause?.error ?? challenge?.parameters?.error,
    scheme: challenge?.scheme,
    error_description: err.error_description ?? err.cause?.error_description,
    status: err.status ?? err.cause?.status,
    name: err.name,
    code: err.code,
    message: err.message
  }))
}
