package sync_test

import (
	"encoding/json"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	offline "github.com/rapportcare/rapport/sync"
)

func visit(patient, by uuid.UUID, id uuid.UUID, notes string) care.CreateInteractionInput {
	return care.CreateInteractionInput{ID: &id, PatientID: patient, PractitionerID: &by, Mode: care.ModePhone,
		OccurredAt: time.Now().Add(-time.Hour).Truncate(time.Second), Purpose: "check-in", Notes: notes}
}

func TestPullOutOfOrderCommits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	pl := &puller{eng: w.eng, ctx: nurse, dev: newID(t)}
	pl.all(t)

	idA, idB := newID(t), newID(t)
	inserted, commit, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		// Transaction A writes its change first...
		done <- w.db.InTx(nurse, func(tx *postgres.DB) error {
			if _, err := tx.CreateInteraction(nurse, visit(w.f.PatientA1, w.f.Nurse1, idA, "A")); err != nil {
				return err
			}
			close(inserted)
			<-commit
			return nil
		})
	}()
	select {
	case <-inserted:
	case err := <-done:
		t.Fatalf("transaction A: %v", err)
	}
	// ...transaction B writes and commits while A is still open.
	if _, err := w.db.CreateInteraction(nurse, visit(w.f.PatientA1, w.f.Nurse1, idB, "B")); err != nil {
		t.Fatal(err)
	}
	got := upserted(pl.all(t))
	if got[idB] != 1 || got[idA] != 0 {
		t.Fatalf("first pull: B %d A %d, want B only", got[idB], got[idA])
	}
	close(commit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got = upserted(pl.all(t))
	if got[idA] != 1 || got[idB] != 0 {
		t.Fatalf("second pull: A %d B %d, want A (committed late) exactly once", got[idA], got[idB])
	}
}

func TestPullConcurrentWriters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	dev := newID(t)
	pl := &puller{eng: w.eng, ctx: nurse, dev: dev, limit: 7}
	pl.all(t)

	const writers, each = 6, 15
	var wg gosync.WaitGroup
	created := make(chan uuid.UUID, writers*each)
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			patient := w.f.PatientA1
			if g%2 == 1 {
				patient = w.f.PatientA2
			}
			for i := range each {
				id := uuid.New()
				if _, err := w.db.CreateInteraction(nurse, visit(patient, w.f.Nurse1, id, fmt.Sprint(g, i))); err != nil {
					errs <- err
					return
				}
				created <- id
			}
		}()
	}
	stop := make(chan struct{})
	go func() { wg.Wait(); close(stop) }()

	seen := map[uuid.UUID]int{}
	lastSeq := int64(-1)
	collect := func(pg *offline.PullPayload) {
		for _, r := range pg.Upserts {
			seen[r.ID]++
		}
		seq := offline.CheckpointSeq(pg.Checkpoint, dev)
		if seq < lastSeq {
			t.Fatalf("checkpoint went back from %d to %d", lastSeq, seq)
		}
		lastSeq = seq
	}
	for running := true; running; {
		select {
		case <-stop:
			running = false
		default:
		}
		collect(pl.page(t))
	}
	for _, pg := range pl.all(t) {
		collect(pg)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(created)
	n := 0
	for id := range created {
		n++
		if seen[id] != 1 {
			t.Errorf("interaction %s delivered %d times, want exactly once", id, seen[id])
		}
	}
	if n != writers*each {
		t.Fatalf("%d created", n)
	}
}

func TestPullPaging(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	const n = 2000
	d := &care.Dataset{}
	want := map[uuid.UUID]bool{}
	for i := range n {
		id := uuid.New()
		want[id] = true
		patient := w.f.PatientA1
		if i%2 == 0 {
			patient = w.f.PatientA2
		}
		d.Interactions = append(d.Interactions, care.Interaction{ID: id, PatientID: patient, PractitionerID: w.f.Nurse1, OrganizationID: w.f.Nursing,
			Mode: care.ModeHomeVisit, OccurredAt: time.Now().Add(-time.Duration(i) * time.Hour), Purpose: "visit", Notes: "n",
			Status: care.InteractionDraft})
	}
	if err := w.db.Load(sys(), d); err != nil {
		t.Fatal(err)
	}

	t.Run("a fresh device pages through its whole scope without gaps or duplicates", func(t *testing.T) {
		pl := &puller{eng: w.eng, ctx: nurse, dev: newID(t), limit: 100}
		pages := pl.all(t)
		got := map[uuid.UUID]int{}
		for i, pg := range pages {
			if len(pg.Upserts)+len(pg.Tombstones) > 100 {
				t.Fatalf("page %d holds %d records", i, len(pg.Upserts))
			}
			if i < len(pages)-1 && !pg.HasMore {
				t.Fatalf("page %d says no more", i)
			}
			for _, r := range pg.Upserts {
				got[r.ID]++
			}
		}
		for id, c := range got {
			if c != 1 {
				t.Fatalf("record %s delivered %d times", id, c)
			}
		}
		for id := range want {
			if got[id] != 1 {
				t.Fatalf("interaction %s missing", id)
			}
		}
		for _, id := range []uuid.UUID{w.f.PatientA1, w.f.PatientA2, w.f.InteractionA1Signed, w.f.PatientA1NamedNurse, w.f.Nursing, w.f.PracticeA, w.f.Team, w.f.Nurse2} {
			if got[id] != 1 {
				t.Fatalf("scope record %s missing", id)
			}
		}
		for _, id := range []uuid.UUID{w.f.PatientB1, w.f.InteractionB1, w.f.PracticeB, w.f.GPB} {
			if got[id] != 0 {
				t.Fatalf("record %s outside the nurse's scope was sent", id)
			}
		}
		if len(pages) < n/100 || pages[len(pages)-1].HasMore {
			t.Fatalf("%d pages, last hasMore %v", len(pages), pages[len(pages)-1].HasMore)
		}
		// Nothing more until something changes.
		if again := pl.page(t); len(again.Upserts) != 0 || again.HasMore {
			t.Fatalf("idle pull returned %d records", len(again.Upserts))
		}
	})
}

func TestPullScope(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse2 := as(w.f.Nurse2Actor)
	dev := newID(t)
	pl := &puller{eng: w.eng, ctx: nurse2, dev: dev}
	first := upserted(pl.all(t))
	if first[w.f.PatientB1] != 0 || first[w.f.PatientA1] != 0 {
		t.Fatal("nurse 2 has no caseload yet")
	}

	var rel *care.CareRelationship
	var draft uuid.UUID
	t.Run("a patient entering the caseload is backfilled", func(t *testing.T) {
		var err error
		rel, err = w.db.StartRelationship(sys(), care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &w.f.PatientB1, PractitionerID: &w.f.Nurse2})
		if err != nil {
			t.Fatal(err)
		}
		before := *pl.cp
		got := upserted(pl.all(t))
		for _, id := range []uuid.UUID{w.f.PatientB1, w.f.InteractionB1, rel.ID} {
			if got[id] != 1 {
				t.Fatalf("record %s not backfilled once (%d)", id, got[id])
			}
		}
		t.Run("a retried pull with the old checkpoint returns the same backfill", func(t *testing.T) {
			retry := &puller{eng: w.eng, ctx: nurse2, dev: dev, cp: &before}
			again := upserted(retry.all(t))
			if len(again) != len(got) {
				t.Fatalf("retry returned %d records, first %d", len(again), len(got))
			}
			for id := range got {
				if again[id] != 1 {
					t.Fatalf("retry lacks %s", id)
				}
			}
			pl.cp = retry.cp
		})
		p := mustPush(t, w.eng, nurse2, dev, createVisit(1, newID(t), w.f.PatientB1, "in scope"))
		wantStatus(t, p.Results[0], offline.StatusApplied)
		draft = uuid.MustParse(p.Results[0].Record["id"].(string))
		pl.all(t)
	})

	t.Run("a patient leaving is revoked and edits to their records are rejected out of scope", func(t *testing.T) {
		if _, err := w.db.EndRelationship(sys(), care.EndRelationshipInput{ID: rel.ID}); err != nil {
			t.Fatal(err)
		}
		pages := pl.all(t)
		revoked := false
		for _, pg := range pages {
			for _, id := range pg.RevokedPatientIDs {
				revoked = revoked || id == w.f.PatientB1
			}
		}
		if !revoked {
			t.Fatalf("patient B1 not revoked: %s", describe(pages))
		}
		if got := upserted(pages); got[w.f.InteractionB1] != 0 {
			t.Fatal("records of a patient who left still sent")
		}
		r := mustPush(t, w.eng, nurse2, dev, update(2, draft, 1, now(), map[string]any{"notes": "written offline"})).Results[0]
		wantCode(t, r, offline.CodeOutOfScope)
		if r.Message == nil || *r.Message == "" {
			t.Fatal("no message")
		}
		// A device that never had the patient learns nothing.
		other := newID(t)
		wantCode(t, mustPush(t, w.eng, nurse2, other, update(1, draft, 1, now(), map[string]any{"notes": "x"})).Results[0], offline.CodeNotFound)
	})

	t.Run("bad checkpoints reset", func(t *testing.T) {
		for name, cp := range map[string]string{"garbage": "not a checkpoint", "other device": *pl.cp} {
			d := dev
			if name == "other device" {
				d = newID(t)
			}
			out, err := w.eng.Pull(nurse2, offline.PullInput{ProtocolVersion: 1, DeviceID: d, Checkpoint: &cp})
			if err != nil || !out.ResetRequired || *out.ResetReason != offline.ResetCheckpointInvalid || out.Wipe {
				t.Fatalf("%s: %+v %v", name, out, err)
			}
		}
	})

	t.Run("a checkpoint older than tombstone retention must reset", func(t *testing.T) {
		nurse := as(w.f.Nurse1Actor)
		n1 := &puller{eng: w.eng, ctx: nurse, dev: newID(t)}
		n1.all(t)
		old := *n1.cp
		id := newID(t)
		mustPush(t, w.eng, nurse, n1.dev, createVisit(1, id, w.f.PatientA1, "x"),
			offline.ChangeInput{MutationSeq: 2, Entity: offline.EntityInteraction, ID: id, Op: offline.OpDelete, BaseVersion: ptr(int64(1)), Hlc: now()})
		later := offline.New(w.db, offline.Config{Retention: 24 * time.Hour, Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
		if n, err := later.Purge(sys()); err != nil || n < 1 {
			t.Fatalf("purged %d: %v", n, err)
		}
		out, err := w.eng.Pull(nurse, offline.PullInput{ProtocolVersion: 1, DeviceID: n1.dev, Checkpoint: &old})
		if err != nil || !out.ResetRequired || *out.ResetReason != offline.ResetCheckpointExpired || out.Wipe {
			t.Fatalf("expired: %+v %v", out, err)
		}
		fresh := &puller{eng: w.eng, ctx: nurse, dev: n1.dev}
		if got := upserted(fresh.all(t)); got[w.f.PatientA1] != 1 {
			t.Fatal("re-sync from scratch failed")
		}
	})

	t.Run("a revoked device gets nothing and is told to wipe", func(t *testing.T) {
		if _, err := w.eng.RevokeDevice(as(w.f.AdminNActor), offline.RevokeDeviceInput{ID: dev}); err != nil {
			t.Fatal(err)
		}
		out, err := w.eng.Pull(nurse2, offline.PullInput{ProtocolVersion: 1, DeviceID: dev, Checkpoint: pl.cp})
		if err != nil || !out.ResetRequired || *out.ResetReason != offline.ResetDeviceRevoked || !out.Wipe || len(out.Upserts) != 0 {
			t.Fatalf("revoked pull: %+v %v", out, err)
		}
		_, err = w.eng.Push(nurse2, offline.PushInput{ProtocolVersion: 1, DeviceID: dev, Changes: []offline.ChangeInput{createVisit(9, newID(t), w.f.PatientA1, "x")}})
		if care.ErrorCode(err) != care.EFORBIDDEN {
			t.Fatalf("revoked push: %v", err)
		}
		ds, err := w.eng.Devices(nurse2)
		if err != nil {
			t.Fatal(err)
		}
		revoked := 0
		for _, d := range ds {
			if d.RevokedAt != nil {
				revoked++
				if d.ID != dev {
					t.Fatalf("device %s revoked", d.ID)
				}
			}
		}
		if revoked != 1 {
			t.Fatalf("%d of %d devices revoked, want 1", revoked, len(ds))
		}
		if _, err := w.eng.RevokeDevice(as(w.f.AdminBActor), offline.RevokeDeviceInput{ID: dev}); care.ErrorCode(err) != care.ENOTFOUND {
			t.Fatalf("another organisation's admin revoked: %v", err)
		}
	})

	t.Run("unsupported protocol and bad limit are errors", func(t *testing.T) {
		if _, err := w.eng.Pull(nurse2, offline.PullInput{ProtocolVersion: 0, DeviceID: newID(t)}); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("protocol 0: %v", err)
		}
		if _, err := w.eng.Pull(nurse2, offline.PullInput{ProtocolVersion: 1, DeviceID: newID(t), Limit: ptr(5000)}); care.ErrorCode(err) != care.ELIMIT {
			t.Fatalf("limit 5000: %v", err)
		}
	})
}

func TestClockSkew(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	dev := newID(t)
	t.Run("a timestamp far in the future is rejected with a clear message", func(t *testing.T) {
		c := createVisit(1, newID(t), w.f.PatientA1, "x")
		c.Hlc = hlcAt(time.Now().Add(2*time.Hour), 0, "fast")
		r := mustPush(t, w.eng, nurse, dev, c).Results[0]
		wantCode(t, r, offline.CodeBadUserInput)
		if _, err := w.db.Interaction(nurse, c.ID); err == nil {
			t.Fatal("applied")
		}
	})
	t.Run("a malformed timestamp is rejected", func(t *testing.T) {
		c := createVisit(2, newID(t), w.f.PatientA1, "x")
		c.Hlc = "yesterday"
		wantCode(t, mustPush(t, w.eng, nurse, dev, c).Results[0], offline.CodeBadUserInput)
	})
	t.Run("the server clock advances past a device slightly ahead", func(t *testing.T) {
		ahead := offline.HLC{Wall: time.Now().Add(time.Minute).UnixMilli(), Counter: 7, Node: "dev"}
		c := createVisit(3, newID(t), w.f.PatientA1, "x")
		c.Hlc = ahead.String()
		p := mustPush(t, w.eng, nurse, dev, c)
		wantStatus(t, p.Results[0], offline.StatusApplied)
		server, err := offline.ParseHLC(p.ServerHlc)
		if err != nil || server.Compare(ahead) <= 0 {
			t.Fatalf("server hlc %s not after %s (%v)", p.ServerHlc, ahead, err)
		}
	})
}

// TestPullParentsFirst: a device that applies each page in order into a
// store enforcing foreign keys meets every record's patient (and the
// practitioner who recorded it, when that practitioner is in its directory)
// no later than the record. Before, a first sync delivered a patient's
// interactions and relationships before the patient ('care_relationship' and
// 'interaction' sort before 'patient').
func TestPullParentsFirst(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	dev := newID(t)
	// More records than a page holds, for two patients.
	for i := range 6 {
		mustPush(t, w.eng, nurse, dev, createVisit(int64(i+1), newID(t), []uuid.UUID{w.f.PatientA1, w.f.PatientA2}[i%2], "x"))
	}
	fresh := &puller{eng: w.eng, ctx: nurse, dev: newID(t), limit: 2}
	have := map[uuid.UUID]bool{}
	practitioners := map[uuid.UUID]bool{}
	for _, pg := range fresh.all(t) {
		for _, r := range pg.Upserts {
			if r.Entity == offline.EntityPractitioner {
				practitioners[r.ID] = true
			}
			if pid, ok := r.Data["patientId"].(string); ok && !have[uuid.MustParse(pid)] {
				t.Fatalf("%s %s arrived before its patient %s", r.Entity, r.ID, pid)
			}
			if r.Entity == offline.EntityPatient {
				have[r.ID] = true
			}
		}
	}
	if len(have) < 2 || len(practitioners) == 0 {
		t.Fatalf("patients %d, practitioners %d", len(have), len(practitioners))
	}
}

// TestPullAuditsEachPage checks the page audit: every page that sends a
// patient's records leaves one SyncPage read row for that patient (the
// page's id), none per record; pages without the patient leave none.
func TestPullAuditsEachPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	pl := &puller{eng: w.eng, ctx: nurse, dev: newID(t), limit: 3}
	pages := pl.all(t)
	if err := w.db.FlushAudit(sys()); err != nil {
		t.Fatal(err)
	}
	for _, patient := range []uuid.UUID{w.f.PatientA1, w.f.PatientA2} {
		entries, err := w.db.AuditEntries(sys(), patient)
		if err != nil {
			t.Fatal(err)
		}
		pagesIDs := map[uuid.UUID]bool{}
		for _, e := range entries {
			if e.ActorID != w.f.Nurse1 || e.Action != care.AuditRead {
				continue
			}
			if e.Entity != "SyncPage" {
				t.Errorf("patient %s: a pull audited %s %s, want one SyncPage row per page", patient, e.Entity, e.EntityID)
			}
			if pagesIDs[e.EntityID] {
				t.Errorf("patient %s: page %s audited twice", patient, e.EntityID)
			}
			pagesIDs[e.EntityID] = true
		}
		with := 0
		for _, pg := range pages {
			has := false
			for _, r := range pg.Upserts {
				var d struct {
					PatientID uuid.UUID `json:"patientId"`
				}
				_ = json.Unmarshal(r.JSON, &d)
				has = has || r.ID == patient || d.PatientID == patient
			}
			if has {
				with++
			}
		}
		if with == 0 || len(pagesIDs) != with {
			t.Errorf("patient %s: %d pages sent their records, %d SyncPage audit rows", patient, with, len(pagesIDs))
		}
	}
}

// TestPullStatementsPerPage counts the statements of a known device's page
// of interactions (numbering stamp, begin, page start, change-log walk,
// records, commit), so a page does not slide back to more round trips. The
// stamp (postgres.StampSync) runs before the page's snapshot in its own
// READ COMMITTED statement, so it cannot join the page transaction; it writes
// nothing when every committed change is already numbered.
func TestPullStatementsPerPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	d := &care.Dataset{}
	for i := range 50 {
		d.Interactions = append(d.Interactions, care.Interaction{ID: uuid.Must(uuid.NewV7()), PatientID: w.f.PatientA1, PractitionerID: w.f.Nurse1,
			OrganizationID: w.f.Nursing, Mode: care.ModePhone, OccurredAt: time.Now().Add(-time.Duration(i) * time.Minute), Purpose: "p", Notes: "n",
			Status: care.InteractionDraft, ParticipantIDs: []uuid.UUID{}, OtherPresent: []string{}})
	}
	if err := w.db.Load(sys(), d); err != nil {
		t.Fatal(err)
	}
	pl := &puller{eng: w.eng, ctx: nurse, dev: newID(t), limit: 10, raw: true}
	most := int64(0)
	for {
		before := w.db.QueryCount()
		pg := pl.page(t)
		n := w.db.QueryCount() - before
		only := len(pg.Upserts) > 0
		for _, r := range pg.Upserts {
			only = only && r.Entity == offline.EntityInteraction
		}
		if only && pg.HasMore && n > most {
			most = n // a full page of interactions, past the directory and the patient
		}
		if !pg.HasMore {
			break
		}
	}
	t.Logf("at most %d statements per page", most)
	if most == 0 || most > 6 {
		t.Errorf("a page of interactions took %d statements, want at most 6 (stamp, begin, page start, walk, records, commit)", most)
	}
}

// TestBackfillPagesAcrossManyPatients pulls a caseload of many patients with
// very different numbers of records onto fresh devices in pages of several
// sizes, and checks that every record arrives exactly once, each patient's
// own record before their relationships and interactions, whatever the page
// size: a page ends inside a patient, exactly at one's end, or spans many.
// (The backfill counts each newcomer's changes one patient at a time and
// reads only the patients its page can hold; this holds it to the answer.)
func TestBackfillPagesAcrossManyPatients(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	want := map[uuid.UUID]bool{}
	patientOf := map[uuid.UUID]uuid.UUID{}
	start := time.Now().Add(-30 * 24 * time.Hour)
	d := &care.Dataset{}
	for i := range 23 {
		p, err := w.db.CreatePatient(sys(), care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(100 + i), GivenName: "Many",
			FamilyName: fmt.Sprintf("Patient %d", i), BirthDate: time.Date(1940+i, 1, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: w.f.PracticeA})
		if err != nil {
			t.Fatal(err)
		}
		r, err := w.db.StartRelationship(sys(), care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &p.ID, PractitionerID: &w.f.Nurse2, PeriodStart: &start})
		if err != nil {
			t.Fatal(err)
		}
		want[p.ID], want[r.ID] = true, true
		patientOf[p.ID], patientOf[r.ID] = p.ID, p.ID
		// 0, 1, 2, ... 5 interactions, then one patient with 40.
		n := i % 6
		if i == 11 {
			n = 40
		}
		for j := range n {
			id := uuid.Must(uuid.NewV7())
			d.Interactions = append(d.Interactions, care.Interaction{ID: id, PatientID: p.ID, PractitionerID: w.f.Nurse2,
				OrganizationID: w.f.Nursing, Mode: care.ModePhone, OccurredAt: start.Add(time.Duration(j) * time.Hour), Purpose: "p", Notes: "n",
				Status: care.InteractionDraft, ParticipantIDs: []uuid.UUID{}, OtherPresent: []string{}})
			want[id], patientOf[id] = true, p.ID
		}
	}
	if err := w.db.Load(sys(), d); err != nil {
		t.Fatal(err)
	}
	nurse2 := as(w.f.Nurse2Actor)
	for _, limit := range []int{1, 2, 3, 7, 40, 41, 500} {
		pl := &puller{eng: w.eng, ctx: nurse2, dev: newID(t), limit: limit, raw: true}
		got := map[uuid.UUID]int{}
		seenPatient := map[uuid.UUID]bool{}
		for _, pg := range pl.all(t) {
			if len(pg.Upserts) > limit {
				t.Fatalf("limit %d: a page of %d records", limit, len(pg.Upserts))
			}
			for _, r := range pg.Upserts {
				got[r.ID]++
				if r.Entity == offline.EntityPatient {
					seenPatient[r.ID] = true
				}
				if p, ok := patientOf[r.ID]; ok && r.Entity != offline.EntityPatient && !seenPatient[p] {
					t.Fatalf("limit %d: %s %s arrived before its patient", limit, r.Entity, r.ID)
				}
			}
		}
		for id := range want {
			if got[id] != 1 {
				t.Errorf("limit %d: record %s (patient %s) arrived %d times, want once", limit, id, patientOf[id], got[id])
			}
		}
	}
}
