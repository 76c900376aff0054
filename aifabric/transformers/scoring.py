"""The transformer's client for the predictor's binary score route (see ``aifabric.serving.predictor``).

Errors are split by what the caller should do: :class:`PredictorUnavailable` (connection refused,
timeout, 5xx) means "retry later, do not commit"; :class:`PredictorRejected` (4xx) means the
windows themselves were refused.

The Kafka loop calls synchronously (httpx, one call per micro-batch). The HTTP path makes one
call per request, so its client's own cost is the hop's cost: it uses aiohttp (a KServe
dependency), which spends ≈0.5 ms of CPU per call where httpx's async client spends ≈2.5 ms.
"""

from __future__ import annotations

import aiohttp
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
        self._async: aiohttp.ClientSession | None = None

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
    def _answer(status: int, content: bytes, n: int) -> Scores:
        if status >= 500:
            raise PredictorUnavailable(
                f"predictor answered {status}: {content[:200].decode(errors='replace')}"
            )
        if status != 200:
            text = content[:300].decode(errors="replace")
            raise PredictorRejected(f"predictor refused the windows ({status}): {text}")
        return decode_scores(content, n)

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
        return self._answer(resp.status_code, resp.content, len(windows))

    async def ascore(self, windows: np.ndarray) -> Scores:
        if self._async is None:
            self._async = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        body, headers = self._request(windows)
        try:
            async with self._async.post(self.score_url, data=body, headers=headers) as resp:
                status, content = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PredictorUnavailable(f"predictor at {self.base_url} unreachable: {exc!r}") from None
        return self._answer(status, content, len(windows))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.close()
            self._async = None
