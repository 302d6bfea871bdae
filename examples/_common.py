"""Command-line plumbing shared by the LangGraph examples (not part of any graph).

Each example module defines ``build_graph(model)``, ``make_inputs(n)`` and a ``describe(result)``
that prints one result; :func:`run_example` parses the common options and runs the graph either
without Halo, against an OpenAI-compatible server (``--base-url``, e.g. ``vllm serve``), or under
Halo on an in-process vLLM engine (the default, SmolLM2-135M-Instruct).
"""

from __future__ import annotations

import argparse
import ast
import operator
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

#: What ``ChatOpenAI`` is pointed at when Halo serves the calls: nothing listens there, so a call
#: that slipped past Halo would fail at once instead of reaching some real endpoint.
UNUSED_URL = "http://127.0.0.1:9/v1"


def chat_model(model: str, base_url: str, max_tokens: int) -> Any:
    """The ``ChatOpenAI`` every example's graph is built with (greedy, short answers)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model, base_url=base_url, api_key="unused", temperature=0, max_tokens=max_tokens
    )


def parse_args(
    description: str, *, default_n: int, default_max_tokens: int, argv: Sequence[str] | None
) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--n", type=int, default=default_n, help=f"inputs (default {default_n})")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=default_max_tokens,
        help=f"output-token cap of every LLM call (default {default_max_tokens})",
    )
    p.add_argument(
        "--base-url",
        help="run WITHOUT Halo against this OpenAI-compatible server, e.g. "
        "http://127.0.0.1:8000/v1 of `vllm serve MODEL --enable-auto-tool-choice "
        "--tool-call-parser pythonic --structured-outputs-config.backend xgrammar "
        "--structured-outputs-config.disable_any_whitespace true` (the settings of the Halo run)",
    )
    p.add_argument(
        "--served-model",
        default="smollm2",
        help="model name the graph's ChatOpenAI asks for (the server's --served-model-name)",
    )
    p.add_argument(
        "--model",
        default="smollm2",
        help="under Halo: the engine's model: smollm2 (default), tiny, or a model dir",
    )
    p.add_argument(
        "--concurrency", type=int, default=8, help="max_concurrency without Halo (default 8)"
    )
    p.add_argument("--show", type=int, default=3, help="results to print (default 3)")
    return p.parse_args(argv)


def run_example(
    description: str,
    *,
    build_graph: Callable[[Any], Any],
    make_inputs: Callable[[int], list[dict[str, Any]]],
    describe: Callable[[Any], str],
    default_n: int,
    default_max_tokens: int,
    argv: Sequence[str] | None = None,
) -> list[Any]:
    """Parse the options, run the graph over ``make_inputs(n)``, print a few results; return all."""
    args = parse_args(
        description, default_n=default_n, default_max_tokens=default_max_tokens, argv=argv
    )
    inputs = make_inputs(args.n)
    if args.base_url:  # the plain LangGraph way: graph.batch over HTTP
        graph = build_graph(chat_model(args.served_model, args.base_url, args.max_tokens))
        start = time.perf_counter()
        results = graph.batch(
            inputs, config={"max_concurrency": args.concurrency}, return_exceptions=True
        )
        wall = time.perf_counter() - start
        failed = sum(isinstance(r, BaseException) for r in results)
        print(f"without Halo: {len(results) - failed} done, {failed} failed in {wall:.2f} s")
    else:  # the same graph, every instance's calls routed through one Halo session
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        import halo_adapters.langgraph as halo
        from halo_core import Session
        from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER

        graph = build_graph(chat_model(args.served_model, UNUSED_URL, args.max_tokens))
        # tool_choice="required" / structured output are guided decoding with the same tool-call
        # parser a `vllm serve --tool-call-parser ...` would use; compact JSON keeps the random
        # tiny test model from padding guided JSON with whitespace.
        with Session(
            model=args.model, tool_call_parser=DEFAULT_TOOL_PARSER, compact_json=True
        ) as session:
            report = halo.batch(graph, inputs, session=session, progress=True)
        results = report.results
        print(f"\nmodel            {args.model}")
        print(report.format())
    print("\nsample results:")
    for result in results[: args.show]:
        print(describe(result))
    return results


def short(text: Any, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    raise ValueError(f"unsupported element {type(node).__name__}")


def evaluate_arithmetic(expression: str) -> str:
    """Evaluate ``+ - * / % **`` and parentheses on numbers (no names, no calls); ``ValueError``
    (or ``SyntaxError`` / ``ArithmeticError``) for anything else. The examples' calculators."""
    return f"{_evaluate(ast.parse(expression.strip(), mode='eval')):.6g}"
