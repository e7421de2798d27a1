package vlstore

import (
	"flag"
	"sync"
)

var silenceOnce sync.Once

// silenceEngineLog raises the engine's log level (a process-wide flag of
// VictoriaMetrics' logger) to WARN: at INFO it logs every partition
// snapshot, which Append takes on each call. Warnings and errors still go
// to standard error.
func silenceEngineLog() {
	silenceOnce.Do(func() {
		if f := flag.Lookup("loggerLevel"); f != nil {
			// The value is one the logger accepts; Set cannot fail.
			_ = f.Value.Set("WARN")
		}
	})
}
