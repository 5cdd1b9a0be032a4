package server

import "runtime/debug"

// GCPercent is the garbage collector's target (GOGC) a server runs with
// unless the GOGC environment variable says otherwise: the heap may grow to
// three times what is live before a collection, not twice. A GraphQL
// request allocates many short-lived values (gqlgen's field contexts and
// goroutines, rows, the response), and collecting after half as much work
// costs CPU that requests then wait for. Measured on the 2-core machine
// against `rapport serve` over the medium demo data (16 clients, a separate
// load process, 10 s each, two rounds): a patient with 50 interactions
// 551-619 requests/s at GOGC=100 and 777-816 at 200, a caseload page 132-152
// and 165-168, for a peak resident set of 49-55 MB and 63-65 MB. (At 400:
// 854-902 and 168-186 requests/s, 109-121 MB.) GOMEMLIMIT, when set, still
// bounds the heap as usual.
const GCPercent = 200

// TuneGC sets the collector's target to GCPercent, unless getenv("GOGC")
// is set: the runtime has then applied that itself.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
