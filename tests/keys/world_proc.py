"""Prepare a node's data directory the way an operator would, in a process of its own.

Usage: ``python -m tests.keys.world_proc DATA_DIR [EXTRA_TOML [DATABASE_URL]]``. The process runs with a clean
environment (no SOFTHSM2_CONF), so the node's SoftHSM token lives inside DATA_DIR as in production: tests can then take
the token away, back it up, restore it elsewhere. Loads a register, adds the portal and the market
regulator's platform, registers the people of ``tests.clients.sdk_world``, registers the regulator as an
issuer of business licences and issues one, which binds the organisation's legal representative (checked).
Prints one JSON object: the platforms' secrets and ids.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hutong.auth import OPERATOR_SCOPE, Principal
from hutong.node import init_node
from hutong.wiring import wire
from tests.clients.sdk_world import ACME, IDENTITY_CONFIG, PASSWORD, PEOPLE, REGULATOR, licence_fields


def main() -> None:
    from cert_svc import catalogue, issuance, issuers
    from cert_svc.records import Holder
    from identity_svc import platforms, registers
    from identity_svc.core import Identity
    from identity_svc.orgs import my_organisations
    from identity_svc.persons import find_person, register_person

    data_dir = Path(sys.argv[1])
    extra = sys.argv[2] if len(sys.argv) > 2 else ""
    database = f'database_url = "{sys.argv[3]}"\n' if len(sys.argv) > 3 and sys.argv[3] else ""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "hutong.toml").write_text(database + '[node]\nid = "prov-k"\nname = "Province K"\n\n'
                                          '[server]\nhealth_interval_seconds = 0.2\n\n[edge]\nlisten = "off"\n'
                                          + IDENTITY_CONFIG + extra)
    # Wired as the server and the command line wire a node: without identity's peer the licence below would bind
    # no legal representative, and the organisation would appear only with the first licence issued under load --
    # racing the load's first look at the representative's organisations (an empty list, once taken for a
    # blind-index rollover defect).
    node = wire(init_node(data_dir))
    idn = Identity.of(node)
    people, orgs = data_dir.parent / "people.csv", data_dir.parent / "orgs.csv"
    people.write_text("name,id_number\n" + "".join(f"{n},{i}\n" for i, n in PEOPLE.items()), encoding="utf-8")
    orgs.write_text(f"name,uscc,representative_name,representative_id_number\n{ACME[1]},{ACME[0]},张三,"
                    f"{next(iter(PEOPLE))}\n", encoding="utf-8")
    registers.import_csv(idn, people)
    registers.import_csv(idn, orgs)
    portal = platforms.add_platform(idn, client_id="portal", name="Portal", scopes=["openid", "profile"])
    regulator = platforms.add_platform(idn, client_id="amr-platform", name="Market regulator")
    ops = platforms.add_platform(idn, client_id="ops", name="Node operator", scopes=["openid", OPERATOR_SCOPE])
    for number, name in PEOPLE.items():
        register_person(idn, portal.info, id_number=number, name=name, password=PASSWORD)
    operator = Principal(kind="platform", subject="ops", platform="ops", scopes=("openid", OPERATOR_SCOPE))
    issuers.register(node, operator, uscc=REGULATOR[0], name=REGULATOR[1], type_codes=[catalogue.BUSINESS_LICENCE],
                     platform_client_id="amr-platform")
    cert = issuance.issue(node, Principal(kind="platform", subject="amr-platform", platform="amr-platform"),
                          issuance.IssueRequest(type_code=catalogue.BUSINESS_LICENCE,
                                                holder=Holder(kind="organisation", id=ACME[0], name=ACME[1]),
                                                fields=licence_fields()))
    with node.db.session(readonly=True) as s:
        representative = find_person(idn, s, next(iter(PEOPLE)))
    assert representative is not None
    assert [o.uscc for o in my_organisations(idn, representative.id)] == [ACME[0]], "the licence bound no one"
    node.close()
    print(json.dumps({"portal_secret": portal.client_secret, "regulator_secret": regulator.client_secret,
                      "ops_secret": ops.client_secret, "licence_type": catalogue.BUSINESS_LICENCE,
                      "certificate_id": cert.identifier}))


if __name__ == "__main__":
    main()
