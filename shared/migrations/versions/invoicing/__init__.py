"""Alembic revisions (loaded by path by shared.migrations; a package only so that they are installed)."""
