package fhir

import (
	"net/http"

	"github.com/rapportcare/rapport/care"
)

// entry is one resource of a result.
type entry struct {
	typ, id string
	res     any
}

// result is one page of a search: the matches, what _include and
// _revinclude brought along, the total when known (-1 otherwise) and the
// cursor of the next page ("" on the last).
type result struct {
	matches, includes []entry
	total             int
	next              string
}

// Bundle is FHIR Bundle (searchset, transaction-response).
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is a self or next link.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one entry of a Bundle.
type BundleEntry struct {
	FullURL  string         `json:"fullUrl,omitempty"`
	Resource any            `json:"resource,omitempty"`
	Search   *EntrySearch   `json:"search,omitempty"`
	Response *EntryResponse `json:"response,omitempty"`
	Request  *EntryRequest  `json:"request,omitempty"`
}

// EntrySearch says why an entry is in a searchset.
type EntrySearch struct {
	Mode string `json:"mode"`
}

// EntryRequest is a transaction entry's request.
type EntryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// EntryResponse is a transaction-response entry's outcome.
type EntryResponse struct {
	Status   string `json:"status"`
	Location string `json:"location,omitempty"`
}

// searchset builds the Bundle for a page of results, with self and next
// links that repeat the request's parameters.
func (h *Handler) searchset(r *http.Request, typ string, res *result) *Bundle {
	base := h.baseURL(r)
	b := &Bundle{ResourceType: "Bundle", Type: "searchset", Entry: []BundleEntry{}}
	if res.total >= 0 {
		t := res.total
		b.Total = &t
	}
	b.Link = []BundleLink{{Relation: "self", URL: base + "/" + typ + "?" + r.URL.RawQuery}}
	if res.next != "" {
		q := r.URL.Query()
		q.Set("_cursor", res.next)
		b.Link = append(b.Link, BundleLink{Relation: "next", URL: base + "/" + typ + "?" + q.Encode()})
	}
	seen := map[string]bool{}
	add := func(e entry, mode string) {
		key := e.typ + "/" + e.id
		if seen[key] {
			return
		}
		seen[key] = true
		b.Entry = append(b.Entry, BundleEntry{FullURL: base + "/" + key, Resource: e.res, Search: &EntrySearch{Mode: mode}})
	}
	for _, e := range res.matches {
		add(e, "match")
	}
	for _, e := range res.includes {
		add(e, "include")
	}
	return b
}

// nextCursor returns the cursor after a page, "" when it is the last.
func nextCursor[T any](p *care.Page[T]) string {
	if !p.HasNextPage || len(p.Edges) == 0 {
		return ""
	}
	return p.Edges[len(p.Edges)-1].Cursor
}

// nodesOf returns a page's records.
func nodesOf[T any](p *care.Page[T]) []*T {
	out := make([]*T, len(p.Edges))
	for i, e := range p.Edges {
		out[i] = e.Node
	}
	return out
}
