"""poolkit: the importable core of the maximum-pooling workflow.

Each workflow stage is a thin script in ``scripts/`` that calls one module here.
"""

__version__ = "0.3.0"  # the same as pyproject.toml, CITATION.cff and CHANGELOG.md (tested)
