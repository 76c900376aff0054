"""The transformer's client for the predictor's binary score route (see ``aifabric.serving.predictor``).

Errors are split by what the caller should do: :class:`PredictorUnavailable` (connection refused,
timeout, 5xx) means "retry later, do not commit"; :class:`PredictorRejected` (4xx) means the
windows themselves were refused.
"""

from __future__ import annotations

import httpx
import numpy as np

from aifabric.serving.predictor import decode_scores

__all__ = ["PredictorClient", "PredictorRejected", "PredictorUnavailable", "Scores"]

Scores = tuple[np.ndarray, np.ndarray, np.ndarray]


class PredictorUnavailable(RuntimeError):
    """The predictor did not answer or answered 5xx: retry with backoff."""


class PredictorRejected(ValueError):
    """The predictor refused the windows (4xx): retrying will not help."""


def _base(host: str) -> str:
    return host.rstrip("/") if "://" in host else f"http://{host}"


class PredictorClient:
    """Sync (Kafka loop) and async (HTTP path) calls to one predictor model."""

    def __init__(self, host: str, model_name: str, timeout: float = 30.0) -> None:
        self.base_url = _base(host)
        self.model_name = model_name
        self.timeout = timeout
        self._sync: httpx.Client | None = None
        self._async: httpx.AsyncClient | None = None

    @property
    def score_url(self) -> str:
        return f"{self.base_url}/aifabric/models/{self.model_name}/score"

    @property
    def bundle_url(self) -> str:
        return f"{self.base_url}/aifabric/models/{self.model_name}/bundle"

    def file_url(self, name: str) -> str:
        return f"{self.base_url}/aifabric/models/{self.model_name}/files/{name}"

    @staticmethod
    def _request(windows: np.ndarray) -> tuple[bytes, dict[str, str]]:
        x = np.ascontiguousarray(windows, dtype="<f4")
        return x.tobytes(), {
            "x-shape": ",".join(map(str, x.shape)),
            "content-type": "application/octet-stream",
        }

    @staticmethod
    def _answer(resp: httpx.Response, n: int) -> Scores:
        if resp.status_code >= 500:
            raise PredictorUnavailable(f"predictor answered {resp.status_code}: {resp.text[:200]}")
        if resp.status_code != 200:
            raise PredictorRejected(f"predictor refused the windows ({resp.status_code}): {resp.text[:300]}")
        return decode_scores(resp.content, n)

    def get(self, url: str) -> httpx.Response:
        if self._sync is None:
            self._sync = httpx.Client(timeout=self.timeout)
        try:
            return self._sync.get(url)
        except httpx.HTTPError as exc:
            raise PredictorUnavailable(f"predictor at {self.base_url} unreachable: {exc}") from None

    def score(self, windows: np.ndarray) -> Scores:
        if self._sync is None:
            self._sync = httpx.Client(timeout=self.timeout)
        body, headers = self._request(windows)
        try:
            resp = self._sync.post(self.score_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PredictorUnavailable(f"predictor at {self.base_url} unreachable: {exc}") from None
        return self._answer(resp, len(windows))

    async def ascore(self, windows: np.ndarray) -> Scores:
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self.timeout)
        body, headers = self._request(windows)
        try:
            resp = await self._async.post(self.score_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PredictorUnavailable(f"predictor at {self.base_url} unreachable: {exc}") from None
        return self._answer(resp, len(windows))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
