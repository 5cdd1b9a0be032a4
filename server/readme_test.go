package server

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeConfigurationTable checks README's configuration table against
// the code: it names every variable ConfigFromEnv reads and nothing else, and
// each default written there is the one DefaultConfig holds (EnvVars).
func TestReadmeConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([A-Z_]+)` \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			documented[m[1]] = strings.TrimSpace(m[2])
		}
	}

	// What ConfigFromEnv actually reads.
	read := map[string]bool{}
	if _, err := ConfigFromEnv(func(name string) string { read[name] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, v := range EnvVars() {
		listed[v.Name] = true
		if !read[v.Name] {
			t.Errorf("EnvVars lists %s but ConfigFromEnv does not read it", v.Name)
		}
		got, ok := documented[v.Name]
		switch {
		case !ok:
			t.Errorf("README's configuration table has no row for %s", v.Name)
		case v.Default != "" && got != "`"+v.Default+"`":
			t.Errorf("README gives %s the default %s; the code's is `%s`", v.Name, got, v.Default)
		case v.Default == "" && strings.HasPrefix(got, "`"):
			t.Errorf("README gives %s the default %s; the code has none of its own", v.Name, got)
		}
	}
	for name := range read {
		if !listed[name] {
			t.Errorf("ConfigFromEnv reads %s but EnvVars does not list it", name)
		}
	}
	for name := range documented {
		if !listed[name] {
			t.Errorf("README documents %s, which the server does not read", name)
		}
	}
}
