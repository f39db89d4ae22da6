"""The inputs the image policies are measured on: a Pod and the inventory settings its
Constraints are rendered from (edgewasm.policy.constraint_values, as the Gatekeeper
deploy renders them), shaped as Gatekeeper gives a template its input
(``input.review.object``, ``input.parameters``).

Each case knows by construction how many violations each policy must find, so a
benchmark whose engines agree on a wrong answer is still caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgewasm.policy import constraint_values

REPOS = "k8sallowedrepos"
TAGS = "k8sdisallowedtags"
POLICIES = (REPOS, TAGS)
_DIGEST = "@sha256:" + "ab" * 32


@dataclass
class Case:
    name: str
    settings: dict                      # inventory data: policy_allowed_repos, policy_disallowed_tags
    containers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # field -> (name, image)
    expected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLICIES, 0))

    def add(self, kind: str, name: str, image: str, untrusted: bool = False, bad_tag: bool = False) -> None:
        self.containers.setdefault(kind, []).append((name, image))
        self.expected[REPOS] += untrusted
        self.expected[TAGS] += bad_tag

    def pod(self) -> dict:
        spec = {kind: [{"name": n, "image": i} for n, i in found] for kind, found in self.containers.items()}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.name, "namespace": "apps"}, "spec": spec}

    def parameters(self) -> dict[str, dict]:
        values = constraint_values(self.settings)
        return {REPOS: {"repos": values["allowed_repos"]}, TAGS: {"tags": values["disallowed_tags"]}}

    def input(self, policy: str) -> dict:
        """What Gatekeeper gives ``policy``'s template for a CREATE of this Pod."""
        return {"review": {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
                           "name": self.name, "namespace": "apps", "object": self.pod()},
                "parameters": self.parameters()[policy]}

    def count(self) -> int:
        return sum(len(found) for found in self.containers.values())


def simple() -> Case:
    """One trusted container, one trusted registry, the default disallowed tag (latest)."""
    case = Case("simple", {"policy_allowed_repos": ["registry.site-a.example"]})
    case.add("containers", "app", "registry.site-a.example/team/app:1.4.2")
    return case


def medium() -> Case:
    """5 containers and 2 initContainers, 4 trusted entries of each kind the template
    knows, 2 disallowed tags; 2 violations of each policy."""
    case = Case("medium", {"policy_allowed_repos": ["registry.site-a.example", "registry.site-b.example:5000",
                                                    "docker.io/edgewasm/", "ghcr.io/acme/app"],
                           "policy_disallowed_tags": ["latest", "dev"]})
    case.add("containers", "app", "registry.site-a.example/team/app:1.4.2")
    case.add("containers", "port", "registry.site-a.example:5000/app:1")
    case.add("containers", "hello", "docker.io/edgewasm/hello-wasm:0.1.0")
    case.add("containers", "pinned", "ghcr.io/acme/app" + _DIGEST)
    case.add("containers", "web", "docker.io/library/nginx:latest", untrusted=True, bad_tag=True)
    case.add("initContainers", "setup", "registry.site-b.example:5000/init:dev", bad_tag=True)
    case.add("initContainers", "evil", "ghcr.io/acme/app-evil:1", untrusted=True)
    return case


def complex_() -> Case:
    """50 containers (30 containers, 10 initContainers, 10 ephemeralContainers) against 20
    trusted entries (hosts, hosts with a port, path prefixes, repositories) and 5
    disallowed tags: 5 untrusted images, 8 refused tags (7 disallowed, 1 untagged)."""
    hosts = [f"registry-{n:02}.site.example" for n in range(8)]
    ports = [f"mirror-{n:02}.site.example:5000" for n in range(4)]
    prefixes = [f"docker.io/team-{n:02}/" for n in range(4)]
    repos = [f"ghcr.io/acme/app-{n:02}" for n in range(4)]
    tags = ["latest", "dev", "edge", "nightly", "canary"]
    case = Case("complex", {"policy_allowed_repos": hosts + ports + prefixes + repos, "policy_disallowed_tags": tags})
    entries = case.settings["policy_allowed_repos"]
    for i in range(50):
        kind = "containers" if i < 30 else "initContainers" if i < 40 else "ephemeralContainers"
        repo = entries[i % len(entries)]
        untrusted = i % 10 == 9
        bad_tag = i % 7 == 6
        if untrusted:
            name = f"untrusted-{i:02}.example/app"
        elif repo.endswith("/"):
            name = f"{repo}app-{i}"
        elif repo.startswith("ghcr.io/"):
            name = repo
        else:
            name = f"{repo}/app-{i}"
        if bad_tag:
            image = f"{name}:{tags[i % len(tags)]}"
        elif i == 44:  # no tag and no digest: ":latest" to the kubelet, refused
            image, bad_tag = name, True
        elif i % 5 == 2:
            image = name + _DIGEST
        else:
            image = f"{name}:1.{i}"
        case.add(kind, f"c{i}", image, untrusted=untrusted, bad_tag=bad_tag)
    return case


def cases() -> list[Case]:
    return [simple(), medium(), complex_()]
