package bench_test

import (
	"os"
	"testing"

	"github.com/rapportcare/rapport/server"
)

// TestMain runs the benchmarks with the garbage collector's target a server
// has in production (server.TuneGC, as `rapport serve` sets it): Rapport
// runs in this process, and so do the load it is measured under and the
// bare Go handler beside it.
func TestMain(m *testing.M) {
	server.TuneGC(os.Getenv)
	os.Exit(m.Run())
}
