package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// Import of contact history: a practice posts a FHIR transaction Bundle of
// Encounters with the Patients and Practitioners they reference to the base
// URL. docs/fhir.md ("Import") describes the resources expected.

// importError is an import failure that names the Bundle entry at fault.
type importError struct {
	expression string
	err        *care.Error
}

func (e *importError) Error() string { return e.expression + ": " + e.err.Error() }
func (e *importError) Unwrap() error { return e.err }

func asImportError(err error, target **importError) bool {
	var ee *postgres.EntryError
	if errors.As(err, &ee) {
		*target = &importError{expression: fmt.Sprintf("Bundle.entry[%d]", ee.Entry), err: ee.Err}
		return true
	}
	return errors.As(err, target)
}

func badEntry(i int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &importError{expression: fmt.Sprintf("Bundle.entry[%d]", i), err: care.Errorf(care.EINVALID, "Bundle.entry[%d]: %s", i, msg)}
}

// inBundle is the part of a transaction Bundle the import reads.
type inBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Request  *EntryRequest   `json:"request"`
	} `json:"entry"`
}

// inResource is the union of the fields read from Patient, Practitioner and Encounter.
type inResource struct {
	ResourceType  string       `json:"resourceType"`
	Identifier    []Identifier `json:"identifier"`
	Name          []HumanName  `json:"name"`
	BirthDate     string       `json:"birthDate"`
	Active        *bool        `json:"active"`
	Qualification []struct {
		Code CodeableConcept `json:"code"`
	} `json:"qualification"`
	Status      string            `json:"status"`
	Class       *Coding           `json:"class"`
	Type        []CodeableConcept `json:"type"`
	Subject     *Reference        `json:"subject"`
	Participant []struct {
		Type       []CodeableConcept `json:"type"`
		Individual *Reference        `json:"individual"`
	} `json:"participant"`
	Period     *Period           `json:"period"`
	Length     *Duration         `json:"length"`
	ReasonCode []CodeableConcept `json:"reasonCode"`
}

// classModes maps an encounter class onto a mode when the type carries none.
var classModes = map[string]care.InteractionMode{"HH": care.ModeHomeVisit, "AMB": care.ModeClinic, "VR": care.ModePhone}

// transaction imports a transaction Bundle and answers a transaction-response
// Bundle, or an OperationOutcome naming the first bad entry (nothing written).
func (h *Handler) transaction(w http.ResponseWriter, r *http.Request) {
	ctx := care.NewContextWithOperation(r.Context(), "FHIR import")
	a := care.ActorFromContext(ctx)
	if !a.HasScope(care.ScopeContactsImport) || (a.Role != care.RolePracticeAdmin && a.Role != care.RoleIntegration) {
		writeOutcome(w, r, care.Errorf(care.EFORBIDDEN, "importing needs the contacts:import scope on a practice admin's or integration's token"), 0)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxImportBytes))
	if err != nil {
		writeOutcome(w, r, care.Errorf(care.ELIMIT, "the Bundle exceeds %d bytes", h.cfg.MaxImportBytes), http.StatusRequestEntityTooLarge)
		return
	}
	batch, kinds, err := parseImport(body, h.cfg.Now())
	if err != nil {
		writeOutcome(w, r, err, 0)
		return
	}
	out, err := h.cfg.DB.ImportContacts(ctx, batch)
	if err != nil {
		writeOutcome(w, r, err, 0)
		return
	}
	resp := &Bundle{ResourceType: "Bundle", Type: "transaction-response", Entry: make([]BundleEntry, len(kinds))}
	status := func(created bool) string {
		if created {
			return "201 Created"
		}
		return "200 OK"
	}
	for i, p := range batch.Patients {
		resp.Entry[p.Entry] = BundleEntry{Response: &EntryResponse{Status: status(out.PatientsCreated[i]), Location: "Patient/" + out.PatientIDs[i].String()}}
	}
	for i, p := range batch.Practitioners {
		resp.Entry[p.Entry] = BundleEntry{Response: &EntryResponse{Status: status(out.PractitionersCreated[i]), Location: "Practitioner/" + out.PractitionerIDs[i].String()}}
	}
	for i, e := range batch.Encounters {
		resp.Entry[e.Entry] = BundleEntry{Response: &EntryResponse{Status: status(out.EncountersCreated[i]), Location: "Encounter/" + out.EncounterIDs[i].String()}}
	}
	writeJSON(w, http.StatusOK, resp)
}

// parseImport reads and checks a transaction Bundle, resolving references
// inside it; EINVALID naming the first bad entry.
func parseImport(body []byte, now time.Time) (*postgres.ImportBatch, []string, error) {
	var b inBundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, nil, care.Errorf(care.EINVALID, "the body is not a JSON Bundle")
	}
	if b.ResourceType != "Bundle" || b.Type != "transaction" {
		return nil, nil, care.Errorf(care.EINVALID, "import takes a Bundle of type transaction")
	}
	if len(b.Entry) == 0 {
		return nil, nil, care.Errorf(care.EINVALID, "the Bundle has no entries")
	}
	batch := &postgres.ImportBatch{}
	kinds := make([]string, len(b.Entry))
	res := make([]inResource, len(b.Entry))
	patientByURL := map[string]string{}   // fullUrl → NHS number
	practitionerByURL := map[string]int{} // fullUrl → index in batch.Practitioners
	practitionerByID := map[string]int{}  // system|value → index
	seenURL := map[string]bool{}
	// Patients and Practitioners first: Encounters refer to them.
	for i, e := range b.Entry {
		if err := json.Unmarshal(e.Resource, &res[i]); err != nil {
			return nil, nil, badEntry(i, "the resource is not valid JSON of its type")
		}
		kinds[i] = res[i].ResourceType
		if e.Request == nil || (e.Request.Method != http.MethodPost && e.Request.Method != http.MethodPut) ||
			strings.SplitN(strings.SplitN(e.Request.URL, "?", 2)[0], "/", 2)[0] != kinds[i] {
			return nil, nil, badEntry(i, "request must be POST (or PUT) to %s", kinds[i])
		}
		if e.FullURL != "" {
			if seenURL[e.FullURL] {
				return nil, nil, badEntry(i, "fullUrl %s is used twice", e.FullURL)
			}
			seenURL[e.FullURL] = true
		}
		x := &res[i]
		switch kinds[i] {
		case "Patient":
			in := care.CreatePatientInput{NHSNumber: identifierValue(x.Identifier, SystemNHSNumber)}
			if in.NHSNumber == "" {
				return nil, nil, badEntry(i, "a Patient needs an identifier with system %s", SystemNHSNumber)
			}
			in.GivenName, in.FamilyName = names(x.Name)
			bd, err := time.Parse("2006-01-02", x.BirthDate)
			if err != nil {
				return nil, nil, badEntry(i, "birthDate must be YYYY-MM-DD")
			}
			in.BirthDate = bd
			if err := in.Validate(now); err != nil {
				return nil, nil, badEntry(i, "%s", care.ErrorMessage(err))
			}
			batch.Patients = append(batch.Patients, postgres.ImportPatient{Entry: i, NHSNumber: in.NHSNumber, GivenName: in.GivenName,
				FamilyName: in.FamilyName, BirthDate: in.BirthDate})
			patientByURL[e.FullURL] = in.NHSNumber
		case "Practitioner":
			sys, val := sourceIdentifier(x.Identifier)
			if sys == "" {
				return nil, nil, badEntry(i, "a Practitioner needs an identifier (system and value) from the source system")
			}
			if _, dup := practitionerByID[sys+"|"+val]; dup {
				return nil, nil, badEntry(i, "the Practitioner identifier %s|%s appears twice", sys, val)
			}
			in := care.CreatePractitionerInput{}
			in.GivenName, in.FamilyName = names(x.Name)
			for _, q := range x.Qualification {
				for _, c := range q.Code.Coding {
					if c.System == SystemProfession {
						in.Profession = care.Profession(c.Code)
					}
				}
			}
			if in.Profession == "" {
				return nil, nil, badEntry(i, "a Practitioner needs a qualification coded in %s (e.g. gp)", SystemProfession)
			}
			if err := in.Validate(); err != nil {
				return nil, nil, badEntry(i, "%s", care.ErrorMessage(err))
			}
			practitionerByID[sys+"|"+val] = len(batch.Practitioners)
			practitionerByURL[e.FullURL] = len(batch.Practitioners)
			batch.Practitioners = append(batch.Practitioners, postgres.ImportPractitioner{Entry: i, System: sys, Value: val,
				GivenName: in.GivenName, FamilyName: in.FamilyName, Profession: in.Profession, Active: x.Active == nil || *x.Active})
		case "Encounter":
		default:
			return nil, nil, badEntry(i, "import takes Patient, Practitioner and Encounter resources, not %q", kinds[i])
		}
	}
	seenEnc := map[string]bool{}
	practitionerByRapportID := map[uuid.UUID]int{}
	for i := range b.Entry {
		if kinds[i] != "Encounter" {
			continue
		}
		x := &res[i]
		sys, val := sourceIdentifier(x.Identifier)
		if sys == "" {
			return nil, nil, badEntry(i, "an Encounter needs an identifier (system and value) from the source system")
		}
		if seenEnc[sys+"|"+val] {
			return nil, nil, badEntry(i, "the Encounter identifier %s|%s appears twice", sys, val)
		}
		seenEnc[sys+"|"+val] = true
		if x.Status != "finished" {
			return nil, nil, badEntry(i, "only finished encounters (past contacts) are imported")
		}
		if x.Subject == nil {
			return nil, nil, badEntry(i, "an Encounter needs a subject")
		}
		nhs, ok := patientByURL[x.Subject.Reference]
		if !ok {
			nhs = conditional(x.Subject.Reference, "Patient", SystemNHSNumber)
		}
		if nhs == "" {
			return nil, nil, badEntry(i, "subject must be a Patient entry of the Bundle or Patient?identifier=%s|[NHS number]", SystemNHSNumber)
		}
		prac := -1
		for _, p := range x.Participant {
			if p.Individual == nil {
				continue
			}
			ref := p.Individual.Reference
			if j, ok := practitionerByURL[ref]; ok {
				prac = j
			} else if key := conditionalKey(ref, "Practitioner"); key != "" {
				if j, ok := practitionerByID[key]; ok {
					prac = j
				}
			} else if id, ok := strings.CutPrefix(ref, "Practitioner/"); ok {
				u, err := uuid.Parse(id)
				if err != nil {
					return nil, nil, badEntry(i, "participant %s is not a Rapport practitioner id", ref)
				}
				if j, ok := practitionerByRapportID[u]; ok {
					prac = j
				} else {
					prac = len(batch.Practitioners)
					practitionerByRapportID[u] = prac
					batch.Practitioners = append(batch.Practitioners, postgres.ImportPractitioner{Entry: i, ID: &u})
				}
			}
			if prac >= 0 {
				break
			}
		}
		if prac < 0 {
			return nil, nil, badEntry(i, "an Encounter needs a participant that is a Practitioner of the Bundle (or Practitioner/[Rapport id])")
		}
		in := care.CreateInteractionInput{Mode: mode(x)}
		if x.Period == nil {
			return nil, nil, badEntry(i, "an Encounter needs period.start")
		}
		start, err := time.Parse(time.RFC3339, x.Period.Start)
		if err != nil {
			return nil, nil, badEntry(i, "period.start must be a dateTime with a time zone")
		}
		in.OccurredAt = start
		switch {
		case x.Length != nil && (x.Length.Code == "min" || x.Length.Unit == "min"):
			d := x.Length.Value
			in.DurationMinutes = &d
		case x.Period.End != "":
			end, err := time.Parse(time.RFC3339, x.Period.End)
			if err != nil {
				return nil, nil, badEntry(i, "period.end must be a dateTime with a time zone")
			}
			d := int(end.Sub(start).Minutes())
			in.DurationMinutes = &d
		}
		for _, rc := range x.ReasonCode {
			if rc.Text != "" {
				in.Purpose = rc.Text
				break
			}
		}
		if err := in.Validate(now); err != nil {
			return nil, nil, badEntry(i, "%s", care.ErrorMessage(err))
		}
		batch.Encounters = append(batch.Encounters, postgres.ImportEncounter{Entry: i, System: sys, Value: val, NHSNumber: nhs, Practitioner: prac,
			Mode: in.Mode, OccurredAt: in.OccurredAt, DurationMinutes: in.DurationMinutes, Purpose: in.Purpose})
	}
	return batch, kinds, nil
}

// mode reads the interaction mode: Rapport's own coding in type, else the class.
func mode(x *inResource) care.InteractionMode {
	for _, t := range x.Type {
		for _, c := range t.Coding {
			if c.System == SystemMode {
				return care.InteractionMode(c.Code)
			}
		}
	}
	if x.Class != nil {
		return classModes[x.Class.Code]
	}
	return ""
}

func identifierValue(ids []Identifier, system string) string {
	for _, id := range ids {
		if id.System == system {
			return id.Value
		}
	}
	return ""
}

// names returns the first given and the family name of the official (or first) name.
func names(ns []HumanName) (given, family string) {
	for i, n := range ns {
		if n.Use == "official" || i == len(ns)-1 {
			if len(n.Given) > 0 {
				given = n.Given[0]
			}
			return given, n.Family
		}
	}
	return "", ""
}

// conditional returns the value of a conditional reference
// "Type?identifier=system|value" with the given system, or "".
func conditional(ref, typ, system string) string {
	key := conditionalKey(ref, typ)
	if v, ok := strings.CutPrefix(key, system+"|"); ok {
		return v
	}
	return ""
}

// conditionalKey returns "system|value" of "Type?identifier=system|value", or "".
func conditionalKey(ref, typ string) string {
	q, ok := strings.CutPrefix(ref, typ+"?identifier=")
	if !ok || !strings.Contains(q, "|") {
		return ""
	}
	return q
}

// sourceIdentifier returns the first identifier with both a system and a
// value: what the record is called in the system it comes from.
func sourceIdentifier(ids []Identifier) (system, value string) {
	for _, id := range ids {
		if id.System != "" && id.Value != "" {
			return id.System, id.Value
		}
	}
	return "", ""
}
