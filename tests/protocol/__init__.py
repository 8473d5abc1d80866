import pytest

# The shared test helpers assert too: have pytest explain their failures like a test's own.
pytest.register_assert_rewrite("tests.protocol.body_properties", "tests.protocol.strategies")
