"""The faces of quarterhour: the command line (``cli``), the HTTP service (``http``), the report."""
