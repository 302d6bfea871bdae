"""Tools for Halo's tests and benchmarks, not on its runtime path.

:mod:`~halo_core.testing.tiny_llama` builds the tiny random-weight test Llama and
:mod:`~halo_core.testing.vllm_server` launches a stock ``vllm serve`` for baselines and references;
:mod:`~halo_core.testing.fake_engine` answers without a model (scheduling tests, compat runs).
Nothing in the runtime imports this package, except ``resolve_model("tiny")``, lazily. Import the
submodules directly; this package re-exports nothing, so importing it stays cheap.
"""
