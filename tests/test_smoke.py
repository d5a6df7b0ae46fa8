import pytest

from tests.conftest import World


@pytest.mark.django_db
def test_world_builds(world: World) -> None:
    assert world.zon.sd.enterprise_id == world.zon.enterprise.pk
    assert world.ander.enterprise.pk != world.zon.enterprise.pk
