"""Training, evaluation, export and publication of the SEN12MS baselines (how published weights are made).

>>> from sen12ms_models.training import TrainConfig, train, export_run, publish
>>> result = train(TrainConfig("/data/SEN12MS", "runs/r50", arch="resnet50", modality="s1s2"))  # doctest: +SKIP
>>> export_run("runs/r50", "export/r50")                                                     # doctest: +SKIP
>>> publish("export/r50", dry_run=True)                                                      # doctest: +SKIP

The same from the command line: ``sen12ms-models train|evaluate|export|publish``; several
processes with ``torchrun --nproc-per-node=N -m sen12ms_models.training train ...``.
"""

from .config import TrainConfig
from .dataset import Sen12msDataset
from .evaluation import evaluate, evaluate_split, load_for_evaluation
from .export import ExportResult, export_run
from .loop import TrainResult, train
from .metrics import MetricCounts, Scores, best_constant_f1_micro
from .publish import publish
from .report import table4

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
    "table4",
    "train",
]
