package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

func TestSubscribe(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	ctx, cancel := context.WithCancel(as(w.f.Nurse1Actor))
	defer cancel()

	t.Run("needs an actor", func(t *testing.T) {
		if _, err := w.eng.Subscribe(context.Background()); care.ErrorCode(err) != care.EUNAUTHENTICATED {
			t.Fatalf("err = %v", err)
		}
	})
	events, err := w.eng.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	octx, ocancel := context.WithCancel(as(w.f.GPBActor))
	defer ocancel()
	outsider, err := w.eng.Subscribe(octx)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a change in scope is announced, once for a burst", func(t *testing.T) {
		phone := newID(t)
		for i := int64(1); i <= 5; i++ {
			mustPush(t, w.eng, as(w.f.Nurse1Actor), phone, createVisit(i, newID(t), w.f.PatientA1, "visit"))
		}
		select {
		case ev := <-events:
			if ev == nil || !ev.ChangesWaiting {
				t.Fatalf("event %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		select {
		case ev := <-events:
			t.Fatalf("second event %+v within the coalescing interval", ev)
		case <-time.After(offline.SubscribeInterval / 2):
		}
	})
	t.Run("a subscriber who cannot see the patient hears nothing", func(t *testing.T) {
		select {
		case ev := <-outsider:
			t.Fatalf("outsider got %+v", ev)
		case <-time.After(500 * time.Millisecond):
		}
	})
	t.Run("the channel closes when the context ends", func(t *testing.T) {
		cancel()
		deadline := time.After(5 * time.Second)
		for open := true; open; {
			select {
			case _, open = <-events:
			case <-deadline:
				t.Fatal("channel still open")
			}
		}
	})
	t.Run("the LISTEN connection closes with the last subscriber", func(t *testing.T) {
		ocancel()
		for range outsider {
		}
		deadline := time.Now().Add(5 * time.Second)
		for w.db.SyncListening() {
			if time.Now().After(deadline) {
				t.Fatal("still listening")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
