package sync

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/postgres"
)

// The record cache: when the devices of a team sync, each pulls the same
// new and changed interactions, and each pull loaded every one of them again
// through the access rule, scanned it and wrote its JSON. The engine now
// keeps the JSON it wrote for an interaction, with its version, under the
// change-log row that named it: the record's id and that row's sequence
// number. Every write of an interaction, and of one of its amendments, logs
// it again under a new sequence number (its own, or a bulk load's), since a
// device learns of a change only that way; so a row's number names one state
// of the record, and JSON kept under it is the record as a pull at that
// number would load it. A record whose log row has moved on is looked up
// under its new number and misses.
//
// A hit is not served on trust: LoadSyncPage checks that the caller may see
// the interaction's patient (the access rule of a loaded interaction) and
// audits it as served. Pulls that ask for records as loaded or as maps
// (RxDB, tests) bypass the cache.
//
// The stream's records are kept: the changes since a checkpoint, which
// every device of a team pulls within a round of syncs. A backfill's (a new
// phone's first pull, a patient entering a caseload) are kept only when a
// backfill loads them a second time: keeping the 100,000 records of one
// first pull cost that pull a fifth of its speed (copies, evictions, a
// larger heap for the collector) and pushed out the records that other
// devices were about to pull, but when a team's phones start together (the
// morning's first syncs, a new team's phones handed out), each of them
// backfills the same caseload, and every one after the second finds it here.
// Which records were loaded once is remembered by a doorkeeper: a table of
// fingerprints, each slot overwritten by the next record that hashes there,
// so it costs a fixed 8 bytes a slot (1 MiB for the default cache) whatever
// is pulled, and forgets.
// Forgetting, or two records sharing a fingerprint, only decides whether a
// record is kept; what is served from the cache is still found by its key.

// recordKey names an interaction at one change-log row.
type recordKey struct {
	id  uuid.UUID
	seq int64
}

// cachedRecord is an interaction's JSON as fillPage wrote it, and its version.
type cachedRecord struct {
	json    []byte
	version int64
}

// cacheable reports whether the change's record is one the cache keeps: an
// upserted interaction (under its patient), when the engine has a cache.
func (e *Engine) cacheable(c postgres.SyncChange) bool {
	return e.records != nil && c.Op == "upsert" && c.Entity == string(EntityInteraction) && c.PatientID != nil
}

// cachedOf returns the kept JSON of the change's record, if the cache holds
// it at this change.
func (e *Engine) cachedOf(c postgres.SyncChange) (cachedRecord, bool) {
	if !e.cacheable(c) {
		return cachedRecord{}, false
	}
	h, ok := e.records.Get(recordKey{c.ID, c.Seq})
	if ok {
		e.recordHits.Add(1)
	} else {
		e.recordMisses.Add(1)
	}
	return h, ok
}

// RecordCacheStats returns how many interactions pulls found in the record
// cache, and how many they looked for there in vain, since the engine
// started (both zero without a cache).
func (e *Engine) RecordCacheStats() (hits, misses int64) {
	return e.recordHits.Load(), e.recordMisses.Load()
}

// keep stores an interaction's JSON, written for change c, copied out of
// the page's buffer so that the page can be collected. Pages then share the
// copy: its capacity is its length, so that nothing appends into it.
func (e *Engine) keep(c postgres.SyncChange, json []byte, version int64) {
	if !e.cacheable(c) {
		return
	}
	kept := append([]byte(nil), json...)
	e.records.Add(recordKey{c.ID, c.Seq}, cachedRecord{json: kept[:len(kept):len(kept)], version: version})
}

// keepBackfilled keeps a backfill's record as keep does, if a backfill
// loaded it at this change before (as far as the doorkeeper remembers).
func (e *Engine) keepBackfilled(c postgres.SyncChange, json []byte, version int64) {
	if e.cacheable(c) && e.loadedOnce.again(recordKey{c.ID, c.Seq}) {
		e.keep(c, json, version)
	}
}

// doorkeeper remembers, lossily, which keys it was shown lately.
type doorkeeper struct {
	seed  maphash.Seed
	slots []atomic.Uint64 // a key's fingerprint, in the slot it hashes to
}

// newDoorkeeper returns a doorkeeper of about four slots for each record
// the cache holds (a power of two).
func newDoorkeeper(records int) *doorkeeper {
	n := 1024
	for n < 4*records {
		n *= 2
	}
	return &doorkeeper{seed: maphash.MakeSeed(), slots: make([]atomic.Uint64, n)}
}

// again reports whether k was shown before (and its slot not taken since),
// and remembers it.
func (d *doorkeeper) again(k recordKey) bool {
	fp := maphash.Comparable(d.seed, k) | 1 // never 0, an empty slot
	return d.slots[fp&uint64(len(d.slots)-1)].Swap(fp) == fp
}
