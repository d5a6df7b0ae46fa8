// JWT access tokens (RFC 9068) checked by oauth4webapi's own resource-server validation
// (validateJwtAccessToken: typ at+jwt, the signature with toegang's published JWKS, iss, aud, exp,
// iat, jti, sub, client_id, and for a DPoP-bound token the proof and cnf.jkt). The client gets a
// client-credentials token (with DPoP when asked); the request it sends to the authorization API is
// validated here, as a resource server would, and then sent to toegang.
//   {issuer, client_id, client_secret, api_url, audience, dpop?}
//     -> {token_type, claims, api_status, api_body}
// (peer_common.mjs: JSON on stdin and stdout.)
import * as oauth from 'oauth4webapi'

import { answer, discover, insecure, readInput, withNonceRetry } from './peer_common.mjs'

const input = await readInput()

async function run () {
  const as = await discover(input.issuer)
  const client = { client_id: input.client_id }
  const clientAuth = oauth.ClientSecretBasic(input.client_secret)
  const DPoP = input.dpop ? oauth.DPoP(client, await oauth.generateKeyPair('ES256')) : undefined
  const tokens = await withNonceRetry(async () => oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, clientAuth, { scope: 'authz' }, { DPoP, ...insecure })))
  let claims
  // The resource server's side: the very request the client sends, validated before it is passed on.
  const validateThenSend = async (url, init) => {
    const request = new Request(url, init)
    claims = await oauth.validateJwtAccessToken(as, request.clone(), input.audience, insecure)
    return fetch(request)
  }
  const response = await withNonceRetry(() => oauth.protectedResourceRequest(
    tokens.access_token, 'GET', new URL(input.api_url), undefined, undefined,
    { DPoP, ...insecure, [oauth.customFetch]: validateThenSend }))
  return {
    token_type: tokens.token_type,
    claims,
    api_status: response.status,
    api_body: await response.json()
  }
}

answer(run)
