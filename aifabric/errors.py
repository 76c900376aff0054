"""The aifabric exception tree.

Every error a user can cause derives from :class:`AifabricError` and knows its HTTP status,
so the fabric API maps them in one place and the CLI prints their message.
"""

from __future__ import annotations


class AifabricError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(AifabricError, ValueError):
    """422: the request is well formed but its content is not acceptable."""

    status = 422
    title = "Invalid request"


class NotFound(AifabricError, LookupError):
    """404: the named resource does not exist (or belongs to another tenant)."""

    status = 404
    title = "Not found"


class Conflict(AifabricError):
    """409: the resource exists already or is in a state that forbids the operation."""

    status = 409
    title = "Conflict"


class Unauthorized(AifabricError):
    """401: no or an unknown bearer token."""

    status = 401
    title = "Unauthorized"


class Forbidden(AifabricError):
    """403: the token is valid but may not do this."""

    status = 403
    title = "Forbidden"


class Unavailable(AifabricError):
    """503: a part of the fabric (broker, S3, SQL, MLflow) does not answer."""

    status = 503
    title = "Service unavailable"


class BrokerError(Unavailable):
    """The Kafka data plane failed (wraps ``confluent_kafka.KafkaException``)."""

    title = "Broker error"
