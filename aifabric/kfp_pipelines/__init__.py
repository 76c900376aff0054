"""The training pipeline (prepare -> train -> evaluate -> register) as KFP v2 components.

Logic lives in plain functions (``steps``); ``components`` wraps them for KFP; ``runner`` runs the
pipeline through ``kfp.local`` or submits it with ``kfp.Client``; ``service`` tracks training runs.
"""
