"""gRPC <-> domain: converts messages, authenticates the caller, calls the domain. Nothing else."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from hutong import convert
from hutong.common.v1 import common_pb2
from hutong.convert import timestamp
from hutong.identity.v1 import identity_pb2 as pb
from hutong.identity.v1 import identity_pb2_grpc as pb_grpc
from hutong.rpc import metadata_dict
from identity_svc import federation, login, orgs, persons, sessions
from identity_svc.authn import TokenAuthenticator
from identity_svc.core import Identity
from identity_svc.sessions import TokenSet

Ctx: TypeAlias = grpc.ServicerContext

_LEVEL_TO_PB = {"low": common_pb2.LEVEL_OF_ASSURANCE_LOW, "substantial": common_pb2.LEVEL_OF_ASSURANCE_SUBSTANTIAL,
                "high": common_pb2.LEVEL_OF_ASSURANCE_HIGH}
_ROLE_TO_PB = {orgs.ADMINISTRATOR: pb.GRANT_ROLE_ADMINISTRATOR, orgs.STAFF: pb.GRANT_ROLE_STAFF}
_ROLE_FROM_PB = {v: k for k, v in _ROLE_TO_PB.items()}


def _tokens(t: TokenSet) -> pb.TokenSet:
    return pb.TokenSet(access_token=t.access_token, id_token=t.id_token, refresh_token=t.refresh_token,
                       token_type="Bearer", expires_in=t.expires_in, acr=_LEVEL_TO_PB[t.acr], amr=list(t.amr),
                       subject=t.subject, scopes=list(t.scopes))


def _grant(g: orgs.GrantView) -> pb.Grant:
    return pb.Grant(grant_id=g.grant_id, uscc=g.uscc, person_masked_id=g.person_masked_id,
                    person_name=g.person_name, role=_ROLE_TO_PB[g.role], all_matters=g.all_matters,
                    matters=list(g.matters), valid_from=timestamp(g.valid_from), valid_until=timestamp(g.valid_until),
                    revoke_time=timestamp(g.revoked_at), in_force=g.in_force)


def _org(o: orgs.OrgView) -> pb.Organisation:
    return pb.Organisation(uscc=o.uscc, name=o.name, roles=list(o.roles))


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(self, idn: Identity, authn: TokenAuthenticator) -> None:
        self.idn, self.authn = idn, authn

    def RegisterPerson(self, request: pb.RegisterPersonRequest, context: Ctx) -> pb.RegisterPersonResponse:
        platform = self.authn.platform(metadata_dict(context))
        person_id = persons.register_person(self.idn, platform, id_number=request.id_number, name=request.name,
                                            password=request.password)
        return pb.RegisterPersonResponse(subject=sessions.subject_for(self.idn, person_id, platform))

    def CreateLoginChallenge(self, request: pb.CreateLoginChallengeRequest,
                             context: Ctx) -> pb.CreateLoginChallengeResponse:
        platform = self.authn.platform(metadata_dict(context))
        ch = login.create_challenge(self.idn, platform, request.id_number)
        return pb.CreateLoginChallengeResponse(challenge_id=ch.challenge_id, to_sign=ch.to_sign,
                                               expire_time=timestamp(ch.expires_at))

    def Login(self, request: pb.LoginRequest, context: Ctx) -> pb.LoginResponse:
        platform = self.authn.platform(metadata_dict(context))
        key = request.key_signature if request.HasField("key_signature") else None
        req = login.LoginRequest(id_number=request.id_number, password=request.password,
                                 totp_code=request.totp_code, challenge_id=key.challenge_id if key else "",
                                 signature=key.signature if key else b"", scopes=tuple(request.scopes),
                                 nonce=request.nonce)
        return pb.LoginResponse(tokens=_tokens(login.login(self.idn, platform, req)))

    def RefreshToken(self, request: pb.RefreshTokenRequest, context: Ctx) -> pb.RefreshTokenResponse:
        platform = self.authn.platform(metadata_dict(context))
        return pb.RefreshTokenResponse(tokens=_tokens(sessions.refresh(self.idn, platform, request.refresh_token)))

    def RevokeToken(self, request: pb.RevokeTokenRequest, context: Ctx) -> pb.RevokeTokenResponse:
        sessions.revoke(self.idn, self.authn.platform(metadata_dict(context)), request.token)
        return pb.RevokeTokenResponse()

    def IntrospectToken(self, request: pb.IntrospectTokenRequest, context: Ctx) -> pb.IntrospectTokenResponse:
        platform = self.authn.platform(metadata_dict(context))
        result = sessions.introspect(self.idn, platform, request.token)
        if result.check is None:
            return pb.IntrospectTokenResponse(active=False, inactive_reason=result.inactive_reason)
        c, f = result.check.claims, result.check.family
        return pb.IntrospectTokenResponse(
            active=True, subject=c["sub"], client_id=f.client_id, acr=_LEVEL_TO_PB[f.acr], amr=f.amr.split(),
            scopes=f.scopes.split(), issue_time=timestamp(c["iat"]), expire_time=timestamp(c["exp"]),
            org_uscc=f.org_uscc or "", roles=list(result.check.roles))

    def GetJwks(self, request: pb.GetJwksRequest, context: Ctx) -> pb.GetJwksResponse:
        return pb.GetJwksResponse(jwks_json=self.idn.signer.jwks_json(), issuer=self.idn.settings.issuer)

    def BeginTotpEnrolment(self, request: pb.BeginTotpEnrolmentRequest,
                           context: Ctx) -> pb.BeginTotpEnrolmentResponse:
        who = self.authn.person(metadata_dict(context), min_acr="substantial")
        e = persons.begin_totp(self.idn, who.subject)
        return pb.BeginTotpEnrolmentResponse(secret_base32=e.secret_base32, otpauth_uri=e.otpauth_uri,
                                             digits=e.digits, period_seconds=e.period_seconds)

    def ConfirmTotpEnrolment(self, request: pb.ConfirmTotpEnrolmentRequest,
                             context: Ctx) -> pb.ConfirmTotpEnrolmentResponse:
        who = self.authn.person(metadata_dict(context), min_acr="substantial")
        persons.confirm_totp(self.idn, who.subject, request.code)
        return pb.ConfirmTotpEnrolmentResponse()

    def RegisterPublicKey(self, request: pb.RegisterPublicKeyRequest, context: Ctx) -> pb.RegisterPublicKeyResponse:
        who = self.authn.person(metadata_dict(context), min_acr="substantial")
        kid = persons.register_public_key(self.idn, who.subject, public_key_pem=request.public_key_pem,
                                          certificate=request.certificate)
        return pb.RegisterPublicKeyResponse(key_id=kid)

    def CreateFederationAssertion(self, request: pb.CreateFederationAssertionRequest,
                                  context: Ctx) -> pb.CreateFederationAssertionResponse:
        check = self.authn.access(metadata_dict(context))
        token = federation.issue(self.idn, check, audience_node=request.audience_node)
        return pb.CreateFederationAssertionResponse(assertion=token)

    def ExchangeFederationAssertion(self, request: pb.ExchangeFederationAssertionRequest,
                                    context: Ctx) -> pb.ExchangeFederationAssertionResponse:
        platform = self.authn.platform(metadata_dict(context))
        return pb.ExchangeFederationAssertionResponse(tokens=_tokens(federation.accept(self.idn, platform,
                                                                                      request.assertion)))

    def LogoutEverywhere(self, request: pb.LogoutEverywhereRequest, context: Ctx) -> pb.LogoutEverywhereResponse:
        who = self.authn.person(metadata_dict(context))
        return pb.LogoutEverywhereResponse(sessions_ended=sessions.logout_everywhere(self.idn, who.subject))


class OrganisationServicer(pb_grpc.OrganisationServiceServicer):
    def __init__(self, idn: Identity, authn: TokenAuthenticator) -> None:
        self.idn, self.authn = idn, authn

    def _person_id(self, context: Ctx) -> str:
        return self.authn.person(metadata_dict(context)).subject

    def RegisterOrganisation(self, request: pb.RegisterOrganisationRequest,
                             context: Ctx) -> pb.RegisterOrganisationResponse:
        who = self.authn.person(metadata_dict(context), min_acr="substantial")
        org = orgs.register_organisation(self.idn, who.subject, uscc=request.uscc, name=request.name)
        return pb.RegisterOrganisationResponse(organisation=_org(org))

    def CreateGrant(self, request: pb.CreateGrantRequest, context: Ctx) -> pb.CreateGrantResponse:
        actor = self._person_id(context)
        spec = orgs.GrantSpec(uscc=request.uscc, id_number=request.id_number,
                              role=_ROLE_FROM_PB.get(request.role, ""), all_matters=request.all_matters,
                              matters=tuple(request.matters), valid_from=convert.optional_epoch(request, "valid_from"),
                              valid_until=convert.optional_epoch(request, "valid_until"))
        return pb.CreateGrantResponse(grant=_grant(orgs.create_grant(self.idn, actor, spec)))

    def RevokeGrant(self, request: pb.RevokeGrantRequest, context: Ctx) -> pb.RevokeGrantResponse:
        g = orgs.revoke_grant(self.idn, self._person_id(context), uscc=request.uscc, grant_id=request.grant_id)
        return pb.RevokeGrantResponse(grant=_grant(g))

    def ListGrants(self, request: pb.ListGrantsRequest, context: Ctx) -> pb.ListGrantsResponse:
        page = convert.page(request.page)
        offset, limit = page.offset, page.size
        grants, more = orgs.list_grants(self.idn, self._person_id(context), uscc=request.uscc, offset=offset,
                                        limit=limit)
        return pb.ListGrantsResponse(grants=[_grant(g) for g in grants], page=common_pb2.PageResponse(
            next_page_token=convert.next_offset_token(offset, limit, more)))

    def ListMyOrganisations(self, request: pb.ListMyOrganisationsRequest,
                            context: Ctx) -> pb.ListMyOrganisationsResponse:
        views = orgs.my_organisations(self.idn, self._person_id(context))
        return pb.ListMyOrganisationsResponse(organisations=[_org(o) for o in views])

    def SwitchOrganisation(self, request: pb.SwitchOrganisationRequest, context: Ctx) -> pb.SwitchOrganisationResponse:
        check = self.authn.access(metadata_dict(context))
        return pb.SwitchOrganisationResponse(tokens=_tokens(sessions.switch_organisation(self.idn, check,
                                                                                          request.uscc)))
