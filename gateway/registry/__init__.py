"""The agency registry: who may take part, and the keys and endpoints verified out of band."""
