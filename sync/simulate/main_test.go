package simulate_test

import (
	"os"
	"testing"

	"github.com/rapportcare/rapport/server"
)

// TestMain runs the simulations with the garbage collector's target a
// server has in production (server.TuneGC, as `rapport serve` sets it): the
// server and the simulated devices share this process.
func TestMain(m *testing.M) {
	server.TuneGC(os.Getenv)
	os.Exit(m.Run())
}
