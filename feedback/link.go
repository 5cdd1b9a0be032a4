package feedback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// A feedback link carries a signed token: the claims below as JSON, then an
// HMAC-SHA256 over them with the server's feedback secret, both base64url.
// It is bound to one subject and one instrument, short-lived, and single-use:
// the store records the token's ID when it is used, under a unique
// constraint, so a double submit cannot get through. The token names no
// respondent.

// Link lifetimes.
const (
	DefaultLinkTTL = 24 * time.Hour
	MaxLinkTTL     = 14 * 24 * time.Hour
	MinSecretSize  = 32
)

// LinkClaims is what a feedback link grants: one response, about Subject,
// with Instrument, before Expires.
type LinkClaims struct {
	ID             uuid.UUID   `json:"id"`
	OrganizationID uuid.UUID   `json:"org"`
	SubjectKind    SubjectKind `json:"sk"`
	SubjectID      uuid.UUID   `json:"sid"`
	Instrument     Instrument  `json:"ins"`
	// QuestionnaireID and QuestionnaireVersion pin a practice-defined
	// questionnaire's version (Instrument questionnaire only).
	QuestionnaireID      *uuid.UUID `json:"qid,omitempty"`
	QuestionnaireVersion int        `json:"qv,omitempty"`
	// AlsoFFT asks the Friends and Family Test on the same page as the CARE
	// Measure (Instrument care_measure only): one link, two responses.
	AlsoFFT bool      `json:"fft,omitempty"`
	Expires time.Time `json:"exp"`
}

// Reasons a link is refused. Each is a *care.Error with the code the page
// maps to an HTTP status.
var (
	ErrLinkTampered     = care.Errorf(care.EUNAUTHENTICATED, "This feedback link is not valid. Please check you copied all of it, or ask for a new one.")
	ErrLinkExpired      = care.Errorf(care.EFORBIDDEN, "This feedback link has expired. Please ask for a new one.")
	ErrLinkUsed         = care.Errorf(care.ECONFLICT, "This feedback link has already been used. Thank you: your feedback was received.")
	ErrLinkWrongSubject = care.Errorf(care.EFORBIDDEN, "This feedback link is for a different visit or person. Please use the link you were given for it.")
)

// Signer signs and verifies feedback links.
type Signer struct {
	secret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewSigner returns a Signer with secret, or EINVALID if the secret is
// shorter than MinSecretSize bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < MinSecretSize {
		return nil, care.Errorf(care.EINVALID, "the feedback link secret must be at least %d bytes", MinSecretSize)
	}
	return &Signer{secret: append([]byte(nil), secret...)}, nil
}

// DeriveSecret derives a feedback link secret from another secret (the JWT
// HMAC secret in development), so the two are never the same key.
func DeriveSecret(from []byte) []byte {
	m := hmac.New(sha256.New, from)
	m.Write([]byte("rapport feedback links v1"))
	return m.Sum(nil)
}

func (s *Signer) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Sign returns the token for c. It returns EINVALID for claims that could
// never be used (no id, unknown subject kind or instrument, a questionnaire
// without its id and version, or an expiry in the past).
func (s *Signer) Sign(c LinkClaims) (string, error) {
	switch {
	case c.ID == uuid.Nil || c.SubjectID == uuid.Nil || c.OrganizationID == uuid.Nil:
		return "", care.Errorf(care.EINVALID, "a feedback link needs an id, an organisation and a subject")
	case !c.SubjectKind.Valid() || !c.Instrument.Valid():
		return "", care.Errorf(care.EINVALID, "a feedback link needs a known subject kind and instrument")
	case (c.Instrument == InstrumentQuestionnaire) != (c.QuestionnaireID != nil && c.QuestionnaireVersion > 0):
		return "", care.Errorf(care.EINVALID, "a questionnaire link names the questionnaire and its version; other links do not")
	case c.AlsoFFT && c.Instrument != InstrumentCARE:
		return "", care.Errorf(care.EINVALID, "only a CARE Measure link can also ask the Friends and Family Test")
	case !c.Expires.After(s.now()):
		return "", care.Errorf(care.EINVALID, "a feedback link must expire in the future")
	}
	c.Expires = c.Expires.UTC().Truncate(time.Second)
	b, err := json.Marshal(c)
	if err != nil {
		return "", care.Errorf(care.EINVALID, "cannot encode feedback link")
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// Verify checks token's signature and expiry and returns its claims. It
// returns ErrLinkTampered for anything malformed or wrongly signed and
// ErrLinkExpired for an expired link; it does not know whether the link was
// used (the store does).
func (s *Signer) Verify(token string) (*LinkClaims, error) {
	if len(token) > 2048 {
		return nil, ErrLinkTampered
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrLinkTampered
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return nil, ErrLinkTampered
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, ErrLinkTampered
	}
	var c LinkClaims
	if err := json.Unmarshal(b, &c); err != nil || c.ID == uuid.Nil || !c.SubjectKind.Valid() || !c.Instrument.Valid() {
		return nil, ErrLinkTampered
	}
	if !s.now().Before(c.Expires) {
		return nil, ErrLinkExpired
	}
	return &c, nil
}
