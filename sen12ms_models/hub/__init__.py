"""The Hugging Face Hub side of weights: ``download`` (verified fetching), ``card`` (model cards), ``publish``."""
