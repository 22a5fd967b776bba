"""The HTTP edge: the node's services for browsers, mini-programs and standard PKI clients.

``hutong serve`` runs it beside the gRPC server, on its own port (``[edge] listen``, default
``127.0.0.1:7480``; ``"off"`` disables it), with the same TLS certificate (``[server]
tls_cert_file``). ``[edge] public_base_url`` is the address phones and validators reach: it is
printed in QR codes and certificates' OCSP / CRL URLs.

What it serves (one provider module each, listed in ``hutong.edge.app.ROUTE_PROVIDERS``):

- ``connect`` -- every unary RPC as JSON in the Connect protocol's unary shape,
  ``POST /hutong.cert.v1.CertService/Verify``, calling the servicers in-process;
- ``public`` -- cacheable GETs (ETag, Cache-Control): ``/.well-known/jwks.json``, ``/trust-list.jws``,
  ``/crl/seal-ca.crl``, ``/crl/root-ca.crl`` (and ``/crl/<seal CA key label>.crl`` for each seal CA key a
  rollover added), ``/status/<list id>``, ``/v/bundle.json``;
- ``verify_page`` -- the public verification page ``/v#<QR token>`` (checked in the browser) with its
  scripts-off form, and the sealed-PDF check ``/v/pdf``;
- ``tsa`` -- RFC 3161 time stamps, ``POST /tsa``;
- ``ocsp`` -- the seal certificates' OCSP responder, ``POST /ocsp`` and ``GET /ocsp/<base64 request>``;
- ``hutong.oidc.app`` -- the OpenID Connect provider (``/.well-known/openid-configuration``, ``/oidc/...``),
  on when ``[identity] issuer`` is the edge's URL (docs/oidc-platforms.md).

Errors: every endpoint answers with the Connect error JSON (``hutong.edge.errors``) carrying a
stable reason from docs/errors.md; unknown paths, wrong methods, wrong content types, oversized
and malformed bodies included; never a stack trace. Every response carries a strict
Content-Security-Policy (no inline script, no external resources) and the usual hardening headers
(``hutong.edge.app.Guard``).

Mounting more routes (e.g. the OpenID Connect provider): write a module-level function

    def routes(node: Node, settings: EdgeSettings) -> list[starlette.routing.BaseRoute]: ...

and add ``"hutong.oidc.routes:routes"`` (its "module:function") to ``ROUTE_PROVIDERS``. The function
runs once per server process when the app is built; it may keep per-node state in closures. Inside
an endpoint, ``request.app.state.node`` is the ``Node`` and ``request.app.state.settings`` the
``EdgeSettings``; raise ``hutong.errors`` exceptions (they become the JSON error with the right
status), read bodies with ``hutong.edge.http.read_body`` / ``require_content_type`` (bounded,
checked), and run blocking work (database, HSM) with ``anyio.to_thread.run_sync``. Pages must
respect the CSP: scripts and styles as files under a route of your own, no inline ``<script>`` /
``style=``. Tests build the app with ``hutong.edge.app.build_app(node)`` and drive it with ``httpx`` /
``starlette.testclient.TestClient``, or serve it for real with ``hutong.edge.serve.start_edge``.
"""

# Deliberately empty: services import ``hutong.edge.settings`` (URLs printed in QR codes and
# certificates) without loading Starlette; the application lives in ``hutong.edge.app``.
