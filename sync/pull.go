package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// Pull returns one page of changes since the checkpoint, scoped to what the
// caller may see now (the store's access rule: caseload, team, registered
// practice; plus the directory of the caller's organisation and partners).
//
// It reads in one REPEATABLE READ snapshot, so the high-water sequence number
// and the records come from the same moment, and sequence numbers are handed
// out to committed changes only, by stamps that commit in number order
// (009_sync_stamp_after_commit.sql): a page never skips a change that
// becomes visible later with a smaller position. Patients who entered the scope since
// the checkpoint's scope generation are backfilled before the stream goes on;
// patients who left are listed in RevokedPatientIDs. A malformed checkpoint or
// another device's gets resetRequired CHECKPOINT_INVALID, one older than the
// tombstone purge CHECKPOINT_EXPIRED, a revoked device DEVICE_REVOKED with
// wipe. Errors: EINVALID (protocol), ELIMIT (limit out of range),
// EUNAUTHENTICATED, EFORBIDDEN (not a practitioner's token, another's device).
func (e *Engine) Pull(ctx context.Context, in PullInput) (*PullPayload, error) {
	if err := CheckProtocol(in.ProtocolVersion); err != nil {
		return nil, err
	}
	limit := e.cfg.DefaultPullLimit
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > e.cfg.MaxPullLimit {
			return nil, care.Errorf(care.ELIMIT, "limit must be between 1 and %d", e.cfg.MaxPullLimit)
		}
		limit = *in.Limit
	}
	if in.Checkpoint != nil && *in.Checkpoint != "" {
		// The usual page: a known device's checkpoint. Its page start
		// checks the device (SyncPageStart); anything else (a new, revoked
		// or foreign device) takes the path below, which says why.
		if cp, ok := decodeCheckpoint(*in.Checkpoint, in.DeviceID); ok {
			out, err := e.page(ctx, in, in.DeviceID, cp, false, limit)
			if !errors.Is(err, postgres.ErrSyncDeviceUnknown) {
				return out, err
			}
		}
	}
	dev, err := e.db.RegisterDevice(ctx, in.DeviceID)
	if err != nil {
		return nil, err
	}
	if dev.RevokedAt != nil {
		return reset(ResetDeviceRevoked, true), nil
	}
	var cp checkpoint
	fresh := in.Checkpoint == nil || *in.Checkpoint == ""
	if !fresh {
		var ok bool
		if cp, ok = decodeCheckpoint(*in.Checkpoint, dev.ID); !ok {
			return reset(ResetCheckpointInvalid, false), nil
		}
		if cp.scopeNeed() < dev.ScopeFloor {
			return reset(ResetCheckpointExpired, false), nil // its scope generation was compacted
		}
	}
	out, err := e.page(ctx, in, dev.ID, cp, fresh, limit)
	if errors.Is(err, postgres.ErrSyncDeviceUnknown) {
		return reset(ResetDeviceRevoked, true), nil // revoked since RegisterDevice read it
	}
	return out, err
}

// page pulls one page in one snapshot transaction.
func (e *Engine) page(ctx context.Context, in PullInput, device uuid.UUID, cp checkpoint, fresh bool, limit int) (*PullPayload, error) {
	// Number what has committed (the caller's own push included) before the
	// snapshot, so the page sees it (postgres.StampSync).
	if _, err := e.db.StampSync(ctx); err != nil {
		return nil, fmt.Errorf("sync pull: %w", err)
	}
	var out *PullPayload
	err := e.db.InSnapshot(ctx, func(tx *postgres.DB) error {
		var err error
		out, err = e.pullPage(ctx, tx, device, in, cp, fresh, limit)
		return err
	})
	if errors.Is(err, postgres.ErrSyncDeviceUnknown) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("sync pull: %w", err)
	}
	return out, nil
}

func reset(r ResetReason, wipe bool) *PullPayload {
	return &PullPayload{Upserts: []*Record{}, Tombstones: []*Tombstone{}, RevokedPatientIDs: []uuid.UUID{},
		ResetRequired: true, ResetReason: &r, Wipe: wipe}
}

// pullPage builds one page inside the snapshot tx.
func (e *Engine) pullPage(ctx context.Context, tx *postgres.DB, device uuid.UUID, in PullInput, cp checkpoint, fresh bool, limit int) (*PullPayload, error) {
	only := in.Only
	st, err := tx.SyncPageStart(ctx, device, cp.Gen, cp.scopeNeed(), fresh)
	if err != nil {
		return nil, err
	}
	hw := st.HighWater
	out := &PullPayload{Upserts: []*Record{}, Tombstones: []*Tombstone{}, RevokedPatientIDs: []uuid.UUID{}}
	if fresh {
		cp = checkpoint{V: checkpointVersion, Device: device, Seq: hw, Gen: 1, From: 0, Phase: phaseDirectory}
		if err := tx.SaveSyncScope(ctx, device, 1, 0); err != nil {
			return nil, err
		}
	} else {
		if cp.Seq < st.PurgedThrough || cp.scopeNeed() < st.ScopeFloor {
			return reset(ResetCheckpointExpired, false), nil
		}
		left := st.Left
		if st.Entered > 0 || len(left) > 0 {
			// The scope moved: store it as a new generation and backfill
			// whoever entered since the generation the device holds in full.
			next := cp
			next.Gen = cp.Gen + 1
			switch cp.Phase {
			case phaseStream:
				next.From, next.Phase, next.Cursor = cp.Gen, phaseBackfill, nil
			case phaseBackfill:
				next.Cursor = nil // newcomers may sort before the cursor: start over (re-sent records are harmless)
			}
			if err := tx.SaveSyncScope(ctx, device, next.Gen, next.From); err != nil {
				return nil, err
			}
			cp = next
			out.RevokedPatientIDs = left
		}
	}

	var changes []postgres.SyncChange
	room := func() int { return limit - len(changes) }
	if cp.Phase == phaseDirectory {
		var after postgres.SyncCursor
		if cp.Cursor != nil {
			after = postgres.SyncCursor{Entity: cp.Cursor.Entity, ID: cp.Cursor.ID}
		}
		got, err := tx.SyncDirectory(ctx, string(only), cp.Seq, after, room()+1)
		if err != nil {
			return nil, err
		}
		if len(got) > room() {
			got = got[:room()]
			last := got[len(got)-1]
			cp.Cursor = &cursor{Entity: last.Entity, ID: last.ID}
			out.HasMore = true
		} else {
			cp.Phase, cp.Cursor = phaseBackfill, nil
		}
		changes = append(changes, got...)
	}
	if !out.HasMore && cp.Phase == phaseBackfill {
		var after postgres.SyncCursor
		if cp.Cursor != nil {
			after = postgres.SyncCursor{PatientID: cp.Cursor.Patient, Entity: cp.Cursor.Entity, ID: cp.Cursor.ID}
		}
		got, err := tx.SyncBackfill(ctx, string(only), device, cp.Gen, cp.From, cp.Seq, after, room()+1)
		if err != nil {
			return nil, err
		}
		if len(got) > room() {
			got = got[:room()]
			if len(got) > 0 {
				last := got[len(got)-1]
				cp.Cursor = &cursor{Patient: *last.PatientID, Entity: last.Entity, ID: last.ID}
			}
			out.HasMore = true
		} else {
			cp.Phase, cp.From, cp.Cursor = phaseStream, 0, nil
		}
		changes = append(changes, got...)
	}
	streamFrom := len(changes) // the stream's changes follow: those the record cache keeps
	if !out.HasMore && cp.Phase == phaseStream {
		var after *postgres.SyncCursor
		if cp.Cursor != nil {
			after = &postgres.SyncCursor{Entity: cp.Cursor.Entity, ID: cp.Cursor.ID}
		}
		got, err := tx.SyncStream(ctx, string(only), cp.Seq, after, room()+1)
		if err != nil {
			return nil, err
		}
		if len(got) > room() {
			got = got[:room()]
			if len(got) > 0 {
				last := got[len(got)-1]
				cp.Seq, cp.Cursor = last.Seq, &cursor{Entity: last.Entity, ID: last.ID}
			}
			out.HasMore = true
		} else {
			cp.Seq, cp.Cursor = max(cp.Seq, hw), nil
		}
		changes = append(changes, got...)
	}

	if err := e.fillPage(ctx, tx, out, changes, streamFrom, in); err != nil {
		return nil, err
	}
	out.Checkpoint = cp.encode()
	return out, nil
}

// fillPage turns change-log rows into upserts (the records' current state)
// and tombstones, in the rows' order. Every upsert's JSON is written into
// one buffer for the page; the Data maps are built only with in.WithData.
// With in.WithLoaded each upsert carries its loaded row instead of JSON.
// Interactions whose JSON the record cache holds at their change are not
// loaded again (record_cache.go); those loaded from changes[streamFrom:],
// the stream's, are kept there, and the backfill's when loaded before.
func (e *Engine) fillPage(ctx context.Context, tx *postgres.DB, out *PullPayload, changes []postgres.SyncChange, streamFrom int, in PullInput) error {
	cached := !in.WithLoaded && !in.WithData
	refs := make([]postgres.SyncRef, 0, len(changes))
	var known []postgres.SyncKnown
	var hits []cachedRecord // with the cache: hits[k].json is nil unless changes[k] was found in it
	if cached {
		hits = make([]cachedRecord, len(changes))
	}
	for k, c := range changes {
		if c.Op != "upsert" {
			continue
		}
		if cached {
			if h, ok := e.cachedOf(c); ok {
				hits[k] = h
				known = append(known, postgres.SyncKnown{ID: c.ID, PatientID: *c.PatientID})
				continue
			}
		}
		refs = append(refs, postgres.SyncRef{Entity: c.Entity, ID: c.ID})
	}
	rows, err := tx.LoadSyncPage(ctx, refs, known)
	if err != nil {
		return err
	}
	var buf []byte
	if !in.WithLoaded {
		buf = make([]byte, 0, 1024*len(refs)) // an interaction is ~750 bytes: the page is appended without regrowing
	}
	recs := make([]Record, 0, len(changes))
	ends := make([]int, 0, len(changes)) // where each record's JSON ends in buf; -1 for one from the cache
	for k, c := range changes {
		if c.Op == "delete" {
			out.Tombstones = append(out.Tombstones, &Tombstone{Entity: Entity(c.Entity), ID: c.ID})
			continue
		}
		r := Record{Entity: Entity(c.Entity), ID: c.ID}
		if cached && hits[k].json != nil {
			h := hits[k]
			if !rows.Known[c.ID] {
				continue
			}
			r.Version, r.JSON = h.version, h.json // shared with the cache: never written to
			recs = append(recs, r)
			ends = append(ends, -1)
			continue
		}
		l, version, ok := loadedOf(rows, Entity(c.Entity), c.ID)
		if !ok {
			continue
		}
		r.Version = version
		if in.WithLoaded {
			loaded := l
			r.Loaded = &loaded
		} else {
			from := len(buf)
			buf = l.appendJSON(buf)
			switch {
			case cached && k >= streamFrom:
				e.keep(c, buf[from:], version)
			case cached:
				e.keepBackfilled(c, buf[from:], version)
			}
		}
		if in.WithData {
			r.Data = l.Data()
		}
		recs = append(recs, r)
		ends = append(ends, len(buf))
	}
	start := 0
	out.Upserts = make([]*Record, len(recs))
	for k := range recs {
		if end := ends[k]; end >= 0 && !in.WithLoaded {
			recs[k].JSON = RawJSON(buf[start:end:end])
			start = end
		}
		out.Upserts[k] = &recs[k]
	}
	return nil
}

// recordOf returns the loaded record as a sync Record with its Data, or
// nil if it was not loaded (gone, or not visible).
func recordOf(rows *postgres.SyncRows, e Entity, id uuid.UUID) *Record {
	l, version, ok := loadedOf(rows, e, id)
	if !ok {
		return nil
	}
	return &Record{Entity: e, ID: id, Version: version, Data: l.Data()}
}

// loadedOf returns the record as loaded and its version; false if it was
// not loaded (gone, or not visible).
func loadedOf(rows *postgres.SyncRows, e Entity, id uuid.UUID) (Loaded, int64, bool) {
	switch e {
	case EntityPatient:
		if p := rows.Patients[id]; p != nil {
			return Loaded{Patient: p}, p.Version, true
		}
	case EntityCareRelationship:
		if r := rows.Relationships[id]; r != nil {
			return Loaded{Relationship: r}, r.Version, true
		}
	case EntityInteraction:
		if i := rows.Interactions[id]; i != nil {
			return Loaded{Interaction: i, Amendments: rows.Amendments[id]}, i.Version, true
		}
	case EntityPractitioner:
		if p := rows.Practitioners[id]; p != nil {
			return Loaded{Practitioner: p}, p.Version, true
		}
	case EntityTeam:
		if t := rows.Teams[id]; t != nil {
			return Loaded{Team: t}, t.Version, true
		}
	case EntityFeedback:
		if r := rows.Feedback[id]; r != nil {
			return Loaded{Feedback: r}, r.Version, true
		}
	case EntityOrganization:
		if o := rows.Organizations[id]; o != nil {
			return Loaded{Organization: o}, o.Version, true
		}
	}
	return Loaded{}, 0, false
}

// appendJSON appends the record's JSON (record_json.go): its Data, encoded.
func (l *Loaded) appendJSON(b []byte) []byte {
	switch {
	case l.Patient != nil:
		return appendPatientJSON(b, l.Patient)
	case l.Relationship != nil:
		return appendRelationshipJSON(b, l.Relationship)
	case l.Interaction != nil:
		return appendInteractionJSON(b, l.Interaction, l.Amendments)
	case l.Practitioner != nil:
		return appendPractitionerJSON(b, l.Practitioner)
	case l.Team != nil:
		return appendTeamJSON(b, l.Team)
	case l.Feedback != nil:
		return appendFeedbackJSON(b, l.Feedback)
	case l.Organization != nil:
		return appendOrganizationJSON(b, l.Organization)
	}
	return b
}

// Data is the record's fields as sync sends them (record.go).
func (l *Loaded) Data() map[string]any {
	switch {
	case l.Patient != nil:
		return patientData(l.Patient)
	case l.Relationship != nil:
		return relationshipData(l.Relationship)
	case l.Interaction != nil:
		return interactionData(l.Interaction, l.Amendments)
	case l.Practitioner != nil:
		return practitionerData(l.Practitioner)
	case l.Team != nil:
		return teamData(l.Team)
	case l.Feedback != nil:
		return feedbackData(l.Feedback)
	case l.Organization != nil:
		return organizationData(l.Organization)
	}
	return nil
}

// Purge deletes tombstones older than the retention window and records how
// far it purged, so devices whose checkpoints are older are told to reset
// (CHECKPOINT_EXPIRED). It returns how many tombstones it deleted, or the
// database's error. Run it periodically (an operator job).
func (e *Engine) Purge(ctx context.Context) (int64, error) {
	return e.db.PurgeTombstones(ctx, e.cfg.Now().Add(-e.cfg.Retention))
}
