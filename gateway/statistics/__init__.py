"""Statistics for the national rapporteur and the monitoring body, released with differential privacy.

- :mod:`.models`: the statistics store (coarse codes and a keyed pseudonym per person, never a
  subject id), the release register and the privacy-budget ledger;
- :mod:`.dimensions`: what a table may be broken down by, each with its public list of values;
- :mod:`.store`: fills the store from the audit log, incrementally and idempotently;
- :mod:`.release`: builds a table, adds OpenDP noise, suppresses small cells and charges the budget;
- :mod:`.ledger`: the budget per calendar year of data;
- :mod:`.files`: the signed CSV and JSON files of a release;
- :mod:`.chart`: the server-rendered SVG chart of a release;
- :mod:`.service`: who may ask, and the release as the API and the console run it;
- :mod:`.api` (``/v1/statistics``) and :mod:`.console` (``/console/statistics``): the routes;
- :mod:`.synthetic`: synthetic case data for the benchmark and tests.
"""
