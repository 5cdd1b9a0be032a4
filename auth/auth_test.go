package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

const (
	testIssuer   = "https://id.rapport.test"
	testAudience = "rapport-api"
	testLeeway   = 30 * time.Second
)

var testNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// fixture holds the keys and verifiers shared by the tests.
type fixture struct {
	secret  []byte
	rsaKey  *rsa.PrivateKey    // public half in a PEM file
	rsaPEM  []byte             // that PEM file's bytes
	edKey   ed25519.PrivateKey // public half in a PEM file
	jwksRSA *rsa.PrivateKey    // in the JWKS as kid "rsa-1"
	jwksEd  ed25519.PrivateKey // in the JWKS as kid "ed-1"
	other   *rsa.PrivateKey    // trusted by nobody

	hmac *Verifier // HMAC secret only
	rsa  *Verifier // RSA PEM file only
	ed   *Verifier // Ed25519 PEM file only
	jwks *Verifier // JWKS file only
}

var (
	keysOnce sync.Once
	keys     *fixture
	keysErr  error
)

// newFixture returns the test keys (generated once: RSA key generation is
// slow) with fresh verifiers whose key files live in t.TempDir().
func newFixture(t *testing.T) *fixture {
	t.Helper()
	keysOnce.Do(func() { keys, keysErr = generateKeys() })
	if keysErr != nil {
		t.Fatalf("generate keys: %v", keysErr)
	}
	f := *keys
	if err := f.writeVerifiers(t.TempDir()); err != nil {
		t.Fatalf("build verifiers: %v", err)
	}
	return &f
}

func generateKeys() (*fixture, error) {
	f := &fixture{secret: []byte("0123456789abcdef0123456789abcdef-dev")}
	var err error
	for _, k := range []**rsa.PrivateKey{&f.rsaKey, &f.jwksRSA, &f.other} {
		if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	if _, f.edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	if _, f.jwksEd, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	if f.rsaPEM, err = pkixPEM(&f.rsaKey.PublicKey); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fixture) writeVerifiers(dir string) error {
	rsaPath := filepath.Join(dir, "rsa.pem")
	if err := os.WriteFile(rsaPath, f.rsaPEM, 0o600); err != nil {
		return err
	}
	edPEM, err := pkixPEM(f.edKey.Public())
	if err != nil {
		return err
	}
	edPath := filepath.Join(dir, "ed25519.pem")
	if err := os.WriteFile(edPath, edPEM, 0o600); err != nil {
		return err
	}
	jwksPath := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksPath, jwksJSON(
		rsaJWK("rsa-1", &f.jwksRSA.PublicKey),
		edJWK("ed-1", f.jwksEd.Public().(ed25519.PublicKey)),
		map[string]string{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "AA", "y": "AA"}, // skipped
	), 0o600); err != nil {
		return err
	}
	base := Config{Issuer: testIssuer, Audience: testAudience, Leeway: testLeeway, Now: func() time.Time { return testNow }}
	for _, c := range []struct {
		v   **Verifier
		mod func(*Config)
	}{
		{&f.hmac, func(c *Config) { c.HMACSecret = f.secret }},
		{&f.rsa, func(c *Config) { c.PublicKeyFiles = []string{rsaPath} }},
		{&f.ed, func(c *Config) { c.PublicKeyFiles = []string{edPath} }},
		{&f.jwks, func(c *Config) { c.JWKSFile = jwksPath }},
	} {
		cfg := base
		c.mod(&cfg)
		if *c.v, err = NewVerifier(cfg); err != nil {
			return err
		}
	}
	return nil
}

func pkixPEM(pub any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

func edJWK(kid string, pub ed25519.PublicKey) map[string]string {
	return map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(pub)}
}

func jwksJSON(keys ...map[string]string) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

var (
	orgID  = uuid.MustParse("0195a1b2-0000-7000-8000-000000000001")
	nurse  = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000a1")
	doctor = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000b2")
)

// claims returns valid claims for role and subject, to be edited per case.
func claims(role, sub string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  testIssuer,
		"aud":  testAudience,
		"sub":  sub,
		"iat":  testNow.Add(-time.Minute).Unix(),
		"nbf":  testNow.Add(-time.Minute).Unix(),
		"exp":  testNow.Add(time.Hour).Unix(),
		"jti":  "test",
		"org":  orgID.String(),
		"role": role,
	}
}

func with(c jwt.MapClaims, edits map[string]any) jwt.MapClaims {
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  care.Actor
	}{
		{
			name:  "HS256 nurse",
			v:     f.hmac,
			token: sign(t, jwt.SigningMethodHS256, f.secret, "", claims("nurse", nurse.String())),
			want: care.Actor{PractitionerID: nurse, OrganizationID: orgID, Role: care.RoleNurse, Subject: nurse.String(),
				Access: care.PatientAccess{ViaRelationshipsOf: nurse}},
		},
		{
			name: "HS256 nurse token claiming scopes gets none",
			v:    f.hmac,
			token: sign(t, jwt.SigningMethodHS256, f.secret, "",
				with(claims("nurse", nurse.String()), map[string]any{"scope": "patients:read analytics:read", "client_id": "mobile-7"})),
			want: care.Actor{PractitionerID: nurse, OrganizationID: orgID, Role: care.RoleNurse, Subject: nurse.String(),
				ClientID: "mobile-7", Access: care.PatientAccess{ViaRelationshipsOf: nurse}},
		},
		{
			name:  "RS256 GP from a PEM file",
			v:     f.rsa,
			token: sign(t, jwt.SigningMethodRS256, f.rsaKey, "", claims("gp", doctor.String())),
			want: care.Actor{PractitionerID: doctor, OrganizationID: orgID, Role: care.RoleGP, Subject: doctor.String(),
				Access: care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}, ViaRelationshipsOf: doctor}},
		},
		{
			name:  "RS256 from a PEM file with a kid not in any JWKS",
			v:     f.rsa,
			token: sign(t, jwt.SigningMethodRS256, f.rsaKey, "issuer-key-2026", claims("gp", doctor.String())),
			want: care.Actor{PractitionerID: doctor, OrganizationID: orgID, Role: care.RoleGP, Subject: doctor.String(),
				Access: care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}, ViaRelationshipsOf: doctor}},
		},
		{
			name:  "EdDSA practice admin from a PEM file",
			v:     f.ed,
			token: sign(t, jwt.SigningMethodEdDSA, f.edKey, "", claims("practice_admin", doctor.String())),
			want: care.Actor{PractitionerID: doctor, OrganizationID: orgID, Role: care.RolePracticeAdmin, Subject: doctor.String(),
				Access: care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}}},
		},
		{
			name: "RS256 integration via JWKS kid",
			v:    f.jwks,
			token: sign(t, jwt.SigningMethodRS256, f.jwksRSA, "rsa-1",
				with(claims("integration", "dashboard-co"), map[string]any{"scope": "patients:read analytics:read", "client_id": "dash"})),
			want: care.Actor{OrganizationID: orgID, Role: care.RoleIntegration, Subject: "dashboard-co", ClientID: "dash",
				Scopes: []string{"patients:read", "analytics:read"}, Access: care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}}},
		},
		{
			name: "EdDSA integration via JWKS kid, analytics only",
			v:    f.jwks,
			token: sign(t, jwt.SigningMethodEdDSA, f.jwksEd, "ed-1",
				with(claims("integration", "commissioner"), map[string]any{"scope": "analytics:read"})),
			want: care.Actor{OrganizationID: orgID, Role: care.RoleIntegration, Subject: "commissioner",
				Scopes: []string{"analytics:read"}},
		},
		{
			name: "expired within the leeway",
			v:    f.hmac,
			token: sign(t, jwt.SigningMethodHS256, f.secret, "",
				with(claims("nurse", nurse.String()), map[string]any{"exp": testNow.Add(-testLeeway / 2).Unix()})),
			want: care.Actor{PractitionerID: nurse, OrganizationID: orgID, Role: care.RoleNurse, Subject: nurse.String(),
				Access: care.PatientAccess{ViaRelationshipsOf: nurse}},
		},
		{
			name: "nbf and iat within the leeway",
			v:    f.hmac,
			token: sign(t, jwt.SigningMethodHS256, f.secret, "",
				with(claims("nurse", nurse.String()), map[string]any{"nbf": testNow.Add(testLeeway / 2).Unix(), "iat": testNow.Add(testLeeway / 2).Unix()})),
			want: care.Actor{PractitionerID: nurse, OrganizationID: orgID, Role: care.RoleNurse, Subject: nurse.String(),
				Access: care.PatientAccess{ViaRelationshipsOf: nurse}},
		},
		{
			name: "audience among several",
			v:    f.hmac,
			token: sign(t, jwt.SigningMethodHS256, f.secret, "",
				with(claims("nurse", nurse.String()), map[string]any{"aud": []string{"other-api", testAudience}})),
			want: care.Actor{PractitionerID: nurse, OrganizationID: orgID, Role: care.RoleNurse, Subject: nurse.String(),
				Access: care.PatientAccess{ViaRelationshipsOf: nurse}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Verify(tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The actor expires when the token does.
			var mc jwt.MapClaims
			if _, _, err := jwt.NewParser().ParseUnverified(tt.token, &mc); err != nil {
				t.Fatal(err)
			}
			exp, err := mc.GetExpirationTime()
			if err != nil || exp == nil {
				t.Fatalf("token without exp: %v", err)
			}
			if !got.ExpiresAt.Equal(exp.Time) {
				t.Errorf("ExpiresAt = %v, want the token's exp %v", got.ExpiresAt, exp.Time)
			}
			tt.want.ExpiresAt = got.ExpiresAt
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("actor\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, f.secret, "", c) }
	nurseClaims := func(edits map[string]any) jwt.MapClaims { return with(claims("nurse", nurse.String()), edits) }

	payload, err := json.Marshal(claims("nurse", nurse.String()))
	if err != nil {
		t.Fatal(err)
	}
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "."
	algNoneSigned := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "." + b64([]byte("sig"))

	// HS256 over the RSA public key's PEM bytes: the classic confusion attack
	// against a verifier that would feed its RSA key to HMAC.
	confusion := sign(t, jwt.SigningMethodHS256, f.rsaPEM, "", claims("nurse", nurse.String()))
	confusionDER := sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&f.rsaKey.PublicKey), "", claims("nurse", nurse.String()))

	tests := []struct {
		name   string
		v      *Verifier
		token  string
		reason string
	}{
		{"empty token", f.hmac, "", reasonEmpty},
		{"garbage", f.hmac, "this is not a token", reasonMalformed},
		{"garbage in three parts", f.hmac, "a.b.c", reasonMalformed},
		{"bearer prefix left on", f.hmac, "Bearer " + hs(nurseClaims(nil)), reasonMalformed},
		{"expired", f.hmac, hs(nurseClaims(map[string]any{"exp": testNow.Add(-testLeeway - time.Second).Unix()})), reasonExpired},
		{"nbf in the future", f.hmac, hs(nurseClaims(map[string]any{"nbf": testNow.Add(testLeeway + time.Minute).Unix()})), reasonNotYetValid},
		{"iat in the future", f.hmac, hs(nurseClaims(map[string]any{"iat": testNow.Add(testLeeway + time.Minute).Unix()})), reasonIssuedInFuture},
		{"missing exp", f.hmac, hs(nurseClaims(map[string]any{"exp": nil})), reasonMissingClaim},
		{"exp not a number", f.hmac, hs(nurseClaims(map[string]any{"exp": "tomorrow"})), reasonNumericDate},
		// RFC 7519 NumericDate is a JSON number; a string holding a valid
		// one is still a string.
		{"exp a numeric string", f.hmac, hs(nurseClaims(map[string]any{"exp": fmt.Sprint(testNow.Add(time.Hour).Unix())})), reasonNumericDate},
		{"nbf a numeric string", f.hmac, hs(nurseClaims(map[string]any{"nbf": fmt.Sprint(testNow.Add(-time.Minute).Unix())})), reasonNumericDate},
		{"iat a numeric string", f.hmac, hs(nurseClaims(map[string]any{"iat": fmt.Sprint(testNow.Add(-time.Minute).Unix())})), reasonNumericDate},
		{"exp null", f.hmac, hs(nurseClaims(map[string]any{"exp": json.RawMessage("null")})), reasonNumericDate},
		{"wrong issuer", f.hmac, hs(nurseClaims(map[string]any{"iss": "https://evil.test"})), reasonIssuer},
		{"missing issuer", f.hmac, hs(nurseClaims(map[string]any{"iss": nil})), reasonMissingClaim},
		{"wrong audience", f.hmac, hs(nurseClaims(map[string]any{"aud": "other-api"})), reasonAudience},
		{"missing audience", f.hmac, hs(nurseClaims(map[string]any{"aud": nil})), reasonMissingClaim},
		{"forged signature (another secret)", f.hmac,
			sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), "", nurseClaims(nil)), reasonSignature},
		{"tampered payload", f.hmac, tamper(t, hs(nurseClaims(nil))), reasonSignature},
		{"alg none", f.hmac, algNone, reasonAlgorithm},
		{"alg none with a signature", f.hmac, algNoneSigned, reasonAlgorithm},
		{"alg none to an RSA verifier", f.rsa, algNone, reasonAlgorithm},
		{"alg confusion: HS256 signed with the RSA public key PEM", f.rsa, confusion, reasonAlgorithm},
		{"alg confusion: HS256 signed with the RSA public key DER", f.rsa, confusionDER, reasonAlgorithm},
		{"RS256 token to an HMAC-only verifier", f.hmac, sign(t, jwt.SigningMethodRS256, f.rsaKey, "", nurseClaims(nil)), reasonAlgorithm},
		{"EdDSA token to an RSA-only verifier", f.rsa, sign(t, jwt.SigningMethodEdDSA, f.edKey, "", nurseClaims(nil)), reasonAlgorithm},
		{"RS512 with the trusted key", f.rsa, sign(t, jwt.SigningMethodRS512, f.rsaKey, "", nurseClaims(nil)), reasonAlgorithm},
		{"RS256 signed by an untrusted key", f.rsa, sign(t, jwt.SigningMethodRS256, f.other, "", nurseClaims(nil)), reasonSignature},
		{"JWKS unknown kid", f.jwks, sign(t, jwt.SigningMethodRS256, f.jwksRSA, "rsa-9", nurseClaims(nil)), reasonNoKey},
		{"JWKS no kid", f.jwks, sign(t, jwt.SigningMethodRS256, f.jwksRSA, "", nurseClaims(nil)), reasonNoKey},
		{"JWKS kid of the skipped EC key", f.jwks, sign(t, jwt.SigningMethodRS256, f.jwksRSA, "ec-1", nurseClaims(nil)), reasonNoKey},
		{"JWKS right kid, wrong key", f.jwks, sign(t, jwt.SigningMethodRS256, f.other, "rsa-1", nurseClaims(nil)), reasonSignature},
		{"JWKS RSA kid with an EdDSA token", f.jwks, sign(t, jwt.SigningMethodEdDSA, f.jwksEd, "rsa-1", nurseClaims(nil)), reasonNoKey},
		{"role system", f.hmac, hs(nurseClaims(map[string]any{"role": "system"})), reasonRole},
		{"unknown role", f.hmac, hs(nurseClaims(map[string]any{"role": "superuser"})), reasonRole},
		{"role in upper case", f.hmac, hs(nurseClaims(map[string]any{"role": "NURSE"})), reasonRole},
		{"missing role", f.hmac, hs(nurseClaims(map[string]any{"role": nil})), reasonRole},
		{"missing org", f.hmac, hs(nurseClaims(map[string]any{"org": nil})), reasonOrg},
		{"org not a UUID", f.hmac, hs(nurseClaims(map[string]any{"org": "st-marys"})), reasonOrg},
		{"org nil UUID", f.hmac, hs(nurseClaims(map[string]any{"org": uuid.Nil.String()})), reasonOrg},
		{"non-UUID sub for a nurse", f.hmac, hs(nurseClaims(map[string]any{"sub": "nurse-jane"})), reasonPractitionerSub},
		{"nil UUID sub for a GP", f.hmac, hs(with(claims("gp", uuid.Nil.String()), nil)), reasonPractitionerSub},
		{"missing sub for an integration", f.hmac, hs(with(claims("integration", ""), map[string]any{"sub": nil})), reasonSubject},
		{"oversize token", f.hmac, hs(nurseClaims(map[string]any{"pad": strings.Repeat("x", MaxTokenSize)})), reasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actor, err := tt.v.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", actor)
			}
			if actor != nil {
				t.Errorf("Verify returned an actor with its error: %+v", actor)
			}
			if code := care.ErrorCode(err); code != care.EUNAUTHENTICATED {
				t.Errorf("code = %q, want %q", code, care.EUNAUTHENTICATED)
			}
			if msg := care.ErrorMessage(err); msg != invalidTokenMessage {
				t.Errorf("message = %q, want %q", msg, invalidTokenMessage)
			}
			if got := Reason(err); got != tt.reason {
				t.Errorf("Reason = %q, want %q", got, tt.reason)
			}
			if tt.token != "" {
				for _, s := range []string{err.Error(), Reason(err), care.ErrorMessage(err)} {
					if strings.Contains(s, tt.token) {
						t.Errorf("error text contains the token: %q", s)
					}
					for _, part := range strings.Split(tt.token, ".") {
						if len(part) >= 8 && strings.Contains(s, part) {
							t.Errorf("error text contains a token segment: %q", s)
						}
					}
				}
			}
		})
	}
}

// tamper flips the nurse's role to gp in a signed token without re-signing.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), `"role":"nurse"`, `"role":"gp"`, 1)
	if changed == string(payload) {
		t.Fatal("tamper: role not found in payload")
	}
	parts[1] = b64([]byte(changed))
	return strings.Join(parts, ".")
}

func TestReasonOfOtherErrors(t *testing.T) {
	if got := Reason(nil); got != "" {
		t.Errorf("Reason(nil) = %q, want empty", got)
	}
	if got := Reason(care.Errorf(care.EUNAUTHENTICATED, "x")); got != "" {
		t.Errorf("Reason(care error) = %q, want empty", got)
	}
}

func TestVerifyConcurrently(t *testing.T) {
	f := newFixture(t)
	good := sign(t, jwt.SigningMethodRS256, f.jwksRSA, "rsa-1", claims("nurse", nurse.String()))
	bad := sign(t, jwt.SigningMethodRS256, f.other, "rsa-1", claims("nurse", nurse.String()))
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, wantOK := good, true
			if i%2 == 1 {
				tok, wantOK = bad, false
			}
			if _, err := f.jwks.Verify(tok); (err == nil) != wantOK {
				errs <- "unexpected result: " + Reason(err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaPath := write("rsa.pem", f.rsaPEM)
	both := write("both.pem", append(append([]byte(nil), f.rsaPEM...), mustPEM(t, f.edKey.Public())...))
	rsaPKCS1 := write("rsa-pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&f.rsaKey.PublicKey)}))
	privDER, err := x509.MarshalPKCS8PrivateKey(f.edKey)
	if err != nil {
		t.Fatal(err)
	}
	private := write("private.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPath := write("weak.pem", mustPEM(t, &weak.PublicKey))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPath := write("ec.pem", mustPEM(t, &ec.PublicKey))
	garbage := write("garbage.pem", []byte("not a key"))
	jwksGarbage := write("garbage.json", []byte("{"))
	jwksEmpty := write("empty.json", []byte(`{"keys":[]}`))
	jwksEncOnly := write("enc.json", jwksJSON(with2(rsaJWK("enc-1", &f.jwksRSA.PublicKey), "use", "enc")))
	jwksDup := write("dup.json", jwksJSON(rsaJWK("k", &f.jwksRSA.PublicKey), edJWK("k", f.jwksEd.Public().(ed25519.PublicKey))))
	jwksBadX := write("badx.json", jwksJSON(map[string]string{"kty": "OKP", "kid": "e", "crv": "Ed25519", "x": "AAAA"}))
	jwksBadE := write("bade.json", jwksJSON(with2(rsaJWK("r", &f.jwksRSA.PublicKey), "e", "")))
	jwksWeak := write("weak.json", jwksJSON(rsaJWK("w", &weak.PublicKey)))
	jwksOK := write("ok.json", jwksJSON(rsaJWK("r", &f.jwksRSA.PublicKey)))

	ok := func(c Config) Config {
		if c.Issuer == "" {
			c.Issuer = testIssuer
		}
		if c.Audience == "" {
			c.Audience = testAudience
		}
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means success
	}{
		{"HMAC secret", ok(Config{HMACSecret: f.secret}), ""},
		{"RSA PEM", ok(Config{PublicKeyFiles: []string{rsaPath}}), ""},
		{"RSA PKCS1 PEM", ok(Config{PublicKeyFiles: []string{rsaPKCS1}}), ""},
		{"PEM with two keys", ok(Config{PublicKeyFiles: []string{both}}), ""},
		{"JWKS", ok(Config{JWKSFile: jwksOK}), ""},
		{"blank key paths ignored", ok(Config{HMACSecret: f.secret, PublicKeyFiles: []string{"", " "}}), ""},
		{"everything at once", ok(Config{HMACSecret: f.secret, PublicKeyFiles: []string{rsaPath}, JWKSFile: jwksOK}), ""},
		{"no key source", ok(Config{}), "no key source"},
		{"only blank key paths", ok(Config{PublicKeyFiles: []string{""}}), "no key source"},
		{"empty issuer", Config{Audience: testAudience, HMACSecret: f.secret}, "issuer"},
		{"empty audience", Config{Issuer: testIssuer, HMACSecret: f.secret}, "audience"},
		{"short HMAC secret", ok(Config{HMACSecret: []byte("short")}), "HMAC secret"},
		{"negative leeway", ok(Config{HMACSecret: f.secret, Leeway: -time.Second}), "leeway"},
		{"missing PEM file", ok(Config{PublicKeyFiles: []string{filepath.Join(dir, "nope.pem")}}), "nope.pem"},
		{"garbage PEM file", ok(Config{PublicKeyFiles: []string{garbage}}), "no PEM public key"},
		{"private key PEM", ok(Config{PublicKeyFiles: []string{private}}), "not a public key"},
		{"1024-bit RSA key", ok(Config{PublicKeyFiles: []string{weakPath}}), "1024 bits"},
		{"ECDSA key", ok(Config{PublicKeyFiles: []string{ecPath}}), "unsupported key type"},
		{"one bad file among good", ok(Config{PublicKeyFiles: []string{rsaPath, garbage}}), "garbage.pem"},
		{"missing JWKS file", ok(Config{JWKSFile: filepath.Join(dir, "nope.json")}), "nope.json"},
		{"JWKS not JSON", ok(Config{JWKSFile: jwksGarbage}), "JWKS"},
		{"JWKS without keys", ok(Config{JWKSFile: jwksEmpty}), "no usable"},
		{"JWKS with only encryption keys", ok(Config{JWKSFile: jwksEncOnly}), "no usable"},
		{"JWKS duplicate kid", ok(Config{JWKSFile: jwksDup}), "twice"},
		{"JWKS bad Ed25519 x", ok(Config{JWKSFile: jwksBadX}), "Ed25519"},
		{"JWKS bad RSA e", ok(Config{JWKSFile: jwksBadE}), "exponent"},
		{"JWKS weak RSA key", ok(Config{JWKSFile: jwksWeak}), "1024 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewVerifier succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestSecretIsCopied(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.MintHMAC(MintRequest{Subject: nurse.String(), OrganizationID: orgID, Role: care.RoleNurse})
	if err != nil {
		t.Fatal(err)
	}
	for i := range secret {
		secret[i] = 'z'
	}
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("changing the caller's slice changed the verifier: %v", err)
	}
}

func mustPEM(t *testing.T, pub any) []byte {
	t.Helper()
	b, err := pkixPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func with2(m map[string]string, k, v string) map[string]string {
	m[k] = v
	return m
}

// TestVerifiedTokensAreRememberedOnlyWhileValid: a token that verified is
// accepted again from memory (Verify keeps the verified tokens), but only
// while the parser would accept it: past exp plus the leeway, or with the
// clock put back before nbf or iat less the leeway, it is refused with the
// parser's reason. Each caller gets its own actor, and a token that fails
// is never remembered.
func TestVerifiedTokensAreRememberedOnlyWhileValid(t *testing.T) {
	f := newFixture(t)
	now := testNow
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, Leeway: testLeeway, HMACSecret: f.secret,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	token := sign(t, jwt.SigningMethodHS256, f.secret, "", with(claims("integration", "partner-app"), map[string]any{
		"scope": "patients:read", "exp": testNow.Add(time.Minute).Unix()}))
	first, err := v.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	want := *cloneActor(*first)
	first.Scopes[0] = "patients:write" // a caller changing its copy changes nobody else's
	first.Access.RegisteredAt = append(first.Access.RegisteredAt, uuid.New())
	for _, at := range []time.Duration{0, 30 * time.Second, time.Minute + testLeeway - time.Second, -time.Minute - testLeeway} {
		now = testNow.Add(at)
		again, err := v.Verify(token)
		if err != nil {
			t.Fatalf("at %s: %v", at, err)
		}
		if !reflect.DeepEqual(*again, want) {
			t.Fatalf("at %s: actor %+v, want %+v", at, *again, want)
		}
		again.Scopes[0] = "patients:write"
	}
	for at, reason := range map[time.Duration]string{
		time.Minute + testLeeway:                reasonExpired,
		-time.Minute - testLeeway - time.Second: reasonNotYetValid + ", " + reasonIssuedInFuture,
	} {
		now = testNow.Add(at)
		if _, err := v.Verify(token); Reason(err) != reason {
			t.Fatalf("at %s: %v (reason %q), want %q", at, err, Reason(err), reason)
		}
	}
	now = testNow
	good := sign(t, jwt.SigningMethodHS256, f.secret, "", claims("nurse", nurse.String()))
	if _, err := v.Verify(good); err != nil {
		t.Fatal(err)
	}
	bad := tamper(t, good) // the same claims but the role: the signature no longer verifies
	for range 2 {
		if _, err := v.Verify(bad); Reason(err) != reasonSignature {
			t.Fatalf("tampered token: %v, want %q", err, reasonSignature)
		}
	}
}
