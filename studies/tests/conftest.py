"""The product suite's fixtures, for the lab's tests."""

from tests.conftest import backbone, fast_config  # noqa: F401  (fixtures, found by name)
