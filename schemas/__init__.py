"""Avro schemas of every record that crosses a topic, and the one codec that reads and
writes them."""
