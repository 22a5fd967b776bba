"""``hutong demo``: a hub and two provinces on loopback run the scenario of DESIGN.md §9.

Each node is its own ``hutong serve`` process with its own data directory, SoftHSM2 token and SQLite
database; operators' steps use the ``hutong`` commands, everything else the client SDK. Exits non-zero
(and says why) if any step fails. ``--out DIR`` keeps the artefacts.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives.asymmetric import ec

from hutong.demo.cluster import DemoFailure, LocalNode
from hutong.demo.scenario import STATUS_TTL, Scenario

STEPS = (
    ("The hub publishes a trust list naming provinces A and B", Scenario.step1_trust_list),
    ("A citizen registers at A and logs in at level high", Scenario.step2_register_at_a),
    ("The citizen uses a platform attached to B without registering again", Scenario.step3_recognised_at_b),
    ("A's market regulator issues an electronic business licence", Scenario.step4_business_licence),
    ("The citizen, for the company, creates its official seal and grants it", Scenario.step5_company_seal),
    ("A staff member seals a contract at A (PAdES B-T)", Scenario.step6_seal_contract),
    ("B verifies the contract and the licence; A suspends the licence", Scenario.step7_verify_at_b),
    ("B issues a diploma; a platform at A fetches it through the hub", Scenario.step8_diploma_through_the_hub),
)

MEMBER_CONFIG = (f"[cert]\nstatus_list_ttl = {STATUS_TTL}\n\n[identity]\nargon2_time_cost = 2\n"
                 "argon2_memory_kib = 19456\n\n")


def _nodes(base: Path) -> tuple[LocalNode, LocalNode, LocalNode]:
    return (LocalNode("hub", "国家枢纽 National hub", base / "hub"),
            LocalNode("prov-a", "A省 Province A", base / "prov-a"),
            LocalNode("prov-b", "B省 Province B", base / "prov-b"))


def _prepare(scenario: Scenario) -> None:
    hub, a, b = scenario.hub, scenario.a, scenario.b
    with ThreadPoolExecutor(3) as pool:  # three independent tokens and PKIs: prepare them side by side
        list(pool.map(lambda job: job[0].init(job[1]), [(hub, ""), (a, MEMBER_CONFIG), (b, MEMBER_CONFIG)]))
    people = scenario.out / "people-a.csv"
    people.write_text("name,id_number\n张三,11010519491231002X\n李四,110102199101010078\n", encoding="utf-8")
    a.hutong("registry", "import", str(people))
    scenario.platform(a, "portal-a", "--name", "A省政务服务网", "--scope", "openid", "--scope", "profile")
    scenario.platform(a, "ops-a", "--name", "A省节点运营", "--scope", "node:operate")
    scenario.platform(a, "amr-a", "--name", "A省市场监管业务系统")
    scenario.platform(b, "service-b", "--name", "B省高等级业务平台", "--required-level", "high")
    scenario.platform(b, "ops-b", "--name", "B省节点运营", "--scope", "node:operate")
    scenario.platform(b, "edu-b", "--name", "B省教育业务系统")


def run(out: Path | None = None, *, stream: TextIO | None = None) -> int:
    """Run the scenario; 0 when every step passed, 1 when one failed.

    With ``out`` the artefacts and the nodes' logs (``out/logs/``) are kept there; without it nothing
    is left behind."""
    write = (stream or sys.stdout).write
    base = Path(tempfile.mkdtemp(prefix="hutong-demo-"))
    keep = out is not None
    out = out or base / "out"
    out.mkdir(parents=True, exist_ok=True)
    hub, a, b = _nodes(base / "nodes")
    scenario = Scenario(hub, a, b, out, say=lambda text: write(f"   {text}\n"))
    scenario.facts["holder_key"] = ec.generate_private_key(ec.SECP256R1())
    started = time.monotonic()
    try:
        write("Preparing a hub and two province nodes (own SoftHSM2 token, database and PKI each) ...\n")
        _prepare(scenario)
        hub.start()
        _export_node_certificates(scenario)
        for number, (title, step) in enumerate(STEPS, start=1):
            if number == 2:  # members start once they hold the trust list (step 1)
                a.start()
                b.start()
                _pick_types(scenario)
            write(f"{number}. {title}\n")
            step(scenario)
    except DemoFailure as failure:
        write(f"   FAILED: {failure}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - report any failure as the step's, never a bare traceback
        write(f"   FAILED: {type(exc).__name__}: {exc}\n")
        return 1
    finally:
        for node in (b, a, hub):
            node.stop()
        finish(base, out if keep else None, (hub, a, b), write)
    write(f"All {len(STEPS)} steps passed in {time.monotonic() - started:.0f} s. "
          + (f"Artefacts and node logs: {out}\n" if keep else "(use --out DIR to keep the artefacts and logs)\n"))
    return 0


def finish(base: Path, out: Path | None, nodes: tuple[LocalNode, ...], write: Callable[[str], object]) -> None:
    """Keep the nodes' logs in ``out/logs/`` (when kept), then remove the temporary directory entirely."""
    if out is not None:
        logs = out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for node in nodes:
            log = node.data_dir / "server.log"
            if log.exists():
                shutil.copyfile(log, logs / f"{node.node_id}.log")
        write(f"   node logs: {logs}\n")
    shutil.rmtree(base, ignore_errors=True)


def _export_node_certificates(scenario: Scenario) -> None:
    """Each node's CA certificates, as published in the trust list (hub-root-ca.pem is what members pin)."""
    import json

    for node in (scenario.hub, scenario.a, scenario.b):
        descriptor = json.loads(node.hutong("federation", "describe"))
        for role in ("root_ca", "seal_ca", "issuer_ca", "tsa"):
            scenario.keep(f"{node.node_id}-{role.replace('_', '-')}.pem", descriptor[role])


def _pick_types(scenario: Scenario) -> None:
    types = {t.name: t.code for t in scenario.platforms["portal-a"].client().cert.types()}
    scenario.facts["licence_type"], scenario.facts["diploma_type"] = types["营业执照"], types["学历证书"]


__all__ = ["DemoFailure", "run"]
