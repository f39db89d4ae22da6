"""Distribution packages in bundles: the pure parts (release names, refusals, apt's
output, the host's apt commands)."""

from edgewasm import os_releases
from edgewasm.apt import Deb, parse_deb822, parse_print_uris, required_names
from edgewasm.bundle.apt_closure import index_paragraph

PACKAGES = """Package: socat
Version: 1.7.4.4-2
Architecture: arm64
Depends: libc6 (>= 2.34),
 libssl3 (>= 3.0.0)
Description: multipurpose relay for bidirectional data transfer
Priority: optional
Filename: pool/main/s/socat/socat_1.7.4.4-2_arm64.deb
Size: 365872
SHA256: 068a29cfeefee80d5b96b13049d15f7e76e1ff86db39e55a33cbcdf7fff543b3

Package: dash
Essential: yes
Priority: required
Version: 0.5.12-2

Package: libc6
Priority: required
Version: 2.36-9+deb12u14
"""


def test_deb822_paragraphs_keep_fields_in_order_and_continuation_lines():
    paragraphs = parse_deb822(PACKAGES)
    assert [dict(p)["Package"] for p in paragraphs] == ["socat", "dash", "libc6"]
    socat = dict(paragraphs[0])
    assert socat["Depends"] == "libc6 (>= 2.34),\n libssl3 (>= 3.0.0)"
    assert [f for f, _ in paragraphs[0]][:3] == ["Package", "Version", "Architecture"]


def test_a_minimal_host_has_required_and_essential_packages():
    assert required_names(parse_deb822(PACKAGES)) == ["dash", "libc6"]


def test_print_uris_lines_give_url_and_apt_file_name():
    text = ("'http://deb.debian.org/debian/pool/main/c/conntrack-tools/conntrack_1.4.7-1%2bb2_arm64.deb' "
            "conntrack_1%3a1.4.7-1+b2_arm64.deb 33472 MD5Sum:938cbf40285a4cd24900a5eb9979bdce\n"
            "'http://deb.debian.org/debian-security/pool/updates/main/o/openssl/libssl3_3.0.22-1%7edeb12u2_arm64.deb'"
            " libssl3_3.0.22-1~deb12u2_arm64.deb 1829128 \n")
    assert parse_print_uris(text) == [
        ("http://deb.debian.org/debian/pool/main/c/conntrack-tools/conntrack_1.4.7-1%2bb2_arm64.deb",
         "conntrack_1%3a1.4.7-1+b2_arm64.deb"),
        ("http://deb.debian.org/debian-security/pool/updates/main/o/openssl/libssl3_3.0.22-1%7edeb12u2_arm64.deb",
         "libssl3_3.0.22-1~deb12u2_arm64.deb"),
    ]


def test_the_hosts_index_points_at_files_beside_it_and_keeps_apts_fields():
    paragraph = parse_deb822(PACKAGES)[0]
    deb = Deb("socat", "1.7.4.4-2", "socat_1.7.4.4-2_arm64.deb", 365872, "06" * 32, "http://x", "socat.deb",
              tuple(paragraph))
    fields = dict(index_paragraph(deb))
    assert fields["Filename"] == "./socat_1.7.4.4-2_arm64.deb"
    assert fields["SHA256"] == dict(paragraph)["SHA256"] and fields["Depends"] == dict(paragraph)["Depends"]


def test_a_host_is_its_os_release_id_and_codename():
    assert os_releases.release_of({"ID": "debian", "VERSION_CODENAME": "bookworm"}) == "debian-bookworm"
    assert os_releases.release_of({"ID": "ubuntu", "VERSION_CODENAME": "noble"}) == "ubuntu-noble"
    assert os_releases.DPKG_ARCH == {"amd64": "amd64", "arm64": "arm64", "arm": "armhf"}
    assert set(os_releases.releases()) >= {"debian-bookworm", "ubuntu-jammy", "ubuntu-noble"}


MANIFEST = {"artifacts": [
    {"component": "os-packages", "version": "debian-bookworm", "arch": "arm64", "name": "socat", "package": "socat",
     "file": "os-packages/debian-bookworm/arm64/socat_1_arm64.deb"},
    {"component": "os-packages", "version": "debian-bookworm", "arch": "arm64", "name": "Packages", "package": None,
     "file": "os-packages/debian-bookworm/arm64/Packages"},
    {"component": "k3s", "version": "v1", "arch": "arm64", "name": "binary", "file": "k3s/v1/arm64/k3s-arm64"},
]}


def test_what_a_bundle_carries_for_a_release():
    carried = os_releases.in_bundle(MANIFEST, "debian-bookworm", "arm64")
    assert carried.provides == {"socat"} and carried.index["name"] == "Packages"
    assert carried.repo == "/var/lib/edgewasm/debs/debian-bookworm-arm64"
    assert os_releases.in_bundle(MANIFEST, "debian-bookworm", "amd64") is None
    assert os_releases.carried(MANIFEST) == [("debian-bookworm", "arm64")]
    assert os_releases.missing(["socat", "xz-utils"], {"xz-utils": ["5.4"]}) == ["socat"]


def test_refusals_name_the_host_the_packages_and_the_fix():
    carried = os_releases.in_bundle(MANIFEST, "debian-bookworm", "arm64")
    assert os_releases.refusal("pi", "b", "debian-bookworm", "arm64", [], None, []) is None
    assert os_releases.refusal("pi", "b", "debian-bookworm", "arm64", ["socat"], carried, []) is None
    none = os_releases.refusal("pi", "b", "ubuntu-noble", "arm64", ["socat"], None, os_releases.carried(MANIFEST))
    assert none.startswith("pi: lacks packages socat and bundle b carries no packages for ubuntu-noble arm64 "
                           "(it has: debian-bookworm arm64); fix: add 'ubuntu-noble' to edgewasm_os_releases")
    absent = os_releases.refusal("pi", "b", "debian-bookworm", "arm64", ["socat", "curl"], carried, [])
    assert "lacks packages curl, which bundle b does not carry" in absent and "fix: rebuild" in absent


def test_the_hosts_apt_reads_only_the_bundles_repository():
    commands = os_releases.apt_commands("/var/lib/edgewasm/debs/debian-bookworm-arm64", ["socat", "xz-utils"])
    update, install = commands[1], commands[2]
    for command in (update, install):
        assert "-o Dir::Etc::SourceList=/var/lib/edgewasm/debs/debian-bookworm-arm64/sources.list" in command
        assert "-o Dir::State::Lists=/var/lib/edgewasm/debs/debian-bookworm-arm64/lists" in command
        assert "-o Dir::Cache::pkgcache= " in command
    assert install.endswith("install -y -qq --no-install-recommends socat xz-utils")
