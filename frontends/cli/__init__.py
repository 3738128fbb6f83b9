"""The ``chainrule`` command: ``main`` parses and dispatches; each subcommand is one module."""
