"""``halo batch`` / ``halo serve`` configuration errors fail fast, before an engine starts, with
what to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from halo_adapters.app.cli import main

TARGET = "tests.serve_targets:graph"


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"topic": "x"}\n')
    return path


def _batch(rows: Path, *extra: str) -> list[str]:
    return [
        "batch",
        TARGET,
        "--input",
        str(rows),
        "--output",
        str(rows.with_suffix(".out.jsonl")),
        *extra,
    ]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "--config"),
        ('{"engines": {}}', "engines is empty"),
        ('{"engines": {"a": {"model": "m", "max_num_seq": 4}}}', "max_num_seq"),
    ],
)
def test_a_bad_config_file_names_what_is_wrong(
    tmp_path: Path, rows: Path, capsys: pytest.CaptureFixture[str], content: str, needle: str
) -> None:
    config = tmp_path / "halo.json"
    config.write_text(content)
    assert main(_batch(rows, "--config", str(config))) == 2
    assert needle in capsys.readouterr().err


def test_model_and_config_together_or_a_bad_map_are_refused(
    tmp_path: Path, rows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "halo.json"
    config.write_text('{"engines": {"a": {"model": "tiny"}}}')
    assert main(_batch(rows, "--config", str(config), "--model", "tiny")) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["serve", TARGET, "--map", "gpt-4o", "--port", "0"]) == 2
    assert "MODEL_ID=ENGINE_KEY" in capsys.readouterr().err
    assert main(["serve", TARGET, "--host", "0.0.0.0"]) == 2
    assert "HALO_SERVE_TOKEN" in capsys.readouterr().err
