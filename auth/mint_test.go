package auth

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

func TestMintHMACRoundTrip(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		req  MintRequest
		want care.Actor
	}{
		{"nurse",
			MintRequest{Subject: nurse.String(), OrganizationID: orgID, Role: care.RoleNurse, ClientID: "phone-1"},
			care.Actor{PractitionerID: nurse, OrganizationID: orgID, Role: care.RoleNurse, Subject: nurse.String(), ClientID: "phone-1",
				Access: care.PatientAccess{ViaRelationshipsOf: nurse}}},
		{"gp",
			MintRequest{Subject: doctor.String(), OrganizationID: orgID, Role: care.RoleGP, TTL: 5 * time.Minute},
			care.Actor{PractitionerID: doctor, OrganizationID: orgID, Role: care.RoleGP, Subject: doctor.String(),
				Access: care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}, ViaRelationshipsOf: doctor}}},
		{"practice admin",
			MintRequest{Subject: doctor.String(), OrganizationID: orgID, Role: care.RolePracticeAdmin},
			care.Actor{PractitionerID: doctor, OrganizationID: orgID, Role: care.RolePracticeAdmin, Subject: doctor.String(),
				Access: care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}}}},
		{"integration with scopes",
			MintRequest{Subject: "dashboard", OrganizationID: orgID, Role: care.RoleIntegration,
				Scopes: []string{care.ScopePatientsRead, care.ScopeAnalyticsRead}, ClientID: "dash"},
			care.Actor{OrganizationID: orgID, Role: care.RoleIntegration, Subject: "dashboard", ClientID: "dash",
				Scopes: []string{care.ScopePatientsRead, care.ScopeAnalyticsRead}, Access: care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.hmac.MintHMAC(tt.req)
			if err != nil {
				t.Fatalf("MintHMAC: %v", err)
			}
			got, err := f.hmac.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v (%s)", err, Reason(err))
			}
			ttl := tt.req.TTL
			if ttl == 0 {
				ttl = DefaultMintTTL
			}
			if want := testNow.Add(ttl).Truncate(time.Second); !got.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v (now + TTL)", got.ExpiresAt, want)
			}
			tt.want.ExpiresAt = got.ExpiresAt
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("actor\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestMintHMACExpiry(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := testNow
	clock := func() time.Time { return now }
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, HMACSecret: secret, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ttl    time.Duration
		after  time.Duration
		wantOK bool
	}{
		{"default TTL, just before an hour", 0, DefaultMintTTL - time.Second, true},
		{"default TTL, past an hour", 0, DefaultMintTTL + time.Second, false},
		{"five minutes, after four", 5 * time.Minute, 4 * time.Minute, true},
		{"five minutes, after six", 5 * time.Minute, 6 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = testNow
			tok, err := v.MintHMAC(MintRequest{Subject: nurse.String(), OrganizationID: orgID, Role: care.RoleNurse, TTL: tt.ttl})
			if err != nil {
				t.Fatal(err)
			}
			now = testNow.Add(tt.after)
			_, err = v.Verify(tok)
			if (err == nil) != tt.wantOK {
				t.Errorf("Verify after %s: err = %v, want ok = %v", tt.after, err, tt.wantOK)
			}
			if err != nil && Reason(err) != reasonExpired {
				t.Errorf("Reason = %q, want %q", Reason(err), reasonExpired)
			}
		})
	}
}

func TestMintHMACUniqueIDs(t *testing.T) {
	f := newFixture(t)
	req := MintRequest{Subject: nurse.String(), OrganizationID: orgID, Role: care.RoleNurse}
	a, err := f.hmac.MintHMAC(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.hmac.MintHMAC(req)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two tokens minted at the same instant are identical: jti not random")
	}
}

func TestMintHMACRejects(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		v       *Verifier
		req     MintRequest
		wantErr string
	}{
		{"verifier without HMAC secret", f.rsa,
			MintRequest{Subject: nurse.String(), OrganizationID: orgID, Role: care.RoleNurse}, "no HMAC secret"},
		{"system role", f.hmac,
			MintRequest{Subject: "system", OrganizationID: orgID, Role: care.RoleSystem}, "cannot be carried"},
		{"unknown role", f.hmac,
			MintRequest{Subject: nurse.String(), OrganizationID: orgID, Role: care.Role("root")}, "cannot be carried"},
		{"no organisation", f.hmac,
			MintRequest{Subject: nurse.String(), Role: care.RoleNurse}, "organization"},
		{"no subject", f.hmac,
			MintRequest{OrganizationID: orgID, Role: care.RoleIntegration}, "subject"},
		{"nurse subject not a UUID", f.hmac,
			MintRequest{Subject: "jane", OrganizationID: orgID, Role: care.RoleNurse}, "practitioner UUID"},
		{"negative TTL", f.hmac,
			MintRequest{Subject: nurse.String(), OrganizationID: orgID, Role: care.RoleNurse, TTL: -time.Minute}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.v.MintHMAC(tt.req)
			if err == nil {
				t.Fatalf("MintHMAC = %q, want error", tok)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}
