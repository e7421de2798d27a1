package intel

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// endless is an infinite stream of one pattern.
type endless struct {
	pattern string
	off     int
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.pattern[e.off%len(e.pattern)]
		e.off++
	}
	return len(p), nil
}

// TestHostileFeeds checks that endless or pathological feeds stop at the
// bounds with an error instead of hanging or growing without limit.
func TestHostileFeeds(t *testing.T) {
	const max = 1 << 20
	tests := []struct {
		name   string
		parse  func(io.Reader, ParseOptions) ([]Indicator, []error)
		input  io.Reader
		bounds ParseOptions
		want   error
	}{
		{"list without newline", ParseList, &endless{pattern: "a"}, ParseOptions{MaxBytes: max}, ErrTooLarge},
		{"list of endless lines", ParseList, &endless{pattern: "192.0.2.1\n"}, ParseOptions{MaxBytes: 1 << 30, MaxIndicators: 1000}, ErrTooMany},
		{"csv endless quote", ParseCSV, io.MultiReader(strings.NewReader("value\n\""), &endless{pattern: "x\n"}), ParseOptions{MaxBytes: max, CSV: CSVColumns{Value: "value"}}, ErrTooLarge},
		{"stix endless array", ParseSTIX, io.MultiReader(strings.NewReader(`{"objects":[`), &endless{pattern: `{"type":"x"},`}), ParseOptions{MaxBytes: max}, ErrTooLarge},
		{"misp endless attributes", ParseMISP, io.MultiReader(strings.NewReader(`{"Event":{"Attribute":[`), &endless{pattern: `{"type":"ip-dst","to_ids":true,"value":"192.0.2.1"},`}), ParseOptions{MaxBytes: max}, ErrTooLarge},
		{"deep json", ParseSTIX, strings.NewReader(strings.Repeat("[", 100000)), ParseOptions{}, nil},
		{"deep misp", ParseMISP, strings.NewReader(strings.Repeat(`{"Event":`, 100000)), ParseOptions{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inds, errs := tt.parse(tt.input, tt.bounds)
			if len(errs) == 0 {
				t.Fatalf("got no error, want one")
			}
			if tt.want != nil {
				found := false
				for _, err := range errs {
					found = found || errors.Is(err, tt.want)
				}
				if !found {
					t.Errorf("got errors %v, want %v", errs[len(errs)-1], tt.want)
				}
			}
			if tt.bounds.MaxIndicators > 0 && len(inds) > tt.bounds.MaxIndicators {
				t.Errorf("got %d indicators, bound %d", len(inds), tt.bounds.MaxIndicators)
			}
		})
	}
}
