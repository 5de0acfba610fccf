"""The HTTP service (FastAPI) and the planners' web map; needs the ``serve`` extra."""
