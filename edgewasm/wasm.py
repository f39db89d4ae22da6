"""Wasm-on-K3s decisions that need no host: the crun gate, which containerd template
generation a K3s version reads, node labels, RuntimeClasses and hello-wasm manifests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from packaging.version import InvalidVersion, Version

from edgewasm import settings
from edgewasm.k3s_runtimes import K3S_RUNTIME_CLASSES, K3S_RUNTIMES
from edgewasm.templates import render

CONTAINERD_DIR = "/var/lib/rancher/k3s/agent/etc/containerd"
MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests"
SHIM_DIR = "/usr/local/bin"

CRUN_WASM = "crun-wasm"
LABEL_PREFIX = "runtime.edgewasm.io/"

# ----------------------------------------------------------------------------- crun gate

_CRUN_VERSION = re.compile(r"^crun version (\S+)", re.M)
_CRUN_WASM = re.compile(r"\+WASM:(\w+)")


def crun_problems(version_output: str, minimum: str) -> list[str]:
    """What stops this crun from running Wasm, from its ``crun --version`` output.

    Both must hold: version >= ``minimum`` (edgewasm_crun_min_version) and a ``+WASM:<engine>`` feature tag (release
    binaries and Debian's crun are built without any wasm handler).
    """
    found = _CRUN_VERSION.search(version_output or "")
    if not found:
        return ["crun is not installed (no 'crun version' in `crun --version`)"]
    problems = []
    try:
        old = Version(found.group(1)) < Version(minimum)
    except InvalidVersion:
        old = True
    if old:
        problems.append(f"crun {found.group(1)} is older than {minimum}")
    if not crun_wasm_engine(version_output):
        features = next((line for line in version_output.splitlines() if line.startswith("+")), "")
        problems.append(f"crun {found.group(1)} has no wasm handler (no +WASM: in its features {features.strip()!r})")
    return problems


CRUN_FIX = ("use a release whose crun runs Wasm (Debian trixie: crun 1.21 +WASM:wasmedge, taken from the release "
            "under edgewasm_wasm_runtimes_from = 'distribution'), or install a crun >= {minimum} built with a wasm "
            "handler (./configure --with-wasmedge) and point edgewasm_crun_binary at it or list its package in "
            "edgewasm_crun_packages; or take the runwasi route (edgewasm_crun = False)")


def crun_wasm_engine(version_output: str) -> str | None:
    found = _CRUN_WASM.search(version_output or "")
    return found.group(1) if found else None


# ------------------------------------------------------------------- containerd templates

def _refuse_k3s_names(runtimes: Iterable[str]) -> None:
    clash = sorted(set(runtimes) & K3S_RUNTIMES)
    if clash:
        raise ValueError(f"K3s already defines containerd runtimes {clash}; use other names")


def containerd_generation(k3s_version: str) -> int:
    """containerd config version K3s renders: 3 (containerd 2.x) from v1.31.6+k3s1 and
    v1.32.2+k3s1 on, and in every later minor; 2 before."""
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", k3s_version)
    if not match:
        raise ValueError(f"not a K3s version: {k3s_version!r}")
    major, minor, patch = map(int, match.groups())
    if (major, minor) >= (1, 33):
        return 3
    if (major, minor) == (1, 32):
        return 3 if patch >= 2 else 2
    if (major, minor) == (1, 31):
        return 3 if patch >= 6 else 2
    return 2


# The templates (under templates/) the deploys render these from; tests render the same.
RUNTIME_CLASSES_TEMPLATE = "wasm/runtimeclasses.yaml.j2"


def containerd_template_source(name: str) -> str:
    """The template K3s's containerd template ``name`` is rendered from."""
    return f"containerd/{name}.j2"


def containerd_template_name(k3s_version: str) -> str:
    return "config-v3.toml.tmpl" if containerd_generation(k3s_version) == 3 else "config.toml.tmpl"


def containerd_runtimes(data: Mapping, crun_binary: str | None) -> dict[str, dict]:
    """The runtimes a host's containerd template adds: crun-wasm where the crun gate
    passed, plus the inventory's ``edgewasm_containerd_runtimes``."""
    runtimes = {}
    if crun_binary:
        # crun picks its wasm handler from these; containerd passes only those listed.
        annotations = settings.value(data, "edgewasm_wasm_pod_annotations")
        runtimes[CRUN_WASM] = {"runtime_type": "io.containerd.runc.v2", "binary": crun_binary,
                               "pod_annotations": list(annotations)}
    for name, spec in settings.value(data, "edgewasm_containerd_runtimes").items():
        runtimes[name] = {"runtime_type": spec["runtime_type"], "binary": spec["binary"],
                          "pod_annotations": list(spec.get("pod_annotations") or [])}
    _refuse_k3s_names(runtimes)
    return runtimes


# ------------------------------------------------------------- labels and RuntimeClasses

_SHIM = re.compile(r"^containerd-shim-([a-z0-9]+)-v\d+$")


def shim_handler(shim: str) -> str:
    """containerd-shim-wasmedge-v1 -> wasmedge: the runtime name K3s gives a detected shim."""
    found = _SHIM.match(shim)
    if not found:
        raise ValueError(f"not a containerd shim binary name: {shim!r}")
    return found.group(1)


def runtime_label(handler: str) -> str:
    return LABEL_PREFIX + handler


def node_labels(handlers: Iterable[str]) -> dict[str, str]:
    """Node labels a host gets for the Wasm handlers it really has."""
    return {runtime_label(h): "true" for h in sorted(handlers)}


def runtime_class_name(handler: str) -> str:
    """Our RuntimeClass for a handler: crun-wasm keeps its name; for runwasi shims K3s
    already ships a RuntimeClass named after the handler (without a nodeSelector), so
    ours is edgewasm-<handler>."""
    return handler if handler not in K3S_RUNTIME_CLASSES else f"edgewasm-{handler}"


def runtime_class_specs(handlers: Iterable[str]) -> list[dict]:
    """What templates/wasm/runtimeclasses.yaml.j2 renders: one RuntimeClass per handler,
    each scheduled only on nodes that carry that handler's label."""
    return [{"name": runtime_class_name(h), "handler": h, "label": runtime_label(h)} for h in sorted(set(handlers))]


def hello_pod(runtime_class: str, node: str, image: str, crun: bool) -> str:
    """A pod that runs hello-wasm once on ``node`` under ``runtime_class``."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"hello-wasm-{runtime_class}-{node}".lower()).strip("-")[:63]
    return render("wasm/hello-pod.yaml.j2", name=name, runtime_class=runtime_class, node=node,
                  image=image, crun=crun)


def failing_pod(runtime_class: str, node: str, image: str, crun: bool, status: int) -> str:
    """A pod that runs the bench-wasm module once on ``node`` with ``exit STATUS``: the
    compliance check of how a handler reports a failed module."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"edgewasm-exit-{runtime_class}-{node}".lower()).strip("-")[:63]
    return render("wasm/exit-pod.yaml.j2", name=name, runtime_class=runtime_class, node=node, image=image,
                  crun=crun, status=status)
