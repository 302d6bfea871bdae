"""Rows in, result rows out (``halo batch`` / ``run_frame``), on the fake engine; the real-engine
and killed-driver proofs are in test_durable_batch.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from halo_adapters.rows import load_target, run_frame
from halo_core import ConfigError, Journal, Session
from halo_core.rows import check_paths, read_rows, result_rows, row_keys, write_rows


def test_rows_read_from_jsonl_csv_and_parquet_alike(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "r.csv").write_text("id,text\na,x\nb,y\n")
    pd.DataFrame(rows).to_parquet(tmp_path / "r.parquet")
    for name in ("r.jsonl", "r.csv", "r.parquet"):
        assert read_rows(tmp_path / name) == rows
    assert row_keys(rows, "id") == ["a", "b"] and row_keys(rows, None) is None


def test_bad_files_and_keys_fail_fast_with_what_to_change(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: not a JSON line"):
        read_rows(tmp_path / "bad.jsonl")
    with pytest.raises(ConfigError, match=r"use a \.jsonl / \.parquet file"):
        check_paths(tmp_path / "bad.jsonl", tmp_path / "out.csv")
    with pytest.raises(ConfigError, match="no such file"):
        check_paths(tmp_path / "missing.csv", tmp_path / "out.jsonl")
    with pytest.raises(ConfigError, match="row 1 has no 'id' value"):
        row_keys([{"id": 1}, {"x": 2}], "id")
    with pytest.raises(ConfigError, match="MODULE:ATTR"):
        load_target("just_a_module")
    with pytest.raises(ConfigError, match="has no attribute"):
        load_target("json:nothing_here")
    with pytest.raises(ConfigError, match="a function of one row"):
        load_target("json:decoder")


def test_result_rows_write_one_row_per_input_in_order(tmp_path: Path) -> None:
    out = result_rows(["a", "b"], [{"n": 1}, ValueError("bad row")])
    assert out == [
        {"key": "a", "status": "done", "error": None, "output": '{"n":1}'},
        {"key": "b", "status": "failed", "error": "ValueError: bad row", "output": None},
    ]
    for name in ("out.jsonl", "out.parquet"):
        write_rows(tmp_path / name, out)
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == out
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == out


@pytest.mark.timeout(60)
def test_a_frame_in_a_frame_out_resumes_from_its_journal(
    fake_session: Callable[..., Session], tmp_path: Path
) -> None:
    s = fake_session(epoch_window_s=0.01)
    frame = pd.DataFrame({"id": ["r1", "r2", "r3"], "q": ["a", "bb", "bad"]}, index=[10, 11, 12])

    def row_fn(row: dict[str, str]) -> dict[str, str]:
        if row["q"] == "bad":
            raise ValueError("malformed row")
        return {"answer": s.chat([{"role": "user", "content": row["q"]}]).text}

    with Journal(tmp_path / "j.db") as j:
        out = run_frame(row_fn, frame, session=s, journal=j, key="id", progress=False)
        again = run_frame(row_fn, frame, session=s, journal=j, key="id", progress=False)
    assert list(out.index) == [10, 11, 12] and list(out["key"]) == ["r1", "r2", "r3"]
    assert list(out["status"]) == ["done", "done", "failed"]
    assert json.loads(out["output"][10]) == {"answer": "len=1"}
    assert "ValueError: malformed row" in out["error"][12]
    assert list(again["output"])[:2] == list(out["output"])[:2]
    assert "failed in an earlier run" in again["error"][12]
