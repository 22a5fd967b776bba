"""``hutong demo`` leaves nothing behind without ``--out`` and keeps the nodes' logs with it."""

from __future__ import annotations

from pathlib import Path

from hutong.demo.cluster import LocalNode
from hutong.demo.runner import finish


def _nodes(base: Path) -> tuple[LocalNode, ...]:
    nodes = tuple(LocalNode(n, n, base / "nodes" / n, port=1) for n in ("hub", "prov-a", "prov-b"))
    for node in nodes:
        node.data_dir.mkdir(parents=True)
        (node.data_dir / "server.log").write_text(f'{{"node": "{node.node_id}"}}\n')
    return nodes


def test_without_out_the_temporary_directory_is_removed(tmp_path: Path) -> None:
    base = tmp_path / "hutong-demo-x"
    nodes = _nodes(base)
    (base / "out").mkdir()
    finish(base, None, nodes, lambda _text: None)
    assert not base.exists()


def test_with_out_the_node_logs_are_kept(tmp_path: Path) -> None:
    base, out = tmp_path / "hutong-demo-y", tmp_path / "kept"
    nodes = _nodes(base)
    said: list[str] = []
    finish(base, out, nodes, said.append)
    assert not base.exists()
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["hub.log", "prov-a.log", "prov-b.log"]
    assert (out / "logs" / "prov-a.log").read_text() == '{"node": "prov-a"}\n'
    assert str(out / "logs") in "".join(said)
