import copy

import pytest

from edgewasm.artifacts import load_catalog
from tests.fixtures.locked import lock_catalog_copy
from tests.fixtures.mirror import MirrorServer, cached_mirror
from tests.fixtures.registry import LocalRegistry, push_fixture_images


@pytest.fixture(scope="session")
def registry():
    with LocalRegistry() as reg:
        yield reg


@pytest.fixture(scope="session")
def mirror_tree(registry, tmp_path_factory):
    """The upstream-shaped mirror tree, the fixture images pushed as multi-platform
    indexes, and a catalogue copy locked against both (``edgewasm-bundle lock``: no pin
    filled in by hand)."""
    root = cached_mirror()
    push_fixture_images(load_catalog(lock=False), registry)
    with MirrorServer(root) as server:
        catalog_file = lock_catalog_copy(tmp_path_factory.mktemp("locked"), server.url, registry.address)
    return root, catalog_file


@pytest.fixture
def mirror(mirror_tree, registry):
    root, catalog_file = mirror_tree
    with MirrorServer(root) as server:
        server.catalog = copy.deepcopy(load_catalog(catalog_file))
        server.catalog_file = catalog_file
        server.registry = registry.address
        yield server
