// What the oauth4webapi scripts share: stdin/stdout JSON, discovery over plain HTTP (the tests' live
// server runs on http://127.0.0.1), and retrying once when the server asks for a DPoP nonce.
import * as oauth from 'oauth4webapi'

export async function readInput () {
  return JSON.parse(await new Promise((resolve) => {
    let data = ''
    process.stdin.on('data', (chunk) => { data += chunk })
    process.stdin.on('end', () => resolve(data))
  }))
}

export const insecure = { [oauth.allowInsecureRequests]: true }

export async function discover (issuerUrl) {
  const issuer = new URL(issuerUrl)
  const response = await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' })
  return oauth.processDiscoveryResponse(issuer, response)
}

// RFC 9449 §8: a use_dpop_nonce answer carries DPoP-Nonce; the DPoP handle remembers it, and the
// request is sent once more.
export async function withNonceRetry (call) {
  try {
    return await call()
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) return call()
    throw err
  }
}

export function answer (run) {
  run().then((result) => {
    process.stdout.write(JSON.stringify(result))
  }, (err) => {
    process.stdout.write(JSON.stringify({
      error: err.error ?? err.code ?? err.name,
      error_description: err.error_description ?? err.message,
      status: err.status ?? err.cause?.status,
      name: err.name,
      message: err.message
    }))
  })
}
