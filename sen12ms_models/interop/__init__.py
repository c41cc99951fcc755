"""Bridges to the libraries SEN12MS users already use (each imported only by its own module).

- ``torchgeo``: torchgeo's ``SEN12MS`` samples as this package's model input and scene labels.
"""
