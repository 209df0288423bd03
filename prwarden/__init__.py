"""prwarden: an asynchronous AI code-review bot delivered as a GitHub App."""

__version__ = "0.1.0"
