import pytest


@pytest.fixture
def new_york(settings):
    """The merchant in New York: months begin at local midnight, five hours after UTC's (four in summer)."""
    settings.TIME_ZONE = "America/New_York"
