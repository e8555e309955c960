"""The embedded broker fixtures of the integration tests, for the production command's tests."""

from tests.integration.conftest import broker, read_topic, settings  # noqa: F401
