"""The security team's console: sign-in, the queue of held findings, the detail page, decisions.

``bot.console.routes.setup_console`` mounts it on the app; templates and the style sheet are
package data (``templates/``, ``static/``).
"""
