"""prwarden: an asynchronous AI code-review bot delivered as a GitHub App."""

__version__ = "0.1.0"

CONFIG_PATH = ".github/prwarden.yml"
"""Where a repository keeps its prwarden config, on the base branch (read by ``review.config``)."""
