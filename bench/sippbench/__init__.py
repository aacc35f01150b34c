"""Pieces of bench/sipp_compare.py: SIPp steps and measures, the servers, the report."""
