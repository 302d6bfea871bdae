"""The plan DAG of a workflow, annotated with what Halo did per node (like ``EXPLAIN ANALYZE``).

:mod:`.dag` holds the plan and its annotation, :mod:`.explain` the text renderings (the table,
Mermaid), :mod:`.svg` the picture.
"""

from halo_core.plan.dag import END, START, NodeKind, Operator, Plan, PlanEdge, PlanNode

__all__ = ["END", "START", "NodeKind", "Operator", "Plan", "PlanEdge", "PlanNode"]
