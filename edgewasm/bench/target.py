"""What a run measures, decided from the inventory and the cluster before any pod exists:
which nodes, which handlers each offers, whether the bench images are on them, and the
environment the figures belong to (K3s, node hardware, pinned handler versions).

Images are read from the API (each node's ``status.images``: the kubelet's list of what
its containerd holds, with sizes; it lists at most 50 images, largest first, so on a node
at that cap an image can be present yet unlisted) and, on the first server, from its
containerd itself (``k3s crictl images -o json``) and K3s's images directory.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping

from edgewasm import settings
from edgewasm.bench.cluster import Session
from edgewasm.bench.pods import HANDLERS, RUNC, WASM_HANDLERS
from edgewasm.bench_images import native_ref, wasm_ref
from edgewasm.k3s import K3S_BIN
from edgewasm.plan import wanted_versions
from edgewasm.wasm import runtime_label

IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
KUBELET_IMAGE_CAP = 50
# The catalogue's components behind each handler (their pinned versions go in the report).
HANDLER_COMPONENTS = {"wasmtime": ("runwasi-wasmtime", "wasmtime"), "wasmedge": ("runwasi-wasmedge", "wasmedge"),
                      "crun-wasm": (), RUNC: ("k3s",)}
IMAGES_FIX = ("set edgewasm_bench_images = True for these hosts (e.g. in the inventory's all group), run the deploy "
              "(edgewasm-deploy INVENTORY; from a bundle, rebuild it with --bench-images), then run edgewasm-bench "
              "again; or leave the nodes out with --nodes")


class Refused(Exception):
    """The bench will not run; the message names what and the fix (exit 2)."""


def refs(data: Mapping) -> dict[str, str] | None:
    """{"wasm": ref, "native": ref} of the bench images for a host with ``data``: the
    versions its data pins, as if it set edgewasm_bench_images (a deploy given the setting
    with --data leaves the inventory without it; the node's image list decides), or None
    when its artifact_components leave them out."""
    versions = wanted_versions({**data, "edgewasm_bench_images": True})
    if "bench-wasm" not in versions or "bench-native" not in versions:
        return None
    return {"wasm": wasm_ref(versions["bench-wasm"]), "native": native_ref(versions["bench-native"])}


def node_handlers(node: Mapping) -> list[str]:
    """The handlers a node offers: the Wasm handlers its labels name (the deploy labels
    exactly those it set up), and runc, which every node has."""
    labels = node.get("metadata", {}).get("labels", {})
    return [h for h in WASM_HANDLERS if labels.get(runtime_label(h)) == "true"] + [RUNC]


def ready(node: Mapping) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in node.get("status", {}).get("conditions", []))


def listed_images(node: Mapping) -> tuple[dict[str, int], bool]:
    """({image name: size bytes} of a node's status.images, whether the list is at the cap)."""
    images = node.get("status", {}).get("images", []) or []
    return {name: i.get("sizeBytes", 0) for i in images for name in i.get("names", [])}, \
        len(images) >= KUBELET_IMAGE_CAP


def choose(hosts: list, nodes: Mapping, wanted_handlers: list[str], wanted_nodes: list[str] | None) -> tuple[list, dict]:
    """([(host, node object, handlers, image refs)], {node: why it is left out}); Refused
    when a chosen node lacks the images (with the fix) or nothing is left to measure."""
    by_name = {n["metadata"]["name"]: n for n in nodes.get("items", [])}
    unknown = sorted(set(wanted_nodes or []) - {h.name for h in hosts})
    if unknown:
        raise Refused(f"--nodes names {', '.join(unknown)}, not hosts of the inventory; fix: name inventory hosts")
    chosen, skipped, lacking = [], {}, []
    for host in hosts:
        if not host.role or (wanted_nodes and host.name not in wanted_nodes):
            continue
        if host.data.get("testbed_k3s_light"):
            skipped[host.name] = "the test bed's light K3s stand-in (runs no pods)"
            continue
        node = by_name.get(host.name)
        if node is None or not ready(node):
            skipped[host.name] = "not a node of the cluster" if node is None else "node not Ready"
            continue
        images = refs(host.data)
        if images is None:
            lacking.append(f"{host.name} (its artifact_components leave out bench-wasm and bench-native)")
            continue
        listed, capped = listed_images(node)
        missing = [ref for ref in images.values() if ref not in listed]
        if missing and not capped:
            unset = "" if host.data.get("edgewasm_bench_images") else "; edgewasm_bench_images is not set for it"
            lacking.append(f"{host.name} (its containerd lacks {', '.join(missing)}{unset})")
            continue
        fixtures = host.data.get("testbed_handlers_left_out", {})
        offered = [h for h in node_handlers(node) if h in wanted_handlers]
        for h in sorted(set(fixtures) & set(offered)):
            skipped[f"{host.name}/{h}"] = f"test bed: {fixtures[h]}"
        chosen.append((host, node, [h for h in offered if h not in fixtures], images))
    if lacking:
        raise Refused(f"the bench images are not on {'; '.join(lacking)}; fix: {IMAGES_FIX}")
    if not chosen:
        raise Refused("no node to measure (" + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + "); fix: deploy "
                      "the inventory and wait for its nodes to be Ready, or pick nodes with --nodes")
    return chosen, skipped


def images(session: Session, chosen: list) -> dict:
    """Sizes of the bench images: per node from status.images; on the first server also
    containerd's own figure (crictl) and the archives in K3s's images directory."""
    found: dict = {"nodes": {}, "server_crictl": {}, "server_archives": {}}
    for host, node, _, image_refs in chosen:
        listed, capped = listed_images(node)
        found["nodes"][host.name] = {ref: listed.get(ref) for ref in image_refs.values()} | {"list_capped": capped}
    try:
        crictl = json.loads(session.sh(f"{session.sudo}{K3S_BIN} crictl images -o json"))
        for image in crictl.get("images", []):
            for tag in image.get("repoTags", []):
                if "/edgewasm/bench-" in tag:
                    found["server_crictl"][tag] = int(image.get("size", 0))
        listing = session.sh(f"{session.sudo}find {shlex.quote(IMAGES_DIR)} -maxdepth 1 -name 'edgewasm-bench-*' "
                             "-printf '%s %f\\n'")
        found["server_archives"] = {f: int(s) for s, f in (line.split(" ", 1) for line in listing.splitlines() if line)}
    except Exception as exc:  # noqa: BLE001 - sizes are a figure of the report, not a condition of the run
        found["server_error"] = str(exc)[:300]
    return found


def environment(nodes: Mapping, chosen: list, server_name: str) -> dict:
    """K3s version, each measured node's hardware and software, pinned handler versions."""
    env: dict = {"first_server": server_name, "nodes": {}}
    for host, node, handlers, _ in chosen:
        info, status = node["status"].get("nodeInfo", {}), node["status"]
        versions = wanted_versions(host.data)
        env["nodes"][host.name] = {
            "k3s": info.get("kubeletVersion"), "arch": info.get("architecture"), "kernel": info.get("kernelVersion"),
            "os": info.get("osImage"), "container_runtime": info.get("containerRuntimeVersion"),
            "cpu": status.get("capacity", {}).get("cpu"), "memory": status.get("capacity", {}).get("memory"),
            "allocatable_memory": status.get("allocatable", {}).get("memory"),
            "handlers": {h: {c: versions.get(c) for c in HANDLER_COMPONENTS.get(h, ()) if versions.get(c)} or
                         ("the node's crun (not pinned)" if h == "crun-wasm" else "unknown") for h in handlers},
            "wasm_runtimes_from": settings.value(host.data, "edgewasm_wasm_runtimes_from")}
    env["k3s"] = sorted({n["k3s"] for n in env["nodes"].values() if n["k3s"]})
    return env


def handlers_arg(value: str) -> list[str]:
    wanted = [h.strip() for h in value.split(",") if h.strip()]
    bad = [h for h in wanted if h not in HANDLERS]
    if bad or not wanted:
        raise ValueError(f"unknown handler(s) {bad}; choose from {', '.join(HANDLERS)}")
    return wanted
