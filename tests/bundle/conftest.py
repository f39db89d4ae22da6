import copy

import pytest

from tests.fixtures.mirror import MirrorServer, cached_mirror
from tests.fixtures.registry import LocalRegistry, pin_fixture_images


@pytest.fixture(scope="session")
def registry():
    with LocalRegistry() as reg:
        yield reg


@pytest.fixture(scope="session")
def mirror_tree(registry):
    """The upstream-shaped mirror tree, and the catalogue pinned to its fixtures and to the
    fixture images in the loopback registry."""
    root, catalog = cached_mirror()
    return root, pin_fixture_images(catalog, registry)


@pytest.fixture
def mirror(mirror_tree, registry):
    root, catalog = mirror_tree
    with MirrorServer(root) as server:
        server.catalog = copy.deepcopy(catalog)
        server.registry = registry.address
        yield server
