package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestRun(t *testing.T) {
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Addr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second}, Deps{
			Verifier: newVerifier(t, DefaultAudience, nil),
			Log:      zerolog.New(logs),
			Ready:    func(addr string) { ready <- addr },
		})
	}()

	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run never became ready")
	}
	t.Run("serves on the real address", func(t *testing.T) {
		if strings.HasSuffix(addr, ":0") {
			t.Fatalf("Ready got %q, not the real port", addr)
		}
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
			t.Fatalf("healthz: %d %s", res.StatusCode, body)
		}
	})
	t.Run("logs where it listens", func(t *testing.T) {
		if !strings.Contains(logs.String(), `"addr":"`+addr+`","message":"listening"`) {
			t.Errorf("no listening line for %s in %s", addr, logs)
		}
	})
	t.Run("stops cleanly when the context ends", func(t *testing.T) {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop")
		}
		if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
			t.Errorf("still serving after shutdown")
		}
	})
}

func TestRunListenError(t *testing.T) {
	err := Run(context.Background(), Config{Addr: "127.0.0.1:-1"}, Deps{Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	t.Run("defaults", func(t *testing.T) {
		cfg, err := ConfigFromEnv(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Addr != ":8080" || cfg.JWT.Issuer != "rapport-dev" || cfg.JWT.Audience != "rapport" ||
			cfg.MaxBodyBytes != 1<<20 || cfg.MaxDepth != 12 || cfg.MaxComplexity != 5000 ||
			cfg.RequestTimeout != 30*time.Second || cfg.ShutdownTimeout != 15*time.Second || cfg.LogLevel != zerolog.InfoLevel {
			t.Errorf("defaults = %+v", cfg)
		}
	})
	t.Run("every variable", func(t *testing.T) {
		cfg, err := ConfigFromEnv(env(map[string]string{
			"RAPPORT_ADDR":                  "127.0.0.1:9000",
			"DATABASE_URL":                  "postgres://db/rapport",
			"RAPPORT_JWT_ISSUER":            "https://idp.example",
			"RAPPORT_JWT_AUDIENCE":          "rapport-api",
			"RAPPORT_JWT_HMAC_SECRET":       strings.Repeat("s", 32),
			"RAPPORT_JWT_PUBLIC_KEYS":       "a.pem, b.pem,,",
			"RAPPORT_JWT_JWKS_FILE":         "keys.json",
			"RAPPORT_JWT_LEEWAY":            "30s",
			"RAPPORT_MAX_BODY_BYTES":        "2048",
			"RAPPORT_FHIR_MAX_IMPORT_BYTES": "4096",
			"RAPPORT_MAX_DEPTH":             "8",
			"RAPPORT_MAX_COMPLEXITY":        "900",
			"RAPPORT_REQUEST_TIMEOUT":       "5s",
			"RAPPORT_SHUTDOWN_TIMEOUT":      "3s",
			"RAPPORT_LOG_LEVEL":             "DEBUG",
			"RAPPORT_DB_MAX_CONNS":          "12",
			"RAPPORT_AUDIT_MAX_LAG":         "250ms",
			"RAPPORT_AUDIT_MAX_PENDING":     "900",
			"RAPPORT_READ_DATABASE_URL":     "postgres://replica/rapport",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Addr != "127.0.0.1:9000" || cfg.DatabaseURL != "postgres://db/rapport" || cfg.DBMaxConns != 12 || cfg.AuditMaxLag != 250*time.Millisecond || cfg.AuditMaxPending != 900 || cfg.ReadDatabaseURL != "postgres://replica/rapport" ||
			cfg.JWT.Issuer != "https://idp.example" || cfg.JWT.Audience != "rapport-api" ||
			string(cfg.JWT.HMACSecret) != strings.Repeat("s", 32) ||
			strings.Join(cfg.JWT.PublicKeyFiles, "|") != "a.pem|b.pem" || cfg.JWT.JWKSFile != "keys.json" ||
			cfg.JWT.Leeway != 30*time.Second || cfg.MaxBodyBytes != 2048 || cfg.MaxDepth != 8 ||
			cfg.MaxComplexity != 900 || cfg.RequestTimeout != 5*time.Second || cfg.ShutdownTimeout != 3*time.Second ||
			cfg.LogLevel != zerolog.DebugLevel || cfg.FHIRMaxImportBytes != 4096 {
			t.Errorf("cfg = %+v", cfg)
		}
	})
	for _, tc := range []struct{ name, key, value string }{
		{"address without port", "RAPPORT_ADDR", "localhost"},
		{"short HMAC secret", "RAPPORT_JWT_HMAC_SECRET", "short"},
		{"bad leeway", "RAPPORT_JWT_LEEWAY", "soon"},
		{"negative leeway", "RAPPORT_JWT_LEEWAY", "-1s"},
		{"zero body limit", "RAPPORT_MAX_BODY_BYTES", "0"},
		{"non-numeric body limit", "RAPPORT_MAX_BODY_BYTES", "1MB"},
		{"zero FHIR import limit", "RAPPORT_FHIR_MAX_IMPORT_BYTES", "0"},
		{"negative depth", "RAPPORT_MAX_DEPTH", "-3"},
		{"zero pool size", "RAPPORT_DB_MAX_CONNS", "0"},
		{"unitless audit lag", "RAPPORT_AUDIT_MAX_LAG", "500"},
		{"non-numeric complexity", "RAPPORT_MAX_COMPLEXITY", "lots"},
		{"zero timeout", "RAPPORT_REQUEST_TIMEOUT", "0s"},
		{"unitless timeout", "RAPPORT_REQUEST_TIMEOUT", "30"},
		{"unknown log level", "RAPPORT_LOG_LEVEL", "loud"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			_, err := ConfigFromEnv(env(map[string]string{tc.key: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
	t.Run("reports every bad variable at once", func(t *testing.T) {
		_, err := ConfigFromEnv(env(map[string]string{"RAPPORT_MAX_DEPTH": "x", "RAPPORT_LOG_LEVEL": "y"}))
		if err == nil || !strings.Contains(err.Error(), "RAPPORT_MAX_DEPTH") || !strings.Contains(err.Error(), "RAPPORT_LOG_LEVEL") {
			t.Fatalf("err = %v", err)
		}
	})
}
