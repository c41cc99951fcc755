"""Upload an exported folder to the Hugging Face Hub and pin the commit in a ``weights_manifest.json``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from sen12ms_models._types import PathLike
from sen12ms_models.errors import PublishError
from sen12ms_models.hub.download import NETWORK_ERRORS, error_chain, read_verified
from sen12ms_models.weights import MANIFEST_FILE, read_manifest, sha256_hex, write_manifest_entry


def publish(
    export_dir: PathLike, *, manifest: PathLike | None = None, private: bool = False, dry_run: bool = False
) -> dict[str, Any]:
    """Upload ``export_dir`` in one commit and record the commit in ``manifest``.

    The file is re-hashed against the folder's manifest entry (written by ``export`` or
    ``convert``) before anything is sent; the repository is created if needed. Nothing is
    written into an installed package.

    Args:
        export_dir: a folder written by ``export_run`` or ``convert_checkpoint``.
        manifest: the manifest to record the revision in (default: the folder's own; a source
            checkout's top-level one releases it with the next version).
        private: create the repository private.
        dry_run: plan only; no network, no file written.

    Returns:
        ``repo_id``, the uploaded ``files`` (path, size, sha256), the ``manifest`` written and its
        ``entry``; after a real upload also the ``revision``.

    Raises:
        PublishError: the upload failed (one line saying why).
        FileNotFoundError, ValueError, WeightsIntegrityError: not an export folder, or its file
            does not match its manifest.
    """
    folder = Path(export_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"export folder {folder} does not exist (create it with `sen12ms-models export`)")
    entries = read_manifest(folder / MANIFEST_FILE)
    if len(entries) != 1:
        raise ValueError(f"{folder / MANIFEST_FILE} should hold exactly one entry (an export's), holds {len(entries)}")
    (spec,) = entries.values()
    if spec.sha256 is None:
        raise ValueError(f"{folder / MANIFEST_FILE}: entry {spec.name} has no sha256; re-create the folder with export")
    read_verified(folder / f"{spec.name}.safetensors", spec)
    target = Path(manifest) if manifest is not None else folder / MANIFEST_FILE
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST_FILE)
    plan: dict[str, Any] = {
        "repo_id": spec.repo_id,
        "files": [
            {"path": name, "size": (folder / name).stat().st_size, "sha256": sha256_hex((folder / name).read_bytes())}
            for name in files
        ],
        "manifest": str(target),
        "entry": {spec.name: {**spec.to_json(), "revision": "<the commit hash upload_folder returns>"}},
    }
    if dry_run:
        return {"dry_run": True, **plan}
    api = HfApi()
    try:
        api.create_repo(spec.repo_id, repo_type="model", private=True if private else None, exist_ok=True)
        commit = api.upload_folder(
            repo_id=spec.repo_id,
            repo_type="model",
            folder_path=folder,
            allow_patterns=files,
            commit_message=f"Upload {spec.name} ({spec.sha256})",
        )
    except Exception as error:
        if not isinstance(error, NETWORK_ERRORS) and not isinstance(error.__cause__, NETWORK_ERRORS):
            raise
        raise PublishError(f"could not upload {folder} to {spec.repo_id}: {error_chain(error)}") from error
    published = dataclasses.replace(spec, revision=commit.oid)
    write_manifest_entry(published, target)
    return {"dry_run": False, **plan, "revision": commit.oid, "entry": {spec.name: published.to_json()}}
