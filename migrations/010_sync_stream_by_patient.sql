-- A device's ordinary pull reads the change log from its checkpoint on
-- (postgres.SyncStream), and an online device's subscription checks it for
-- changes since its last look (postgres.ChangesVisibleSince). In commit
-- order through sync_changes_seq_idx each filtered every change made since,
-- by anyone, to find the caller's: after 100,000 changes at another practice
-- a nurse's pull of her 20 read all 100,000. These two indexes let them read
-- her patients' changes patient by patient, and the directory's (records
-- without a patient) on their own.
--
-- Only numbered changes are looked up by number (unnumbered ones through
-- sync_changes_unstamped_idx, by transaction), so these indexes, and the
-- commit-order index rebuilt below, leave unnumbered rows out: a writer's
-- change enters them when a stamp numbers it, not also when it is written.
CREATE INDEX sync_changes_patient_seq_idx ON sync_changes (patient_id, seq) WHERE patient_id IS NOT NULL AND seq IS NOT NULL;
CREATE INDEX sync_changes_directory_seq_idx ON sync_changes (seq) WHERE patient_id IS NULL AND seq IS NOT NULL;
DROP INDEX sync_changes_seq_idx;
CREATE INDEX sync_changes_seq_idx ON sync_changes (seq, entity, entity_id) WHERE seq IS NOT NULL;
