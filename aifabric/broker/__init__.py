"""The Kafka data plane on confluent-kafka: topics, an idempotent record producer, an
at-least-once batch consumer and the ``<topic>.dlq`` dead-letter convention.

Clients are tuned for the embedded Tansu broker (a new consumer group gets records in about
three seconds instead of twenty) and survive a broker restart: Tansu keeps everything in
memory, so topics this process created are recreated when they go missing.
"""

from aifabric.broker.admin import KafkaAdmin, TopicInfo, TopicSpec
from aifabric.broker.client import client_config, consumer_config, producer_config
from aifabric.broker.consumer import BatchConsumer, Message
from aifabric.broker.dlq import DLQ_SUFFIX, DeadLetter, dead_letter, dlq_topic
from aifabric.broker.producer import RecordProducer

__all__ = [
    "DLQ_SUFFIX",
    "BatchConsumer",
    "DeadLetter",
    "KafkaAdmin",
    "Message",
    "RecordProducer",
    "TopicInfo",
    "TopicSpec",
    "client_config",
    "consumer_config",
    "dead_letter",
    "dlq_topic",
    "producer_config",
]
