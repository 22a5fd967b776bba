"""The one verification library: what anyone holding public material needs to check Hutong artefacts.

JOSE (``jose``: compact JWS signing input and verification, JWK/JWKS, RFC 7638 thumbprints), X.509 chains
and issuer attributes (``x509``), status-list bits and caches (``statuslist``), identity tokens
(``tokens``), e-certificates (``certs``), sealed-PDF reports (``findings``, ``pdf``).

Used by the services, the SDK, the CLI and the web verifier alike, so it depends only on the error taxonomy
and light libraries (cryptography, asn1crypto): no database, no HSM, no gRPC. ``pdf`` alone needs pyHanko,
and is imported only by who verifies PDFs. Importing this package pulls nothing in.
"""
