// Package logevery spaces out a log line that a flood could repeat
// thousands of times a second (shed detections, refused events): the
// count goes into a metric at once, the line at most once per interval.
package logevery

import (
	"sync/atomic"
	"time"
)

// Every is a repeated log line's last time. The zero value is ready.
type Every struct{ last atomic.Int64 }

// Due reports whether d has passed since the last time it said so (and
// then counts from now): one caller among concurrent ones gets true.
func (l *Every) Due(d time.Duration) bool {
	now := time.Now().UnixNano()
	last := l.last.Load()
	return now-last > int64(d) && l.last.CompareAndSwap(last, now)
}
