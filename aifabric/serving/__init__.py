"""Serving: the KServe predictor, model resolution and the deploy backends behind ``/deployments``.

Submodules import their heavy parts (kserve, onnxruntime, kubernetes) themselves; importing this
package costs nothing.
"""
