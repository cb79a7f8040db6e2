"""The ``dwr-larq`` command line: one module per command group, shared options and errors."""
