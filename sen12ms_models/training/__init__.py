"""Training, evaluation, export and publication of the SEN12MS baselines (how published weights are made).

>>> from sen12ms_models.training import TrainConfig, train, export_run, publish
>>> result = train(TrainConfig("/data/SEN12MS", "runs/r50", arch="resnet50", modality="s1s2"))  # doctest: +SKIP
>>> export_run("runs/r50", "export/r50")                                                     # doctest: +SKIP
>>> publish("export/r50", dry_run=True)                                                      # doctest: +SKIP

Every Table 4 baseline at once, on one pass over the data per epoch, scored and exported:

>>> reproduce(TrainConfig("/data/SEN12MS", "table4", precision="fp32"), select_models("table4"))    # doctest: +SKIP

The same from the command line: ``sen12ms-models train|reproduce|evaluate|export|publish``;
several processes with ``torchrun --nproc-per-node=N -m sen12ms_models.training train ...``.
"""

from typing import TYPE_CHECKING

from sen12ms_models._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ExportResult": ".export",
        "MetricCounts": ".metrics",
        "Scores": ".metrics",
        "Sen12msDataset": "sen12ms_models.datasets.sen12ms",
        "TrainConfig": ".config",
        "TrainResult": ".member",
        "reproduce": ".reproduce",
        "select_models": ".reproduce",
        "best_constant_f1_micro": ".metrics",
        "evaluate": ".evaluation",
        "evaluate_split": ".evaluation",
        "export_run": ".export",
        "load_for_evaluation": ".evaluation",
        "publish": "sen12ms_models.hub.publish",
        "table4": ".report",
        "train": ".loop",
        "train_group": ".loop",
    },
)
__all__ = [
    "ExportResult",
    "MetricCounts",
    "Scores",
    "Sen12msDataset",
    "TrainConfig",
    "TrainResult",
    "best_constant_f1_micro",
    "evaluate",
    "evaluate_split",
    "export_run",
    "load_for_evaluation",
    "publish",
    "reproduce",
    "select_models",
    "table4",
    "train",
    "train_group",
]

if TYPE_CHECKING:
    from sen12ms_models.datasets.sen12ms import Sen12msDataset
    from sen12ms_models.hub.publish import publish
    from sen12ms_models.training.config import TrainConfig
    from sen12ms_models.training.evaluation import evaluate, evaluate_split, load_for_evaluation
    from sen12ms_models.training.export import ExportResult, export_run
    from sen12ms_models.training.loop import train, train_group
    from sen12ms_models.training.member import TrainResult
    from sen12ms_models.training.metrics import MetricCounts, Scores, best_constant_f1_micro
    from sen12ms_models.training.report import table4
    from sen12ms_models.training.reproduce import reproduce, select_models
