package sigma

import (
	"errors"
	"fmt"
)

// Level is the severity of a rule: one of the five Sigma levels, ordered
// so that a more severe level compares greater (Low < High). The zero
// value, NoLevel, stands for an empty or unknown level and orders below
// every level: a threshold of Informational lets every level through and
// keeps NoLevel out.
//
// A rule keeps its level as the string it is written as (Rule.Level);
// Level is the form comparisons and validation use. Its text form, in
// JSON, YAML and on the command line, is the lower-case Sigma name.
type Level uint8

// The Sigma levels, from least to most severe.
const (
	NoLevel Level = iota
	Informational
	Low
	Medium
	High
	Critical
)

// Levels lists the levels from least to most severe.
var Levels = []Level{Informational, Low, Medium, High, Critical}

var levelNames = [...]string{"", "informational", "low", "medium", "high", "critical"}

// ErrUnknownLevel is the error of ParseLevel for a string that is not a
// level.
var ErrUnknownLevel = errors.New("unknown level")

// ParseLevel returns the level named s, which must be written as the Sigma
// specification writes it (lower case). For any other string it returns
// NoLevel and an error wrapping ErrUnknownLevel that names the levels.
func ParseLevel(s string) (Level, error) {
	if l := LevelOf(s); l != NoLevel {
		return l, nil
	}
	return NoLevel, fmt.Errorf("%w %q (want informational, low, medium, high or critical)", ErrUnknownLevel, s)
}

// LevelOf returns the level named s, or NoLevel when s is not a level (the
// form for comparing levels stored as strings).
func LevelOf(s string) Level {
	for l := Informational; l <= Critical; l++ {
		if levelNames[l] == s {
			return l
		}
	}
	return NoLevel
}

// Valid reports whether l is one of the five levels.
func (l Level) Valid() bool { return Informational <= l && l <= Critical }

// String returns the Sigma name of l, "" for NoLevel.
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// MarshalText writes the Sigma name of l; NoLevel is written as "".
func (l Level) MarshalText() ([]byte, error) {
	if l != NoLevel && !l.Valid() {
		return nil, fmt.Errorf("marshalling %v: %w", l, ErrUnknownLevel)
	}
	return []byte(l.String()), nil
}

// UnmarshalText reads a level name as ParseLevel does; an empty text is
// NoLevel.
func (l *Level) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*l = NoLevel
		return nil
	}
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
