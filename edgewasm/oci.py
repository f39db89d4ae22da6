"""Write single-layer OCI image layouts (what skopeo, containerd and K3s read).

Enough for images built from a few files on ``scratch``, such as a Wasm module with an
absolute ``.wasm`` entrypoint (platform ``wasip1/wasm``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(files: dict[str, tuple[bytes, int]]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def write_layout(
    layout: Path,
    files: dict[str, tuple[bytes, int]],
    entrypoint: list[str],
    os: str = "linux",
    architecture: str = "amd64",
    tag: str = "latest",
    labels: dict[str, str] | None = None,
    name: str | None = None,
    user: str | None = None,
    env: list[str] | None = None,
) -> str:
    """Write one image into the OCI layout at ``layout`` (beside any already there); return
    its manifest digest (``sha256:...``). ``user`` is the config's User ("uid[:gid]"),
    ``env`` its Env ("NAME=value"); an image without them has no such keys, so its digest
    is what it was before they existed."""
    layer, diff_id = _layer(files)
    config = {
        "architecture": architecture,
        "os": os,
        "config": {"Entrypoint": entrypoint, "Labels": labels or {}, **({"User": user} if user else {}),
                   **({"Env": env} if env else {})},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    layout.mkdir(parents=True, exist_ok=True)
    config_desc = {"mediaType": MEDIA_CONFIG, **_blob(layout, json.dumps(config, sort_keys=True).encode())}
    layer_desc = {"mediaType": MEDIA_LAYER, **_blob(layout, layer)}
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": config_desc, "layers": [layer_desc]}
    manifest_desc = {"mediaType": MEDIA_MANIFEST, **_blob(layout, json.dumps(manifest, sort_keys=True).encode()),
                     "annotations": {"org.opencontainers.image.ref.name": tag,
                                     # containerd (and so K3s) names an imported image by this.
                                     **({"io.containerd.image.name": name} if name else {})},
                     "platform": {"architecture": architecture, "os": os}}
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    # A second image written to the same layout joins the first: one archive, several images.
    index = layout / "index.json"
    manifests = json.loads(index.read_text())["manifests"] if index.exists() else []
    index.write_text(json.dumps({"schemaVersion": 2, "manifests": [*manifests, manifest_desc]}))
    return manifest_desc["digest"]


def archive(layout: Path, dest: Path) -> None:
    """Tar an OCI layout the same way every time (an ``oci-archive``, which K3s imports
    from its images directory)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(layout.rglob("*")):
            info = tar.gettarinfo(str(path), path.relative_to(layout).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
