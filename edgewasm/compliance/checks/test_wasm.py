"""WebAssembly on each host: runtimes report their pins and run hello-wasm; shims sit
where K3s finds them; containerd template, node labels and RuntimeClasses match what
the host really has."""

import io
import re
import secrets
import tomllib

import pytest

from edgewasm.artifacts import load_catalog
from edgewasm.compliance import applies
from edgewasm.compliance.schema import validate_manifest
from edgewasm.hello_wasm import greeting, module
from edgewasm.plan import fleet_handlers
from edgewasm.templates import render
from edgewasm.wasm import (
    CONTAINERD_DIR,
    CRUN_WASM,
    SHIM_DIR,
    containerd_template_name,
    crun_problems,
    runtime_label,
)

# The runtimes K3s's own base may define (those it detects on the node): a template that
# defined one of them again would make containerd refuse the whole config (a table
# defined twice).
K3S_BASE_RUNTIMES = {"runc", "crun", "wasmedge", "wasmtime", "wasmer", "spin", "lunatic", "slight", "wws",
                     "nvidia", "nvidia-experimental"}
# The template's one use of K3s's base, and the K3s fields it fills in.
K3S_BASE = '{{ template "base" . }}'
K3S_FIELDS = {"SystemdCgroup": "true"}

REMOTE_MODULE = "/var/tmp/edgewasm-hello.wasm"
CATALOG = load_catalog()


def appended(template: str) -> dict:
    """What a K3s containerd template adds to K3s's base, parsed as TOML: the template with
    its one ``{{ template "base" . }}`` taken out and K3s's fields filled in. The base is
    K3s's, rendered on the node at start, so it is not reproduced here; that the template
    parses over a base is unit-tested (tests/unit/test_wasm_logic.py)."""
    assert template.count(K3S_BASE) == 1, f"the template should include K3s's base once: {K3S_BASE}"
    unknown = set(re.findall(r"\{\{ \.(\w+) \}\}", template)) - set(K3S_FIELDS)
    assert not unknown, f"the template uses K3s fields the check does not know: {sorted(unknown)}"
    text = re.sub(r"\{\{ \.(\w+) \}\}", lambda m: K3S_FIELDS[m.group(1)], template.replace(K3S_BASE, ""))
    return tomllib.loads(text)


@pytest.fixture
def arch(plan):
    return plan.arch


@pytest.fixture
def wasm_host(host):
    """The host, for checks marked with a component (an arch upstream ships runtimes for)."""
    return host


@pytest.fixture
def hello_on_host(wasm_host):
    """The hello module, copied to the host for the check and removed after it."""
    sftp = wasm_host.backend.client.open_sftp()
    sftp.putfo(io.BytesIO(module()), REMOTE_MODULE)
    yield REMOTE_MODULE
    sftp.remove(REMOTE_MODULE)
    sftp.close()


@applies.only(applies.component("wasmtime"))
def test_wasmtime_reports_the_pinned_version(pinned_version):
    """Wasmtime reports the pinned version.

    Fix: run the deploy: it installs the pinned Wasmtime."""
    version, output = pinned_version("wasmtime", "wasmtime --version")
    assert output.startswith(f"wasmtime {version}")


@applies.only(applies.component("wasmtime"))
def test_hello_wasm_runs_under_wasmtime(wasm_host, plan, hello_on_host):
    """hello-wasm runs under Wasmtime and prints its greeting.

    Fix: run the deploy; if it still fails, run wasmtime on a module by hand for the error."""
    result = wasm_host.run(f"wasmtime run {hello_on_host}")
    assert result.rc == 0, result.stderr
    assert result.stdout == greeting()


@applies.only(applies.component("wasmedge"))
def test_wasmedge_reports_the_pinned_version(pinned_version):
    """WasmEdge reports the pinned version (where the host's OS release ships WasmEdge and
    it comes from there: the version the release ships).

    Fix: run the deploy: it installs the pinned WasmEdge (or the release's)."""
    version, output = pinned_version("wasmedge", "wasmedge --version")
    assert version in output.split()


@applies.only(applies.component("wasmedge"), applies.upstream_runtime("wasmedge"))
def test_wasmedge_library_is_on_the_loader_path(wasm_host, plan):
    """libwasmedge is on the loader path edgewasm configured.

    Fix: run the deploy: it writes the loader config and runs ldconfig."""
    dirs = [line for line in wasm_host.file("/etc/ld.so.conf.d/edgewasm-wasmedge.conf").content_string.splitlines()
            if line.startswith("/")]
    assert any(wasm_host.file(f"{d}/libwasmedge.so.0").exists for d in dirs), dirs


@applies.only(applies.release_runtimes)
def test_runtimes_from_the_release_are_its_packages(wasm_host, plan):
    """The Wasm runtimes taken from the host's OS release are its installed packages, at the
    version the release ships, with no upstream copy left in front of them on PATH.

    Fix: run the deploy: it installs them from the bundle and removes upstream's links."""
    for runtime in plan.packaged.values():
        # The first package is the runtime; the others bring what it loads (libwasmedge0).
        version = wasm_host.run("dpkg-query -f '${Version}' -W %s", runtime.packages[0]).stdout
        assert version.startswith(runtime.version), f"{runtime.packages[0]} {version or 'not installed'}"
        for package in runtime.packages[1:]:
            status = wasm_host.run("dpkg-query -f '${Status}' -W %s", package).stdout
            assert status.endswith(" installed"), f"{package}: {status or 'not installed'}"
    if "wasmedge" in plan.packaged:
        assert not wasm_host.file("/usr/local/bin/wasmedge").exists
        assert not wasm_host.file("/etc/ld.so.conf.d/edgewasm-wasmedge.conf").exists


@applies.only(applies.component("wasmedge"))
def test_hello_wasm_runs_under_wasmedge(wasm_host, plan, hello_on_host):
    """hello-wasm runs under WasmEdge and prints its greeting.

    Fix: run the deploy; if it still fails, run wasmedge on a module by hand for the error."""
    if "FIXTURE" in wasm_host.check_output("wasmedge --version"):
        pytest.skip("test bed: WasmEdge cannot be downloaded here and its FIXTURE stand-in runs no Wasm")
    result = wasm_host.run(f"wasmedge {hello_on_host}")
    assert result.rc == 0, result.stderr
    assert result.stdout == greeting()


def test_runwasi_shims_are_where_k3s_finds_them(host, plan, arch):
    """Each wanted runwasi shim is linked where K3s finds it; no unwanted shim is.

    Fix: run the deploy: it relinks the shims and removes unwanted ones."""
    versions = plan.versions
    for component, entry in CATALOG.items():
        if not entry.get("shim"):
            continue
        link = host.file(f"{SHIM_DIR}/{entry['shim']}")
        if component in versions and arch in entry["arches"]:
            assert link.is_symlink and link.linked_to == f"/opt/edgewasm/{component}/{versions[component]}/{entry['shim']}"
            assert host.file(link.linked_to).mode & 0o111
        else:
            assert not link.exists, f"{link.path} is there but {component} is not wanted on this host"


@applies.only(applies.crun_route)
def test_crun_on_the_crun_route_runs_wasm(host, host_data):
    """crun is at least edgewasm_crun_min_version and built with wasm support.

    Fix: install crun >= edgewasm_crun_min_version built with a wasm handler, or turn edgewasm_crun off."""
    binary = host_data["edgewasm_crun_binary"]
    assert crun_problems(host.run(f"{binary} --version").stdout, host_data["edgewasm_crun_min_version"]) == []


@applies.only(applies.crun_route)
def test_hello_wasm_runs_under_crun(wasm_host, host_data, access, hello_on_host):
    """hello-wasm runs under the crun route's crun, through its wasm handler (the
    compat-smart annotation the crun-wasm runtime passes on from a pod).

    Fix: run the deploy; if it still fails, run the crun bundle left by hand for the error
    (crun run --bundle DIR)."""
    if access.helper:
        pytest.skip("the nightly check's user may not run a container (crun run needs root); the cluster check "
                    "runs hello-wasm under the crun-wasm RuntimeClass instead (test_cluster.py)")
    bundle = f"/var/tmp/edgewasm-crun-hello-{secrets.token_hex(4)}"
    # The root is read-only: the mount points crun needs are made here.
    wasm_host.check_output(f"mkdir -p {bundle}/rootfs/dev {bundle}/rootfs/proc && "
                           f"cp {hello_on_host} {bundle}/rootfs/hello.wasm")
    sftp = wasm_host.backend.client.open_sftp()
    sftp.putfo(io.BytesIO(render("wasm/crun-hello.json.j2", module="hello.wasm").encode()), f"{bundle}/config.json")
    sftp.close()
    result = wasm_host.run(f"{host_data['edgewasm_crun_binary']} run --bundle {bundle} {bundle.rsplit('/', 1)[1]}")
    assert result.rc == 0, f"{result.stderr} (bundle kept in {bundle})"
    assert result.stdout == greeting()
    wasm_host.run(f"rm -rf {bundle}")


@applies.only(applies.k3s_node)
def test_containerd_template_adds_only_what_k3s_lacks(host, host_data, role, plan, access):
    """The containerd template for this K3s version adds exactly the wanted runtimes.

    Fix: run the deploy: it rewrites the template for this K3s version and removes the other."""
    wanted = containerd_template_name(plan.versions["k3s"])
    adds = host_data.get("edgewasm_crun") or host_data.get("edgewasm_containerd_runtimes")
    for name in ("config.toml.tmpl", "config-v3.toml.tmpl"):
        template = access.file(host, f"{CONTAINERD_DIR}/{name}")
        if name == wanted and adds:
            # What it appends parses, is runtimes only, defines none of the runtimes K3s's
            # base does (no table defined twice), and holds exactly the runtimes the data
            # asks for, with the data's binaries.
            config = appended(template.content_string)
            table = ("io.containerd.cri.v1.runtime" if "v3" in name else "io.containerd.grpc.v1.cri")
            runtimes = config["plugins"][table]["containerd"]["runtimes"]
            assert config == {"plugins": {table: {"containerd": {"runtimes": runtimes}}}}, "it adds more than runtimes"
            assert not set(runtimes) & K3S_BASE_RUNTIMES, "the template redefines a runtime K3s's base defines"
            expected = {n: spec["binary"] for n, spec in host_data["edgewasm_containerd_runtimes"].items()}
            if host_data["edgewasm_crun"]:
                expected["crun-wasm"] = host_data["edgewasm_crun_binary"]
            assert {n: r["options"]["BinaryName"] for n, r in runtimes.items()} == expected
        else:
            assert not template.exists, f"{template.path} should not exist"


@applies.only(applies.k3s_node)
def test_node_labels_name_the_runtimes_the_host_has(k3s_config, role, plan):
    """The node's labels name exactly the Wasm runtimes it has.

    Fix: run the deploy: it labels the node after its runtimes."""
    # K3s's config may hold secrets: only its node-label entries are read here.
    labels = dict(str(item).partition("=")[::2] for item in k3s_config.get("node-label") or [])
    have = {k for k, v in labels.items() if k.startswith(runtime_label("")) and v == "true"}
    assert have == {runtime_label(h) for h in plan.handlers}


@applies.only(applies.server)
def test_runtime_classes_on_servers(host, role, fleet, access):
    """The RuntimeClass manifest on the server names every handler of the fleet.

    Fix: run the deploy on the servers."""

    manifest = access.file(host, "/var/lib/rancher/k3s/server/manifests/edgewasm-runtimeclasses.yaml")
    handlers = fleet_handlers([h.data for h in fleet])
    assert manifest.mode == 0o600
    docs = validate_manifest(manifest.content_string)
    # Written out here, not computed by the renderer: K3s ships RuntimeClasses named after
    # the shims itself, so ours are edgewasm-<handler> (crun-wasm keeps its name).
    expected = {("crun-wasm" if h == CRUN_WASM else f"edgewasm-{h}", h, f"runtime.edgewasm.io/{h}") for h in handlers}
    found = {(d["metadata"]["name"], d["handler"], *d["scheduling"]["nodeSelector"]) for d in docs}
    assert found == expected
    assert all(list(d["scheduling"]["nodeSelector"].values()) == ["true"] for d in docs)
