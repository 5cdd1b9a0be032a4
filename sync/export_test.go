package sync

// CheckpointSeq exposes the stream position inside an opaque checkpoint, so
// tests can check that pages advance in commit order; -1 if malformed.
func CheckpointSeq(s string, dev [16]byte) int64 {
	c, ok := decodeCheckpoint(s, dev)
	if !ok {
		return -1
	}
	return c.Seq
}

// RecordCacheHits is how many interactions pulls took from the record cache.
func (e *Engine) RecordCacheHits() int { return int(e.recordHits.Load()) }
