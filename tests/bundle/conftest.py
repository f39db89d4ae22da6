import copy

import pytest

from tests.fixtures.mirror import MirrorServer, build_mirror


@pytest.fixture(scope="session")
def mirror_tree(tmp_path_factory):
    """The upstream-shaped mirror tree and the catalogue pinned to its fixtures."""
    root = tmp_path_factory.mktemp("mirror")
    catalog = build_mirror(root, arches=("amd64", "arm64", "arm"))
    # Gatekeeper's images come from a registry, not from this HTTP mirror.
    catalog["gatekeeper"].pop("images", None)
    return root, catalog


@pytest.fixture
def mirror(mirror_tree):
    root, catalog = mirror_tree
    with MirrorServer(root) as server:
        server.catalog = copy.deepcopy(catalog)
        yield server
