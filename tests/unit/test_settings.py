"""One declaration of every setting (edgewasm/settings.py): validation, the deploys'
defaults, group_data/all.py and docs/settings.md come from it, and no default lives
anywhere else."""

import ast
import runpy
from pathlib import Path

import pytest

from edgewasm import settings

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted([*ROOT.glob("edgewasm/**/*.py"), *ROOT.glob("deploys/*.py"), *ROOT.glob("facts/*.py")])


def test_every_default_passes_its_own_check():
    for s in settings.SETTINGS.values():
        if s.default is not None:
            assert s.check(s.default) is None, s.name
        assert s.name.startswith(settings.OWNED_PREFIXES), s.name
        assert s.doc and s.fix and s.type, s.name


def test_group_data_all_is_the_generated_documentation_and_sets_nothing():
    assert (ROOT / "group_data/all.py").read_text() == settings.group_data_all(), \
        "regenerate: python -m edgewasm.settings all.py > group_data/all.py"
    assert {k for k in runpy.run_path(str(ROOT / "group_data/all.py")) if not k.startswith("__")} == set()
    for name in settings.SETTINGS:
        assert f"# {name} = " in settings.group_data_all()


def test_docs_settings_table_is_generated():
    assert (ROOT / "docs/settings.md").read_text() == settings.settings_table(), \
        "regenerate: python -m edgewasm.settings settings.md > docs/settings.md"


def test_deploys_get_every_default_from_the_declaration():
    from deploys import DEFAULTS

    assert DEFAULTS == settings.defaults()
    for path in ROOT.glob("deploys/*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        bare = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "deploy"]
        assert bare == [], f"{path.name}:{bare}: use deploys.edgewasm_deploy (it carries the defaults)"


def _setting_reads(tree):
    """(line, setting, node) for every ``X.get("setting", ...)`` and ``X.data.setting``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                and node.args[0].value.startswith(settings.OWNED_PREFIXES):
            yield node.lineno, node.args[0].value, node
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "data" and node.attr.startswith(settings.OWNED_PREFIXES):
            yield node.lineno, node.attr, node


@pytest.mark.parametrize("path", CODE, ids=[str(p.relative_to(ROOT)) for p in CODE])
def test_code_reads_only_declared_settings_and_adds_no_default(path):
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for line, name, node in _setting_reads(tree):
        assert name in settings.SETTINGS, f"{path.name}:{line}: {name} is not declared in edgewasm/settings.py"
        if isinstance(node, ast.Call):
            assert len(node.args) == 1 and not node.keywords, f"{path.name}:{line}: a default for {name} in code"
        parent = parents.get(node)
        # `a or b` where b is another setting is a documented fallback; `a or 300` is a default.
        if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or) and parent.values[0] is node \
                and any(isinstance(v, (ast.Constant, ast.List, ast.Dict, ast.Tuple, ast.Set)) for v in parent.values[1:]):
            pytest.fail(f"{path.name}:{line}: `{name} or <literal>` is a default in code; declare it instead")


def test_value_and_merged_fall_back_to_the_declaration():
    assert settings.value({}, "k3s_ready_timeout") == 300
    assert settings.value({"k3s_ready_timeout": 30}, "k3s_ready_timeout") == 30
    merged = settings.merged({"k3s_ha": True, "ssh_hostname": "x"})
    assert merged["k3s_ha"] is True and merged["ssh_hostname"] == "x"
    assert merged["preflight_packages"] == settings.SETTINGS["preflight_packages"].default
    merged["preflight_packages"].append("mutated")
    assert "mutated" not in settings.defaults()["preflight_packages"]


def test_roles_are_groups():
    assert settings.role(["k3s_servers", "all"]) == "server"
    assert settings.role(["raspberry_pi", "k3s_agents"]) == "agent"
    assert settings.role(["raspberry_pi"]) is None


# ---------------------------------------------------------------- what values may hold

def _problem(key, value):
    return settings.problem("edge-1", key, value)


@pytest.mark.parametrize("labels,words", [
    ({"node-role.kubernetes.io/worker": ""}, ["reserved namespaces", "node-role.kubernetes.io/worker"]),
    ({"node-role.kubernetes.io/control-plane": "true"}, ["reserved namespaces"]),
    ({"kubernetes.io/role": "edge"}, ["reserved namespaces"]),
    ({"k8s.io/site": "a"}, ["reserved namespaces"]),
    ({"edge.k8s.io/site": "a"}, ["reserved namespaces"]),
    ({"node-restriction.kubernetes.io/pci": "true"}, ["reserved namespaces"]),
    ({"kubernetes.io/hostnamex": "a"}, ["reserved namespaces"]),
    ({"runtime.edgewasm.io/wasmtime": "true"}, ["edgewasm sets itself"]),
    ({"edge.example/site": "a b"}, ["malformed labels"]),
    ({"Edge.Example/site": "a"}, ["malformed labels"]),
    ({"edge.example/": "a"}, ["malformed labels"]),
    ({"a/b/c": "a"}, ["malformed labels"]),
    ({"site": "x" * 64}, ["malformed labels"]),
    ({"site": "-a"}, ["malformed labels"]),
])
def test_node_labels_a_node_may_not_set_on_itself_are_refused(labels, words):
    problem = _problem("k3s_node_labels", labels)
    assert problem.startswith(f"edge-1: k3s_node_labels = {labels!r} ") and "fix:" in problem
    for word in words:
        assert word in problem


@pytest.mark.parametrize("labels", [
    {"edge.example/site": "a", "site": "", "tier": "x" * 63},
    {"topology.kubernetes.io/zone": "r1", "topology.kubernetes.io/region": "eu"},
    {"node.kubernetes.io/instance-type": "pi4", "kubernetes.io/arch": "arm64", "kubernetes.io/hostname": "edge-1"},
    {"node.kubernetes.io/exclude-from-external-load-balancers": "true", "pool.node.kubernetes.io/x": "y"},
    {"kubelet.kubernetes.io/x": "y", "edge.kubelet.kubernetes.io/x": "y",
     "failure-domain.beta.kubernetes.io/zone": "a"},
    {"example.com/kubernetes.io": "a"},  # not in the namespace: only the prefix counts
])
def test_node_labels_a_kubelet_may_set_pass(labels):
    assert _problem("k3s_node_labels", labels) is None


def test_edgewasms_own_label_namespace_is_the_one_it_sets():
    from edgewasm import wasm

    assert wasm.LABEL_PREFIX == settings.EDGEWASM_LABEL_NAMESPACE + "/"


@pytest.mark.parametrize("args,words", [
    (["max-pods"], ["not of the form flag=value"]),
    (["--max-pods 50"], ["not of the form flag=value"]),
    (["max-pods = 50"], ["not of the form flag=value"]),
    (["-v=2"], ["not of the form flag=value"]),
    (["max-pods=50\n--node-ip=10.0.0.9"], ["not of the form flag=value"]),
    (["node-labels=node-role.kubernetes.io/master=true"], ["node-labels (edgewasm sets it from k3s_node_labels)"]),
    (["--node-ip=10.0.0.9"], ["node-ip (edgewasm sets it from k3s_node_ip)"]),
    (["register-with-taints+=x=y:NoSchedule"], ["register-with-taints (edgewasm sets it from k3s_node_taints)"]),
    (["hostname-override=other"], ["hostname-override (edgewasm sets it from the host's inventory name"]),
    (["container-runtime-endpoint=unix:///x.sock"], ["container-runtime-endpoint"]),
    (["fail-swap-on=true", "pod-infra-container-image=x"], ["fail-swap-on", "preflight_swap", "k3s_pause_image"]),
])
def test_kubelet_args_are_flag_value_and_never_what_edgewasm_sets(args, words):
    problem = _problem("k3s_kubelet_args", args)
    assert problem.startswith(f"edge-1: k3s_kubelet_args = {args!r} ") and "fix: give each as flag=value" in problem
    for word in words:
        assert word in problem


def test_kubelet_args_in_k3s_form_pass():
    assert _problem("k3s_kubelet_args", ["max-pods=50", "--max-pods=60", "feature-gates=A=true,B=false",
                                         "eviction-hard=memory.available<100Mi", "system-reserved=",
                                         "fail-cgroupv1=false", "cgroup-root=/edgewasm/edge-1",
                                         "allowed-unsafe-sysctls+=net.ipv4.*"]) is None


@pytest.mark.parametrize("value", ["10.0.0.9", "fd00:20::11", "10.0.0.9,fd00:20::11", "fd00:20::11,10.0.0.9"])
def test_node_ip_takes_an_address_or_a_dual_stack_pair(value):
    assert _problem("k3s_node_ip", value) is None


@pytest.mark.parametrize("value,word", [
    ("10.0.0.9; reboot", "must be the node's IP address"),
    ("10.0.0.9, fd00:20::11", "must be the node's IP address"),
    ("10.0.0.9,10.0.0.10", "must be the node's IP address"),
    ("10.0.0.9,fd00::1,fd00::2", "must be the node's IP address"),
    ("fe80::1%eth0", "must be the node's IP address"),
    ("edge-1.site-a.example", "must be the node's IP address"),
    ("010.0.0.9", "must be the node's IP address"),
    ("", "must be the node's IP address"),
    (10, "must be the node's IP address"),
    ("0.0.0.0", "other nodes cannot reach"),
    ("127.0.0.1", "other nodes cannot reach"),
    ("10.0.0.9,::1", "other nodes cannot reach"),
])
def test_node_ip_that_is_not_a_reachable_address_is_refused(value, word):
    problem = _problem("k3s_node_ip", value)
    assert problem.startswith(f"edge-1: k3s_node_ip = {value!r} ") and word in problem and "fix:" in problem


@pytest.mark.parametrize("value,ok", [(1, True), (3, True), (30, True), (0, False), (31, False), (600, False),
                                      (True, False), ("3", False), (2.5, False)])
def test_the_webhook_timeout_is_what_kubernetes_allows(value, ok):
    problem = _problem("gatekeeper_webhook_timeout", value)
    assert (problem is None) == ok
    if not ok:
        assert "from 1 to 30" in problem and "timeoutSeconds" in problem and "fix:" in problem


@pytest.mark.parametrize("value", ["../../etc/x", "..", "site/a", "", "Site-A", "site_a", "-site", "site-",
                                   "x" * 64, "site\n", None, 3])
def test_a_cluster_name_that_is_not_a_plain_name_is_refused(value):
    problem = _problem("k3s_cluster_name", value)
    assert problem and "must be a lowercase name of a-z, 0-9 and '-'" in problem and "fix:" in problem


@pytest.mark.parametrize("value", ["k3s", "site-a", "x" * 63, "2024"])
def test_plain_cluster_names_pass(value):
    assert _problem("k3s_cluster_name", value) is None


@pytest.mark.parametrize("key", ["preflight_packages", "check_packages", "edgewasm_crun_packages"])
def test_package_lists_hold_package_names_only(key):
    # They reach apt-get's command line on the host.
    problem = _problem(key, ["iptables", "iptables; rm -rf /"])
    assert "not Debian package names ['iptables; rm -rf /']" in problem
    assert _problem(key, ["g++", "libc6:arm64", "crun=1.21-1", "xz-utils"]) is None


@pytest.mark.parametrize("value", ["edgewasm check", "x;reboot", "Root", "1user", "x" * 33])
def test_the_check_user_is_a_system_user_name(value):
    assert "must be a system user name" in _problem("check_user", value)


@pytest.mark.parametrize("key,value", [
    ("k3s_env", {"NO_PROXY\n": "x"}),
    ("policy_namespaces", ["apps\n"]),
    ("gatekeeper_exempt_namespaces", ["kube-system\n"]),
    ("policy_disallowed_tags", ["latest\n"]),
    ("k3s_node_taints", ["a=b:NoSchedule\n"]),
    ("gatekeeper_cpu_request", "50m\n"),
    ("preflight_sysctls", {"net.ipv4.ip_forward\n": 1}),
    ("edgewasm_containerd_runtimes", {"gpu\n": {"runtime_type": "io.containerd.runc.v2", "binary": "/x"}}),
])
def test_a_trailing_line_break_is_no_part_of_a_name(key, value):
    # re's $ matches before a final "\n": the checks match whole strings.
    assert _problem(key, value)


@pytest.mark.parametrize("args,words", [
    (["audit-log-path=/tmp/audit.log"], ["audit-log-path (edgewasm sets it from k3s_audit_log)"]),
    (["--audit-policy-file=/x.yaml"], ["audit-policy-file (edgewasm sets it from k3s_audit_log"]),
    (["audit-log-maxage=1", "audit-log-maxsize=1"], ["audit-log-maxage (edgewasm sets it from k3s_audit_log_maxage)",
                                                     "audit-log-maxsize (edgewasm sets it from k3s_audit_log_maxsize)"]),
    (["admission-control-config-file=/etc/psa.yaml"], ["admission-control-config-file (edgewasm sets it from "
                                                        "k3s_pod_security"]),
    (["encryption-provider-config=/x.json"], ["encryption-provider-config (edgewasm sets it from "
                                              "k3s_secrets_encryption"]),
    (["disable-admission-plugins=PodSecurity"], ["disables the PodSecurity admission plugin",
                                                 "k3s_pod_security = 'privileged'"]),
    (["enable-admission-plugins=EventRateLimit"], ["without NodeRestriction", "enable-admission-plugins+="]),
    (["request-timeout 300s"], ["not of the form flag=value"]),
])
def test_api_server_args_are_flag_value_and_never_undo_the_hardening(args, words):
    problem = _problem("k3s_kube_apiserver_args", args)
    assert problem.startswith(f"edge-1: k3s_kube_apiserver_args = {args!r} ") and "fix: give each as flag=value" in problem
    for word in words:
        assert word in problem


def test_api_server_and_controller_manager_args_in_k3s_form_pass():
    assert _problem("k3s_kube_apiserver_args", ["request-timeout=300s", "enable-admission-plugins+=EventRateLimit",
                                                "enable-admission-plugins=NodeRestriction,EventRateLimit",
                                                "disable-admission-plugins=DefaultStorageClass",
                                                "service-account-extend-token-expiration=false"]) is None
    assert _problem("k3s_kube_controller_manager_args", ["terminated-pod-gc-threshold=10"]) is None
    assert "not of the form flag=value" in _problem("k3s_kube_controller_manager_args", ["--profiling"])


def test_the_kubelet_may_not_be_told_to_change_the_kernel_after_all():
    assert "protect-kernel-defaults (edgewasm sets it from k3s_protect_kernel_defaults)" in \
        _problem("k3s_kubelet_args", ["protect-kernel-defaults=false"])


@pytest.mark.parametrize("key,value", [("k3s_pod_security", "strict"), ("k3s_pod_security_audit", "Restricted"),
                                       ("k3s_secrets_encryption", "yes"), ("k3s_audit_log_maxsize", 0),
                                       ("k3s_pod_security_exempt_namespaces", ["Kube-System"])])
def test_hardening_values_are_checked(key, value):
    assert "fix:" in _problem(key, value)


def test_the_api_servers_hardening_is_one_per_cluster_the_kubelets_per_node():
    for key in ("k3s_secrets_encryption", "k3s_pod_security", "k3s_pod_security_audit",
                "k3s_pod_security_exempt_namespaces", "k3s_audit_log", "k3s_audit_log_maxage"):
        assert settings.SETTINGS[key].scope == "servers", key
    assert settings.SETTINGS["k3s_protect_kernel_defaults"].scope == "host"
    # Safe defaults: every part of the hardening is on unless turned off.
    assert all(settings.SETTINGS[k].default is True for k in ("k3s_secrets_encryption", "k3s_audit_log",
                                                            "k3s_protect_kernel_defaults"))
    assert settings.SETTINGS["k3s_pod_security"].default == "baseline"
