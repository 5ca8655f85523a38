"""The Faust app: topics, agents, tables, and the ``brrr`` command line."""
