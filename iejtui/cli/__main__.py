"""``python -m iejtui.cli``: the service re-launches itself and its engines' ``iejtui ...``
argv this way, and the tests run the CLI in a fresh interpreter."""

from iejtui.cli.root import main

if __name__ == "__main__":
    main()
