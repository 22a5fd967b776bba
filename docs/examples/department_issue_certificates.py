#!/usr/bin/env python3
"""A department (here: a market regulator's issuing system) issues e-certificates and manages them.

    python docs/examples/department_issue_certificates.py --target 127.0.0.1:7443 \\
        --client-id amr-platform --type-code 11100000000013338W011 licences.csv
    (the platform's secret in HUTONG_CLIENT_SECRET; the department must be registered as an issuer
     for the type and linked to this platform by the node operator)

The CSV has a header: holder_id, holder_name, then the type's field names (``hutong cert types``);
optional valid_from, valid_until, predecessor columns. The script

1. issues every row (streamed: per-row outcomes arrive while the node works, shown as progress);
2. verifies the first certificate offline, from the node's trust bundle and its status list;
3. suspends it (暂扣) and shows that the node's verdict and, after the status list is refreshed,
   the offline verdict report the new state.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hutong.cert.v1 import cert_pb2
from hutong.common.v1 import common_pb2
from hutong_client import Hutong


def main(target: str, client_id: str, client_secret: str, type_code: str, csv_path: str | Path, *,
         tls_ca: str | None = None, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    total = max(len(Path(csv_path).read_text(encoding="utf-8-sig").strip().splitlines()) - 1, 0)
    with Hutong(target, client_id=client_id, client_secret=client_secret, tls_ca=tls_ca) as department:
        known = {t.code: t.name for t in department.cert.types()}
        issued: list[str] = []
        failed: list[str] = []
        for response in department.cert.issue_batch(type_code, csv_path):
            for row in response.results:
                if row.reason:
                    failed.append(f"row {row.row}: {row.reason}: {row.message}")
                else:
                    issued.append(row.identifier)
            if progress:
                progress(len(issued) + len(failed), total)
        if not issued:
            return {"type": known.get(type_code, type_code), "issued": [], "failed": failed}

        first = department.cert.get(issued[0])
        offline = department.cert.offline_verifier(refresh=True)
        before = offline.verify(first.jws)
        department.cert.suspend(first.identifier, "example: licence withheld")
        online = department.cert.verify(identifier=first.identifier)
        offline.forget_status_lists()  # the next check fetches a fresh status list
        after = offline.verify(first.jws)
        return {
            "type": known.get(type_code, type_code), "issued": issued, "failed": failed,
            "offline_before": before.verdict, "online_after": common_pb2.Verdict.Name(online.verdict),
            "status_after": cert_pb2.CertStatus.Name(online.certificate.status), "offline_after": after.status,
        }


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default=os.environ.get("HUTONG_TARGET", "127.0.0.1:7443"))
    ap.add_argument("--client-id", default=os.environ.get("HUTONG_CLIENT_ID", ""))
    ap.add_argument("--type-code", required=True)
    ap.add_argument("--tls-ca", default=None)
    ap.add_argument("csv")
    a = ap.parse_args()
    out = main(a.target, a.client_id, os.environ.get("HUTONG_CLIENT_SECRET", ""), a.type_code, a.csv,
               tls_ca=a.tls_ca, progress=_bar)
    print(file=sys.stderr)
    print(out)
    sys.exit(1 if out["failed"] else 0)
