"""Reliability suite (issue 7): fuzzing, hostile input, outages, storms and crashes."""
