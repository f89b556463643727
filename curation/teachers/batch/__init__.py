"""Teacher requests as OpenAI batch files, and answers back from them, through the response store.

- ``files``: batch input lines for requests (``request_lines``, ``write_lines``), a batch output
  file read into the store by ``custom_id`` (``import_responses``, ``ImportSummary``), the store's
  records of exported requests and sent batches;
- ``api``: ``--batch``, the same through an OpenAI-compatible Batch API (``BatchAPI``,
  ``answer_by_batch``, ``BatchAPIError``).
"""

from curation.teachers.batch.api import BatchAPI, BatchAPIError, answer_by_batch
from curation.teachers.batch.files import ImportSummary, import_responses, request_lines, write_lines

__all__ = ["BatchAPI", "BatchAPIError", "answer_by_batch", "ImportSummary", "import_responses", "request_lines",
           "write_lines"]
