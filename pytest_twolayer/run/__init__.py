"""From the command line to the cases a run checks: the options and the settings read once
from them, the registry of implementations, the selection, the run's session, collection,
shards, the listing and the dry run.
"""
