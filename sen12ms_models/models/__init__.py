"""The SEN12MS baselines: ``resnet``, ``densenet``, what they share (``base``), building and loading (``api``)."""
