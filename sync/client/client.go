// Package client is Rapport's reference sync device: a small library that
// keeps a local copy of what a practitioner may see, records changes made
// offline with their own ids and mutation numbers, and reconciles with the
// server over GraphQL (syncPush, syncPull) exactly as docs/sync-protocol.md
// tells a mobile developer to. It speaks plain HTTP and JSON, so it needs
// nothing of the server's code; tests and `rapport simulate` drive it, and a
// pluggable http.RoundTripper lets them lose requests and responses on purpose.
package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ProtocolVersion is the sync protocol version this client speaks.
const ProtocolVersion = 2

// Defaults for a Device's knobs.
const (
	DefaultBatchSize = 500
	DefaultPullLimit = 500
	DefaultRetries   = 5
	DefaultBackoff   = 50 * time.Millisecond
	maxBackoff       = 2 * time.Second
	// maxResets bounds how many times one Pull starts again from scratch, so
	// a server that keeps asking for resets cannot loop a device forever.
	maxResets = 2
)

// Entity is a kind of record, named as the GraphQL SyncEntity enum.
type Entity string

// Entities.
const (
	EntityPatient          Entity = "PATIENT"
	EntityCareRelationship Entity = "CARE_RELATIONSHIP"
	EntityInteraction      Entity = "INTERACTION"
	EntityPractitioner     Entity = "PRACTITIONER"
	EntityTeam             Entity = "TEAM"
	EntityOrganization     Entity = "ORGANIZATION"
)

// Op is what a change does, named as the GraphQL SyncOp enum.
type Op string

// Ops.
const (
	OpCreate Op = "CREATE"
	OpUpdate Op = "UPDATE"
	OpDelete Op = "DELETE"
	OpSign   Op = "SIGN"
	OpAmend  Op = "AMEND"
)

// Result statuses, as the GraphQL SyncResultStatus enum.
const (
	StatusApplied  = "APPLIED"
	StatusMerged   = "MERGED"
	StatusConflict = "CONFLICT"
	StatusRejected = "REJECTED"
)

// Reset reasons, as the GraphQL SyncResetReason enum.
const (
	ResetCheckpointExpired = "CHECKPOINT_EXPIRED"
	ResetCheckpointInvalid = "CHECKPOINT_INVALID"
	ResetDeviceRevoked     = "DEVICE_REVOKED"
)

// Key names one record.
type Key struct {
	Entity Entity
	ID     uuid.UUID
}

// String returns "ENTITY/id".
func (k Key) String() string { return string(k.Entity) + "/" + k.ID.String() }

// Record is the device's copy of a record as the server last stated it.
type Record struct {
	Entity  Entity
	ID      uuid.UUID
	Version int64
	Data    map[string]any
}

// Change is one change made on the device, waiting to be pushed. Once sent
// (Sent), it is frozen: a retry sends exactly the same mutation number,
// base version and fields, so the server can recognise it.
type Change struct {
	Seq         int64
	Entity      Entity
	ID          uuid.UUID
	Op          Op
	BaseVersion *int64
	Fields      map[string]any
	HLC         string
	// Sent is true once the change has left in a push (whatever happened next).
	Sent bool
}

// Rejection is a pushed change the server refused. It is kept and reported,
// never silently dropped: a person must look at it.
type Rejection struct {
	Change  Change
	Code    string
	Message string
}

// Conflict is a collision the server reported for one of the device's changes.
type Conflict struct {
	ID          string
	Entity      Entity
	RecordID    string
	Field       string
	Policy      string
	Outcome     string
	ServerValue any
	DeviceValue any
	Seq         int64
}

// Outcome is the server's answer to one pushed change.
type Outcome struct {
	Change Change
	// Status is APPLIED, MERGED, CONFLICT or REJECTED.
	Status string
	// Code is the rejection code, if any.
	Code string
	// Version is the record's version after the change (0 when rejected).
	Version int64
}

// Call describes one HTTP round trip, for latency figures.
type Call struct {
	// Op is "push" or "pull".
	Op string
	// Duration runs from sending the request to holding the whole answer,
	// before the device decodes it.
	Duration time.Duration
	// Err is nil when a GraphQL answer arrived (even one carrying errors).
	Err error
	// Items is how many changes were sent (push) or records and tombstones
	// received (pull).
	Items int
}

// Device is one simulated (or reference) device: its id, its local store and
// its queue of changes. Its methods are safe for concurrent use; Push and
// Pull are serialised.
type Device struct {
	id       uuid.UUID
	endpoint string
	token    string
	hc       *http.Client
	now      func() time.Time
	observe  func(Call)
	outcome  func(Outcome)

	batchSize int
	pullLimit int
	retries   int
	backoff   time.Duration
	protocol  int

	syncMu sync.Mutex // one Push or Pull at a time

	mu         sync.Mutex
	records    map[Key]*held
	gone       map[Key]bool // tombstoned: never to come back
	pending    []*Change
	nextSeq    int64
	checkpoint *string
	hlc        hlc
	rejected   []Rejection
	conflicts  []Conflict
	subject    string
}

// Option configures a Device.
type Option func(*Device)

// WithTransport sends the device's requests through rt (e.g. a FaultyTransport).
func WithTransport(rt http.RoundTripper) Option {
	return func(d *Device) { d.hc = &http.Client{Transport: rt, Timeout: d.hc.Timeout} }
}

// WithHTTPClient uses hc for every request.
func WithHTTPClient(hc *http.Client) Option { return func(d *Device) { d.hc = hc } }

// WithDeviceID fixes the device id (default: a fresh UUIDv7).
func WithDeviceID(id uuid.UUID) Option { return func(d *Device) { d.id = id } }

// WithClock replaces the wall clock that feeds the device's HLC.
func WithClock(now func() time.Time) Option { return func(d *Device) { d.now = now } }

// WithBatchSize sets the most changes per push (1 to 500).
func WithBatchSize(n int) Option { return func(d *Device) { d.batchSize = n } }

// WithPullLimit sets the page size asked of the server (1 to 1000).
func WithPullLimit(n int) Option { return func(d *Device) { d.pullLimit = n } }

// WithRetries sets how many times a failed round trip is retried and the
// first back-off (doubled each time, at most 2 s).
func WithRetries(n int, backoff time.Duration) Option {
	return func(d *Device) { d.retries, d.backoff = n, backoff }
}

// WithObserver calls fn after every HTTP round trip.
func WithObserver(fn func(Call)) Option { return func(d *Device) { d.observe = fn } }

// WithOutcomes calls fn (with the device's lock held: it must not call the
// device) for every pushed change the server answered.
func WithOutcomes(fn func(Outcome)) Option { return func(d *Device) { d.outcome = fn } }

// WithProtocolVersion makes the device claim protocol version v (tests of
// version negotiation).
func WithProtocolVersion(v int) Option { return func(d *Device) { d.protocol = v } }

// New returns a device with an empty store that talks to the Rapport server
// at baseURL (its root, or the /graphql endpoint itself) with the bearer token.
func New(baseURL, token string, opts ...Option) *Device {
	endpoint := strings.TrimRight(baseURL, "/")
	if !strings.HasSuffix(endpoint, "/graphql") {
		endpoint += "/graphql"
	}
	d := &Device{
		id:        uuid.Must(uuid.NewV7()),
		endpoint:  endpoint,
		token:     token,
		hc:        &http.Client{Timeout: 30 * time.Second},
		now:       time.Now,
		batchSize: DefaultBatchSize,
		pullLimit: DefaultPullLimit,
		retries:   DefaultRetries,
		backoff:   DefaultBackoff,
		protocol:  ProtocolVersion,
		records:   map[Key]*held{},
		gone:      map[Key]bool{},
		subject:   tokenSubject(token),
	}
	for _, o := range opts {
		o(d)
	}
	d.batchSize = min(max(d.batchSize, 1), DefaultBatchSize)
	d.pullLimit = min(max(d.pullLimit, 1), 1000)
	d.hlc.node = strings.ReplaceAll(d.id.String(), "-", "")
	return d
}

// ID returns the device id.
func (d *Device) ID() uuid.UUID { return d.id }

// Subject returns the subject the device's token names (for a nurse, her
// practitioner id), read without verifying the token; "" if unreadable.
func (d *Device) Subject() string { return d.subject }

// tokenSubject reads the "sub" claim of a JWT without verifying it: the
// device only uses it to know whose records are its own.
func tokenSubject(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Sub
}

// Error is an error the server returned for a whole request (not one change).
type Error struct {
	// Code is the GraphQL extensions.code (e.g. BAD_USER_INPUT, UNAUTHENTICATED).
	Code    string
	Message string
	// Status is the HTTP status.
	Status int
}

func (e *Error) Error() string {
	return fmt.Sprintf("server refused the request (%s, HTTP %d): %s", e.Code, e.Status, e.Message)
}

// ErrWiped is returned by Pull when the server told the device to erase
// everything (revoked device); the device has done so.
var ErrWiped = errors.New("device revoked by the server: all local data erased")

// NewID returns a fresh UUIDv7 for a record made on the device. (uuid.NewV7
// fails only if the system's random source does, which Go treats as fatal.)
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }
