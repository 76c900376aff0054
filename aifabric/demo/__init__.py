"""``aifabric demo``: the paper's section III end to end on the embedded stack, with its report.

The runner (``aifabric.demo.runner``: ``DemoConfig``, ``run_demo``) is imported on use, so the
CLI does not pay for pandas and matplotlib on every command.
"""
