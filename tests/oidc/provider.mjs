// A real OpenID Connect provider for cardid's tests: node's oidc-provider, configured from
// a JSON file (issuer, port, the client, the accounts and their claims, the signing key).
// Its development log-in form takes any account name; the password field is ignored.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const conf = JSON.parse(readFileSync(process.argv[2], "utf8"));

const provider = new Provider(conf.issuer, {
  clients: [
    {
      client_id: conf.client_id,
      client_secret: conf.client_secret,
      redirect_uris: conf.redirect_uris,
      post_logout_redirect_uris: conf.post_logout_redirect_uris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    groups: ["groups"],
  },
  scopes: ["openid", "profile", "email", "groups"],
  // Claims in the ID token itself, as Entra ID and Google put them there.
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, ...(conf.accounts[id] || {}) }),
  }),
  jwks: { keys: [conf.jwk] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  loadExistingGrant: async (ctx) => {
    // Consent is given: the tests sign in, they do not review scopes.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid profile email groups");
    await grant.save();
    return grant;
  },
});
provider.proxy = true;
provider.listen(conf.port, "127.0.0.1", () => {
  process.stdout.write(`listening ${conf.port}\n`);
});
