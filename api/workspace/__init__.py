"""The planners' workspace: projects from their own files, scenarios edited by hand, plans.

``store`` keeps projects, scenarios, jobs and the record of changes in SQLite; ``engine``
evaluates a scenario on the walking network (every community's status and walk time, updated
incrementally by an edit); ``jobs`` runs plans in the background; ``routes`` is the HTTP API
under ``/api``; ``access`` decides who may see and change a project.
"""
