"""The agency workspace (``/w``): pages for agency staff whose crypto runs in the browser."""
