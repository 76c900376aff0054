"""Imports every module that declares tables, so metadata is complete for migrations."""

# Each subsystem adds its table module here.
