"""The tamper-evident audit log: every decision and change, never a payload value.

Writing (other modules): :func:`gateway.audit.log.record` appends an
:class:`~gateway.audit.log.AuditEvent` inside the caller's transaction (see that module
for the conventions the console relies on); :func:`~gateway.audit.log.record_refusal`
writes a refusal in its own transaction.

How it is made tamper-evident:

* ``audit_entries.seq`` is gapless and is the leaf index of an RFC 9162 Merkle tree whose
  leaf ``i`` is ``SHA-256(0x00 || RFC 8785 JSON of entry i)`` (:mod:`.log`, :mod:`.leaves`);
* every complete subtree is stored as it completes, in the entry's transaction, so roots
  and proofs read O(log n) nodes (:mod:`.tree`);
* the gateway signs checkpoints (tree size, root, time) with its Ed25519 key, every
  ``GATEWAY_AUDIT_CHECKPOINT_INTERVAL_S`` seconds when the log grew and on demand
  (:mod:`.checkpoints`; the exact signed bytes are documented in :mod:`crypto.checkpoint`);
* ``gateway audit verify`` recomputes everything from the stored columns and names each
  entry that differs (:mod:`.verify`); ``--incremental`` / ``--since-checkpoint`` check only
  the entries since a verified checkpoint, from the stored tree's frontier (:mod:`.incremental`).

Outsiders check it over ``/v1/audit`` (:mod:`.routes`): ``checkpoints/latest``,
``checkpoints/{tree_size}``, ``entries/{seq}/inclusion-proof``, ``consistency-proof``
and, for an agency, ``entries`` it acted in or received; the agency SDK pins checkpoints
with :func:`connectors.audit.check_checkpoint_update`.
"""
