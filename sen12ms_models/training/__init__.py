"""Training, evaluation and export of the SEN12MS baselines: how published weights are made (docs/training.md)."""
