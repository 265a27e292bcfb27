"""Benchmarks of the Oficialía de Partes Electrónica, run against real services (``make bench``).

Each module is a command (``python -m bench.<name>``) that reports numbers and writes them to
``bench/results/<name>.md``; none of them asserts timings.
"""
