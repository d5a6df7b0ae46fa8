// DPoP (RFC 9449) with oauth4webapi against toegang: sender-constrained tokens from the token
// endpoint, then the authorization API and userinfo called with them. One JSON request on stdin, one
// JSON answer on stdout (peer_common.mjs); the key pair is made in this process and never leaves it.
//   {"op": "client_credentials", issuer, client_id, client_secret, api_url}
//     -> {token_type, access_token, jkt, api_status, api_body}
//   {"op": "authorize", issuer, client_id, redirect_uri, scope} -> {url, code_verifier, state}
//   {"op": "callback", issuer, client_id, client_secret, redirect_uri, callback_url, code_verifier, state}
//     -> {token_type, access_token, jkt, userinfo}
import * as oauth from 'oauth4webapi'

import { answer, discover, insecure, readInput, withNonceRetry } from './peer_common.mjs'

const input = await readInput()

async function run () {
  const as = await discover(input.issuer)
  const client = { client_id: input.client_id }
  if (input.op === 'authorize') {
    const codeVerifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const url = new URL(as.authorization_endpoint)
    url.search = new URLSearchParams({
      client_id: input.client_id,
      redirect_uri: input.redirect_uri,
      response_type: 'code',
      scope: input.scope,
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256'
    }).toString()
    return { url: url.href, code_verifier: codeVerifier, state }
  }
  const clientAuth = oauth.ClientSecretBasic(input.client_secret)
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  const jkt = await DPoP.calculateThumbprint()
  if (input.op === 'client_credentials') {
    const tokens = await withNonceRetry(async () => oauth.processClientCredentialsResponse(as, client,
      await oauth.clientCredentialsGrantRequest(as, client, clientAuth, { scope: 'authz' }, { DPoP, ...insecure })))
    const response = await withNonceRetry(() => oauth.protectedResourceRequest(
      tokens.access_token, 'GET', new URL(input.api_url), undefined, undefined, { DPoP, ...insecure }))
    return {
      token_type: tokens.token_type,
      access_token: tokens.access_token,
      jkt,
      api_status: response.status,
      api_body: await response.json()
    }
  }
  if (input.op === 'callback') {
    const params = oauth.validateAuthResponse(as, client, new URL(input.callback_url), input.state)
    const tokens = await withNonceRetry(async () => oauth.processAuthorizationCodeResponse(as, client,
      await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, input.redirect_uri,
        input.code_verifier, { DPoP, ...insecure })))
    const sub = oauth.getValidatedIdTokenClaims(tokens).sub
    const userinfo = await withNonceRetry(async () => oauth.processUserInfoResponse(as, client, sub,
      await oauth.userInfoRequest(as, client, tokens.access_token, { DPoP, ...insecure })))
    return { token_type: tokens.token_type, access_token: tokens.access_token, jkt, userinfo }
  }
  throw new Error(`unknown op ${input.op}`)
}

answer(run)
