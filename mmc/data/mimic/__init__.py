"""MIMIC-IV from the raw PhysioNet files under the MUSE protocol (see docs/mimic.md)."""
