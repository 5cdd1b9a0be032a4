package sync

import (
	"context"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

func deviceOf(d *postgres.SyncDevice) *Device {
	p := d.PractitionerID
	return &Device{ID: d.ID, PractitionerID: &p, RegisteredAt: d.RegisteredAt, LastSeenAt: d.LastSeenAt, RevokedAt: d.RevokedAt}
}

// Devices lists the caller's devices (a practice admin: every device of the
// organisation's practitioners). EUNAUTHENTICATED without an actor.
func (e *Engine) Devices(ctx context.Context) ([]*Device, error) {
	ds, err := e.db.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Device, len(ds))
	for i, d := range ds {
		out[i] = deviceOf(d)
	}
	return out, nil
}

// RevokeDevice revokes a device (lost or stolen): its pushes are refused and
// its next pull tells it to wipe. Its practitioner or a practice admin of
// their organisation may revoke it. Errors: EUNAUTHENTICATED, ENOTFOUND (no
// such device, or one the caller may not manage).
func (e *Engine) RevokeDevice(ctx context.Context, in RevokeDeviceInput) (*Device, error) {
	d, err := e.db.RevokeDevice(ctx, in.ID)
	if care.ErrorCode(err) == care.ENOTFOUND {
		// One answer for a device that does not exist and one the caller
		// may not manage (a colleague's): never tell the two apart.
		return nil, care.Errorf(care.ENOTFOUND, "no such device")
	}
	if err != nil {
		return nil, err
	}
	return deviceOf(d), nil
}
