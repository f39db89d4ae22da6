"""The Go peers' pins (tests/gotools, tests/kubernetes) agree with what edgewasm deploys."""

import re
import tomllib
from pathlib import Path

from tests.fixtures import gotools

ROOT = Path(__file__).resolve().parents[2]
CATALOG = tomllib.loads((ROOT / "edgewasm" / "artifacts.toml").read_text())


def test_gator_and_gatekeeper_are_the_release_edgewasm_deploys():
    assert gotools.required("gotools", "github.com/open-policy-agent/gatekeeper/v3") == "v" + CATALOG["gatekeeper"]["version"]


def test_the_api_server_is_the_minor_release_k3s_pins():
    k3s = re.match(r"v(\d+\.\d+)\.", CATALOG["k3s"]["version"]).group(1)
    kubernetes = gotools.required("kubernetes", "k8s.io/kubernetes")
    assert kubernetes.startswith(f"v{k3s}.")
    staging = re.findall(r"^\s*(k8s.io/\S+) => (\S+) (v\S+)$", (gotools.TESTS / "kubernetes" / "go.mod").read_text(), re.M)
    assert staging and all(name == target and version == "v0" + kubernetes[2:] for name, target, version in staging)


def test_kube_apiserver_is_told_its_release():
    flags = gotools.ldflags("kubernetes")
    assert f"version.gitVersion={gotools.required('kubernetes', 'k8s.io/kubernetes')}" in flags
    assert gotools.ldflags("gotools") == ""
