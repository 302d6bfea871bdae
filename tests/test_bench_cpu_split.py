"""The GIL profile's summary in ``benchmarks.cpu_split``: py-spy's collapsed stacks → frames."""

from benchmarks.cpu_split import top_frames


def test_top_frames_counts_each_function_once_per_sample_inclusive() -> None:
    raw = [
        "run (a.py:1);step (b.py:10);step (b.py:12) 3",  # a recursive frame counts once
        "run (a.py:1);render (c.py:5) 1",
        "garbage line",
    ]
    shares = dict((f, s) for s, f in top_frames(raw))
    assert shares == {"run (a.py)": 1.0, "step (b.py)": 0.75, "render (c.py)": 0.25}
    assert top_frames([]) == []
