"""What a finished run publishes: ``publish`` reads the finished parts and writes the Hub-ready
folder (``shards``: train and rejected Parquet shards, report and recipe files), builds the typed
``RunReport`` (``report``) and renders the card; ``push`` uploads the folder in one commit."""

from curation.output.publish import publish
from curation.output.push import PushError, PushResult, push_folder
from curation.output.report import RunReport
from curation.output.shards import TRAIN_SCHEMA, write_shards

__all__ = ["publish", "PushError", "PushResult", "push_folder", "RunReport", "TRAIN_SCHEMA", "write_shards"]
