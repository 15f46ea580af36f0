"""The advisor: rules as data (``catalog``), evaluated by pure code (``evaluate``) over the
canonical signals of any run (``signals``), live in the service and over recorded runs alike.
No Textual, no SQLite writes here."""
