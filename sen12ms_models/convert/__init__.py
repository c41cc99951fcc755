"""The SEN12MS toolbox's released checkpoints as verified safetensors weights (docs/convert.md)."""
