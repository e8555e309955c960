"""helved's Kafka edge: the embedded broker, start-up checks, a producer that never drops, and
broker faults that end a process loudly (`faults`: the topic watcher; `offsets`: where a
partition ends).

No domain logic lives here; the Bytewax glue is `io` (Kafka topics as a Bytewax input and sink).
"""

from helved.kafka.admin import BrokerUnavailable, TopicMismatch, check_broker, ensure_topics
from helved.kafka.broker import EmbeddedBroker
from helved.kafka.faults import BrokerFault
from helved.kafka.producer import DeliveryFailed, ReliableProducer, UnknownTopic

__all__ = [
    "BrokerFault",
    "BrokerUnavailable",
    "DeliveryFailed",
    "EmbeddedBroker",
    "ReliableProducer",
    "TopicMismatch",
    "UnknownTopic",
    "check_broker",
    "ensure_topics",
]
