// RFC 9207 with oauth4webapi: the authorization response, success or error, read as an independent
// client reads it. oauth4webapi refuses any response without `iss` when discovery announces
// authorization_response_iss_parameter_supported, so an error without `iss` is unreadable to it.
// One JSON request on stdin, one JSON answer on stdout:
//   {"op": "authorize", issuer, client_id, redirect_uri, scope, params?}
//     -> {url, code_verifier, state}
//   {"op": "callback", issuer, client_id, client_secret, redirect_uri, callback_url, state, code_verifier?}
//     -> {code, sub?}                                   a code (exchanged when code_verifier is given)
//     -> {error, error_description}                     an error response oauth4webapi could read
//     -> {exception, code, message}                     a response it refused (e.g. "iss" missing)
import * as oauth from 'oauth4webapi'

const input = JSON.parse(await new Promise((resolve) => {
  let data = ''
  process.stdin.on('data', (chunk) => { data += chunk })
  process.stdin.on('end', () => resolve(data))
}))

// toegang runs on http://127.0.0.1 in the tests: allow plain HTTP, nothing else changed.
const insecure = { [oauth.allowInsecureRequests]: true }

async function run () {
  const issuer = new URL(input.issuer)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
  const client = { client_id: input.client_id }
  if (input.op === 'authorize') {
    const codeVerifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const url = new URL(as.authorization_endpoint)
    url.searchParams.set('client_id', client.client_id)
    url.searchParams.set('redirect_uri', input.redirect_uri)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('scope', input.scope)
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier))
    url.searchParams.set('code_challenge_method', 'S256')
    url.searchParams.set('state', state)
    for (const [key, value] of Object.entries(input.params || {})) url.searchParams.set(key, value)
    return { url: url.href, code_verifier: codeVerifier, state }
  }
  if (input.op === 'callback') {
    let params
    try {
      params = oauth.validateAuthResponse(as, client, new URL(input.callback_url), input.state)
    } catch (e) {
      if (e instanceof oauth.AuthorizationResponseError) {
        return { error: e.error, error_description: e.error_description ?? null }
      }
      return { exception: e.name, code: e.code ?? null, message: e.message }
    }
    const answer = { code: params.get('code') }
    if (input.code_verifier) {
      const response = await oauth.authorizationCodeGrantRequest(
        as, client, oauth.ClientSecretBasic(input.client_secret), params, input.redirect_uri, input.code_verifier, insecure
      )
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, response)
      answer.sub = oauth.getValidatedIdTokenClaims(tokens).sub
    }
    return answer
  }
  throw new Error(`unknown op ${input.op}`)
}

try {
  process.stdout.write(JSON.stringify(await run()) + '\n')
} catch (e) {
  process.stdout.write(JSON.stringify({ exception: e.name, code: e.code ?? null, message: e.message }) + '\n')
}
