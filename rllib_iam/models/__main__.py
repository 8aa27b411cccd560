"""Print every model's parameter count: ``python -m rllib_iam.models [--budget N]``."""

from __future__ import annotations

import argparse

from rllib_iam import WAREHOUSE_ID
from rllib_iam.models import param_table


def main() -> None:
    """Parse the command line and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default=WAREHOUSE_ID, help="env id whose default sizes to use")
    parser.add_argument("--budget", type=int, default=None, help="scale widths to this count")
    args = parser.parse_args()
    print(param_table(args.env, args.budget))


if __name__ == "__main__":
    main()
