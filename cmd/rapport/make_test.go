package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeTokensUsesServerAddress runs `make tokens` as a newcomer would in
// a second shell while `make run` serves on another port: the curl example
// must name the address the server wrote to ADDR_FILE, not localhost:8080.
// BIN, SECRET and ADDR_FILE point into a temporary directory so the test
// leaves the checkout alone.
func TestMakeTokensUsesServerAddress(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is not installed")
		}
		t.Skip("make is not installed")
	}
	tmp := t.TempDir()
	secret := filepath.Join(tmp, "secret")
	if err := os.WriteFile(secret, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(tmp, "addr")
	if err := os.WriteFile(addrFile, []byte("127.0.0.1:45678\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAPPORT_") && !strings.HasPrefix(kv, "MAKEFLAGS=") {
			environ = append(environ, kv)
		}
	}
	cmd := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "tokens",
		"BIN="+filepath.Join(tmp, "rapport"), "SECRET="+secret, "ADDR_FILE="+addrFile)
	cmd.Env = environ
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make tokens: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "curl -s http://127.0.0.1:45678/graphql") {
		t.Errorf("make tokens did not print a curl example for the running server (127.0.0.1:45678):\n%s", out)
	}
	if !strings.Contains(string(out), "export RAPPORT_TOKEN_NURSE=") {
		t.Errorf("make tokens printed no nurse token:\n%s", out)
	}

	t.Run("RAPPORT_ADDR wins over the file", func(t *testing.T) {
		cmd := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "tokens",
			"BIN="+filepath.Join(tmp, "rapport"), "SECRET="+secret, "ADDR_FILE="+addrFile)
		cmd.Env = append(environ, "RAPPORT_ADDR=127.0.0.1:9191")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make tokens: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "http://127.0.0.1:9191/graphql") {
			t.Errorf("make tokens ignored RAPPORT_ADDR:\n%s", out)
		}
	})
}
