-- Issue 9 (hostile callers and departed staff).
--
-- The patients name filter matches the start of a given or family name,
-- case-insensitively; these indexes serve lower(name) LIKE 'prefix%' whatever
-- the database's collation (text_pattern_ops compares bytewise).
CREATE INDEX patients_family_name_prefix_idx ON patients (lower(family_name) text_pattern_ops);
CREATE INDEX patients_given_name_prefix_idx ON patients (lower(given_name) text_pattern_ops);
