"""identity_svc: unified identity for citizens and businesses, tokens any platform can verify.

Modules: ``registers`` (real-name register adapter + CSV import), ``platforms`` (relying platforms),
``persons`` (registration, TOTP, holder keys), ``login`` (levels of assurance, throttling),
``sessions`` (tokens, refresh rotation, revocation), ``orgs`` (legal persons, grants),
``authn`` (``TokenAuthenticator``: gRPC metadata -> ``Principal``, used by every service),
``federation`` (assertions between nodes), ``backchannel`` (OpenID Connect Back-Channel Logout when sessions end;
the OpenID Connect provider itself is ``hutong.oidc``).

In-process use (other services' tests; ``tests/identity/test_in_process.py`` runs this recipe): the
ordinary domain API on an ``Identity``::

    from identity_svc import login, orgs, persons, platforms, registers, sessions
    from identity_svc.authn import TokenAuthenticator
    from identity_svc.core import Identity

    idn = Identity.of(node)
    with node.db.session() as s:                       # the embedded register
        registers.TableRegister(idn).add_person(s, "11010519491231002X", "张三")
        registers.TableRegister(idn).add_organisation(s, "91350100M000100Y43", "某某公司", "11010519491231002X")
    portal = platforms.add_platform(idn, client_id="portal", name="Portal", scopes=["openid", "profile"],
                                    required_acr="substantial")
    person_id = persons.register_person(idn, portal.info, id_number="11010519491231002X", name="张三",
                                        password="correct horse 1")
    tokens = login.login(idn, portal.info, login.LoginRequest("11010519491231002X", "correct horse 1"))
    metadata = {"authorization": f"Bearer {tokens.access_token}"}    # -> a person Principal
    orgs.register_organisation(idn, person_id, uscc="91350100M000100Y43", name="某某公司")
    check = sessions.verify_access_token(idn, tokens.access_token, audience=None)
    org_tokens = sessions.switch_organisation(idn, check, "91350100M000100Y43")   # org-context token
    principal = TokenAuthenticator(idn).authenticate({"authorization": f"Bearer {org_tokens.access_token}"})

Platform principals: ``{"x-hutong-client-id": portal.info.client_id, "x-hutong-client-secret":
portal.client_secret}``; the node operator is a platform registered with ``hutong.auth.OPERATOR_SCOPE``
(``scopes=["openid", "node:operate"]``). For fast tests set ``[identity] argon2_time_cost = 1``,
``argon2_memory_kib = 1024``; ``tests/identity_fixtures.py`` wraps this recipe for other suites.
"""
