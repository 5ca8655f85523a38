"""Pure EEG computation: no Kafka, no database, no network.

Arrays outside MNE objects are in microvolts (``_uv``); MNE objects keep MNE's volts.
"""
