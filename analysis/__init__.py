"""Figure 5, its table and statistics from Tune's results (``python -m analysis.figure5``)."""

import sys

try:
    import pandas  # noqa: F401

    import rllib_iam  # noqa: F401
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"python -m analysis: error: {err}; use the project's .venv (`make test` creates "
             "it): `source .venv/bin/activate`, or `.venv/bin/python -m analysis.figure5 ...`")
