"""helved's Kafka edge: the embedded broker, start-up checks and a producer that never drops.

No domain logic lives here; the Bytewax glue is in `dataflows/kafka_io.py`.
"""

from helved.kafka.admin import BrokerUnavailable, TopicMismatch, check_broker, ensure_topics
from helved.kafka.broker import EmbeddedBroker
from helved.kafka.producer import DeliveryFailed, ReliableProducer

__all__ = [
    "BrokerUnavailable",
    "DeliveryFailed",
    "EmbeddedBroker",
    "ReliableProducer",
    "TopicMismatch",
    "check_broker",
    "ensure_topics",
]
