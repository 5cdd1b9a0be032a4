// Package auth verifies the JWTs that callers present, turns their claims into
// a care.Actor, and decides which patients that actor may see (AccessFor).
// It mints HMAC tokens for development and tests. It knows nothing of HTTP or
// SQL: the server reads the bearer token, auth answers who the caller is.
//
// It is the only package that imports github.com/golang-jwt/jwt.
package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/rapportcare/rapport/care"
)

// Algorithms accepted, one per key type. Each key is pinned to its algorithm:
// an HMAC secret verifies only HS256, an RSA key only RS256, an Ed25519 key
// only EdDSA.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algEdDSA = "EdDSA"
)

// MaxTokenSize is the longest token Verify will look at, in bytes.
const MaxTokenSize = 8 << 10

// MinHMACSecretSize is the shortest HMAC secret NewVerifier accepts, in bytes.
const MinHMACSecretSize = 32

// minRSABits is the smallest RSA modulus accepted for verification.
const minRSABits = 2048

// invalidTokenMessage is the only thing a caller learns about a rejected token.
const invalidTokenMessage = "invalid or expired token"

// Config says whom to trust and how strictly.
type Config struct {
	// Issuer is the required "iss" claim.
	Issuer string
	// Audience must appear in the "aud" claim.
	Audience string
	// HMACSecret, if set, verifies (and mints) HS256 tokens. At least
	// MinHMACSecretSize bytes. Meant for development and tests.
	HMACSecret []byte
	// PublicKeyFiles are PEM files with RSA (RS256) or Ed25519 (EdDSA) public
	// keys, as PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks. Blank entries
	// are ignored. These keys carry no key id: they are tried for any token
	// whose kid is absent or not in the JWKS.
	PublicKeyFiles []string
	// JWKSFile is a JSON Web Key Set file with RSA and OKP/Ed25519 keys. Keys
	// with a kid are used only for tokens naming that kid. Keys of other types
	// or meant for encryption are skipped.
	JWKSFile string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// verificationKey is a key pinned to the one algorithm it may verify.
type verificationKey struct {
	alg string
	key jwt.VerificationKey
}

// Verifier checks tokens against a Config. It is safe for concurrent use.
type Verifier struct {
	issuer   string
	audience string
	secret   []byte
	now      func() time.Time
	// byKID holds JWKS keys that have a key id.
	byKID map[string]verificationKey
	// anonymous holds keys without a key id: the HMAC secret, PEM keys and
	// JWKS keys without a kid.
	anonymous []verificationKey
	parser    *jwt.Parser
	leeway    time.Duration
	// verified remembers the tokens that verified, by their exact text, with
	// the actor each speaks for and when it is valid (see Verify).
	verified *lru.Cache[string, verifiedToken]
}

// verifiedTokens bounds how many verified tokens a Verifier remembers (each
// at most MaxTokenSize: 32 MiB at the very worst, well under 1 MiB for the
// tokens identity providers issue).
const verifiedTokens = 4096

// verifiedToken is a token that verified: the actor, and the instants
// between which the parser would accept it again (from nbf and iat, until
// exp, each widened by the leeway).
type verifiedToken struct {
	actor       care.Actor
	from, until time.Time
}

// NewVerifier returns a Verifier for cfg. It returns an error if the issuer or
// audience is empty, the leeway is negative, no key source is configured, the
// HMAC secret is shorter than MinHMACSecretSize, or a key file cannot be read
// or holds no usable, valid key.
func NewVerifier(cfg Config) (*Verifier, error) {
	if strings.TrimSpace(cfg.Issuer) == "" {
		return nil, errors.New("auth: issuer is required")
	}
	if strings.TrimSpace(cfg.Audience) == "" {
		return nil, errors.New("auth: audience is required")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: leeway %s is negative", cfg.Leeway)
	}
	verified, err := lru.New[string, verifiedToken](verifiedTokens)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		now:      cfg.Now,
		byKID:    map[string]verificationKey{},
		leeway:   cfg.Leeway,
		verified: verified,
	}
	if v.now == nil {
		v.now = time.Now
	}
	sources := 0
	if len(cfg.HMACSecret) > 0 {
		if len(cfg.HMACSecret) < MinHMACSecretSize {
			return nil, fmt.Errorf("auth: HMAC secret is %d bytes, need at least %d", len(cfg.HMACSecret), MinHMACSecretSize)
		}
		v.secret = append([]byte(nil), cfg.HMACSecret...)
		v.anonymous = append(v.anonymous, verificationKey{alg: algHS256, key: v.secret})
		sources++
	}
	for _, path := range cfg.PublicKeyFiles {
		path = strings.TrimSpace(path)
		if path == "" {
			continue
		}
		keys, err := loadPEMFile(path)
		if err != nil {
			return nil, err
		}
		v.anonymous = append(v.anonymous, keys...)
		sources++
	}
	if strings.TrimSpace(cfg.JWKSFile) != "" {
		byKID, anonymous, err := loadJWKSFile(strings.TrimSpace(cfg.JWKSFile))
		if err != nil {
			return nil, err
		}
		v.byKID = byKID
		v.anonymous = append(v.anonymous, anonymous...)
		sources++
	}
	if sources == 0 {
		return nil, errors.New("auth: no key source: set an HMAC secret, public key files or a JWKS file")
	}

	// Only the algorithms of keys we actually hold are valid at all.
	var methods []string
	seen := map[string]bool{}
	for _, k := range v.allKeys() {
		if !seen[k.alg] {
			seen[k.alg] = true
			methods = append(methods, k.alg)
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

func (v *Verifier) allKeys() []verificationKey {
	keys := append([]verificationKey(nil), v.anonymous...)
	for _, k := range v.byKID {
		keys = append(keys, k)
	}
	return keys
}

// tokenClaims is what a Rapport token carries.
type tokenClaims struct {
	jwt.RegisteredClaims
	// Org is the organisation's UUID.
	Org string `json:"org"`
	// Role is one of the roles a token may carry (never "system").
	Role string `json:"role"`
	// Scope is a space-separated list of scopes (integration tokens).
	Scope string `json:"scope,omitempty"`
	// ClientID names the integration or device the token was issued to.
	ClientID string `json:"client_id,omitempty"`
}

// errNumericDate is returned while decoding claims whose exp, nbf or iat is
// not a JSON number.
var errNumericDate = errors.New("exp, nbf and iat must be JSON numbers")

// UnmarshalJSON decodes the claims, refusing an exp, nbf or iat that is not a
// JSON number: RFC 7519 section 2 defines NumericDate as a number, and jwt's
// own decoding also accepts a string holding one.
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range []string{"exp", "nbf", "iat"} {
		if v, ok := raw[k]; ok && !isJSONNumber(v) {
			return errNumericDate
		}
	}
	type plain tokenClaims // without this method, so no recursion
	return json.Unmarshal(b, (*plain)(c))
}

// isJSONNumber reports whether v, a JSON value, is a number.
func isJSONNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

// Reasons a token is rejected, for logs. They never quote the token or any
// claim value from it, so they are safe to log and bounded in size.
const (
	reasonEmpty           = "empty token"
	reasonTooLarge        = "token larger than 8 KiB"
	reasonMalformed       = "malformed token"
	reasonNumericDate     = "exp, nbf or iat is not a number"
	reasonAlgorithm       = "signing algorithm not accepted"
	reasonNoKey           = "no key for this algorithm and key id"
	reasonSignature       = "signature does not verify"
	reasonExpired         = "token expired"
	reasonNotYetValid     = "token not valid yet (nbf)"
	reasonIssuedInFuture  = "token issued in the future (iat)"
	reasonIssuer          = "wrong issuer"
	reasonAudience        = "wrong audience"
	reasonMissingClaim    = "required claim missing (exp, iss or aud)"
	reasonInvalidClaims   = "invalid registered claims"
	reasonRole            = "role missing or not accepted"
	reasonOrg             = "org claim missing or not a UUID"
	reasonSubject         = "sub claim missing"
	reasonPractitionerSub = "sub claim is not a practitioner UUID"
	reasonUnverifiable    = "token unverifiable"
)

// errNoKey is returned by the keyfunc when no key may verify the token.
var errNoKey = errors.New("no key")

// errAlgorithm is returned by the keyfunc for an algorithm we do not accept.
var errAlgorithm = errors.New("algorithm not accepted")

// TokenError is the error Verify returns. It unwraps to a *care.Error with
// code care.EUNAUTHENTICATED and a generic message, which is all a caller of
// the API should see; Reason says which check failed, for logs.
type TokenError struct {
	reason string
	err    *care.Error
}

// Error implements error. It names the reason but never the token.
func (e *TokenError) Error() string {
	return "auth: verify token: " + e.reason + ": " + e.err.Error()
}

// Unwrap returns the caller-safe *care.Error.
func (e *TokenError) Unwrap() error { return e.err }

// Reason returns why Verify rejected a token (e.g. "token expired"), for
// logs, or "" if err did not come from Verify. It never contains the token.
func Reason(err error) string {
	var te *TokenError
	if errors.As(err, &te) {
		return te.reason
	}
	return ""
}

func reject(reason string) error {
	return &TokenError{reason: reason, err: care.Errorf(care.EUNAUTHENTICATED, invalidTokenMessage)}
}

// Verify checks token (without a "Bearer " prefix) and returns the actor it
// speaks for, with Access set by AccessFor. On any failure it returns an error
// with code care.EUNAUTHENTICATED and the same generic message; Reason(err)
// tells which check failed.
func (v *Verifier) Verify(token string) (*care.Actor, error) {
	if token == "" {
		return nil, reject(reasonEmpty)
	}
	if len(token) > MaxTokenSize {
		return nil, reject(reasonTooLarge)
	}
	// A client sends the same token with every request until it expires;
	// parsing and checking its signature again was a quarter of the
	// server's CPU for a read by id. A token that verified is remembered by
	// its exact text (nothing but the same bytes, signed by a key this
	// Verifier holds, can match it: the keys are fixed when it is made) and
	// accepted while the parser would accept it. Outside that window it goes
	// through the parser again, which gives the reason. Every caller gets
	// its own copy of the actor.
	if t, ok := v.verified.Get(token); ok {
		if now := v.now(); !now.Before(t.from) && now.Before(t.until) {
			return cloneActor(t.actor), nil
		}
	}
	var claims tokenClaims
	if _, err := v.parser.ParseWithClaims(token, &claims, v.keyFor); err != nil {
		return nil, reject(parseReason(err))
	}
	actor, reason := actorFromClaims(&claims)
	if actor == nil {
		return nil, reject(reason)
	}
	v.verified.Add(token, verifiedToken{actor: *cloneActor(*actor), from: validFrom(&claims).Add(-v.leeway), until: actor.ExpiresAt.Add(v.leeway)})
	return actor, nil
}

// validFrom is the latest of the token's nbf and iat: before it (less the
// leeway) the parser refuses the token.
func validFrom(c *tokenClaims) time.Time {
	var from time.Time
	for _, d := range []*jwt.NumericDate{c.NotBefore, c.IssuedAt} {
		if d != nil && d.After(from) {
			from = d.Time
		}
	}
	return from
}

// cloneActor copies a, its slices included.
func cloneActor(a care.Actor) *care.Actor {
	a.Scopes = slices.Clone(a.Scopes)
	a.Access.RegisteredAt = slices.Clone(a.Access.RegisteredAt)
	return &a
}

// keyFor returns the keys that may verify t: those pinned to t's algorithm,
// chosen by kid when the JWKS has that kid, otherwise the keys without a kid.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	switch alg {
	case algHS256, algRS256, algEdDSA:
	default:
		return nil, errAlgorithm
	}
	var kid string
	if raw, ok := t.Header["kid"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, errNoKey
		}
		kid = s
	}
	pool := v.anonymous
	if kid != "" {
		if k, ok := v.byKID[kid]; ok {
			pool = []verificationKey{k}
		}
	}
	var set jwt.VerificationKeySet
	for _, k := range pool {
		if k.alg == alg && keyMatchesAlg(k.key, alg) {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errNoKey
	}
	return set, nil
}

// keyMatchesAlg reports whether key is of the type alg requires; a second
// guard against algorithm confusion besides the alg each key is stored with.
func keyMatchesAlg(key any, alg string) bool {
	switch key.(type) {
	case []byte:
		return alg == algHS256
	case *rsa.PublicKey:
		return alg == algRS256
	case ed25519.PublicKey:
		return alg == algEdDSA
	}
	return false
}

// parseReason maps a jwt error to a fixed reason. jwt's own messages are not
// used: some quote parts of the decoded token.
func parseReason(err error) string {
	switch {
	case errors.Is(err, errAlgorithm):
		return reasonAlgorithm
	case errors.Is(err, errNoKey):
		return reasonNoKey
	case errors.Is(err, errNumericDate):
		return reasonNumericDate
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// WithValidMethods reports a method outside the set as an invalid
		// signature; tell the two apart for the logs.
		if strings.Contains(err.Error(), "signing method") {
			return reasonAlgorithm
		}
		return reasonSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return reasonUnverifiable
	}
	var reasons []string
	for _, c := range []struct {
		err    error
		reason string
	}{
		{jwt.ErrTokenRequiredClaimMissing, reasonMissingClaim},
		{jwt.ErrTokenExpired, reasonExpired},
		{jwt.ErrTokenNotValidYet, reasonNotYetValid},
		{jwt.ErrTokenUsedBeforeIssued, reasonIssuedInFuture},
		{jwt.ErrTokenInvalidIssuer, reasonIssuer},
		{jwt.ErrTokenInvalidAudience, reasonAudience},
	} {
		if errors.Is(err, c.err) {
			reasons = append(reasons, c.reason)
		}
	}
	if len(reasons) == 0 {
		return reasonInvalidClaims
	}
	return strings.Join(reasons, ", ")
}

// tokenRoles are the roles a token may carry. System is deliberately absent:
// only the command line acts as the system.
var tokenRoles = map[string]care.Role{
	string(care.RoleNurse):         care.RoleNurse,
	string(care.RoleGP):            care.RoleGP,
	string(care.RolePracticeAdmin): care.RolePracticeAdmin,
	string(care.RoleIntegration):   care.RoleIntegration,
}

// actorFromClaims builds the actor from verified claims, or returns nil and
// the reason the claims are unacceptable.
func actorFromClaims(c *tokenClaims) (*care.Actor, string) {
	role, ok := tokenRoles[c.Role]
	if !ok {
		return nil, reasonRole
	}
	org, err := uuid.Parse(c.Org)
	if err != nil || org == uuid.Nil {
		return nil, reasonOrg
	}
	if strings.TrimSpace(c.Subject) == "" {
		return nil, reasonSubject
	}
	a := &care.Actor{
		OrganizationID: org,
		Role:           role,
		Subject:        c.Subject,
		ClientID:       c.ClientID,
	}
	if c.ExpiresAt != nil { // always set: the parser requires exp
		a.ExpiresAt = c.ExpiresAt.Time
	}
	if role == care.RoleIntegration {
		// Scopes are what an integration is granted; people get what their
		// role gives them, whatever a token claims.
		a.Scopes = strings.Fields(c.Scope)
	} else {
		id, err := uuid.Parse(c.Subject)
		if err != nil || id == uuid.Nil {
			return nil, reasonPractitionerSub
		}
		a.PractitionerID = id
		a.Scopes = personScopes(role, strings.Fields(c.Scope))
	}
	a.Access = AccessFor(a)
	return a, ""
}
