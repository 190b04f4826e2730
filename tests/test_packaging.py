"""The wheel holds the platform and its rule pack, and nothing that is measurement or test only."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _uv() -> str | None:
    local = REPO / ".tools" / "bin" / "uv"
    return str(local) if local.is_file() else shutil.which("uv")


@pytest.mark.slow
def test_wheel_ships_the_rule_pack_and_no_benchmarks_or_tests(tmp_path: Path) -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (make bootstraps it under .tools/)")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("datasoc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    pack = {Path(n).name for n in names if n.startswith("soc_api/bundled_rules/") and n.endswith(".yml")}
    in_repo = {p.name for p in (REPO / "rules").rglob("*.yml")}
    assert pack == in_repo
    assert pack
    assert not [n for n in names if n.startswith(("benchmarks/", "tests/"))]
    assert "soc_api/platform.py" in names
    if (REPO / "soc_api" / "webapi" / "static" / "index.html").is_file():  # built by `make console`
        assert "soc_api/webapi/static/index.html" in names
        assert any(n.startswith("soc_api/webapi/static/assets/") and n.endswith(".js") for n in names)
