package vlstore

import (
	"flag"
	"sync"
)

var initOnce sync.Once

// initEngine prepares the process-wide state the engine's libraries read
// from Go's flag package (VictoriaMetrics' programs parse it at start;
// Vigil's commands use their own flags):
//   - it marks the flag set parsed, with no arguments, so that every
//     setting keeps its default: lib/memory panics when asked for the
//     memory budget of its caches (60% of the machine's memory by default)
//     before flag.Parse;
//   - it raises the engine's log level to WARN: at INFO it logs every
//     partition snapshot, which each checkpoint takes. Warnings and errors
//     still go to standard error.
func initEngine() {
	initOnce.Do(func() {
		if !flag.Parsed() {
			// Parsing no arguments cannot fail.
			_ = flag.CommandLine.Parse(nil)
		}
		if f := flag.Lookup("loggerLevel"); f != nil {
			// A level the logger accepts; Set cannot fail.
			_ = f.Value.Set("WARN")
		}
	})
}
