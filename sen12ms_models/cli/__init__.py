"""The ``sen12ms-models`` command line: argument parsing only, each command calling the library."""
