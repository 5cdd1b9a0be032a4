package sync

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// Config bounds the engine. Zero fields take the defaults in New.
type Config struct {
	Retention        time.Duration // how long tombstones are kept (default 30 days)
	MaxBatch         int           // most changes in one push (default 500)
	DefaultPullLimit int           // records per pull page when the device asks none (default 500)
	MaxPullLimit     int           // most records per pull page (default 1000)
	MaxClockSkew     time.Duration // how far ahead of server time a device clock may be (default 5 minutes)
	Now              func() time.Time
}

// Engine runs sync over the store.
type Engine struct {
	db  *postgres.DB
	cfg Config
}

// New returns an engine over db.
func New(db *postgres.DB, cfg Config) *Engine {
	if cfg.Retention == 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 500
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
	return &Engine{db: db, cfg: cfg}
}

var errStub = errors.New("sync: not yet implemented")

// CONTRACT STUBS — the sync-engine engineer replaces each with a real
// implementation (in push.go, pull.go, conflict.go, device.go) and deletes this block.

// Push applies a batch of changes from one device: each change in its own
// transaction through the store's write path, exactly once per (device,
// mutation number). EINVALID for an unsupported protocol or an oversize batch
// (nothing applied); per-change failures are REJECTED results, not errors.
func (e *Engine) Push(ctx context.Context, in PushInput) (*PushPayload, error) {
	return nil, errStub
}

// Pull returns one page of changes since the checkpoint, scoped to what the
// caller may see.
func (e *Engine) Pull(ctx context.Context, in PullInput) (*PullPayload, error) {
	return nil, errStub
}

// Conflicts lists conflicts about records the caller may see, newest first.
func (e *Engine) Conflicts(ctx context.Context, f ConflictFilter, p care.PageArgs) (*care.Page[Conflict], error) {
	return nil, errStub
}

// ConflictsByID returns conflicts aligned with ids (nil where missing or not visible).
func (e *Engine) ConflictsByID(ctx context.Context, ids []uuid.UUID) ([]*Conflict, error) {
	return nil, errStub
}

// ResolveConflict settles an open conflict, writing the chosen value through the write path.
func (e *Engine) ResolveConflict(ctx context.Context, in ResolveConflictInput) (*Conflict, error) {
	return nil, errStub
}

// Devices lists the caller's devices (a practice admin: the organisation's).
func (e *Engine) Devices(ctx context.Context) ([]*Device, error) {
	return nil, errStub
}

// RevokeDevice revokes a device.
func (e *Engine) RevokeDevice(ctx context.Context, in RevokeDeviceInput) (*Device, error) {
	return nil, errStub
}

// Subscribe returns events telling the caller that changes in its scope are
// waiting, until ctx ends. (Owned by the subscription engineer: subscribe.go.)
func (e *Engine) Subscribe(ctx context.Context) (<-chan *ChangesEvent, error) {
	return nil, errStub
}
