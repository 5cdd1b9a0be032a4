package fhir

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// Bulk Data export (HL7 FHIR Bulk Data Access, asynchronous pattern):
//
//	GET    [base]/$export, [base]/Patient/$export, [base]/Group/[id]/$export   kick-off: 202, Content-Location
//	GET    [base]/$export-status/[job]                                         200 with the manifest
//	DELETE [base]/$export-status/[job]                                         202: cancelled
//	GET    [base]/$export-file/[job]/[Type].ndjson                             the NDJSON, streamed
//
// The job is fixed and audited (once per patient) at kick-off; each file is
// streamed from the database when downloaded, so an export never sits in
// memory and any instance serves any job.

// exportTypes are the types an export may hold, in manifest order;
// patientTypes are those a Patient or Group export holds by default.
var exportTypes = []string{"Organization", "Practitioner", "Patient", "EpisodeOfCare", "Encounter"}

var patientTypes = map[string]bool{"Patient": true, "EpisodeOfCare": true, "Encounter": true}

// isBulk reports whether the path is a Bulk Data operation.
func isBulk(parts []string) bool {
	last := parts[len(parts)-1]
	return last == "$export" || (len(parts) >= 2 && (parts[0] == "$export-status" || parts[0] == "$export-file"))
}

// bulk routes a Bulk Data request.
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request, parts []string) {
	ctx := r.Context()
	switch {
	case parts[len(parts)-1] == "$export" && r.Method == http.MethodGet:
		h.kickOff(w, r, parts[:len(parts)-1])
	case parts[0] == "$export-status" && len(parts) == 2 && r.Method == http.MethodGet:
		j, err := h.job(r, parts[1])
		if err != nil {
			writeOutcome(w, r, err, 0)
			return
		}
		h.manifest(w, r, j)
	case parts[0] == "$export-status" && len(parts) == 2 && r.Method == http.MethodDelete:
		id, err := uuid.Parse(parts[1])
		if err == nil {
			err = h.cfg.DB.CancelExport(ctx, id)
		} else {
			err = care.Errorf(care.ENOTFOUND, "no such export")
		}
		if err != nil {
			writeOutcome(w, r, err, 0)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case parts[0] == "$export-file" && len(parts) == 3 && r.Method == http.MethodGet:
		j, err := h.job(r, parts[1])
		if err != nil {
			writeOutcome(w, r, err, 0)
			return
		}
		h.file(w, r, j, strings.TrimSuffix(parts[2], ".ndjson"))
	default:
		writeOutcome(w, r, care.Errorf(care.EINVALID, "unsupported Bulk Data request"), http.StatusMethodNotAllowed)
	}
}

func (h *Handler) job(r *http.Request, id string) (*postgres.ExportJob, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, care.Errorf(care.ENOTFOUND, "no such export")
	}
	return h.cfg.DB.Export(r.Context(), u)
}

// kickOff starts an export at the level named by prefix ([], [Patient] or
// [Group id]).
func (h *Handler) kickOff(w http.ResponseWriter, r *http.Request, prefix []string) {
	ctx := care.NewContextWithOperation(r.Context(), "FHIR $export")
	if !strings.Contains(r.Header.Get("Prefer"), "respond-async") {
		writeOutcome(w, r, care.Errorf(care.EINVALID, "a Bulk Data kick-off needs the header Prefer: respond-async"), 0)
		return
	}
	j := &postgres.ExportJob{Level: "system"}
	switch {
	case len(prefix) == 0:
	case len(prefix) == 1 && prefix[0] == "Patient":
		j.Level = "patient"
	case len(prefix) == 2 && prefix[0] == "Group":
		j.Level = "group"
		id, err := uuid.Parse(prefix[1])
		if err != nil {
			writeOutcome(w, r, care.Errorf(care.ENOTFOUND, "no such group"), 0)
			return
		}
		a := care.ActorFromContext(ctx)
		if id == a.OrganizationID {
			j.PracticeID = &id // a practice's registered list
		} else {
			j.TeamID = &id // a team's caseload
		}
	default:
		writeOutcome(w, r, care.Errorf(care.ENOTFOUND, "$export is at the base, Patient or Group/[id]"), 0)
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "_type" && k != "_since" && k != "_outputFormat" {
			writeOutcome(w, r, care.Errorf(care.EINVALID, "unsupported $export parameter %q", k), 0)
			return
		}
	}
	if f := q.Get("_outputFormat"); f != "" && f != "application/fhir+ndjson" && f != "application/ndjson" && f != "ndjson" {
		writeOutcome(w, r, care.Errorf(care.EINVALID, "_outputFormat must be application/fhir+ndjson"), 0)
		return
	}
	allowed := map[string]bool{}
	for _, t := range exportTypes {
		allowed[t] = j.Level == "system" || patientTypes[t]
	}
	if ts := q.Get("_type"); ts != "" {
		for _, t := range strings.Split(ts, ",") {
			if !allowed[t] {
				writeOutcome(w, r, care.Errorf(care.EINVALID, "_type %q cannot be exported at this level", t), 0)
				return
			}
			j.Types = append(j.Types, t)
		}
	} else {
		for _, t := range exportTypes {
			if allowed[t] {
				j.Types = append(j.Types, t)
			}
		}
	}
	if s := q.Get("_since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeOutcome(w, r, care.Errorf(care.EINVALID, "_since must be an instant with a time zone"), 0)
			return
		}
		j.Since = &t
	}
	if err := h.cfg.DB.StartExport(ctx, j); err != nil {
		writeOutcome(w, r, err, 0)
		return
	}
	w.Header().Set("Content-Location", h.baseURL(r)+"/$export-status/"+j.ID.String())
	writeJSON(w, http.StatusAccepted, OperationOutcome{ResourceType: "OperationOutcome",
		Issue: []Issue{{Severity: "information", Code: "informational", Diagnostics: "export accepted; poll Content-Location"}}})
}

// Manifest is the Bulk Data completion manifest.
type Manifest struct {
	TransactionTime     string         `json:"transactionTime"`
	Request             string         `json:"request"`
	RequiresAccessToken bool           `json:"requiresAccessToken"`
	Output              []ManifestFile `json:"output"`
	Error               []ManifestFile `json:"error"`
}

// ManifestFile is one file of an export.
type ManifestFile struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// manifest answers the status of a job. The job has no background phase —
// its files are produced as they are read — so it is complete once started;
// X-Progress says so.
func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, j *postgres.ExportJob) {
	base := h.baseURL(r)
	m := Manifest{TransactionTime: instant(j.TransactionTime), Request: base + "/$export", RequiresAccessToken: true,
		Output: []ManifestFile{}, Error: []ManifestFile{}}
	for _, t := range j.Types {
		m.Output = append(m.Output, ManifestFile{Type: t, URL: base + "/$export-file/" + j.ID.String() + "/" + t + ".ndjson"})
	}
	w.Header().Set("X-Progress", "complete: "+strconv.Itoa(j.Patients)+" patients")
	w.Header().Set("Expires", j.TransactionTime.Add(24*time.Hour).UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(m)
}

// file streams one NDJSON file of a job: one resource a line, written as
// the rows arrive.
func (h *Handler) file(w http.ResponseWriter, r *http.Request, j *postgres.ExportJob, typ string) {
	ok := false
	for _, t := range j.Types {
		ok = ok || t == typ
	}
	if !ok {
		writeOutcome(w, r, care.Errorf(care.ENOTFOUND, "no such file in this export"), 0)
		return
	}
	ctx := care.NewContextWithOperation(r.Context(), "FHIR $export file")
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	started := false
	emit := func(v any) error {
		if !started {
			started = true
			w.WriteHeader(http.StatusOK)
		}
		return enc.Encode(v) // Encode ends each resource with a newline
	}
	db := h.cfg.DB
	var err error
	switch typ {
	case "Patient":
		err = db.StreamExportPatients(ctx, j, func(p *care.Patient) error { return emit(NewPatient(p, uuid.Nil)) })
	case "Encounter":
		var buf []byte // Encounters are most of an export: encoded without reflection (encode.go)
		err = db.StreamExportInteractions(ctx, j, func(i *care.Interaction) error {
			if !started {
				started = true
				w.WriteHeader(http.StatusOK)
			}
			buf = append(appendEncounter(buf[:0], i), '\n')
			_, err := bw.Write(buf)
			return err
		})
	case "EpisodeOfCare":
		err = db.StreamExportRelationships(ctx, j, func(rel *care.CareRelationship) error { return emit(NewEpisodeOfCare(rel, nil)) })
	case "Practitioner":
		err = db.StreamExportPractitioners(ctx, j, func(p *care.Practitioner) error { return emit(NewPractitioner(p)) })
	case "Organization":
		err = db.StreamExportOrganizations(ctx, j, func(o *care.Organization) error { return emit(NewOrganization(o)) })
	}
	if err != nil && !started {
		writeOutcome(w, r, err, 0)
		return
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// Headers are gone: end the response abruptly so the client sees an
		// incomplete file, never a silently short one.
		panic(http.ErrAbortHandler)
	}
	if !started {
		w.WriteHeader(http.StatusOK)
	}
}
