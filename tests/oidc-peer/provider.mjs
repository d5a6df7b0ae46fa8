// An independent OpenID Connect provider for toegang's tests and demo: the npm package oidc-provider,
// standing in for itsme or the federal login. It is not a mock: discovery, the authorization-code
// flow with PKCE, signed ID tokens and userinfo are oidc-provider's own.
//
// Configuration by environment (every value has a default that fits `make run` on port 8000):
//   OIDC_PEER_PORT            port on 127.0.0.1; 0 picks a free one (argv[2] wins over the variable)
//   OIDC_PEER_CLIENT_ID       the one client's id                      (toegang)
//   OIDC_PEER_CLIENT_SECRET   its secret                               (toegang-demo-secret)
//   OIDC_PEER_REDIRECT_URIS   comma-separated redirect URIs            (toegang's callbacks on :8000)
//   OIDC_PEER_SSIN_CLAIM      the name of the INSZ claim               (ssin)
//   OIDC_PEER_ACCOUNTS        JSON {"<account id>": {<claims>}}; the dev login form accepts any
//                             password; an id not listed here has no account.
// The scope "ssin" releases the INSZ claim, "profile" the names. Once listening it prints one line,
// "oidc-peer listening <issuer>", which the tests wait for.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OIDC_PEER_PORT ?? 9000);
const clientId = process.env.OIDC_PEER_CLIENT_ID || 'toegang';
const clientSecret = process.env.OIDC_PEER_CLIENT_SECRET || 'toegang-demo-secret';
// toegang's URLs carry the language, so its callback has one address per language.
const defaultRedirectUris = ['nl', 'fr', 'de', 'en']
  .map((lang) => `http://127.0.0.1:8000/${lang}/accounts/oidc/itsme/login/callback/`).join(',');
const redirectUris = (process.env.OIDC_PEER_REDIRECT_URIS || defaultRedirectUris)
  .split(',').map((u) => u.trim()).filter(Boolean);
const ssinClaim = process.env.OIDC_PEER_SSIN_CLAIM || 'ssin';
const accounts = JSON.parse(process.env.OIDC_PEER_ACCOUNTS || '{}');

// A fresh signing key each start, so that nothing secret is stored in the repository.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'peer-1' };

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: [clientSecret, 'oidc-peer-cookie-key'] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name'],
      ssin: [ssinClaim],
    },
    features: { devInteractions: { enabled: true } },
    // PKCE on every authorization request, confidential client or not.
    pkce: { required: () => true },
    async findAccount(_ctx, sub) {
      if (!Object.hasOwn(accounts, sub)) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...accounts[sub], sub };
        },
      };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`oidc-peer listening ${issuer}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
