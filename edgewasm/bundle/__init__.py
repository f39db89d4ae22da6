"""The bundle builder and its CLI (``edgewasm-bundle``): offline bundles of pinned,
checksum-verified artifacts. Deploys never import this package; they read bundles
through edgewasm/manifest.py."""

from edgewasm.bundle.builder import BUNDLES, BundleError, build
from edgewasm.bundle.cli import main
from edgewasm.manifest import MANIFEST, load_manifest, sha256_of, verify

__all__ = ["BUNDLES", "MANIFEST", "BundleError", "build", "load_manifest", "main", "sha256_of", "verify"]
