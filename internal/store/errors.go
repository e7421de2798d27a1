package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/event"
)

// ErrDiskFull is wrapped by the errors of a store that cannot write
// because its disk, or the quota of its files, is full. Reads still work.
var ErrDiskFull = errors.New("disk full")

// ErrOutOfRange is wrapped by the error (a *PartialError) of an Append
// whose events include some with a time the store does not accept (older
// than its retention or backfill age, too far in the future). Those
// events are refused for good: appending them again fails again.
var ErrOutOfRange = errors.New("event time outside the store's accepted range")

// PartialError is the error of an Append that committed some of its
// events but not all: its events of some days are stored, those of the
// days in Unstored are not. Retrying with Unstored, rather than with every
// event, stores each event once.
type PartialError struct {
	// Unstored are the events not stored, in their order within a day.
	Unstored []*event.Event
	// Err is why they were not.
	Err error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d events not stored: %v", len(e.Unstored), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Public returns what a client may be told of err, an error from a Store:
// the class of the failure in a few words, never a file path or an
// internal detail (the caller logs err in full). Errors about the request
// itself (ErrBadRequest, a *LimitError) keep their text, which is about
// the query and its bounds.
func Public(err error) string {
	var le *LimitError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &le):
		return le.Error()
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrOutOfRange):
		return err.Error()
	case errors.Is(err, ErrDiskFull):
		return "disk full: the event store cannot write until space is freed"
	case errors.Is(err, ErrClosed):
		return "store closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "internal storage error (details in the server log)"
}
