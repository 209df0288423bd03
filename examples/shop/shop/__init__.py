"""A tiny order service used as prwarden's bundled example."""
