"""The ``quarterhour`` command line: shared options, then one module per group of commands."""
