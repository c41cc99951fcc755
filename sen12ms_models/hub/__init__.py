"""The Hugging Face Hub side of weights: manifest, download, verification, registry, cards, publish.

- ``manifest``: ``weights_manifest.json`` entries (what only a publication knows);
- ``download``: fetching a file at its pinned commit, within a deadline;
- ``verify``: size and sha256 before parsing, safetensors only;
- ``registry``: weight files converted or trained locally;
- ``card``: what every model card shares;  ``publish``: uploading an exported folder.
"""

from typing import TYPE_CHECKING

from sen12ms_models._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MANIFEST_FILE": ".manifest",
        "ManifestEntry": ".manifest",
        "fetch_weights": ".download",
        "find_registered": ".registry",
        "manifest_path": ".manifest",
        "read_manifest": ".manifest",
        "read_verified_bytes": ".verify",
        "register_weights": ".registry",
        "registry_dir": ".registry",
        "sha256_hex": ".verify",
        "write_manifest_entry": ".manifest",
    },
)
__all__ = [
    "MANIFEST_FILE",
    "ManifestEntry",
    "fetch_weights",
    "find_registered",
    "manifest_path",
    "read_manifest",
    "read_verified_bytes",
    "register_weights",
    "registry_dir",
    "sha256_hex",
    "write_manifest_entry",
]

if TYPE_CHECKING:
    from sen12ms_models.hub.download import fetch_weights
    from sen12ms_models.hub.manifest import (
        MANIFEST_FILE,
        ManifestEntry,
        manifest_path,
        read_manifest,
        write_manifest_entry,
    )
    from sen12ms_models.hub.registry import find_registered, register_weights, registry_dir
    from sen12ms_models.hub.verify import read_verified_bytes, sha256_hex
