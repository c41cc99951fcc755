"""The exceptions and warnings sen12ms-models raises, one per failure kind; each error also derives from a
built-in (``ValueError``, ``OSError``, ``LookupError``), so code written against the built-ins keeps working."""

from __future__ import annotations


class Sen12msError(Exception):
    """Base class of every error this library raises on purpose."""


class PatchFileError(Sen12msError, ValueError):
    """A GeoTIFF is missing, corrupt, misnamed, or has the wrong bands or dtype for SEN12MS."""


class InputUnitsError(Sen12msError, ValueError):
    """An input's values are in other units or another order than the model reads (reflectance,
    uint8, linear SAR, an offset the data does not carry, VH before VV)."""


class NoDataError(Sen12msError, ValueError):
    """A patch is mostly fill or cloud, so no label can be computed from it."""


class ManifestError(Sen12msError, ValueError):
    """``weights_manifest.json`` is malformed, or a model name is unknown."""


class WeightsNotPublishedError(Sen12msError, LookupError):
    """The manifest knows the model but no weight file has been published or registered for it."""


class WeightsDownloadError(Sen12msError, OSError):
    """The weight file could not be fetched (network down, offline without a cache, 404...)."""


class PublishError(Sen12msError, OSError):
    """Uploading weights to the Hub failed (no network, no permission, a refused commit...)."""


class WeightsIntegrityError(Sen12msError, ValueError):
    """A weight file's size or sha256 differs from the manifest, or its tensors do not fit the model."""


class UnverifiedWeightsWarning(UserWarning):
    """A local weight file that no manifest knows was loaded without a hash check."""


class InputLevelWarning(UserWarning):
    """Sentinel-2 input looks like Level-2A (surface reflectance); the models read Level-1C."""


def format_names(items: list[str], limit: int = 5) -> str:
    """``[a, b, c, ... (N in all)]``: the first ``limit`` names of a list, for error messages."""
    shown = ", ".join(items[:limit])
    return f"[{shown}{f', ... ({len(items)} in all)' if len(items) > limit else ''}]"
