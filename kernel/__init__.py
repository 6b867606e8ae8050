"""The kernel: small, dependency-free building blocks every layer above may use.

It sits at the bottom of the import layers, beside :mod:`crypto` and independent of it
(``lint-imports`` keeps it so), and imports nothing of this project:

* :mod:`kernel.ids` makes record ids (``prefix_`` + random URL-safe text);
* :mod:`kernel.timestamps` writes RFC 3339 UTC timestamps, refusing naive datetimes.
"""
