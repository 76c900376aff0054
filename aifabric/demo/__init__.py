"""``aifabric demo``: the paper's section III end to end on the embedded stack, with its report."""

from aifabric.demo.runner import DemoConfig, DemoError, DemoOutcome, run_demo

__all__ = ["DemoConfig", "DemoError", "DemoOutcome", "run_demo"]
