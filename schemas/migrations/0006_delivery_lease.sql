-- Which notifier works on a pending delivery, and until when.
--
-- A consumer-group rebalance can leave two notifiers holding the same outbox record for a
-- moment: the one that lost the partition still has it queued, and the new owner reads it again
-- from the last committed offset. Before each request a notifier takes the delivery's lease in
-- one statement (free, its own, or expired); while another notifier's lease runs it does not
-- post, and waits for the delivery to be finished or the lease to run out. A lease is longer
-- than one request can take (the notifier's request timeout plus a margin), so a lease still
-- running means its holder may have a request in flight; an expired one means the holder is
-- gone or waiting between attempts, and its attempts without an outcome are in doubt, as after a
-- crash.
--
-- The columns are left as they are when the delivery is posted or failed: they then say which
-- notifier finished it.
ALTER TABLE slack_deliveries
  ADD COLUMN leased_by   text,
  ADD COLUMN lease_until timestamptz;
