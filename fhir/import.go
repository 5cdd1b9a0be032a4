package fhir

import (
	"errors"
	"net/http"

	"github.com/rapportcare/rapport/care"
)

// importError is an import failure that names the Bundle entry at fault.
type importError struct {
	expression string
	err        *care.Error
}

func (e *importError) Error() string { return e.expression + ": " + e.err.Error() }
func (e *importError) Unwrap() error { return e.err }

func asImportError(err error, target **importError) bool { return errors.As(err, target) }

// transaction accepts a transaction Bundle (import of contact history).
func (h *Handler) transaction(w http.ResponseWriter, r *http.Request) {
	writeOutcome(w, r, care.Errorf(care.EINVALID, "import is not available yet"), http.StatusNotImplemented)
}
