#!/usr/bin/env python3
"""A relying platform logs a person in and seals a contract for the person's company.

    python docs/examples/platform_login_and_seal.py --target 127.0.0.1:7443 \\
        --client-id portal --org-uscc 91350100M000100Y43 \\
        --org-name 福州阿克米有限公司 contract.pdf contract-sealed.pdf
    (the platform's secret in HUTONG_CLIENT_SECRET, the person's password in HUTONG_PASSWORD and ID number in
    HUTONG_ID_NUMBER: personal data never goes on a command line, where `ps` shows it to everyone)

1. the platform logs the person in (a ``Session``: its tokens refresh themselves) and checks the ID
   token offline against the node's JWKS;
2. the person, the company's legal representative, registers the company at the node (first time
   only), switches into it and creates a contract seal (key inside the node's HSM) if it has none,
   then grants the platform the use of that seal;
3. the platform seals the PDF (PAdES B-T: visible seal, timestamp from the node's TSA) and verifies
   the result twice: by the node, and offline from the node's trust material (root, seal CA, CRLs).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hutong.common.v1 import common_pb2
from hutong.seal.v1 import seal_pb2
from hutong_client import Hutong


def main(target: str, client_id: str, client_secret: str, id_number: str, password: str, org_uscc: str,
         org_name: str, pdf_in: str | Path, pdf_out: str | Path, *, tls_ca: str | None = None) -> dict[str, Any]:
    with Hutong(target, client_id=client_id, client_secret=client_secret, tls_ca=tls_ca) as platform:
        session = platform.login(id_number, password)
        claims = platform.identity.verify_id_token(session.tokens.id_token)
        person = platform.as_person(session)

        if org_uscc not in {o.uscc for o in person.identity.my_organisations()}:
            person.identity.register_organisation(org_uscc, org_name)
        company = platform.as_person(platform.identity.session(person.identity.switch_organisation(org_uscc)))
        seals = [s for s in company.seal.list_seals(org_uscc) if s.type == seal_pb2.SEAL_TYPE_CONTRACT
                 and s.status == seal_pb2.SEAL_STATUS_ACTIVE]
        seal = seals[0] if seals else company.seal.create_seal(org_uscc=org_uscc, type=seal_pb2.SEAL_TYPE_CONTRACT)
        company.seal.grant(seal.seal_id, grantee=client_id, kind=seal_pb2.GRANTEE_KIND_PLATFORM, max_uses=1)

        result = platform.seal.sign(pdf_in, pdf_out, seal.seal_id, reason="合同签署", location="福州",
                                    placement=seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120))
        online = platform.seal.verify(pdf_out)
        offline = platform.seal.offline_verifier().verify(pdf_out)
        return {
            "subject": claims["sub"], "acr": claims["acr"], "seal_id": seal.seal_id, "field": result.field_name,
            "sha256": result.output_sha256, "verdict": common_pb2.Verdict.Name(online.verdict),
            "offline_verdict": offline.verdict.value,
        }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default=os.environ.get("HUTONG_TARGET", "127.0.0.1:7443"))
    ap.add_argument("--client-id", default=os.environ.get("HUTONG_CLIENT_ID", ""))
    ap.add_argument("--org-uscc", required=True)
    ap.add_argument("--org-name", default="")
    ap.add_argument("--tls-ca", default=None)
    ap.add_argument("pdf_in")
    ap.add_argument("pdf_out")
    a = ap.parse_args()
    out = main(a.target, a.client_id, os.environ.get("HUTONG_CLIENT_SECRET", ""),
               os.environ.get("HUTONG_ID_NUMBER", ""),
               os.environ.get("HUTONG_PASSWORD", ""), a.org_uscc, a.org_name, a.pdf_in, a.pdf_out, tls_ca=a.tls_ca)
    print(out)
    sys.exit(0 if out["verdict"] == "VERDICT_VALID" else 1)
