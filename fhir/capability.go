package fhir

import (
	"net/http"
	"sort"
)

// CapabilityStatement is FHIR CapabilityStatement.
type CapabilityStatement struct {
	ResourceType   string          `json:"resourceType"`
	Status         string          `json:"status"`
	Date           string          `json:"date"`
	Kind           string          `json:"kind"`
	Software       *Software       `json:"software"`
	Implementation *Implementation `json:"implementation"`
	FHIRVersion    string          `json:"fhirVersion"`
	Format         []string        `json:"format"`
	Rest           []Rest          `json:"rest"`
}

// Software names the server.
type Software struct {
	Name string `json:"name"`
}

// Implementation is this instance.
type Implementation struct {
	Description string `json:"description"`
	URL         string `json:"url"`
}

// Rest is the REST capability.
type Rest struct {
	Mode        string         `json:"mode"`
	Security    *Security      `json:"security"`
	Resource    []RestResource `json:"resource"`
	Interaction []Interaction  `json:"interaction"`
	Operation   []Operation    `json:"operation"`
}

// Operation is a supported operation.
type Operation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// Security says how callers authenticate.
type Security struct {
	Service     []CodeableConcept `json:"service"`
	Description string            `json:"description"`
}

// RestResource is what is supported for one type.
type RestResource struct {
	Type             string        `json:"type"`
	Interaction      []Interaction `json:"interaction"`
	SearchInclude    []string      `json:"searchInclude,omitempty"`
	SearchRevInclude []string      `json:"searchRevInclude,omitempty"`
	SearchParam      []SearchParam `json:"searchParam,omitempty"`
}

// Interaction is a supported interaction code.
type Interaction struct {
	Code string `json:"code"`
}

// SearchParam is a supported search parameter.
type SearchParam struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// paramTypes gives each search parameter's FHIR type.
var paramTypes = map[string]string{
	"_id": "token", "_lastUpdated": "date", "identifier": "token", "name": "string", "type": "token", "role": "token",
	"status": "token", "date": "date", "authored": "date",
	"organization": "reference", "practitioner": "reference", "general-practitioner": "reference", "managing-entity": "reference",
	"patient": "reference", "subject": "reference", "participant": "reference", "care-manager": "reference", "target": "reference",
}

// capability describes exactly what resourceTypes serves.
func (h *Handler) capability(r *http.Request) *CapabilityStatement {
	var names []string
	for n := range resourceTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	rest := Rest{Mode: "server",
		Security: &Security{Service: []CodeableConcept{code("http://terminology.hl7.org/CodeSystem/restful-security-service", "SMART-on-FHIR", "SMART-on-FHIR")},
			Description: "Bearer JWT as for GraphQL; SMART-style scopes user/*.rs and system/*.rs narrow the role's access (docs/fhir.md)."},
		Interaction: []Interaction{{Code: "transaction"}},
		Operation:   []Operation{{Name: "export", Definition: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}}}
	for _, n := range names {
		rt := resourceTypes[n]
		res := RestResource{Type: n, SearchInclude: rt.includes, SearchRevInclude: rt.revincludes}
		if rt.read != nil {
			res.Interaction = append(res.Interaction, Interaction{Code: "read"})
		}
		res.Interaction = append(res.Interaction, Interaction{Code: "search-type"})
		for _, p := range rt.params {
			res.SearchParam = append(res.SearchParam, SearchParam{Name: p, Type: paramTypes[p]})
		}
		res.SearchParam = append(res.SearchParam, SearchParam{Name: "_count", Type: "number"})
		rest.Resource = append(rest.Resource, res)
	}
	return &CapabilityStatement{ResourceType: "CapabilityStatement", Status: "active", Date: "2026-12-04", Kind: "instance",
		Software:       &Software{Name: "Rapport"},
		Implementation: &Implementation{Description: "Rapport FHIR R4 API", URL: h.baseURL(r)},
		FHIRVersion:    "4.0.1", Format: []string{"application/fhir+json", "json"}, Rest: []Rest{rest}}
}
