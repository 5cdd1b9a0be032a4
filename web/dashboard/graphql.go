package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// apiError is the first error the GraphQL API answered with.
type apiError struct {
	Code    string
	Message string
}

func (e *apiError) Error() string { return "graphql: " + e.Code + ": " + e.Message }

// paramError is a view parameter the dashboard refuses, in words for the page.
type paramError string

func (e paramError) Error() string { return string(e) }

// query runs one GraphQL operation through the API with r's Authorization
// header and context (request id, deadline), and decodes data into out. It
// returns *apiError when the API refused the token (UNAUTHENTICATED) or
// answered with errors; the operation name reaches the audit trail.
func (d *dashboard) query(r *http.Request, op, q string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": q, "operationName": op, "variables": vars})
	if err != nil {
		return fmt.Errorf("encode %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	rec := httptest.NewRecorder()
	d.api.ServeHTTP(rec, req)
	if rec.Code == http.StatusUnauthorized {
		return &apiError{Code: "UNAUTHENTICATED", Message: "token refused"}
	}
	var res struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		return fmt.Errorf("%s: decode answer (status %d): %w", op, rec.Code, err)
	}
	if len(res.Errors) > 0 {
		return &apiError{Code: res.Errors[0].Extensions.Code, Message: res.Errors[0].Message}
	}
	if err := json.Unmarshal(res.Data, out); err != nil {
		return fmt.Errorf("%s: decode data: %w", op, err)
	}
	return nil
}
