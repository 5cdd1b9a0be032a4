-- A device's ordinary pull reads the change log from its checkpoint on
-- (postgres.SyncStream). In commit order through sync_changes_seq_idx it
-- filters every change made since, by anyone, to find the caller's: after
-- 100,000 changes at another practice a nurse's pull of her 20 read all
-- 100,000. These two indexes let it read her patients' changes patient by
-- patient, and the directory's (records without a patient) on their own.
CREATE INDEX sync_changes_patient_seq_idx ON sync_changes (patient_id, seq) WHERE patient_id IS NOT NULL;
CREATE INDEX sync_changes_directory_seq_idx ON sync_changes (seq) WHERE patient_id IS NULL;
