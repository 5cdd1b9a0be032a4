package sync

import (
	"bytes"
	"encoding/base64"
	"encoding/json"

	"github.com/google/uuid"
)

// A checkpoint is opaque to devices: base64url JSON of where the device's
// pull stands. Phases, in order, for a fresh device: "directory" (its
// organisation's directory), "backfill" (the current records of patients who
// entered its scope between scope generations From and Gen, changed at or
// before Seq), then "stream" (every change after Seq, in commit order). A
// device whose scope grows goes back to "backfill" for the newcomers.
type checkpoint struct {
	V      int       `json:"v"`
	Device uuid.UUID `json:"device"`
	Seq    int64     `json:"seq"`
	Gen    int64     `json:"gen"`
	From   int64     `json:"from"`
	Phase  string    `json:"phase"`
	Cursor *cursor   `json:"cursor,omitempty"`
}

// cursor is the last record a page returned, within its phase.
type cursor struct {
	Patient uuid.UUID `json:"p,omitempty"`
	Entity  string    `json:"e"`
	ID      uuid.UUID `json:"id"`
	Seq     int64     `json:"s,omitempty"`
}

// Pull phases.
const (
	phaseDirectory = "directory"
	phaseBackfill  = "backfill"
	phaseStream    = "stream"
)

const checkpointVersion = 1

func (c checkpoint) encode() string {
	b, _ := json.Marshal(c) // plain structs always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCheckpoint parses s; ok is false when it is not a well-formed
// checkpoint of this device.
func decodeCheckpoint(s string, device uuid.UUID) (checkpoint, bool) {
	var c checkpoint
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 4096 {
		return c, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return c, false
	}
	switch {
	case c.V != checkpointVersion, c.Device != device, c.Seq < 0, c.Gen < 1, c.From < 0, c.From >= c.Gen:
		return c, false
	case c.Phase == phaseDirectory && c.From != 0:
		return c, false
	case c.Phase != phaseDirectory && c.Phase != phaseBackfill && c.Phase != phaseStream:
		return c, false
	}
	return c, true
}
