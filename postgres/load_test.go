package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// loadNow fixes the demo window so the tests see the same dataset every run.
var loadNow = time.Date(2025, time.March, 3, 9, 30, 0, 0, time.UTC)

// openLoadDB returns a store and a plain connection (for counting rows) on a
// fresh database of the test's own.
func openLoadDB(t testing.TB) (*postgres.DB, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	url := postgrestest.URL(t)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(db.Close)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return db, conn
}

var loadTables = []string{"organizations", "teams", "practitioners", "patients", "care_relationships", "interactions", "interaction_amendments", "access_audit"}

// rowCounts returns the number of rows in each table Load writes.
func rowCounts(t testing.TB, conn *pgx.Conn) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range loadTables {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// schemaOf describes the indexes and constraints of the tables Load writes.
func schemaOf(t testing.TB, conn *pgx.Conn) string {
	t.Helper()
	var s string
	err := conn.QueryRow(context.Background(), `
		SELECT string_agg(d, E'\n' ORDER BY d) FROM (
			SELECT indexdef AS d FROM pg_indexes WHERE schemaname = current_schema()
			UNION ALL
			SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
			FROM pg_constraint WHERE connamespace = current_schema()::regnamespace) x`).Scan(&s)
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	return s
}

func systemCtx() context.Context {
	return care.NewContextWithActor(context.Background(), care.SystemActor())
}

func TestLoad(t *testing.T) {
	t.Parallel()
	o := demo.Small
	o.Now = loadNow
	d := demo.Generate(o)

	t.Run("writes every row of the Small demo dataset", func(t *testing.T) {
		t.Parallel()
		db, conn := openLoadDB(t)
		start := time.Now()
		if err := db.Load(systemCtx(), d); err != nil {
			t.Fatalf("Load: %v", err)
		}
		t.Logf("loaded Small (%d patients, %d interactions) in %v", len(d.Patients), len(d.Interactions), time.Since(start))

		patientRels := 0
		for _, r := range d.Relationships {
			if r.PatientID != nil {
				patientRels++
			}
		}
		want := map[string]int{
			"organizations":          len(d.Organizations),
			"teams":                  len(d.Teams),
			"practitioners":          len(d.Practitioners),
			"patients":               len(d.Patients),
			"care_relationships":     len(d.Relationships),
			"interactions":           len(d.Interactions),
			"interaction_amendments": len(d.Amendments),
			// One row for each patient, listing its records' creation.
			"access_audit": len(d.Patients),
		}
		got := rowCounts(t, conn)
		for _, table := range loadTables {
			if got[table] != want[table] {
				t.Errorf("%s: %d rows, want %d", table, got[table], want[table])
			}
		}
		var entries int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM access_audit_entries WHERE action = 'create'`).Scan(&entries); err != nil {
			t.Fatal(err)
		}
		if wantEntries := len(d.Patients) + patientRels + len(d.Interactions) + len(d.Amendments); entries != wantEntries {
			t.Errorf("access_audit lists %d created records, want %d", entries, wantEntries)
		}
		if want["interactions"] == 0 || want["interaction_amendments"] == 0 {
			t.Fatalf("the dataset should have interactions and amendments: %v", want)
		}

		// Statuses and signing survive as generated.
		wantStatus := map[string]int{}
		for _, in := range d.Interactions {
			wantStatus[string(in.Status)]++
		}
		rows, err := conn.Query(context.Background(), `SELECT status, count(*) FROM interactions GROUP BY status`)
		if err != nil {
			t.Fatal(err)
		}
		gotStatus := map[string]int{}
		for rows.Next() {
			var s string
			var n int
			if err := rows.Scan(&s, &n); err != nil {
				t.Fatal(err)
			}
			gotStatus[s] = n
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		for s, n := range wantStatus {
			if gotStatus[s] != n {
				t.Errorf("%d interactions with status %s, want %d", gotStatus[s], s, n)
			}
		}

		// An amended interaction holds the corrected content; its amendment
		// keeps what it replaced.
		am := d.Amendments[0]
		var purpose, notes, beforePurpose, beforeNotes string
		err = conn.QueryRow(context.Background(), `
			SELECT i.purpose, i.notes, a.before_purpose, a.before_notes
			FROM interactions i JOIN interaction_amendments a ON a.interaction_id = i.id
			WHERE a.id = $1`, am.ID).Scan(&purpose, &notes, &beforePurpose, &beforeNotes)
		if err != nil {
			t.Fatalf("read amendment: %v", err)
		}
		if purpose != am.After.Purpose || notes != am.After.Notes || beforePurpose != am.Before.Purpose || beforeNotes != am.Before.Notes {
			t.Errorf("amended interaction holds %q/%q before %q/%q; want %q/%q before %q/%q",
				purpose, notes, beforePurpose, beforeNotes, am.After.Purpose, am.After.Notes, am.Before.Purpose, am.Before.Notes)
		}

		// The store reads the loaded records back.
		org, err := db.Organization(systemCtx(), demo.PracticeID)
		if err != nil {
			t.Fatalf("read persona practice: %v", err)
		}
		if org.Kind != care.OrgGPPractice || org.ODSCode == nil || org.Version != 1 {
			t.Errorf("persona practice read back as %+v", org)
		}
		nurse, err := db.Practitioner(systemCtx(), demo.NurseID)
		if err != nil {
			t.Fatalf("read persona nurse: %v", err)
		}
		if nurse.Profession != care.ProfessionDistrictNurse || nurse.OrganizationID != demo.NursingOrgID {
			t.Errorf("persona nurse read back as %+v", nurse)
		}
	})

	t.Run("loading the same dataset twice is a conflict and writes nothing more", func(t *testing.T) {
		t.Parallel()
		db, conn := openLoadDB(t)
		if err := db.Load(systemCtx(), d); err != nil {
			t.Fatalf("first Load: %v", err)
		}
		before := rowCounts(t, conn)
		err := db.Load(systemCtx(), d)
		if code := care.ErrorCode(err); code != care.ECONFLICT {
			t.Fatalf("second Load: code %q (%v), want %q", code, err, care.ECONFLICT)
		}
		after := rowCounts(t, conn)
		for _, table := range loadTables {
			if after[table] != before[table] {
				t.Errorf("%s: %d rows after the failed load, %d before", table, after[table], before[table])
			}
		}
	})

	t.Run("a row breaking a rule fails the whole load", func(t *testing.T) {
		t.Parallel()
		db, conn := openLoadDB(t)
		bad := *d
		bad.Interactions = append([]care.Interaction(nil), d.Interactions...)
		// Signed without a signing time breaks the interactions CHECK; it is
		// the last table but one, so everything before it must roll back.
		last := &bad.Interactions[len(bad.Interactions)-1]
		last.Status, last.SignedAt = care.InteractionSigned, nil
		err := db.Load(systemCtx(), &bad)
		if code := care.ErrorCode(err); code != care.EINVALID {
			t.Fatalf("Load: code %q (%v), want %q", code, err, care.EINVALID)
		}
		for table, n := range rowCounts(t, conn) {
			if n != 0 {
				t.Errorf("%s: %d rows after a failed load, want 0", table, n)
			}
		}
	})

	t.Run("refuses anyone but the system actor and writes nothing", func(t *testing.T) {
		t.Parallel()
		db, conn := openLoadDB(t)
		for _, tc := range []struct {
			name string
			ctx  context.Context
			code string
		}{
			{"no actor", context.Background(), care.EUNAUTHENTICATED},
			{"practice admin", care.NewContextWithActor(context.Background(), &care.Actor{
				PractitionerID: demo.PracticeAdminID, OrganizationID: demo.PracticeID, Role: care.RolePracticeAdmin,
				Access: care.PatientAccess{RegisteredAt: []uuid.UUID{demo.PracticeID}},
			}), care.EFORBIDDEN},
			{"nurse", care.NewContextWithActor(context.Background(), &care.Actor{
				PractitionerID: demo.NurseID, OrganizationID: demo.NursingOrgID, Role: care.RoleNurse,
				Access: care.PatientAccess{ViaRelationshipsOf: demo.NurseID},
			}), care.EFORBIDDEN},
			{"integration with every scope", care.NewContextWithActor(context.Background(), &care.Actor{
				Role: care.RoleIntegration, Scopes: []string{care.ScopePatientsRead, care.ScopeAnalyticsRead},
			}), care.EFORBIDDEN},
		} {
			if code := care.ErrorCode(db.Load(tc.ctx, d)); code != tc.code {
				t.Errorf("%s: code %q, want %q", tc.name, code, tc.code)
			}
		}
		for table, n := range rowCounts(t, conn) {
			if n != 0 {
				t.Errorf("%s: %d rows after refused loads, want 0", table, n)
			}
		}
	})

	t.Run("a large batch keeps every index and foreign key and still checks references", func(t *testing.T) {
		t.Parallel()
		// Big enough for Load to rebuild the interactions' and the audit's
		// indexes and keys after the COPY instead of maintaining them per row.
		big := demo.Generate(demo.Options{Practices: 1, PatientsPerPractice: 1500, Months: 24, Seed: 7, Now: loadNow})
		if len(big.Interactions) < 50_000 {
			t.Fatalf("only %d interactions: too few to exercise the bulk path", len(big.Interactions))
		}
		_, fresh := openLoadDB(t)
		want := schemaOf(t, fresh)

		db, conn := openLoadDB(t)
		bad := *big
		bad.Interactions = append([]care.Interaction(nil), big.Interactions...)
		bad.Interactions[len(bad.Interactions)/2].PatientID = uuid.Must(uuid.NewV7())
		if code := care.ErrorCode(db.Load(systemCtx(), &bad)); code != care.ENOTFOUND {
			t.Fatalf("Load with a dangling patient reference: code %q, want %q", code, care.ENOTFOUND)
		}
		for table, n := range rowCounts(t, conn) {
			if n != 0 {
				t.Errorf("%s: %d rows after a failed load, want 0", table, n)
			}
		}
		if got := schemaOf(t, conn); got != want {
			t.Errorf("schema after a failed load:\n%s\nwant:\n%s", got, want)
		}

		start := time.Now()
		if err := db.Load(systemCtx(), big); err != nil {
			t.Fatalf("Load: %v", err)
		}
		t.Logf("loaded %d interactions in %v", len(big.Interactions), time.Since(start))
		if got := schemaOf(t, conn); got != want {
			t.Errorf("schema after the load:\n%s\nwant:\n%s", got, want)
		}
		if n := rowCounts(t, conn)["interactions"]; n != len(big.Interactions) {
			t.Errorf("%d interactions, want %d", n, len(big.Interactions))
		}
	})

	t.Run("rejects a nil dataset", func(t *testing.T) {
		t.Parallel()
		db, _ := openLoadDB(t)
		if code := care.ErrorCode(db.Load(systemCtx(), nil)); code != care.EINVALID {
			t.Errorf("code %q, want %q", code, care.EINVALID)
		}
	})
}

// BenchmarkLoad measures loading the demo presets into a fresh database
// (generation excluded): go test ./postgres/ -run '^$' -bench Load -benchtime 1x
func BenchmarkLoad(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    demo.Options
	}{{"Small", demo.Small}, {"Large", demo.Large}} {
		b.Run(bc.name, func(b *testing.B) {
			o := bc.o
			o.Now = loadNow
			d := demo.Generate(o)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				db, _ := openLoadDB(b)
				b.StartTimer()
				start := time.Now()
				if err := db.Load(systemCtx(), d); err != nil {
					b.Fatalf("Load: %v", err)
				}
				b.Logf("loaded %s: %d patients, %d relationships, %d interactions, %d amendments in %v",
					bc.name, len(d.Patients), len(d.Relationships), len(d.Interactions), len(d.Amendments), time.Since(start))
			}
			b.ReportMetric(float64(len(d.Interactions)), "interactions/op")
		})
	}
}
