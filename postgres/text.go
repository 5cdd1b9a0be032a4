package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgtype"
)

// textOf is a scan destination for a NOT NULL text column read into a type
// whose underlying type is string (care.InteractionMode and the other
// enumerations). pgx scans such a type by converting the destination
// through reflect for every row (its underlying-type plan); a TextScanner is
// scanned directly. Pulling 100,000 interactions spent 0.29 s of 5.4 s of
// samples in that conversion (BenchmarkPullEngine, three pulls).
type textOf[T ~string] struct{ p *T }

// text returns the scan destination for *p.
func text[T ~string](p *T) textOf[T] { return textOf[T]{p} }

// ScanText sets the value; NULL is an error, as it is for a string.
func (t textOf[T]) ScanText(v pgtype.Text) error {
	if !v.Valid {
		return errors.New("cannot scan NULL into a string")
	}
	*t.p = T(v.String)
	return nil
}
