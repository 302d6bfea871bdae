"""Framework adapters (LangGraph, AutoGen): the only place that imports an agent framework."""
