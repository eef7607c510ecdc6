"""The generators' common write-or-check (tools/generated.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.generated import write_or_check


def test_check_names_what_differs_and_write_brings_it_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = {"a.json": "{}\n", "sub/b.json": "[]\n"}
    (tmp_path / "a.json").write_text("{}\n", encoding="utf-8")
    assert write_or_check(wanted, tmp_path, check=True, regenerate="make x") == 1
    assert "run `make x`" in capsys.readouterr().err
    assert not (tmp_path / "sub").exists()  # a check writes nothing
    assert write_or_check(wanted, tmp_path, check=False, regenerate="make x") == 0
    assert (tmp_path / "sub" / "b.json").read_text(encoding="utf-8") == "[]\n"
    assert write_or_check(wanted, tmp_path, check=True, regenerate="make x") == 0
