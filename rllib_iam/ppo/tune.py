"""The old home of Tune's trial restoring and logs, now `rllib_iam.tune.trials`.

An experiment started before they moved (2026-12) keeps its Tune callbacks pickled under this
module's path in its ``tuner.pkl``; `Tuner.restore` (``--resume``) finds them here.
"""

from rllib_iam.tune.trials import CsvLog, IntactRestore, JsonLog

__all__ = ["CsvLog", "IntactRestore", "JsonLog"]
