"""Generate the Python gRPC code for ``proto/`` (committed; a test checks it is current).

Run ``python -m hutong.protogen`` after editing a ``.proto`` file.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    from grpc_tools import protoc

    include = str(resources.files("grpc_tools") / "_proto")
    files = [str(p.relative_to(PROTO_DIR)) for p in proto_files()]
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Packages for the generated modules (hutong/<service>/v1/).
    for f in files:
        pkg = out_dir / Path(f).parent
        while pkg != out_dir and pkg.name != "hutong":
            (pkg / "__init__.py").touch()
            pkg = pkg.parent


def main() -> None:
    generate(ROOT)
    print(f"generated code for {len(proto_files())} proto files", file=sys.stderr)


if __name__ == "__main__":
    main()
