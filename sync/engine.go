package sync

import (
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/rapportcare/rapport/postgres"
)

// Config bounds the engine. Zero fields take the defaults in New.
type Config struct {
	Retention        time.Duration // how long tombstones are kept (default 30 days)
	MaxBatch         int           // most changes in one push (default 500)
	TxChunk          int           // changes judged one at a time per transaction within a push, a run of interaction CREATEs counting as one (default 50)
	TxMax            int           // changes per transaction within a push, at most (default 500)
	DefaultPullLimit int           // records per pull page when the device asks none (default 500)
	MaxPullLimit     int           // most records per pull page (default 1000)
	MaxClockSkew     time.Duration // how far ahead of server time a device clock may be (default 5 minutes)
	RecordCache      int           // encoded interactions kept for other devices' pulls (default DefaultRecordCache; negative: none)
	Now              func() time.Time

	oneByOne bool // every change judged alone, none set-based (tests hold the two ways to each other)
}

// DefaultRecordCache is how many encoded interactions an engine keeps for
// other devices' pulls (record_cache.go), about 750 bytes each.
const DefaultRecordCache = 20_000

// Engine runs sync over the store.
type Engine struct {
	db    *postgres.DB
	cfg   Config
	clock *Clock // the server's hybrid logical clock
	// records holds interactions' JSON as pulls encoded them (record_cache.go).
	records                  *lru.Cache[recordKey, cachedRecord]
	recordHits, recordMisses atomic.Int64
	// loadedOnce remembers which records backfills loaded lately, so that
	// a second backfill of one keeps it (record_cache.go).
	loadedOnce *doorkeeper
}

// New returns an engine over db.
func New(db *postgres.DB, cfg Config) *Engine {
	if cfg.Retention == 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 500
	}
	if cfg.TxChunk <= 0 {
		cfg.TxChunk = 50
	}
	if cfg.TxMax <= 0 {
		cfg.TxMax = 500
	}
	if cfg.DefaultPullLimit == 0 {
		cfg.DefaultPullLimit = 500
	}
	if cfg.MaxPullLimit == 0 {
		cfg.MaxPullLimit = 1000
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RecordCache == 0 {
		cfg.RecordCache = DefaultRecordCache
	}
	e := &Engine{db: db, cfg: cfg, clock: NewClock("server", cfg.Now, cfg.MaxClockSkew)}
	if cfg.RecordCache > 0 {
		e.records, _ = lru.New[recordKey, cachedRecord](cfg.RecordCache) // fails only for a size < 1
		e.loadedOnce = newDoorkeeper(cfg.RecordCache)
	}
	return e
}
