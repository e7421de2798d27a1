// Package file tails log files: it follows appended lines, survives rotation
// by rename and by truncation, and persists per-file offsets so that a
// restart resumes after the last line the pipeline durably stored.
//
// Files are found by glob patterns, re-evaluated periodically, and
// identified by device and inode plus a fingerprint of their first bytes (so
// a reused inode is not mistaken for the old file). Lines are read by
// polling. Each batch of lines is offered to the sink, and the file's offset
// is saved (atomically, temp file and rename) only once the sink reports the
// batch durable: a crash loses nothing, and only lines after the last saved
// offset can be delivered twice.
package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Input is the input name set on Raw.Input and used with ingest.Stats.
const Input = "file"

// FieldPath is the Raw.Fields name holding the file's path.
const FieldPath = "log.file.path"

// Defaults for Config's zero values.
const (
	DefaultMaxLineSize     = 64 << 10
	DefaultPollInterval    = 250 * time.Millisecond
	DefaultGlobInterval    = 5 * time.Second
	DefaultBatchLines      = 2048
	DefaultBatchBytes      = 1 << 20
	DefaultFingerprintSize = 256
)

// Path is one glob pattern to tail and how to decode its lines.
type Path struct {
	// Glob is a filepath.Match pattern (or a plain path).
	Glob string
	// Format is FormatAuto, FormatJSON or FormatText (FormatSyslog is
	// accepted too, for files written by a syslog daemon).
	Format ingest.Format
	// FromBeginning reads the files of this pattern found at startup from
	// their beginning, as Config.StartAtBeginning does for all patterns.
	FromBeginning bool
	// Tags are copied onto this pattern's messages, after Config.Tags.
	Tags []string
}

// Config configures the tailer.
type Config struct {
	// Paths are the patterns to tail.
	Paths []Path
	// StateFile is where offsets are kept (JSON), e.g. DATA/file-offsets.json.
	StateFile string
	// StartAtBeginning reads files found at startup without a saved offset
	// from their beginning; by default they are read from their end. Files
	// that appear later (after rotation, or new) are always read from the
	// beginning.
	StartAtBeginning bool
	// MaxLineSize is the longest line kept whole; longer lines are cut,
	// marked Truncated, and the rest up to the newline is dropped.
	// Default 64 KiB.
	MaxLineSize int
	// PollInterval is how often files are checked for new data. Default 250 ms.
	PollInterval time.Duration
	// GlobInterval is how often patterns are re-evaluated. Default 5 s.
	GlobInterval time.Duration
	// BatchLines and BatchBytes bound one batch offered to the sink.
	// Defaults 2048 lines, 1 MiB.
	BatchLines int
	BatchBytes int
	// FingerprintSize is how many leading bytes identify a file beside its
	// inode. Default 256.
	FingerprintSize int
	// Tags are copied onto every message.
	Tags []string
}

func (c *Config) setDefaults() {
	if c.MaxLineSize == 0 {
		c.MaxLineSize = DefaultMaxLineSize
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.GlobInterval == 0 {
		c.GlobInterval = DefaultGlobInterval
	}
	if c.BatchLines == 0 {
		c.BatchLines = DefaultBatchLines
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.FingerprintSize == 0 {
		c.FingerprintSize = DefaultFingerprintSize
	}
}

// Validate checks c; zero values mean the defaults.
func (c Config) Validate() error {
	var errs []error
	if len(c.Paths) == 0 {
		errs = append(errs, errors.New("no paths to tail"))
	}
	for i, p := range c.Paths {
		if p.Glob == "" {
			errs = append(errs, fmt.Errorf("path %d: empty glob", i))
			continue
		}
		if _, err := filepath.Match(p.Glob, ""); err != nil {
			errs = append(errs, fmt.Errorf("path %d: glob %q: %w", i, p.Glob, err))
		}
		if p.Format > ingest.FormatText {
			errs = append(errs, fmt.Errorf("path %d: unknown format %d", i, p.Format))
		}
	}
	if c.StateFile == "" {
		errs = append(errs, errors.New("no state file for offsets"))
	}
	for _, v := range []struct {
		name string
		n    int64
	}{
		{"max line size", int64(c.MaxLineSize)},
		{"poll interval", int64(c.PollInterval)},
		{"glob interval", int64(c.GlobInterval)},
		{"batch lines", int64(c.BatchLines)},
		{"batch bytes", int64(c.BatchBytes)},
		{"fingerprint size", int64(c.FingerprintSize)},
	} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s %d: must not be negative", v.name, v.n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file input config: %w", err)
	}
	return nil
}

// ParseFormat reads a format name as written in configuration: auto, json,
// text or syslog ("" is auto).
func ParseFormat(s string) (ingest.Format, error) {
	switch s {
	case "", "auto":
		return ingest.FormatAuto, nil
	case "json":
		return ingest.FormatJSON, nil
	case "text":
		return ingest.FormatText, nil
	case "syslog":
		return ingest.FormatSyslog, nil
	}
	return 0, fmt.Errorf("file format %q: want auto, json, text or syslog", s)
}
