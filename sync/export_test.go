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
