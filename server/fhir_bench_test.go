package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// countingWriter counts bytes and lines written to it.
type countingWriter struct{ bytes, lines int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// peakRSS returns the process's peak resident set (VmHWM) in MiB, or -1.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// resetPeakRSS returns memory to the OS and resets VmHWM (Linux), so the
// next peakRSS covers only what follows.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkFHIRExportEncountersLarge downloads every Encounter of demo.Large
// (one practice, about 900,000 interactions) as Bulk Data NDJSON through the
// real server over HTTP, beside a plain COPY (SELECT …) TO STDOUT of the same
// rows in the same run, and reports both rates, their ratio and the
// process's peak RSS during the export (server and client share the process;
// the client only counts lines).
//
//	go test ./server/ -run '^$' -bench FHIRExportEncountersLarge -benchtime 3x
func BenchmarkFHIRExportEncountersLarge(b *testing.B) {
	db := postgrestest.New(b)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	o := demo.Large
	o.Now = demo.ReferenceNow
	sum, err := demo.Seed(ctx, db, o)
	if err != nil {
		b.Fatalf("seed demo.Large: %v", err)
	}
	b.Logf("seeded demo.Large: %d patients, %d interactions", sum.Patients, sum.Interactions)
	e := newEnv(b, db, Config{})
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	tok, err := e.verifier.MintHMAC(auth.MintRequest{Subject: "bench", OrganizationID: demo.PracticeID, Role: care.RoleIntegration,
		Scopes: []string{care.ScopeBulkExport, care.ScopePatientsRead}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	get := func(url string, prefer bool) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if prefer {
			req.Header.Set("Prefer", "respond-async")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	res := get(srv.URL+FHIRBase+"/$export?_type=Encounter", true)
	res.Body.Close()
	status := res.Header.Get("Content-Location")
	if res.StatusCode != http.StatusAccepted {
		b.Fatalf("kick-off: %d", res.StatusCode)
	}
	file := strings.Replace(status, "$export-status/", "$export-file/", 1) + "/Encounter.ndjson"

	var export, copyT time.Duration
	var rows, copied int64
	peak := 0.0
	for b.Loop() {
		resetPeakRSS()
		start := time.Now()
		res := get(file, false)
		var c countingWriter
		if _, err := io.Copy(&c, bufio.NewReaderSize(res.Body, 64<<10)); err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		export += time.Since(start)
		peak = max(peak, peakRSS())
		rows = c.lines

		start = time.Now()
		n, err := db.BaselineCopyInteractions(ctx, demo.PracticeID, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		copyT += time.Since(start)
		copied = n
	}
	if rows != copied || rows < int64(sum.Interactions)/2 {
		b.Fatalf("exported %d Encounters, COPY %d rows, seeded %d", rows, copied, sum.Interactions)
	}
	n := float64(b.N)
	exportRate := float64(rows) / (export.Seconds() / n)
	copyRate := float64(copied) / (copyT.Seconds() / n)
	b.ReportMetric(exportRate, "export_resources/s")
	b.ReportMetric(copyRate, "copy_rows/s")
	b.ReportMetric(exportRate/copyRate, "export/copy")
	b.ReportMetric(peak, "peak_RSS_MiB")
	b.ReportMetric(float64(rows), "encounters")
}

// BenchmarkFHIRImport100k posts a transaction Bundle of 100,000 encounters
// (3 clinicians, one departed, 2,000 patients) to a fresh practice through
// the real server, beside the baseline of plain batched INSERTs of the same
// number of interactions, and reports both rates and their ratio.
//
//	go test ./server/ -run '^$' -bench FHIRImport100k -benchtime 1x
func BenchmarkFHIRImport100k(b *testing.B) {
	const encounters = 100_000
	h := makeHistory(2000, encounters)
	body := h.bundle()
	b.Logf("Bundle: %d encounters, %.1f MiB", encounters, float64(len(body))/(1<<20))
	var importT, baseT time.Duration
	for b.Loop() {
		b.StopTimer()
		w := newBenchPractice(b)
		tok := w.adminToken(b, care.ScopeContactsImport)
		b.StartTimer()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, w.srv.URL+FHIRBase, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("import: %d %v", res.StatusCode, out["issue"])
		}
		importT += time.Since(start)

		// Baseline: the same number of interactions with plain INSERTs
		// (batches of 1,000) into the same database.
		sys := care.NewContextWithActor(context.Background(), care.SystemActor())
		gp, err := w.db.CreatePractitioner(sys, care.CreatePractitionerInput{OrganizationID: w.practice, GivenName: "Base", FamilyName: "Line", Profession: care.ProfessionGP})
		if err != nil {
			b.Fatal(err)
		}
		p, err := w.db.CreatePatient(sys, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(99999), GivenName: "Base", FamilyName: "Line",
			BirthDate: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: w.practice})
		if err != nil {
			b.Fatal(err)
		}
		rows := make([]care.Interaction, encounters)
		for i := range rows {
			c := h.contacts[i]
			d := c.minutes
			rows[i] = care.Interaction{ID: uuid.Must(uuid.NewV7()), PatientID: p.ID, PractitionerID: gp.ID, OrganizationID: w.practice,
				Mode: c.mode, OccurredAt: c.at, DurationMinutes: &d, Purpose: "review"}
		}
		start = time.Now()
		if err := w.db.BaselineInsertInteractions(sys, rows, 1000); err != nil {
			b.Fatal(err)
		}
		baseT += time.Since(start)
	}
	n := float64(b.N)
	importRate := encounters / (importT.Seconds() / n)
	baseRate := encounters / (baseT.Seconds() / n)
	b.ReportMetric(importRate, "import_resources/s")
	b.ReportMetric(baseRate, "insert_rows/s")
	b.ReportMetric(importRate/baseRate, "import/insert")
}

// newBenchPractice is newPracticeWorld for a benchmark, with room for a
// 100,000-encounter Bundle.
func newBenchPractice(b *testing.B) *practiceWorld {
	b.Helper()
	w := newPracticeWorld(b)
	e := newEnv(b, w.db, Config{FHIRMaxImportBytes: 1 << 30, RequestTimeout: 10 * time.Minute})
	w.srv.Close()
	w.e, w.srv = e, httptest.NewServer(e.handler)
	b.Cleanup(w.srv.Close)
	return w
}
