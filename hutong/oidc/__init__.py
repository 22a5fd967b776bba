"""OpenID Connect provider: platforms log people in with the protocol they already speak.

Every node is an OpenID provider over its identity service -- the same accounts, levels of assurance,
pairwise subjects, ES256 tokens signed in the HSM (same JWKS), throttling, session families with refresh
rotation and reuse detection as the gRPC ``IdentityService``. Modules: ``app`` (Starlette endpoints, mounted
into the HTTP edge by ``routes(node)``), ``provider`` (authlib's authorization server, PKCE S256 required),
``flow`` (pending logins, browser sessions, codes, logout), ``pages`` (the login pages), ``models``.
Back-channel logout is ``identity_svc.backchannel`` (gRPC revocation and logout-everywhere send it too).
"""
