// node's oidc-provider as the benchmark's reference for the client-credentials grant with JWT access
// tokens (bench/token_endpoint.py runs it beside toegang, on the same CPU, with the same wrk).
//
// One confidential client (client_secret_basic, grant client_credentials), the in-memory store
// (oidc-provider's default adapter), and the resourceIndicators feature with a default resource whose
// tokens are JWTs (RFC 9068) signed with ES256 and carry the scope "authz": the closest oidc-provider
// has to toegang's tokens for its authorization API.
//
//   node bench_client_credentials.mjs <port> <client id> <client secret>
// Once listening it prints "oidc-provider bench listening <issuer>".
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const clientId = process.argv[3] ?? 'bench';
const clientSecret = process.argv[4] ?? 'bench-secret';
const resource = 'urn:toegang:authorization-api';

// Fresh keys each start: RS256 for ID tokens (required), ES256 for the access tokens.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

// bench/wrk_requests.lua sends its pre-formatted requests without a Host header, which gunicorn
// accepts and node refuses by default (400).
const server = createServer({ requireHostHeader: false });
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [{ ...rsa, use: 'sig', alg: 'RS256', kid: 'rs' }, { ...ec, use: 'sig', alg: 'ES256', kid: 'es' }] },
    cookies: { keys: [clientSecret, 'bench-cookie-key'] },
    ttl: { ClientCredentials: 600 },
    scopes: ['authz'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'authz',
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  server.on('request', provider.callback());
  console.log(`oidc-provider bench listening ${issuer}`);
});
