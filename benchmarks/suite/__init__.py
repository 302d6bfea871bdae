"""The benchmark suite: real data (DuckDB), real tools (SQL, TPC-H, HTTP) and the six workloads."""
