-- Reserved: migration 007 belongs to a branch developed alongside this one
-- (tern needs consecutive numbers, and this branch's migration is 009).
-- When merging, delete this file in favour of the real 007.
SELECT 1;
