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

// OneByOne returns cfg with every change of a push judged alone (pushOne),
// none set-based: the reference the set-based paths are held to.
func OneByOne(cfg Config) Config {
	cfg.oneByOne = true
	return cfg
}
