"""Dead-letter convention: a rejected message goes, byte for byte, to ``<topic>.dlq`` with the
reason and its origin in headers, so nothing is silently lost and it can be replayed."""

from __future__ import annotations

from pydantic import BaseModel

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


class DeadLetter(BaseModel):
    """A dead-letter record as read back from a DLQ topic."""

    raw: bytes
    reason: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    stage: str = ""

    @classmethod
    def from_message(cls, value: bytes, headers: list[tuple[str, bytes]] | None) -> DeadLetter:
        h = {k: v.decode("utf-8", "replace") for k, v in headers or []}
        return cls(
            raw=value or b"",
            reason=h.get("dlq.reason", ""),
            source_topic=h.get("dlq.source.topic", ""),
            source_partition=int(h["dlq.source.partition"]) if h.get("dlq.source.partition") else None,
            source_offset=int(h["dlq.source.offset"]) if h.get("dlq.source.offset") else None,
            stage=h.get("dlq.stage", ""),
        )


def dead_letter(
    producer,
    topic: str,
    raw: bytes,
    reason: str,
    *,
    key: bytes | str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    stage: str = "",
) -> None:
    """Send ``raw`` to ``<topic>.dlq`` with the reason (``producer`` is a :class:`RecordProducer`)."""
    headers = [
        ("dlq.reason", reason[:2000].encode()),
        ("dlq.source.topic", topic.encode()),
        ("dlq.stage", stage.encode()),
    ]
    if partition is not None:
        headers.append(("dlq.source.partition", str(partition).encode()))
    if offset is not None:
        headers.append(("dlq.source.offset", str(offset).encode()))
    producer.send_raw(dlq_topic(topic), key, raw, headers)
