"""Sign-in with the organisation's identity provider (OpenID Connect, SPEC §12), through
Authlib: the provider found by discovery, the authorization code flow with PKCE (S256), and
the ID token checked — its signature against the provider's JWKS, the issuer, the audience
(our client ID), the expiry and the nonce of this sign-in. Who the person is in cardid the
doors decide, from the claims returned here: a signed-in person is never created.

Nothing here fails with a 500: a provider that cannot be reached, answers badly or sends a
token that does not check out is a SignInError with words for the page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import OAuth
from joserfc.errors import JoseError

from cardid.config import services as config
from cardid.errors import CardidError

TIMEOUT = 10  # seconds for each request to the provider
DOOR_KEY = "oidc-door"
ID_TOKEN_KEY = "oidc-signed-in"


class SignInError(CardidError):
    """Single sign-on did not work; the message says why, for the person signing in."""


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    name: str
    username_claim: str
    portal: bool
    console: bool
    admin_group: str
    local_login: bool

    def on_for(self, door: str) -> bool:
        """Single sign-on is offered at this door ("portal" or "console")."""
        return bool(self.issuer and self.client_id and getattr(self, door))


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    username: str
    groups: tuple[str, ...]
    subject: str

    def in_group(self, group: str) -> bool:
        wanted = group.strip().casefold()
        return bool(wanted) and any(g.strip().casefold() == wanted for g in self.groups)


def settings() -> Settings:
    o = config.get_many(
        "auth.oidc.issuer",
        "auth.oidc.client-id",
        "auth.oidc.name",
        "auth.oidc.username-claim",
        "auth.oidc.portal",
        "auth.oidc.console",
        "auth.oidc.admin-group",
        "auth.local-login",
    )
    return Settings(
        issuer=o["auth.oidc.issuer"].rstrip("/"),
        client_id=o["auth.oidc.client-id"],
        name=o["auth.oidc.name"],
        username_claim=o["auth.oidc.username-claim"],
        portal=o["auth.oidc.portal"],
        console=o["auth.oidc.console"],
        admin_group=o["auth.oidc.admin-group"],
        local_login=o["auth.local-login"],
    )


def discovery_url(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/.well-known/openid-configuration"


def _secret() -> str:
    """The client secret, read only when talking to the provider: a log-in page never
    fails because the secret cannot be opened."""
    try:
        return config.get("auth.oidc.client-secret")
    except CardidError as e:
        raise SignInError(f"the client secret cannot be read: {e}") from None


def _client(s: Settings):
    return OAuth().register(
        "oidc",
        client_id=s.client_id,
        client_secret=_secret(),
        server_metadata_url=discovery_url(s.issuer),
        client_kwargs={"code_challenge_method": "S256", "default_timeout": TIMEOUT},
    )


def _metadata(client, s: Settings) -> dict:
    """The provider's discovery document, checked; SignInError when it is not usable."""
    try:
        meta = client.load_server_metadata()
    except requests.HTTPError as e:
        raise SignInError(
            f"{s.issuer} has no OpenID Connect discovery document ({discovery_url(s.issuer)} "
            f"answered {e.response.status_code if e.response is not None else 'badly'}); "
            "check the issuer URL"
        ) from None
    except requests.RequestException as e:
        raise SignInError(f"{s.name} cannot be reached at {s.issuer} ({_reason(e)})") from None
    except ValueError:
        raise SignInError(
            f"{s.issuer} has no OpenID Connect discovery document "
            f"({discovery_url(s.issuer)} is not one); check the issuer URL"
        ) from None
    missing = [
        k
        for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(meta, dict) or not meta.get(k)
    ]
    if missing:
        raise SignInError(
            f"the discovery document of {s.issuer} lacks {', '.join(missing)}; check the issuer URL"
        )
    if meta["issuer"].rstrip("/") != s.issuer:
        raise SignInError(
            f"the provider calls itself {meta['issuer']}, not {s.issuer}; set the issuer URL "
            "to exactly what it says"
        )
    return meta


def _reason(e: Exception) -> str:
    text = str(e)
    if isinstance(e, requests.Timeout):
        return f"no answer within {TIMEOUT} s"
    if "refused" in text.lower():
        return "connection refused"
    if isinstance(e, requests.exceptions.SSLError):
        return "its certificate is not trusted"
    return text[:200] or type(e).__name__


def begin(request, *, door: str, callback_url: str):
    """The redirect to the provider's sign-in page, this sign-in's state, nonce and PKCE
    verifier kept in the session."""
    s = settings()
    if not s.on_for(door):
        raise SignInError("single sign-on is not switched on here; sign in with your password")
    client = _client(s)
    meta = _metadata(client, s)
    scopes = ["openid", "profile", "email"]
    if "groups" in (meta.get("scopes_supported") or []):
        scopes.append("groups")
    request.session[DOOR_KEY] = door
    return client.authorize_redirect(
        request, callback_url, scope=" ".join(scopes), nonce=secrets.token_urlsafe(24)
    )


def finish(request, *, door: str) -> Identity:
    """The person the provider signed in, from an ID token that checks out."""
    s = settings()
    if not s.on_for(door) or request.session.pop(DOOR_KEY, None) != door:
        raise SignInError("this sign-in was not started here; start again from the log-in page")
    client = _client(s)
    _metadata(client, s)
    try:
        token = client.authorize_access_token(request)
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise SignInError(f"{s.name} sent no ID token; cardid needs one to know who you are")
        if s.username_claim not in claims:
            claims.update(client.userinfo(token=token))
    except SignInError:
        raise
    except JoseError as e:
        raise SignInError(f"the ID token from {s.name} was refused: {_jose_words(e)}") from None
    except AuthlibBaseError as e:
        # The provider's words, which come back in the URL: kept short.
        words = (e.description or e.error or type(e).__name__)[:200]
        raise SignInError(f"{s.name} did not sign you in: {words}") from None
    except requests.RequestException as e:
        raise SignInError(f"{s.name} cannot be reached ({_reason(e)})") from None
    username = claims.get(s.username_claim)
    if not isinstance(username, str) or not username.strip():
        raise SignInError(
            f"{s.name} did not say who you are: its answer has no {s.username_claim!r} claim "
            "(Options › General › Sign-in › Username claim)"
        )
    groups = claims.get("groups") or []
    return Identity(
        username=username.strip(),
        groups=tuple(str(g) for g in groups if isinstance(g, str | int)),
        subject=str(claims.get("sub", "")),
    )


def _jose_words(e: JoseError) -> str:
    kind = type(e).__name__
    if "Expired" in kind:
        return "it has expired"
    if "Signature" in kind or "KeyId" in kind:
        return "its signature does not match the provider's keys"
    if "Claim" in kind:
        return e.description or "one of its claims (issuer, audience, nonce) is wrong"
    return e.description or kind


def end_session_url(*, return_to: str) -> str | None:
    """The provider's sign-out page, returning here, or None when it has none."""
    s = settings()
    if not s.issuer:
        return None
    try:
        meta = _metadata(_client(s), s)
    except SignInError:
        return None
    end = meta.get("end_session_endpoint")
    if not end:
        return None
    query = urlencode({"client_id": s.client_id, "post_logout_redirect_uri": return_to})
    return f"{end}{'&' if '?' in end else '?'}{query}"


def check() -> str:
    """What "Test sign-in settings" and `cardid check` say: the discovery document, the
    keys and the client's credentials (an exchange of a code that cannot be valid: the
    provider says whether it knows the client before it looks at the code)."""
    s = settings()
    if not (s.issuer and s.client_id):
        raise SignInError("no issuer URL or client ID is set (Options › General › Sign-in)")
    meta = _metadata(_client(s), s)
    try:
        keys = requests.get(meta["jwks_uri"], timeout=TIMEOUT).json().get("keys")
    except (requests.RequestException, ValueError, AttributeError) as e:
        raise SignInError(f"the provider's keys ({meta['jwks_uri']}) cannot be read: {e}") from None
    if not keys:
        raise SignInError(f"the provider publishes no signing keys at {meta['jwks_uri']}")
    try:
        r = requests.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": "cardid-settings-test",
                "redirect_uri": "https://cardid.invalid/",
            },
            auth=(s.client_id, _secret()),
            timeout=TIMEOUT,
        )
        error = r.json().get("error", "") if r.content else ""
    except (requests.RequestException, ValueError, AttributeError) as e:
        raise SignInError(f"the token endpoint does not answer: {_reason(e)}") from None
    if error == "invalid_client" or r.status_code == 401:
        raise SignInError(
            f"{s.name} refused the client ID or the client secret; copy them again from the "
            "provider's registration of cardid"
        )
    return (
        f"{s.name} at {s.issuer}: discovery document, {len(keys)} signing key(s) and the "
        "client's credentials accepted"
    )
