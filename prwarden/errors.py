"""The one exception tree of prwarden.

Every error the project raises on purpose is a ``PrwardenError``; callers catch broadly
only at the two edges (the webhook handler and the job runner)::

    PrwardenError
    ├── ConfigError          operator settings or repo config are wrong (key, expected)
    ├── DiffError            a diff cannot be parsed
    ├── WebhookError         a delivery is refused at the edge (status: 400/401/413)
    ├── GitHubError          GitHub answered with an error (status_code)
    │   ├── RateLimited      primary or secondary rate limit (retry_after seconds)
    │   └── FileTooLarge     the contents API does not inline a file this large (size)
    ├── LLMError             the model endpoint failed or is unreachable (retryable)
    │   └── BudgetExceeded   a token/cost/turn/time budget is used up (which)
    ├── ModelOutputError     the model's output does not follow the schema (errors)
    ├── ToolError            a tool could not run (tool, reason)
    │   └── JailError        a path or archive member escapes the workspace (path)
    ├── StoreError           the store (SQLite or PostgreSQL) refused an operation
    │   └── BudgetContended  reviews in flight hold what is left of a budget (which)
    └── DatasetError         an eval dataset or stored eval result cannot be read (path)

The exceptions carry data, not only a message, so handlers decide on fields rather than
on text. Messages never contain secrets.
"""

from __future__ import annotations


class PrwardenError(Exception):
    """Base of every error prwarden raises on purpose."""


class ConfigError(PrwardenError):
    """A setting is missing or has the wrong form."""

    def __init__(self, message: str, *, key: str = "", expected: str = "", source: str = ""):
        super().__init__(message)
        self.key = key
        self.expected = expected
        self.source = source


class DiffError(PrwardenError):
    """A diff cannot be parsed."""


class WebhookError(PrwardenError):
    """A webhook delivery is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


class GitHubError(PrwardenError):
    """GitHub answered a request with an error status."""

    def __init__(self, message: str, *, status_code: int, retryable: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class RateLimited(GitHubError):
    """GitHub's primary or secondary rate limit; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, status_code: int, retry_after: float):
        super().__init__(message, status_code=status_code, retryable=True)
        self.retry_after = retry_after


class FileTooLarge(GitHubError):
    """The contents API answered ``encoding: none``: the file is over 1 MB (``size`` bytes)."""

    def __init__(self, message: str, *, size: int):
        super().__init__(message, status_code=200)
        self.size = size


class LLMError(PrwardenError):
    """The model endpoint failed, timed out or is unreachable."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class BudgetExceeded(LLMError):
    """A budget (tokens, cost, turns, wall time) is used up; ``which`` names it."""

    def __init__(self, message: str, *, which: str, resets_at: str | None = None):
        super().__init__(message, retryable=False)
        self.which = which
        self.resets_at = resets_at


class ModelOutputError(PrwardenError):
    """The model's output does not follow the expected schema."""

    def __init__(self, message: str, *, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or []


class ToolError(PrwardenError):
    """A tool could not run; the agent receives this as an error result."""

    def __init__(self, message: str, *, tool: str = ""):
        super().__init__(message)
        self.tool = tool


class JailError(ToolError):
    """A path or archive member resolves outside the workspace."""

    def __init__(self, message: str, *, path: str, tool: str = ""):
        super().__init__(message, tool=tool)
        self.path = path


class StoreError(PrwardenError):
    """The store refused an operation (bad state transition, unknown id)."""


class BudgetContended(StoreError):
    """Only reviews in flight stand between today's spend and a ceiling: try again later."""

    def __init__(self, message: str, *, which: str):
        super().__init__(message)
        self.which = which


class DatasetError(PrwardenError):
    """An evaluation dataset, its labels or a stored eval result cannot be read."""

    def __init__(self, message: str, *, path: str = ""):
        super().__init__(message)
        self.path = path
