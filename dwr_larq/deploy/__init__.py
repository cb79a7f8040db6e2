"""Deployment: LCE conversion, flatbuffer checks, timers (this host or a device over ssh),
benchmarks and their reports."""
