"""The gateway as linkage unit: it stores agencies' linkage keys and says which agencies may
already know a person, without ever holding an identifier (see ``connectors/linkage.py``)."""
