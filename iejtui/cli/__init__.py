"""The ``iejtui`` command line, one module per command group (see ``iejtui.cli.root``).

``iejtui.cli:main`` is the console script; ``python -m iejtui.cli`` runs ``__main__``.
"""

from iejtui.cli.root import main

__all__ = ["main"]
